//! Runtime settings and CONFIG GET/SET over them. Every okapi setting is visible to
//! CONFIG GET; the ones fixed at start say why on CONFIG SET. Redis parameters that
//! mean nothing in okapi are accepted and echoed so tools written for Redis keep
//! working (INFO lists them as ignored), except values that would switch on a feature
//! okapi lacks, which are refused.

mod ignored;
mod params;

pub use ignored::{IGNORED, missing_feature};
pub use params::percentile_label;
use params::{Change, PARAMS};

use std::collections::BTreeMap;
use std::path::PathBuf;

use bytes::Bytes;

use crate::logging::LogLevel;

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
    /// SLOWLOG threshold in microseconds (negative: off, 0: every command).
    pub slowlog_slower_than_us: i64,
    /// SLOWLOG entries kept.
    pub slowlog_max_len: usize,
    /// `busy-reply-threshold` (alias `lua-time-limit`): how long a script runs before
    /// other clients get `-BUSY` and SCRIPT KILL may stop it, ms.
    pub busy_reply_threshold_ms: u64,
    /// `script-instruction-limit`: Lua instructions a script applied from the log may
    /// run before every replica stops it alike (0: no limit).
    pub script_instruction_limit: u64,
    /// Data directory.
    pub dir: PathBuf,
    /// Memory limit in bytes (0: none).
    pub maxmemory: u64,
    /// What happens at the limit.
    pub maxmemory_policy: String,
    /// Most bytes queued for a slow pub/sub subscriber before it is disconnected.
    pub pubsub_output_limit: usize,
    /// Log verbosity.
    pub loglevel: LogLevel,
    /// When the log is fsynced: always, everysec, no.
    pub appendfsync: String,
    /// Protected mode: with no password, only loopback clients are served.
    pub protected_mode: bool,
    /// HTTP API port (`None`: HTTP off).
    pub http_port: Option<u16>,
    /// Addresses the HTTP listener binds.
    pub http_bind: Vec<String>,
    /// NBD port (`None`: NBD off).
    pub nbd_port: Option<u16>,
    /// Addresses the NBD listener binds.
    pub nbd_bind: Vec<String>,
    /// Serve NBD (which has no password mechanism) although a password is set.
    pub nbd_unauthenticated: bool,
    /// Event-loop threads as configured (0: half the cores).
    pub threads: usize,
    /// Transparent huge pages off for the process.
    pub disable_thp: bool,
    /// Snapshot once the log since the last one holds this many bytes (0: never).
    pub snapshot_log_bytes: u64,
    /// Snapshot once the log since the last one holds this many entries.
    pub snapshot_entries: u64,
    /// Shard groups of a standalone node (fixed when its data directory is created).
    pub shard_groups: u32,
    /// A node of a cluster (fixed at start).
    pub cluster_enabled: bool,
    /// The cluster port asked for (the bound one is in CLUSTER OKAPI-NODE).
    pub cluster_port: Option<u16>,
    /// Milliseconds a node may be unreachable before its replicas are re-created
    /// elsewhere (on the control group's leader).
    pub cluster_node_timeout_ms: u64,
    /// Where the log goes (`None`: standard error).
    pub logfile: Option<PathBuf>,
    /// Log line format: `text` or `json`.
    pub log_format: String,
    /// Written once loading ends, removed at exit.
    pub ready_file: Option<PathBuf>,
    /// Microseconds to pause per key restored from a snapshot (Redis's
    /// `key-load-delay`, for testing what clients see while a node loads).
    pub key_load_delay_us: u64,
    /// Most keys client-side caching remembers readers for (0: no limit).
    pub tracking_table_max_keys: usize,
    /// Requests at least this long (ms) are latency-monitor samples (0: off).
    pub latency_monitor_threshold_ms: u64,
    /// Per-command latency histograms (LATENCY HISTOGRAM, INFO latencystats).
    pub latency_tracking: bool,
    /// The percentiles INFO latencystats reports.
    pub latency_tracking_percentiles: Vec<f64>,
    /// `notify-keyspace-events`: which keyspace events are published, and where.
    pub notify_keyspace_events: okapi_engine::notify::NotifyConfig,
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
            slowlog_slower_than_us: 10_000,
            slowlog_max_len: 128,
            busy_reply_threshold_ms: 5000,
            script_instruction_limit: 1_000_000_000,
            dir: PathBuf::from("okapi-data"),
            maxmemory: 0,
            maxmemory_policy: "noeviction".to_owned(),
            notify_keyspace_events: okapi_engine::notify::NotifyConfig::default(),
            tracking_table_max_keys: 1_000_000,
            latency_monitor_threshold_ms: 0,
            latency_tracking: true,
            latency_tracking_percentiles: vec![50.0, 99.0, 99.9],
            pubsub_output_limit: 32 * 1024 * 1024,
            loglevel: LogLevel::Notice,
            appendfsync: "everysec".to_owned(),
            protected_mode: true,
            http_port: None,
            http_bind: Vec::new(),
            nbd_port: None,
            nbd_bind: Vec::new(),
            nbd_unauthenticated: false,
            threads: 0,
            disable_thp: true,
            snapshot_log_bytes: 64 * 1024 * 1024,
            snapshot_entries: 1_000_000,
            shard_groups: 1,
            cluster_enabled: false,
            cluster_port: None,
            cluster_node_timeout_ms: 60_000,
            logfile: None,
            log_format: "text".to_owned(),
            ready_file: None,
            key_load_delay_us: 0,
            ignored: IGNORED
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }
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
            return match param.change {
                Change::Set(set) => set(self, value),
                Change::Fixed(why) => Err(format!("can't set immutable config: {why}")),
            };
        }
        if let Some(slot) = self.ignored.get_mut(&lower) {
            if let Some(why) = missing_feature(&lower, value) {
                return Err(why);
            }
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
        let fixed = s.config_set("port", "1").expect_err("port is fixed");
        assert!(
            fixed.contains("immutable") && fixed.contains("restart"),
            "{fixed}"
        );
        assert!(s.config_set("no-such-thing", "1").is_err());
        assert!(s.config_set("maxmemory-policy", "allkeys-lru").is_err());
        s.config_set("MAXMEMORY", "1mb").expect("valid");
        assert_eq!(s.maxmemory, 1024 * 1024);
    }

    #[test]
    fn every_okapi_setting_is_visible_and_fixed_ones_say_why() {
        let mut s = Settings::default();
        for name in [
            "threads",
            "http-port",
            "http-bind",
            "nbd-port",
            "nbd-bind",
            "no-http",
            "disable-thp",
            "snapshot-log-bytes",
            "snapshot-entries",
            "shard-groups",
            "cluster-enabled",
            "cluster-port",
            "protected-mode",
            "nbd-unauthenticated",
            "logfile",
            "log-format",
            "loglevel",
            "ready-file",
        ] {
            assert_eq!(s.config_get(name.as_bytes()).len(), 1, "{name} is listed");
        }
        let why = s.config_set("threads", "4").expect_err("threads is fixed");
        assert!(why.contains("event-loop threads"), "{why}");
        s.config_set("snapshot-log-bytes", "1mb").expect("mutable");
        assert_eq!(s.snapshot_log_bytes, 1 << 20);
        s.config_set("loglevel", "WARNING").expect("valid level");
        assert_eq!(s.loglevel, LogLevel::Warning);
        assert!(s.config_set("loglevel", "loud").is_err());
        s.config_set("protected-mode", "no").expect("mutable");
        assert!(!s.protected_mode);
    }

    #[test]
    fn keyspace_events_are_a_real_setting_shown_in_redis_form() {
        let mut s = Settings::default();
        s.config_set("notify-keyspace-events", "KEA")
            .expect("valid");
        assert_eq!(
            s.config_get(b"notify-keyspace-events"),
            vec![("notify-keyspace-events".into(), "AKE".into())]
        );
        let why = s
            .config_set("notify-keyspace-events", "KE?")
            .expect_err("not a class");
        assert!(why.contains("Invalid event class character"), "{why}");
        assert!(
            s.notify_keyspace_events.keyevent,
            "a refused value changes nothing"
        );
        let why = s
            .config_set("notify-keyspace-events", "KEm")
            .expect_err("key-miss events are not raised");
        assert!(why.contains("key-miss"), "{why}");
    }

    #[test]
    fn values_that_would_switch_on_a_missing_feature_are_refused() {
        let mut s = Settings::default();
        assert!(s.config_set("appendonly", "no").is_err());
        s.config_set("appendonly", "yes").expect("it is always on");
        assert!(s.config_set("save", "900 1").is_err());
        s.config_set("save", "")
            .expect("no save points is the truth");
        assert!(s.config_set("activedefrag", "yes").is_err());
        s.config_set("hash-max-listpack-entries", "64")
            .expect("harmless");
    }
}
