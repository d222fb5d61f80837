//! Node configuration: every setting, with defaults, readable from `okapi.toml`; the
//! binary overlays command-line flags.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::NodeError;

/// Everything a node needs to start.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct Config {
    /// Addresses for the RESP listener.
    pub bind: Vec<String>,
    /// RESP port; 0 picks a free port (see `ready-file`).
    pub port: u16,
    /// Also listen on this Unix socket.
    pub unixsocket: Option<PathBuf>,
    /// Unix socket permissions, octal (e.g. "700").
    pub unixsocketperm: String,
    /// Data directory.
    pub data_dir: PathBuf,
    /// Written (JSON with the bound ports) once the node accepts clients.
    pub ready_file: Option<PathBuf>,
    /// Close clients idle this many seconds (0: never).
    pub timeout: u64,
    /// Most simultaneous clients.
    pub maxclients: usize,
    /// Largest bulk string a client may send (e.g. "512mb").
    pub proto_max_bulk_len: String,
    /// Most bytes buffered for one client's unread requests (e.g. "1gb").
    pub client_query_buffer_limit: String,
    /// Number of numbered namespaces (SELECT 0..n-1).
    pub databases: u32,
    /// Password of the default user.
    pub requirepass: Option<String>,
    /// Background task frequency per second (active expiry).
    pub hz: u32,
    /// Memory limit (e.g. "4gb"; "0" means none).
    pub maxmemory: String,
    /// What happens at the memory limit (only `noeviction` so far).
    pub maxmemory_policy: String,
    /// Event-loop threads (0: half the cores, at least one).
    pub threads: usize,
    /// Log level: debug, verbose, notice, warning, nothing.
    pub loglevel: String,
    /// When the WAL is fsynced: always (before each reply), everysec, no.
    pub appendfsync: String,
    /// Snapshot once the log since the last snapshot holds this many bytes (0: never
    /// by size).
    pub snapshot_log_bytes: u64,
    /// Snapshot once the log since the last snapshot holds this many entries.
    pub snapshot_entries: u64,
    /// Run as a node of a cluster: open the cluster port and take groups from the
    /// cluster map (`okapi cluster create`).
    pub cluster_enabled: bool,
    /// The cluster port (node-to-node traffic); default: port + 10000 (0 when port
    /// is 0).
    pub cluster_port: Option<u16>,
    /// Milliseconds a node of a cluster may be unreachable before its replicas are
    /// re-created on other nodes.
    pub cluster_node_timeout: u64,
    /// Shard groups a new standalone data directory splits its slots into (each with
    /// its own engine lock, log and snapshots); fixed when the directory is created.
    pub shard_groups: u32,
    /// Serve blocks over NBD on this port (0 picks a free one); off when absent.
    pub nbd_port: Option<u16>,
    /// Addresses for the NBD listener (empty: the RESP `bind` addresses).
    pub nbd_bind: Vec<String>,
    /// Serve NBD although `requirepass` is set. NBD has no password mechanism, so
    /// without this a node with a password refuses to start with `nbd-port`.
    pub nbd_unauthenticated: bool,
    /// Serve the HTTP API on this port (0 picks a free one), unless `no-http`.
    pub http_port: u16,
    /// Addresses for the HTTP listener (empty: the RESP `bind` addresses).
    pub http_bind: Vec<String>,
    /// Do not serve the HTTP API.
    pub no_http: bool,
    /// Protected mode, as Redis: with no password set, serve only loopback clients
    /// on every front end.
    pub protected_mode: bool,
    /// Turn transparent huge pages off for the server process (Linux), as Redis's
    /// `disable-thp`: huge-page faults stall the event loop while memory grows.
    pub disable_thp: bool,
    /// Write the log to this file instead of standard error (reopened on SIGHUP).
    pub logfile: Option<PathBuf>,
    /// Log line format: `text` or `json`.
    pub log_format: String,
    /// Microseconds to pause per key restored from a snapshot at start (Redis's
    /// `key-load-delay`): makes loading observable in tests.
    pub key_load_delay: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            bind: vec!["127.0.0.1".to_owned()],
            port: okapi_types::limits::DEFAULT_PORT,
            unixsocket: None,
            unixsocketperm: "700".to_owned(),
            data_dir: PathBuf::from("okapi-data"),
            ready_file: None,
            timeout: 0,
            maxclients: 10_000,
            proto_max_bulk_len: "512mb".to_owned(),
            client_query_buffer_limit: "1gb".to_owned(),
            databases: okapi_types::limits::DEFAULT_DATABASES,
            requirepass: None,
            hz: 10,
            maxmemory: "0".to_owned(),
            maxmemory_policy: "noeviction".to_owned(),
            threads: 0,
            loglevel: "notice".to_owned(),
            appendfsync: "everysec".to_owned(),
            snapshot_log_bytes: 64 * 1024 * 1024,
            snapshot_entries: 1_000_000,
            shard_groups: 1,
            cluster_enabled: false,
            cluster_port: None,
            cluster_node_timeout: 60_000,
            nbd_port: None,
            nbd_bind: Vec::new(),
            nbd_unauthenticated: false,
            http_port: okapi_types::limits::DEFAULT_HTTP_PORT,
            http_bind: Vec::new(),
            no_http: false,
            protected_mode: true,
            disable_thp: true,
            logfile: None,
            log_format: "text".to_owned(),
            key_load_delay: 0,
        }
    }
}

impl Config {
    /// Reads an `okapi.toml` file.
    pub fn from_file(path: &std::path::Path) -> Result<Self, NodeError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| NodeError::Config(format!("{}: {e}", path.display())))?;
        toml::from_str(&text).map_err(|e| NodeError::Config(format!("{}: {e}", path.display())))
    }

    /// The server settings this configuration describes, validated.
    pub fn server_settings(&self) -> Result<okapi_server::Settings, NodeError> {
        let bad = |name: &str, why: String| NodeError::Config(format!("{name}: {why}"));
        let memory = |name: &str, value: &str| {
            okapi_server::settings::parse_memory(value).map_err(|e| bad(name, e))
        };
        if self.shard_groups == 0 || self.shard_groups as usize > okapi_server::shard::MAX_SHARDS {
            return Err(bad(
                "shard-groups",
                format!("must be between 1 and {}", okapi_server::shard::MAX_SHARDS),
            ));
        }
        if self.databases == 0 || self.databases > 1_000_000 {
            return Err(bad("databases", "must be between 1 and 1000000".into()));
        }
        if self.maxclients == 0 {
            return Err(bad("maxclients", "must be at least 1".into()));
        }
        if self.bind.is_empty() {
            return Err(bad("bind", "needs at least one address".into()));
        }
        if !matches!(self.log_format.as_str(), "text" | "json") {
            return Err(bad("log-format", "must be text or json".into()));
        }
        let requirepass = self
            .requirepass
            .as_ref()
            .filter(|p| !p.is_empty())
            .map(|p| bytes::Bytes::from(p.clone().into_bytes()));
        if requirepass.is_some() && self.nbd_port.is_some() && !self.nbd_unauthenticated {
            return Err(bad(
                "nbd-port",
                "NBD has no password mechanism, so with requirepass set it would serve every block to anyone who reaches the port; add --nbd-unauthenticated to accept that, or drop --nbd-port".into(),
            ));
        }
        let or_bind = |addresses: &Vec<String>| {
            if addresses.is_empty() {
                self.bind.clone()
            } else {
                addresses.clone()
            }
        };
        let mut settings = okapi_server::Settings {
            bind: self.bind.clone(),
            port: self.port,
            unixsocket: self.unixsocket.clone(),
            unixsocketperm: u32::from_str_radix(&self.unixsocketperm, 8)
                .map_err(|e| bad("unixsocketperm", e.to_string()))?,
            timeout_secs: self.timeout,
            maxclients: self.maxclients,
            proto_max_bulk_len: memory("proto-max-bulk-len", &self.proto_max_bulk_len)? as usize,
            client_query_buffer_limit: memory(
                "client-query-buffer-limit",
                &self.client_query_buffer_limit,
            )? as usize,
            databases: self.databases,
            requirepass,
            hz: self.hz.clamp(1, 500),
            dir: self.data_dir.clone(),
            maxmemory: memory("maxmemory", &self.maxmemory)?,
            protected_mode: self.protected_mode,
            http_port: (!self.no_http).then_some(self.http_port),
            http_bind: or_bind(&self.http_bind),
            nbd_port: self.nbd_port,
            nbd_bind: or_bind(&self.nbd_bind),
            nbd_unauthenticated: self.nbd_unauthenticated,
            threads: self.threads,
            disable_thp: self.disable_thp,
            snapshot_log_bytes: self.snapshot_log_bytes,
            snapshot_entries: self.snapshot_entries,
            shard_groups: self.shard_groups,
            cluster_enabled: self.cluster_enabled,
            cluster_port: self.cluster_port,
            logfile: self.logfile.clone(),
            log_format: self.log_format.clone(),
            ready_file: self.ready_file.clone(),
            key_load_delay_us: self.key_load_delay,
            ..okapi_server::Settings::default()
        };
        settings
            .config_set("maxmemory-policy", &self.maxmemory_policy)
            .map_err(|e| bad("maxmemory-policy", e))?;
        settings
            .config_set("loglevel", &self.loglevel)
            .map_err(|e| bad("loglevel", e))?;
        settings
            .config_set("appendfsync", &self.appendfsync)
            .map_err(|e| bad("appendfsync", e))?;
        settings
            .config_set(
                "cluster-node-timeout",
                &self.cluster_node_timeout.to_string(),
            )
            .map_err(|e| bad("cluster-node-timeout", e))?;
        Ok(settings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_uses_redis_style_names_and_rejects_unknown_keys() {
        let config: Config =
            toml::from_str("port = 7000\nmaxmemory = \"1gb\"\nbind = [\"127.0.0.1\", \"::1\"]\n")
                .expect("valid");
        assert_eq!(config.port, 7000);
        assert_eq!(config.server_settings().expect("valid").maxmemory, 1 << 30);
        assert!(toml::from_str::<Config>("no-such-setting = 1").is_err());
        let bad: Config = toml::from_str("maxmemory = \"lots\"").expect("parses");
        assert!(bad.server_settings().is_err());
    }

    #[test]
    fn no_http_and_the_front_end_binds_come_from_toml() {
        let config: Config = toml::from_str(
            "no-http = true\nbind = [\"127.0.0.1\"]\nnbd-port = 0\nnbd-bind = [\"127.0.0.2\"]\nprotected-mode = false\n",
        )
        .expect("valid");
        let settings = config.server_settings().expect("valid");
        assert_eq!(settings.http_port, None);
        assert_eq!(settings.nbd_bind, vec!["127.0.0.2".to_owned()]);
        assert_eq!(
            settings.http_bind,
            vec!["127.0.0.1".to_owned()],
            "defaults to bind"
        );
        assert!(!settings.protected_mode);
    }

    #[test]
    fn a_password_with_nbd_needs_an_explicit_opt_in() {
        let mut config: Config =
            toml::from_str("requirepass = \"pw\"\nnbd-port = 0\n").expect("valid");
        let refused = config
            .server_settings()
            .expect_err("NBD cannot check the password");
        assert!(
            refused.to_string().contains("nbd-unauthenticated"),
            "{refused}"
        );
        config.nbd_unauthenticated = true;
        config.server_settings().expect("the operator accepted it");
    }
}
