//! INFO: server, clients, memory, persistence, stats, replication, cpu, keyspace and
//! okapi sections, in Redis's `field:value` format.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use bytes::Bytes;

use crate::shared::Shared;
use crate::stats::Stats;

/// The Redis version okapi reports, for clients that gate features on it.
pub const REDIS_VERSION: &str = "7.2.0";

const DEFAULT_SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "errorstats",
    "cluster",
    "keyspace",
    "okapi",
];

/// Bytes in human form as Redis prints them (`1.50M`).
pub fn human_bytes(n: u64) -> String {
    let units = [("G", 1u64 << 30), ("M", 1 << 20), ("K", 1 << 10)];
    for (unit, size) in units {
        if n >= size {
            return format!("{:.2}{unit}", n as f64 / size as f64);
        }
    }
    format!("{n}B")
}

/// Resident set size from /proc, or 0 where unavailable.
pub fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|p| p.parse::<u64>().ok())
        })
        .map_or(0, |pages| pages * 4096)
}

/// User and system CPU seconds from /proc (clock ticks are 100 Hz on Linux).
fn cpu_seconds() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name, which is parenthesised and may contain spaces.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
            / 100.0
    };
    (ticks(11), ticks(12))
}

/// Renders the requested sections (default set when none are given).
pub fn render(shared: &Shared, sections: &[Bytes]) -> String {
    let wanted: Vec<String> = sections
        .iter()
        .map(|s| String::from_utf8_lossy(s).to_ascii_lowercase())
        .collect();
    let all = wanted.iter().any(|w| w == "all" || w == "everything");
    let include = |name: &str| {
        if wanted.is_empty() || wanted.iter().any(|w| w == "default") {
            return DEFAULT_SECTIONS.contains(&name);
        }
        all || wanted.iter().any(|w| w == name)
    };
    let mut out = String::new();
    let mut section = |name: &str, title: &str, body: &dyn Fn(&mut String)| {
        if include(name) {
            if !out.is_empty() {
                out.push_str("\r\n");
            }
            let _ = write!(out, "# {title}\r\n");
            body(&mut out);
        }
    };
    let settings = shared.settings().clone();
    let uptime = shared.started.elapsed().as_secs();
    section("server", "Server", &|o| {
        let _ = write!(
            o,
            "redis_version:{REDIS_VERSION}\r\nokapi_version:{}\r\nredis_mode:standalone\r\nos:{} {}\r\narch_bits:64\r\nmultiplexing_api:epoll\r\nprocess_id:{}\r\nrun_id:{}\r\ntcp_port:{}\r\nserver_time_usec:{}\r\nuptime_in_seconds:{uptime}\r\nuptime_in_days:{}\r\nhz:{}\r\nexecutable:{}\r\nconfig_file:{}\r\n",
            env!("CARGO_PKG_VERSION"),
            std::env::consts::OS,
            std::env::consts::ARCH,
            std::process::id(),
            shared.run_id,
            shared.tcp_port.load(Ordering::Relaxed),
            crate::clock::now_us(),
            uptime / 86400,
            settings.hz,
            std::env::current_exe()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            shared.config_file.clone().unwrap_or_default(),
        );
    });
    let shards = shared.shards.all();
    let blocked: usize = shards.iter().map(|s| s.lock().blocked.len()).sum();
    let last_index: u64 = shards.iter().map(|s| s.log().last_index()).sum();
    section("clients", "Clients", &|o| {
        let clients = shared.clients.all();
        let pubsub = clients.iter().filter(|c| c.is_pubsub()).count();
        let _ = write!(
            o,
            "connected_clients:{}\r\ncluster_connections:0\r\nmaxclients:{}\r\nblocked_clients:{blocked}\r\ntracking_clients:{}\r\npubsub_clients:{pubsub}\r\n",
            clients.len(),
            settings.maxclients,
            shared.tracking.client_count(),
        );
    });
    section("memory", "Memory", &|o| {
        let used = shared.used_memory();
        let peak = shared.memory_peak.load(Ordering::Relaxed);
        let rss = rss_bytes();
        let _ = write!(
            o,
            "used_memory:{used}\r\nused_memory_human:{}\r\nused_memory_rss:{rss}\r\nused_memory_rss_human:{}\r\nused_memory_peak:{peak}\r\nused_memory_peak_human:{}\r\nmaxmemory:{}\r\nmaxmemory_human:{}\r\nmaxmemory_policy:{}\r\nmem_fragmentation_ratio:{:.2}\r\nmem_allocator:mimalloc\r\n",
            human_bytes(used),
            human_bytes(rss),
            human_bytes(peak),
            settings.maxmemory,
            human_bytes(settings.maxmemory),
            settings.maxmemory_policy,
            if used > 0 {
                rss as f64 / used as f64
            } else {
                0.0
            },
        );
    });
    section("persistence", "Persistence", &|o| {
        for (field, value) in shared.loading.info() {
            let _ = write!(o, "{field}:{value}\r\n");
        }
        match shared.durability.get() {
            Some(durability) => {
                for (field, value) in durability.info() {
                    let _ = write!(o, "{field}:{value}\r\n");
                }
            }
            // Loading: the log is not open yet.
            None if shared.loading.is_loading() => {}
            None => {
                let _ = write!(
                    o,
                    "rdb_changes_since_last_save:{}\r\nrdb_bgsave_in_progress:0\r\nrdb_last_save_time:{}\r\naof_enabled:0\r\nokapi_durability:none (in-memory log)\r\n",
                    last_index,
                    shared.started_unix_ms() / 1000,
                );
            }
        }
    });
    let engine_stats = shards.iter().map(|s| s.lock().engine.stats()).fold(
        okapi_engine::keyspace::KeyspaceStats::default(),
        |a, b| okapi_engine::keyspace::KeyspaceStats {
            hits: a.hits + b.hits,
            misses: a.misses + b.misses,
            expired: a.expired + b.expired,
        },
    );
    section("stats", "Stats", &|o| {
        let st = &shared.stats;
        let (tracking_keys, tracking_items, tracking_prefixes) = shared.tracking.totals();
        let _ = write!(
            o,
            "total_connections_received:{}\r\ntotal_commands_processed:{}\r\ninstantaneous_ops_per_sec:{}\r\ntotal_net_input_bytes:{}\r\ntotal_net_output_bytes:{}\r\nrejected_connections:{}\r\nexpired_keys:{}\r\nevicted_keys:0\r\nkeyspace_hits:{}\r\nkeyspace_misses:{}\r\npubsub_channels:{}\r\npubsub_patterns:{}\r\ntracking_total_keys:{}\r\ntracking_total_items:{}\r\ntracking_total_prefixes:{}\r\ntotal_error_replies:{}\r\n",
            Stats::get(&st.connections),
            Stats::get(&st.commands),
            st.ops_per_sec(),
            Stats::get(&st.net_input),
            Stats::get(&st.net_output),
            Stats::get(&st.rejected),
            engine_stats.expired,
            engine_stats.hits,
            engine_stats.misses,
            shared.pubsub.channel_count(),
            shared.pubsub.numpat(),
            tracking_keys,
            tracking_items,
            tracking_prefixes,
            Stats::get(&st.errors),
        );
    });
    let layout = shared.shards.layout();
    section("replication", "Replication", &|o| {
        let _ = write!(
            o,
            "role:master\r\nconnected_slaves:0\r\nmaster_replid:{}\r\nmaster_repl_offset:{}\r\n",
            shared.run_id, last_index
        );
        // On a node of a cluster, its role in the control group and in each of its
        // shard groups.
        if let Some(control) = shared.cluster.get() {
            let (leader, member) = control.control_role();
            let _ = write!(
                o,
                "okapi_control:member={member},leader={:016x}\r\n",
                leader.unwrap_or(0)
            );
        }
        if let Some(cluster) = layout.cluster_view() {
            for shard in layout.shards() {
                let (role, leader) = match shard.leader() {
                    Some(l) if l == cluster.me => ("leader", l),
                    Some(l) => ("follower", l),
                    None => ("electing", 0),
                };
                let _ = write!(
                    o,
                    "okapi_group{}:role={role},leader={leader:016x},last_index={},read_lease={}\r\n",
                    shard.id().0,
                    shard.log().last_index(),
                    u8::from(shard.read_lease_valid()),
                );
            }
        }
    });
    // Not in the default set (as Redis): one line per command called since the last
    // CONFIG RESETSTAT.
    section("commandstats", "Commandstats", &|o| {
        for c in shared.command_stats.commands() {
            let per_call = if c.calls == 0 {
                0.0
            } else {
                c.usec as f64 / c.calls as f64
            };
            let _ = write!(
                o,
                "cmdstat_{}:calls={},usec={},usec_per_call={per_call:.2},rejected_calls={},failed_calls={}\r\n",
                c.name, c.calls, c.usec, c.rejected, c.failed
            );
        }
    });
    section("errorstats", "Errorstats", &|o| {
        for (code, count) in shared.command_stats.errors() {
            let _ = write!(o, "errorstat_{code}:count={count}\r\n");
        }
    });
    // Not in the default set either: per command, the latency percentiles of
    // `latency-tracking-info-percentiles` (each the upper bound of the power-of-two
    // µs bucket it falls in).
    section("latencystats", "Latencystats", &|o| {
        if !settings.latency_tracking {
            return;
        }
        for h in shared.command_stats.histograms(&[]) {
            let fields: Vec<String> = settings
                .latency_tracking_percentiles
                .iter()
                .map(|p| {
                    format!(
                        "p{}={:.3}",
                        crate::settings::percentile_label(*p),
                        h.percentile(*p) as f64
                    )
                })
                .collect();
            let _ = write!(
                o,
                "latency_percentiles_usec_{}:{}\r\n",
                h.name,
                fields.join(",")
            );
        }
    });
    section("cluster", "Cluster", &|o| {
        let _ = write!(
            o,
            "cluster_enabled:{}\r\n",
            u8::from(shared.cluster.get().is_some())
        );
    });
    section("cpu", "CPU", &|o| {
        let (user, sys) = cpu_seconds();
        let _ = write!(o, "used_cpu_sys:{sys:.6}\r\nused_cpu_user:{user:.6}\r\n");
    });
    let keyspace: Vec<(u32, usize, usize)> = {
        let mut by_db = std::collections::BTreeMap::<u32, (usize, usize)>::new();
        for shard in &shards {
            let core = shard.lock();
            for (db, ks) in core.engine.spaces().filter(|(_, ks)| !ks.is_empty()) {
                let entry = by_db.entry(db.0).or_default();
                entry.0 += ks.len();
                entry.1 += ks.expires_len();
            }
        }
        by_db
            .into_iter()
            .map(|(db, (keys, expires))| (db, keys, expires))
            .collect()
    };
    section("keyspace", "Keyspace", &|o| {
        for (db, keys, expires) in &keyspace {
            let _ = write!(o, "db{db}:keys={keys},expires={expires},avg_ttl=0\r\n");
        }
    });
    section("okapi", "Okapi", &|o| {
        let ignored: Vec<&str> = settings.ignored_names().collect();
        let dropped = shared.logging.get().map_or(0, |l| l.dropped_lines());
        let _ = write!(
            o,
            "write_log:local\r\nignored_config:{}\r\nlog_lines_dropped:{dropped}\r\n",
            ignored.join(",")
        );
    });
    out
}
