//! Runtime settings and the CONFIG GET/SET table. Redis parameters that mean nothing in
//! okapi are accepted and echoed so tools written for Redis keep working; INFO lists
//! them as ignored.

use std::collections::BTreeMap;
use std::path::PathBuf;

use bytes::Bytes;

/// Settings a running server reads; CONFIG SET changes the mutable ones.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Addresses the RESP listener binds.
    pub bind: Vec<String>,
    /// RESP TCP port (0: any free port).
    pub port: u16,
    /// Unix socket path.
    pub unixsocket: Option<PathBuf>,
    /// Unix socket permissions (octal).
    pub unixsocketperm: u32,
    /// Close clients idle this many seconds (0: never).
    pub timeout_secs: u64,
    /// Most simultaneous clients.
    pub maxclients: usize,
    /// Largest bulk string a client may send.
    pub proto_max_bulk_len: usize,
    /// Most bytes buffered for one client's unprocessed requests.
    pub client_query_buffer_limit: usize,
    /// Number of numbered namespaces.
    pub databases: u32,
    /// Password of the default user.
    pub requirepass: Option<Bytes>,
    /// Background task frequency (active expiry), per second.
    pub hz: u32,
    /// Data directory.
    pub dir: PathBuf,
    /// Memory limit in bytes (0: none).
    pub maxmemory: u64,
    /// What happens at the limit.
    pub maxmemory_policy: String,
    /// Most bytes queued for a slow pub/sub subscriber before it is disconnected.
    pub pubsub_output_limit: usize,
    /// Log verbosity.
    pub loglevel: String,
    /// When the log is fsynced: always, everysec, no.
    pub appendfsync: String,
    /// Redis parameters accepted for compatibility but without effect in okapi.
    pub ignored: BTreeMap<String, String>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            bind: vec!["127.0.0.1".to_owned()],
            port: okapi_types::limits::DEFAULT_PORT,
            unixsocket: None,
            unixsocketperm: 0o700,
            timeout_secs: 0,
            maxclients: 10_000,
            proto_max_bulk_len: okapi_types::limits::DEFAULT_PROTO_MAX_BULK_LEN,
            client_query_buffer_limit: 1024 * 1024 * 1024,
            databases: okapi_types::limits::DEFAULT_DATABASES,
            requirepass: None,
            hz: 10,
            dir: PathBuf::from("okapi-data"),
            maxmemory: 0,
            maxmemory_policy: "noeviction".to_owned(),
            pubsub_output_limit: 32 * 1024 * 1024,
            loglevel: "notice".to_owned(),
            appendfsync: "everysec".to_owned(),
            ignored: IGNORED
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }
}

/// Redis parameters okapi accepts and echoes but does not act on, with Redis's
/// defaults. Encoding thresholds, RDB/AOF-rewrite and lazy-free knobs have no meaning
/// for okapi's data structures and storage.
pub const IGNORED: &[(&str, &str)] = &[
    ("activedefrag", "no"),
    ("activerehashing", "yes"),
    ("active-defrag-cycle-max", "25"),
    ("active-defrag-cycle-min", "1"),
    ("active-defrag-ignore-bytes", "104857600"),
    ("active-defrag-threshold-lower", "10"),
    ("active-defrag-threshold-upper", "100"),
    ("active-expire-effort", "1"),
    ("aof-rewrite-incremental-fsync", "yes"),
    ("aof-use-rdb-preamble", "yes"),
    ("appendfilename", "appendonly.aof"),
    ("appendonly", "yes"),
    ("auto-aof-rewrite-min-size", "67108864"),
    ("auto-aof-rewrite-percentage", "100"),
    ("busy-reply-threshold", "5000"),
    (
        "client-output-buffer-limit",
        "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60",
    ),
    ("dbfilename", "dump.rdb"),
    ("dynamic-hz", "yes"),
    ("enable-debug-command", "no"),
    ("hash-max-listpack-entries", "128"),
    ("hash-max-listpack-value", "64"),
    ("hash-max-ziplist-entries", "128"),
    ("hash-max-ziplist-value", "64"),
    ("hll-sparse-max-bytes", "3000"),
    ("io-threads", "1"),
    ("jemalloc-bg-thread", "yes"),
    ("latency-monitor-threshold", "0"),
    ("latency-tracking", "yes"),
    ("lazyfree-lazy-eviction", "no"),
    ("lazyfree-lazy-expire", "no"),
    ("lazyfree-lazy-server-del", "no"),
    ("lazyfree-lazy-user-del", "no"),
    ("lazyfree-lazy-user-flush", "no"),
    ("lfu-decay-time", "1"),
    ("lfu-log-factor", "10"),
    ("list-compress-depth", "0"),
    ("list-max-listpack-size", "-2"),
    ("list-max-ziplist-size", "-2"),
    ("lua-time-limit", "5000"),
    ("maxmemory-samples", "5"),
    ("min-replicas-max-lag", "10"),
    ("min-replicas-to-write", "0"),
    ("no-appendfsync-on-rewrite", "no"),
    ("notify-keyspace-events", ""),
    ("rdbchecksum", "yes"),
    ("rdbcompression", "yes"),
    ("repl-backlog-size", "1048576"),
    ("repl-diskless-sync", "yes"),
    ("replica-read-only", "yes"),
    ("save", ""),
    ("set-max-intset-entries", "512"),
    ("set-max-listpack-entries", "128"),
    ("set-max-listpack-value", "64"),
    ("slowlog-log-slower-than", "10000"),
    ("slowlog-max-len", "128"),
    ("stop-writes-on-bgsave-error", "yes"),
    ("stream-node-max-bytes", "4096"),
    ("stream-node-max-entries", "100"),
    ("tcp-keepalive", "300"),
    ("tracking-table-max-keys", "1000000"),
    ("zset-max-listpack-entries", "128"),
    ("zset-max-listpack-value", "64"),
    ("zset-max-ziplist-entries", "128"),
    ("zset-max-ziplist-value", "64"),
];

type Getter = fn(&Settings) -> String;
type Setter = fn(&mut Settings, &str) -> Result<(), String>;

/// One parameter okapi acts on.
struct Param {
    name: &'static str,
    get: Getter,
    set: Option<Setter>,
}

const PARAMS: &[Param] = &[
    Param {
        name: "bind",
        get: |s| s.bind.join(" "),
        set: None,
    },
    Param {
        name: "port",
        get: |s| s.port.to_string(),
        set: None,
    },
    Param {
        name: "unixsocket",
        get: |s| {
            s.unixsocket
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        },
        set: None,
    },
    Param {
        name: "unixsocketperm",
        get: |s| format!("{:o}", s.unixsocketperm),
        set: None,
    },
    Param {
        name: "databases",
        get: |s| s.databases.to_string(),
        set: None,
    },
    Param {
        name: "dir",
        get: |s| s.dir.display().to_string(),
        set: None,
    },
    Param {
        name: "timeout",
        get: |s| s.timeout_secs.to_string(),
        set: Some(|s, v| parse_num(v).map(|n| s.timeout_secs = n)),
    },
    Param {
        name: "maxclients",
        get: |s| s.maxclients.to_string(),
        set: Some(|s, v| {
            parse_num(v).and_then(|n| {
                if n == 0 {
                    Err("argument must be between 1 and 4294967295 inclusive".into())
                } else {
                    s.maxclients = n as usize;
                    Ok(())
                }
            })
        }),
    },
    Param {
        name: "proto-max-bulk-len",
        get: |s| s.proto_max_bulk_len.to_string(),
        set: Some(|s, v| {
            parse_memory(v).and_then(|n| {
                if n < 1024 * 1024 {
                    Err("argument must be a memory value of at least 1mb".into())
                } else {
                    s.proto_max_bulk_len = n as usize;
                    Ok(())
                }
            })
        }),
    },
    Param {
        name: "client-query-buffer-limit",
        get: |s| s.client_query_buffer_limit.to_string(),
        set: Some(|s, v| {
            parse_memory(v).and_then(|n| {
                if n < 1024 * 1024 {
                    Err("argument must be a memory value of at least 1mb".into())
                } else {
                    s.client_query_buffer_limit = n as usize;
                    Ok(())
                }
            })
        }),
    },
    Param {
        name: "requirepass",
        get: |s| {
            s.requirepass
                .as_ref()
                .map(|p| String::from_utf8_lossy(p).into_owned())
                .unwrap_or_default()
        },
        set: Some(|s, v| {
            s.requirepass = (!v.is_empty()).then(|| Bytes::copy_from_slice(v.as_bytes()));
            Ok(())
        }),
    },
    Param {
        name: "hz",
        get: |s| s.hz.to_string(),
        set: Some(|s, v| parse_num(v).map(|n| s.hz = n.clamp(1, 500) as u32)),
    },
    Param {
        name: "maxmemory",
        get: |s| s.maxmemory.to_string(),
        set: Some(|s, v| parse_memory(v).map(|n| s.maxmemory = n)),
    },
    Param {
        name: "maxmemory-policy",
        get: |s| s.maxmemory_policy.clone(),
        set: Some(|s, v| {
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
        set: Some(|s, v| match v.to_ascii_lowercase().as_str() {
            policy @ ("always" | "everysec" | "no") => {
                s.appendfsync = policy.to_owned();
                Ok(())
            }
            _ => Err("argument(s) must be one of the following: always, everysec, no".into()),
        }),
    },
    Param {
        name: "loglevel",
        get: |s| s.loglevel.clone(),
        set: Some(|s, v| {
            match v.to_ascii_lowercase().as_str() {
            level @ ("debug" | "verbose" | "notice" | "warning" | "nothing") => {
                s.loglevel = level.to_owned();
                Ok(())
            }
            _ => Err("argument(s) must be one of the following: debug, verbose, notice, warning, nothing".into()),
        }
        }),
    },
];

fn parse_num(v: &str) -> Result<u64, String> {
    v.parse()
        .map_err(|_| "argument couldn't be parsed into an integer".to_owned())
}

/// Parses a Redis memory amount: `100`, `1k` (1000), `1kb` (1024), `2mb`, `1gb` ...
pub fn parse_memory(v: &str) -> Result<u64, String> {
    let lower = v.to_ascii_lowercase();
    let split = lower
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(lower.len());
    let (digits, unit) = lower.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| "argument must be a memory value".to_owned())?;
    let mul: u64 = match unit {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1000 * 1000,
        "mb" => 1024 * 1024,
        "g" => 1000 * 1000 * 1000,
        "gb" => 1024 * 1024 * 1024,
        _ => return Err("argument must be a memory value".to_owned()),
    };
    n.checked_mul(mul)
        .ok_or_else(|| "argument must be a memory value".to_owned())
}

impl Settings {
    /// Every parameter matching the glob `pattern` (case-insensitive), with its value.
    pub fn config_get(&self, pattern: &[u8]) -> Vec<(String, String)> {
        let matches = |name: &str| okapi_engine::glob::glob_match(pattern, name.as_bytes(), true);
        let mut out: Vec<(String, String)> = PARAMS
            .iter()
            .filter(|p| matches(p.name))
            .map(|p| (p.name.to_owned(), (p.get)(self)))
            .collect();
        out.extend(
            self.ignored
                .iter()
                .filter(|(k, _)| matches(k))
                .map(|(k, v)| (k.clone(), v.clone())),
        );
        out
    }

    /// Sets one parameter; the error is the reason Redis-style (without prefix).
    pub fn config_set(&mut self, name: &str, value: &str) -> Result<(), String> {
        let lower = name.to_ascii_lowercase();
        if let Some(param) = PARAMS.iter().find(|p| p.name == lower) {
            let Some(set) = param.set else {
                return Err("can't set immutable config".to_owned());
            };
            return set(self, value);
        }
        if let Some(slot) = self.ignored.get_mut(&lower) {
            *slot = value.to_owned();
            return Ok(());
        }
        Err("Unknown option or number of arguments for CONFIG SET".to_owned())
    }

    /// Names of accepted parameters that have no effect.
    pub fn ignored_names(&self) -> impl Iterator<Item = &str> {
        self.ignored.keys().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_units_follow_redis() {
        assert_eq!(parse_memory("100"), Ok(100));
        assert_eq!(parse_memory("1k"), Ok(1000));
        assert_eq!(parse_memory("1KB"), Ok(1024));
        assert_eq!(parse_memory("2gb"), Ok(2 * 1024 * 1024 * 1024));
        assert!(parse_memory("12xb").is_err());
        assert!(parse_memory("").is_err());
    }

    #[test]
    fn config_get_matches_globs_and_set_validates() {
        let mut s = Settings::default();
        assert_eq!(
            s.config_get(b"maxmemory"),
            vec![("maxmemory".to_owned(), "0".to_owned())]
        );
        assert!(s.config_get(b"hash-max-*").len() >= 4);
        s.config_set("hash-max-listpack-entries", "512")
            .expect("ignored params are accepted");
        assert_eq!(s.config_get(b"hash-max-listpack-entries")[0].1, "512");
        assert!(s.config_set("port", "1").is_err());
        assert!(s.config_set("no-such-thing", "1").is_err());
        assert!(s.config_set("maxmemory-policy", "allkeys-lru").is_err());
        s.config_set("MAXMEMORY", "1mb").expect("valid");
        assert_eq!(s.maxmemory, 1024 * 1024);
    }
}
