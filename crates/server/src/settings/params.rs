//! The parameters okapi acts on: how CONFIG GET shows each and how CONFIG SET checks
//! and stores it, or, for the ones fixed at start, why it cannot.

use bytes::Bytes;

use super::{Settings, parse_memory};
use crate::logging::LogLevel;

type Getter = fn(&Settings) -> String;
type Setter = fn(&mut Settings, &str) -> Result<(), String>;

/// How a parameter may change at runtime.
pub(super) enum Change {
    /// CONFIG SET checks and stores it.
    Set(Setter),
    /// Fixed when the server starts; CONFIG SET answers with this reason.
    Fixed(&'static str),
}

/// One parameter okapi acts on.
pub(super) struct Param {
    pub(super) name: &'static str,
    pub(super) get: Getter,
    pub(super) change: Change,
}

const LISTENERS: &str = "listeners are bound when the server starts; restart with the new value";
const STARTUP: &str = "it takes effect when the server starts; restart with the new value";

fn parse_num(v: &str) -> Result<u64, String> {
    v.parse()
        .map_err(|_| "argument couldn't be parsed into an integer".to_owned())
}

fn parse_bool(v: &str) -> Result<bool, String> {
    match v.to_ascii_lowercase().as_str() {
        "yes" | "true" => Ok(true),
        "no" | "false" => Ok(false),
        _ => Err("argument must be 'yes' or 'no'".to_owned()),
    }
}

/// A percentile as Redis prints it (`%f` without trailing zeros: `50`, `99.9`).
pub fn percentile_label(p: f64) -> String {
    let text = format!("{p:.6}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.to_owned()
}

fn opt_port(p: Option<u16>) -> String {
    p.map(|p| p.to_string()).unwrap_or_default()
}

fn path(p: &Option<std::path::PathBuf>) -> String {
    p.as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default()
}

/// A memory amount of at least 1 MiB (the buffer limits).
fn at_least_1mb(v: &str) -> Result<usize, String> {
    match parse_memory(v)? {
        n if n < 1024 * 1024 => Err("argument must be a memory value of at least 1mb".into()),
        n => Ok(n as usize),
    }
}

pub(super) const PARAMS: &[Param] = &[
    Param {
        name: "bind",
        get: |s| s.bind.join(" "),
        change: Change::Fixed(LISTENERS),
    },
    Param {
        name: "port",
        get: |s| s.port.to_string(),
        change: Change::Fixed(LISTENERS),
    },
    Param {
        name: "unixsocket",
        get: |s| path(&s.unixsocket),
        change: Change::Fixed(LISTENERS),
    },
    Param {
        name: "unixsocketperm",
        get: |s| format!("{:o}", s.unixsocketperm),
        change: Change::Fixed(LISTENERS),
    },
    Param {
        name: "http-port",
        get: |s| opt_port(s.http_port),
        change: Change::Fixed(LISTENERS),
    },
    Param {
        name: "http-bind",
        get: |s| s.http_bind.join(" "),
        change: Change::Fixed(LISTENERS),
    },
    Param {
        name: "no-http",
        get: |s| yes_no(s.http_port.is_none()),
        change: Change::Fixed(LISTENERS),
    },
    Param {
        name: "nbd-port",
        get: |s| opt_port(s.nbd_port),
        change: Change::Fixed(LISTENERS),
    },
    Param {
        name: "nbd-bind",
        get: |s| s.nbd_bind.join(" "),
        change: Change::Fixed(LISTENERS),
    },
    Param {
        name: "nbd-unauthenticated",
        get: |s| yes_no(s.nbd_unauthenticated),
        change: Change::Fixed(
            "it is checked against requirepass when the server starts; restart to change it",
        ),
    },
    Param {
        name: "protected-mode",
        get: |s| yes_no(s.protected_mode),
        change: Change::Set(|s, v| parse_bool(v).map(|b| s.protected_mode = b)),
    },
    Param {
        name: "databases",
        get: |s| s.databases.to_string(),
        change: Change::Fixed(STARTUP),
    },
    Param {
        name: "dir",
        get: |s| s.dir.display().to_string(),
        change: Change::Fixed("the data directory is locked and loaded when the server starts"),
    },
    Param {
        name: "ready-file",
        get: |s| path(&s.ready_file),
        change: Change::Fixed("it is written once, when loading ends"),
    },
    Param {
        name: "threads",
        get: |s| s.threads.to_string(),
        change: Change::Fixed("event-loop threads start with the server"),
    },
    Param {
        name: "disable-thp",
        get: |s| yes_no(s.disable_thp),
        change: Change::Fixed(STARTUP),
    },
    Param {
        name: "logfile",
        get: |s| path(&s.logfile),
        change: Change::Fixed(
            "the log sink opens when the server starts (SIGHUP reopens the same path)",
        ),
    },
    Param {
        name: "log-format",
        get: |s| s.log_format.clone(),
        change: Change::Fixed(STARTUP),
    },
    Param {
        name: "loglevel",
        get: |s| s.loglevel.as_str().to_owned(),
        change: Change::Set(|s, v| {
            v.parse::<LogLevel>()
                .map(|level| s.loglevel = level)
                .map_err(|e| e.to_string())
        }),
    },
    Param {
        name: "snapshot-log-bytes",
        get: |s| s.snapshot_log_bytes.to_string(),
        change: Change::Set(|s, v| parse_memory(v).map(|n| s.snapshot_log_bytes = n)),
    },
    Param {
        name: "snapshot-entries",
        get: |s| s.snapshot_entries.to_string(),
        change: Change::Fixed("it is the Raft group's snapshot policy, set when the group starts"),
    },
    Param {
        name: "cluster-enabled",
        get: |s| if s.cluster_enabled { "yes" } else { "no" }.to_owned(),
        change: Change::Fixed("a node joins or leaves cluster mode only at start"),
    },
    Param {
        name: "cluster-port",
        get: |s| {
            s.cluster_port
                .map_or_else(|| "0".to_owned(), |p| p.to_string())
        },
        change: Change::Fixed("the cluster port is bound at start"),
    },
    Param {
        name: "cluster-node-timeout",
        get: |s| s.cluster_node_timeout_ms.to_string(),
        change: Change::Set(|s, v| match parse_num(v)? {
            0 => Err("cluster-node-timeout must be at least 1 ms".to_owned()),
            n => {
                s.cluster_node_timeout_ms = n;
                Ok(())
            }
        }),
    },
    Param {
        name: "shard-groups",
        get: |s| s.shard_groups.to_string(),
        change: Change::Fixed(
            "the data directory was split into its shard groups when it was created",
        ),
    },
    Param {
        name: "key-load-delay",
        get: |s| s.key_load_delay_us.to_string(),
        change: Change::Set(|s, v| parse_num(v).map(|n| s.key_load_delay_us = n)),
    },
    Param {
        name: "timeout",
        get: |s| s.timeout_secs.to_string(),
        change: Change::Set(|s, v| parse_num(v).map(|n| s.timeout_secs = n)),
    },
    Param {
        name: "maxclients",
        get: |s| s.maxclients.to_string(),
        change: Change::Set(|s, v| match parse_num(v)? {
            0 => Err("argument must be between 1 and 4294967295 inclusive".into()),
            n => {
                s.maxclients = n as usize;
                Ok(())
            }
        }),
    },
    Param {
        name: "proto-max-bulk-len",
        get: |s| s.proto_max_bulk_len.to_string(),
        change: Change::Set(|s, v| at_least_1mb(v).map(|n| s.proto_max_bulk_len = n)),
    },
    Param {
        name: "client-query-buffer-limit",
        get: |s| s.client_query_buffer_limit.to_string(),
        change: Change::Set(|s, v| at_least_1mb(v).map(|n| s.client_query_buffer_limit = n)),
    },
    Param {
        name: "requirepass",
        get: |s| {
            s.requirepass
                .as_ref()
                .map(|p| String::from_utf8_lossy(p).into_owned())
                .unwrap_or_default()
        },
        change: Change::Set(|s, v| {
            s.requirepass = (!v.is_empty()).then(|| Bytes::copy_from_slice(v.as_bytes()));
            Ok(())
        }),
    },
    Param {
        name: "hz",
        get: |s| s.hz.to_string(),
        change: Change::Set(|s, v| parse_num(v).map(|n| s.hz = n.clamp(1, 500) as u32)),
    },
    Param {
        name: "slowlog-log-slower-than",
        get: |s| s.slowlog_slower_than_us.to_string(),
        change: Change::Set(|s, v| {
            v.parse()
                .map(|n| s.slowlog_slower_than_us = n)
                .map_err(|_| "argument couldn't be parsed into an integer".to_owned())
        }),
    },
    Param {
        name: "slowlog-max-len",
        get: |s| s.slowlog_max_len.to_string(),
        change: Change::Set(|s, v| {
            parse_num(v).and_then(|n| {
                usize::try_from(n)
                    .ok()
                    .filter(|n| *n <= i64::MAX as usize)
                    .map(|n| s.slowlog_max_len = n)
                    .ok_or_else(|| "argument must be between 0 and 9223372036854775807".to_owned())
            })
        }),
    },
    Param {
        name: "busy-reply-threshold",
        get: |s| s.busy_reply_threshold_ms.to_string(),
        change: Change::Set(|s, v| parse_num(v).map(|n| s.busy_reply_threshold_ms = n)),
    },
    Param {
        name: "script-instruction-limit",
        get: |s| s.script_instruction_limit.to_string(),
        change: Change::Set(|s, v| parse_num(v).map(|n| s.script_instruction_limit = n)),
    },
    Param {
        name: "lua-time-limit",
        get: |s| s.busy_reply_threshold_ms.to_string(),
        change: Change::Set(|s, v| parse_num(v).map(|n| s.busy_reply_threshold_ms = n)),
    },
    Param {
        name: "maxmemory",
        get: |s| s.maxmemory.to_string(),
        change: Change::Set(|s, v| parse_memory(v).map(|n| s.maxmemory = n)),
    },
    Param {
        name: "latency-monitor-threshold",
        get: |s| s.latency_monitor_threshold_ms.to_string(),
        change: Change::Set(|s, v| parse_num(v).map(|n| s.latency_monitor_threshold_ms = n)),
    },
    Param {
        name: "latency-tracking",
        get: |s| yes_no(s.latency_tracking),
        change: Change::Set(|s, v| parse_bool(v).map(|b| s.latency_tracking = b)),
    },
    Param {
        name: "latency-tracking-info-percentiles",
        get: |s| {
            s.latency_tracking_percentiles
                .iter()
                .map(|p| percentile_label(*p))
                .collect::<Vec<_>>()
                .join(" ")
        },
        change: Change::Set(|s, v| {
            let mut out = Vec::new();
            for word in v.split_whitespace() {
                let p: f64 = word.parse().map_err(|_| {
                    "Invalid latency-tracking-info-percentiles parameters".to_owned()
                })?;
                if !(0.0..=100.0).contains(&p) {
                    return Err(
                        "latency-tracking-info-percentiles parameters should sit between [0.0,100.0]"
                            .into(),
                    );
                }
                out.push(p);
            }
            s.latency_tracking_percentiles = out;
            Ok(())
        }),
    },
    Param {
        name: "tracking-table-max-keys",
        get: |s| s.tracking_table_max_keys.to_string(),
        change: Change::Set(|s, v| parse_num(v).map(|n| s.tracking_table_max_keys = n as usize)),
    },
    Param {
        name: "notify-keyspace-events",
        get: |s| s.notify_keyspace_events.to_string(),
        change: Change::Set(|s, v| match okapi_engine::notify::NotifyConfig::parse(v) {
            Some(config)
                if config
                    .classes
                    .intersects(okapi_engine::notify::EventClass::KEY_MISS) =>
            {
                // Reads are answered without the log, so nothing raises them yet;
                // accepting `m` would promise events that never come.
                Err("okapi does not publish key-miss events ('m') yet; it is refused rather than ignored".into())
            }
            Some(config) => {
                s.notify_keyspace_events = config;
                Ok(())
            }
            None => Err("Invalid event class character. Use 'Ag$lshzxeKEtmdn'.".into()),
        }),
    },
    Param {
        name: "maxmemory-policy",
        get: |s| s.maxmemory_policy.clone(),
        change: Change::Set(|s, v| {
            if v.eq_ignore_ascii_case("noeviction") {
                s.maxmemory_policy = "noeviction".to_owned();
                Ok(())
            } else {
                Err(format!(
                    "okapi does not implement maxmemory-policy '{v}' yet (supported: noeviction)"
                ))
            }
        }),
    },
    Param {
        name: "appendfsync",
        get: |s| s.appendfsync.clone(),
        change: Change::Set(|s, v| match v.to_ascii_lowercase().as_str() {
            policy @ ("always" | "everysec" | "no") => {
                s.appendfsync = policy.to_owned();
                Ok(())
            }
            _ => Err("argument(s) must be one of the following: always, everysec, no".into()),
        }),
    },
];
