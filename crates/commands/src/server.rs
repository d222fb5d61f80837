//! Server commands: INFO, CONFIG, COMMAND, TIME, WAIT, SHUTDOWN, LASTSAVE, DEBUG,
//! READONLY/READWRITE.

use bytes::Bytes;
use okapi_engine::Reply;

use crate::action::{Action, ConnCmd};
use crate::args::{float, int, is};
use crate::error::CommandError;
use crate::introspection;
use crate::spec::flags::*;
use crate::spec::{CommandSpec, Ctx, Keys, command};

const G: &str = "server";
const AS: &[&str] = &["@admin", "@slow", "@dangerous"];

/// Server commands.
pub const COMMANDS: &[CommandSpec] = &[
    command(
        "info",
        -1,
        LOADING | STALE,
        Keys::None,
        &["@slow", "@dangerous"],
        G,
        "Returns information and statistics about the server.",
        info,
    ),
    command(
        "config",
        -2,
        ADMIN | NOSCRIPT | LOADING | STALE,
        Keys::None,
        AS,
        G,
        "A container for server configuration commands.",
        config,
    ),
    command(
        "command",
        -1,
        LOADING | STALE,
        Keys::None,
        &["@slow", "@connection"],
        G,
        "Returns detailed information about all commands.",
        introspection::command,
    ),
    command(
        "time",
        1,
        LOADING | STALE | FAST,
        Keys::None,
        &["@fast"],
        G,
        "Returns the server time.",
        time,
    ),
    command(
        "wait",
        3,
        0,
        Keys::None,
        &["@slow", "@connection"],
        "generic",
        "Blocks until the writes sent by the connection are acknowledged by replicas.",
        wait,
    ),
    command(
        "shutdown",
        -1,
        ADMIN | NOSCRIPT | LOADING | STALE | NO_MULTI,
        Keys::None,
        AS,
        G,
        "Synchronously saves the database(s) to disk and shuts down the server.",
        shutdown,
    ),
    command(
        "save",
        1,
        ADMIN | NOSCRIPT | NO_MULTI,
        Keys::None,
        AS,
        G,
        "Synchronously saves the database(s) to disk.",
        save,
    ),
    command(
        "bgsave",
        -1,
        ADMIN | NOSCRIPT,
        Keys::None,
        &["@admin", "@slow", "@dangerous"],
        G,
        "Asynchronously saves the database(s) to disk.",
        bgsave,
    ),
    command(
        "lastsave",
        1,
        LOADING | STALE | FAST,
        Keys::None,
        &["@admin", "@fast", "@dangerous"],
        G,
        "Returns the Unix timestamp of the last successful save to disk.",
        lastsave,
    ),
    command(
        "role",
        1,
        NOSCRIPT | LOADING | STALE | FAST,
        Keys::None,
        &["@admin", "@fast", "@dangerous"],
        G,
        "Returns the replication role.",
        role,
    ),
    command(
        "memory",
        -2,
        READONLY,
        Keys::Range {
            first: 2,
            last: 2,
            step: 1,
        },
        &["@slow"],
        G,
        "A container for memory diagnostics commands.",
        memory,
    ),
    command(
        "slowlog",
        -2,
        ADMIN | LOADING | STALE,
        Keys::None,
        AS,
        G,
        "A container for slow log commands.",
        slowlog,
    ),
    command(
        "latency",
        -2,
        ADMIN | NOSCRIPT | LOADING | STALE,
        Keys::None,
        AS,
        G,
        "A container for latency diagnostics commands.",
        latency,
    ),
    command(
        "monitor",
        1,
        ADMIN | NOSCRIPT | LOADING | STALE,
        Keys::None,
        AS,
        G,
        "Listens for all requests received by the server in real-time.",
        monitor,
    ),
    command(
        "debug",
        -2,
        ADMIN | NOSCRIPT | LOADING | STALE,
        Keys::None,
        AS,
        G,
        "A container for debugging commands.",
        debug,
    ),
    command(
        "readonly",
        1,
        FAST | LOADING | STALE,
        Keys::None,
        &["@fast", "@connection"],
        "cluster",
        "Enables read-only queries for a connection to a cluster replica node.",
        readonly,
    ),
    command(
        "cluster",
        -2,
        LOADING | STALE,
        Keys::None,
        &["@slow"],
        "cluster",
        "A container for Redis Cluster commands.",
        cluster,
    ),
    command(
        "asking",
        1,
        FAST | LOADING | STALE,
        Keys::None,
        &["@fast", "@connection"],
        "cluster",
        "Signals that a cluster client is following an -ASK redirect.",
        asking,
    ),
    command(
        "readwrite",
        1,
        FAST | LOADING | STALE,
        Keys::None,
        &["@fast", "@connection"],
        "cluster",
        "Enables read-write queries for a connection to a cluster replica node.",
        readwrite,
    ),
];

fn conn(cmd: ConnCmd) -> Result<Action, CommandError> {
    Ok(Action::Conn(cmd))
}

fn info(_ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    conn(ConnCmd::Info(a.to_vec()))
}

fn config(_ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    let sub = &a[0];
    let rest = &a[1..];
    let arity = |name: &str| CommandError::WrongArity(format!("config|{name}"));
    if is(sub, "GET") {
        if rest.is_empty() {
            return Err(arity("get"));
        }
        conn(ConnCmd::ConfigGet(rest.to_vec()))
    } else if is(sub, "SET") {
        if rest.is_empty() || !rest.len().is_multiple_of(2) {
            return Err(arity("set"));
        }
        conn(ConnCmd::ConfigSet(
            rest.chunks_exact(2)
                .map(|p| (p[0].clone(), p[1].clone()))
                .collect(),
        ))
    } else if is(sub, "RESETSTAT") && rest.is_empty() {
        conn(ConnCmd::ConfigResetStat)
    } else if is(sub, "REWRITE") && rest.is_empty() {
        conn(ConnCmd::ConfigRewrite)
    } else if is(sub, "HELP") {
        Ok(Action::Reply(okapi_engine::Reply::Array(
            [
                "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "GET <pattern>",
                "    Return parameters matching the glob-like <pattern> and their values.",
                "SET <directive> <value>",
                "    Set the configuration <directive> to <value>.",
                "RESETSTAT",
                "    Reset statistics reported by the INFO command.",
                "REWRITE",
                "    Rewrite the configuration file.",
                "HELP",
                "    Print this help.",
            ]
            .iter()
            .map(|l| okapi_engine::Reply::Status(l))
            .collect(),
        )))
    } else if is(sub, "RESETSTAT") || is(sub, "REWRITE") {
        Err(arity(&String::from_utf8_lossy(sub).to_ascii_lowercase()))
    } else {
        Err(CommandError::UnknownSubcommand {
            command: "CONFIG".into(),
            sub: String::from_utf8_lossy(sub).into_owned(),
        })
    }
}

fn time(_ctx: &Ctx, _a: &[Bytes]) -> Result<Action, CommandError> {
    conn(ConnCmd::Time)
}

fn wait(_ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    let replicas = int(&a[0])?;
    let timeout = int(&a[1])
        .map_err(|_| CommandError::other("ERR timeout is not an integer or out of range"))?;
    if replicas < 0 {
        return Err(CommandError::NotInteger);
    }
    if timeout < 0 {
        return Err(CommandError::NegativeTimeout);
    }
    conn(ConnCmd::Wait {
        replicas: replicas as u64,
        timeout_ms: timeout as u64,
    })
}

/// As Redis 7: any of NOSAVE, SAVE, NOW, FORCE, ABORT in any order; ABORT alone, and
/// never NOSAVE with SAVE.
fn shutdown(_ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    let (mut nosave, mut save, mut abort, mut other) = (false, false, false, false);
    for word in a {
        if is(word, "NOSAVE") {
            nosave = true;
        } else if is(word, "SAVE") {
            save = true;
        } else if is(word, "ABORT") {
            abort = true;
        } else if is(word, "NOW") || is(word, "FORCE") {
            other = true;
        } else {
            return Err(CommandError::Syntax);
        }
    }
    if (abort && (nosave || save || other)) || (nosave && save) {
        return Err(CommandError::Syntax);
    }
    if abort {
        return conn(ConnCmd::ShutdownAbort);
    }
    conn(ConnCmd::Shutdown {
        save: match (nosave, save) {
            (true, _) => Some(false),
            (_, true) => Some(true),
            _ => None,
        },
    })
}

fn save(_ctx: &Ctx, _a: &[Bytes]) -> Result<Action, CommandError> {
    conn(ConnCmd::Save)
}

fn bgsave(_ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    match a {
        [] => conn(ConnCmd::BgSave { schedule: false }),
        [schedule] if is(schedule, "SCHEDULE") => conn(ConnCmd::BgSave { schedule: true }),
        _ => Err(CommandError::Syntax),
    }
}

fn lastsave(_ctx: &Ctx, _a: &[Bytes]) -> Result<Action, CommandError> {
    conn(ConnCmd::LastSave)
}

fn debug(_ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    match a {
        [sub, secs] if is(sub, "SLEEP") => {
            let secs = float(secs)?;
            if !(0.0..=3600.0).contains(&secs) {
                return Err(CommandError::other(
                    "ERR DEBUG SLEEP takes 0 to 3600 seconds",
                ));
            }
            conn(ConnCmd::DebugSleep(secs))
        }
        [sub] if is(sub, "DIGEST") => conn(ConnCmd::Digest { per_group: false }),
        [sub] if is(sub, "DIGEST-GROUPS") => conn(ConnCmd::Digest { per_group: true }),
        _ => Err(CommandError::other(format!(
            "ERR DEBUG {} is not supported by okapi (supported: SLEEP, DIGEST, DIGEST-GROUPS)",
            String::from_utf8_lossy(&a[0])
        ))),
    }
}

/// ROLE: okapi has no Redis-style replicas (every write is replicated through its
/// shard group's log instead), so a node answers as a master with no replicas, as a
/// Redis Cluster master with its replication offset at 0 would.
fn role(_ctx: &Ctx, _a: &[Bytes]) -> Result<Action, CommandError> {
    Ok(Action::Reply(Reply::Array(vec![
        Reply::bulk(b"master"),
        Reply::Int(0),
        Reply::Array(Vec::new()),
    ])))
}

fn memory(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    let sub = &a[0];
    if is(sub, "USAGE") && a.len() >= 2 {
        // `MEMORY USAGE key [SAMPLES count]`; Redis's default is 5 samples.
        let samples = match &a[2..] {
            [] => 5,
            [word, n] if is(word, "SAMPLES") => int(n)?.max(0) as u64,
            _ => return Err(CommandError::Syntax),
        };
        return Ok(crate::read(
            ctx,
            okapi_engine::QueryKind::Key(okapi_engine::keys::KeyQuery::MemoryUsage {
                key: a[1].clone(),
                samples,
            }),
        ));
    }
    let text = |t: &str| Ok(Action::Reply(Reply::Text(t.to_owned())));
    match a {
        [s] if is(s, "STATS") => conn(ConnCmd::MemoryStats),
        [s] if is(s, "DOCTOR") => text(
            "okapi's memory doctor: nothing to diagnose here. Memory is mimalloc, counted \
             live (INFO memory: used_memory, used_memory_rss, used_memory_peak); values are \
             never shared or fragmented by a copy-on-write fork, and transparent huge pages \
             are off (disable-thp).",
        ),
        [s] if is(s, "MALLOC-STATS") => text("Stats not supported for the current allocator"),
        [s] if is(s, "PURGE") => Ok(Action::Reply(Reply::Ok)),
        [s] if is(s, "HELP") => Ok(Action::Reply(Reply::Array(
            [
                "MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "DOCTOR",
                "    Return memory problems reports.",
                "MALLOC-STATS",
                "    Return internal statistics report from the memory allocator.",
                "PURGE",
                "    Attempt to purge dirty pages for reclamation by the allocator.",
                "STATS",
                "    Return information about the memory usage of the server.",
                "USAGE <key> [SAMPLES <count>]",
                "    Return memory in bytes used by <key> and its value. Nested values are",
                "    sampled up to <count> times (default: 5, 0 means sample all).",
                "HELP",
                "    Print this help.",
            ]
            .iter()
            .map(|l| Reply::Status(l))
            .collect(),
        ))),
        _ => Err(CommandError::UnknownSubcommand {
            command: "MEMORY".into(),
            sub: String::from_utf8_lossy(sub).into_owned(),
        }),
    }
}

fn latency(_ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    let sub = a[0].to_ascii_lowercase();
    let arity = || CommandError::WrongArity(format!("latency|{}", String::from_utf8_lossy(&sub)));
    match (sub.as_slice(), &a[1..]) {
        (b"latest", []) => conn(ConnCmd::LatencyLatest),
        (b"history", [event]) => conn(ConnCmd::LatencyHistory(event.clone())),
        (b"graph", [event]) => conn(ConnCmd::LatencyGraph(event.clone())),
        (b"doctor", []) => conn(ConnCmd::LatencyDoctor),
        (b"reset", events) => conn(ConnCmd::LatencyReset(events.to_vec())),
        (b"histogram", names) => conn(ConnCmd::LatencyHistogram(
            names
                .iter()
                .map(|n| String::from_utf8_lossy(n).to_ascii_lowercase())
                .collect(),
        )),
        (b"help", []) => Ok(Action::Reply(Reply::Array(
            [
                "LATENCY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "DOCTOR",
                "    Return a human readable latency analysis report.",
                "GRAPH <event>",
                "    Return an ASCII latency graph for the <event> class.",
                "HISTORY <event>",
                "    Return time-latency samples for the <event> class.",
                "LATEST",
                "    Return the latest latency samples for all events.",
                "RESET [<event> ...]",
                "    Reset latency data of one or more <event> classes.",
                "    (default: reset all data for all event classes)",
                "HISTOGRAM [COMMAND ...]",
                "    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.",
                "    If no commands are specified then all histograms are replied.",
                "HELP",
                "    Prints this help.",
            ]
            .iter()
            .map(|l| Reply::Status(l))
            .collect(),
        ))),
        (b"latest" | b"history" | b"graph" | b"doctor" | b"help", _) => Err(arity()),
        _ => Err(CommandError::UnknownSubcommand {
            command: "LATENCY".into(),
            sub: String::from_utf8_lossy(&a[0]).into_owned(),
        }),
    }
}

fn slowlog(_ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    let sub = a[0].to_ascii_lowercase();
    let arity = |name: &str| CommandError::WrongArity(format!("slowlog|{name}"));
    let syntax = || {
        CommandError::other(format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try SLOWLOG HELP.",
            String::from_utf8_lossy(&a[0])
        ))
    };
    match (sub.as_slice(), &a[1..]) {
        (b"get", []) => conn(ConnCmd::SlowLogGet(Some(10))),
        (b"get", [count]) => {
            let bad = || CommandError::other("ERR count should be greater than or equal to -1");
            let n = okapi_types::num::parse_i64(count).ok_or_else(bad)?;
            match n {
                -1 => conn(ConnCmd::SlowLogGet(None)),
                n if n < -1 => Err(bad()),
                n => conn(ConnCmd::SlowLogGet(Some(
                    usize::try_from(n).unwrap_or(usize::MAX),
                ))),
            }
        }
        (b"get", _) => Err(syntax()),
        (b"len", []) => conn(ConnCmd::SlowLogLen),
        (b"reset", []) => conn(ConnCmd::SlowLogReset),
        (b"help", []) => Ok(Action::Reply(Reply::Array(
            [
                "SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "GET [<count>]",
                "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
                "    Entries are made of:",
                "    id, timestamp, time in microseconds, arguments array, client IP and port,",
                "    client name",
                "LEN",
                "    Return the length of the slowlog.",
                "RESET",
                "    Reset the slowlog.",
                "HELP",
                "    Prints this help.",
            ]
            .iter()
            .map(|l| Reply::Status(l))
            .collect(),
        ))),
        (b"len", _) => Err(arity("len")),
        (b"reset", _) => Err(arity("reset")),
        (b"help", _) => Err(arity("help")),
        _ => Err(CommandError::UnknownSubcommand {
            command: "SLOWLOG".into(),
            sub: String::from_utf8_lossy(&a[0]).into_owned(),
        }),
    }
}

fn monitor(_ctx: &Ctx, _a: &[Bytes]) -> Result<Action, CommandError> {
    Ok(Action::Conn(ConnCmd::Monitor))
}

fn readonly(_ctx: &Ctx, _a: &[Bytes]) -> Result<Action, CommandError> {
    conn(ConnCmd::ReadMode(true))
}

fn readwrite(_ctx: &Ctx, _a: &[Bytes]) -> Result<Action, CommandError> {
    conn(ConnCmd::ReadMode(false))
}

fn asking(_ctx: &Ctx, _a: &[Bytes]) -> Result<Action, CommandError> {
    conn(ConnCmd::Asking)
}

fn slot_arg(arg: &[u8]) -> Result<u16, CommandError> {
    match okapi_types::num::parse_i64(arg) {
        Some(n) if (0..i64::from(okapi_types::SLOT_COUNT)).contains(&n) => Ok(n as u16),
        Some(_) => Err(CommandError::other("ERR Invalid slot")),
        None => Err(CommandError::other("ERR Invalid slot")),
    }
}

/// A node id as CLUSTER NODES shows it (40 hex digits, the last 24 zeros) or as
/// its 16 significant hex digits.
fn node_id_arg(arg: &[u8]) -> Result<u64, CommandError> {
    let bad = || {
        CommandError::other(format!(
            "ERR Invalid node id '{}'",
            String::from_utf8_lossy(arg)
        ))
    };
    let text = std::str::from_utf8(arg).map_err(|_| bad())?;
    let head = match text.len() {
        16 => text,
        40 if text[16..].bytes().all(|b| b == b'0') => &text[..16],
        _ => return Err(bad()),
    };
    u64::from_str_radix(head, 16).map_err(|_| bad())
}

fn port_arg(arg: &[u8]) -> Result<u16, CommandError> {
    match okapi_types::num::parse_i64(arg) {
        Some(n) if (1..=65535).contains(&n) => Ok(n as u16),
        _ => Err(CommandError::other(format!(
            "ERR Invalid port '{}'",
            String::from_utf8_lossy(arg)
        ))),
    }
}

fn cluster(_ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    use crate::action::{ClusterCmd, MapChangeCmd};
    let sub = &a[0];
    let rest = &a[1..];
    let arity = |name: &str| CommandError::WrongArity(format!("cluster|{name}"));
    let change = |c: MapChangeCmd| conn(ConnCmd::Cluster(ClusterCmd::OkapiChange(c)));
    let simple = |cmd: ClusterCmd, name: &str| {
        if rest.is_empty() {
            conn(ConnCmd::Cluster(cmd))
        } else {
            Err(arity(name))
        }
    };
    if is(sub, "INFO") {
        simple(ClusterCmd::Info, "info")
    } else if is(sub, "MYID") {
        simple(ClusterCmd::MyId, "myid")
    } else if is(sub, "SLOTS") {
        simple(ClusterCmd::Slots, "slots")
    } else if is(sub, "SHARDS") {
        simple(ClusterCmd::Shards, "shards")
    } else if is(sub, "NODES") {
        simple(ClusterCmd::Nodes, "nodes")
    } else if is(sub, "KEYSLOT") {
        let [key] = rest else {
            return Err(arity("keyslot"));
        };
        Ok(Action::Reply(okapi_engine::Reply::Int(i64::from(
            okapi_types::key_slot(key).0,
        ))))
    } else if is(sub, "COUNTKEYSINSLOT") {
        let [slot] = rest else {
            return Err(arity("countkeysinslot"));
        };
        conn(ConnCmd::Cluster(ClusterCmd::CountKeysInSlot(slot_arg(
            slot,
        )?)))
    } else if is(sub, "GETKEYSINSLOT") {
        let [slot, count] = rest else {
            return Err(arity("getkeysinslot"));
        };
        let count = match okapi_types::num::parse_i64(count) {
            Some(n) if n >= 0 => n as usize,
            _ => return Err(CommandError::other("ERR Invalid number of keys")),
        };
        conn(ConnCmd::Cluster(ClusterCmd::GetKeysInSlot(
            slot_arg(slot)?,
            count,
        )))
    } else if is(sub, "OKAPI-NODE") {
        simple(ClusterCmd::OkapiNode, "okapi-node")
    } else if is(sub, "OKAPI-SETMAP") {
        let [map] = rest else {
            return Err(arity("okapi-setmap"));
        };
        conn(ConnCmd::Cluster(ClusterCmd::OkapiSetMap(map.clone())))
    } else if is(sub, "OKAPI-ADDNODE") {
        let [id, host, port, cluster_port] = rest else {
            return Err(arity("okapi-addnode"));
        };
        let host = std::str::from_utf8(host)
            .ok()
            .filter(|h| !h.is_empty() && !h.contains(char::is_whitespace))
            .ok_or_else(|| CommandError::other("ERR Invalid host"))?;
        change(MapChangeCmd::AddNode {
            id: node_id_arg(id)?,
            host: host.to_owned(),
            port: port_arg(port)?,
            cluster_port: port_arg(cluster_port)?,
        })
    } else if is(sub, "OKAPI-REMOVENODE") {
        let [id] = rest else {
            return Err(arity("okapi-removenode"));
        };
        change(MapChangeCmd::RemoveNode(node_id_arg(id)?))
    } else if is(sub, "OKAPI-FORGETNODE") {
        let [id] = rest else {
            return Err(arity("okapi-forgetnode"));
        };
        change(MapChangeCmd::ForgetNode(node_id_arg(id)?))
    } else if is(sub, "OKAPI-REBALANCE") {
        simple(
            ClusterCmd::OkapiChange(MapChangeCmd::Rebalance),
            "okapi-rebalance",
        )
    } else if is(sub, "OKAPI-GROUPS") {
        simple(ClusterCmd::OkapiGroups, "okapi-groups")
    } else if is(sub, "OKAPI-MAP") {
        simple(ClusterCmd::OkapiMap, "okapi-map")
    } else if is(sub, "HELP") {
        Ok(Action::Reply(okapi_engine::Reply::Array(
            [
                "CLUSTER <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "INFO",
                "    Return information about the cluster.",
                "MYID",
                "    Return the node id.",
                "SLOTS",
                "    Return information about slots range mappings.",
                "SHARDS",
                "    Return information about the shards of the cluster.",
                "NODES",
                "    Return cluster configuration seen by node.",
                "KEYSLOT <key>",
                "    Return the hash slot for <key>.",
                "COUNTKEYSINSLOT <slot>",
                "    Return the number of keys in <slot>.",
                "GETKEYSINSLOT <slot> <count>",
                "    Return key names stored by current node in a slot.",
                "HELP",
                "    Print this help.",
            ]
            .iter()
            .map(|l| okapi_engine::Reply::Status(l))
            .collect(),
        )))
    } else {
        Err(CommandError::other(format!(
            "ERR unknown subcommand '{}'. Try CLUSTER HELP.",
            String::from_utf8_lossy(sub)
        )))
    }
}
