//! `okapi server`: runs a node until SIGINT/SIGTERM or SHUTDOWN.

use std::path::PathBuf;

use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use okapi_node::{Config, Host, Node};

/// Flags of `okapi server`. Every flag can also be set in `okapi.toml` (same name);
/// flags win over the file.
#[derive(Debug, Args)]
pub struct ServerArgs {
    /// Read settings from this TOML file (keys as the flag names, e.g. `port = 6380`).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Address to listen on for RESP (repeat for several); HTTP and NBD use the same
    /// unless --http-bind / --nbd-bind say otherwise. [default: 127.0.0.1]
    #[arg(long, value_name = "ADDR")]
    bind: Vec<String>,
    /// Protected mode, yes or no: with no password set, serve only clients on this
    /// host's loopback interface (127.0.0.0/8, ::1), on every front end, as Redis.
    /// [default: yes]
    #[arg(long, value_name = "yes|no", value_parser = parse_yes_no)]
    protected_mode: Option<bool>,
    /// RESP TCP port; 0 picks a free port (see --ready-file). [default: 6379]
    #[arg(long)]
    port: Option<u16>,
    /// Also listen on this Unix socket.
    #[arg(long, value_name = "PATH")]
    unixsocket: Option<PathBuf>,
    /// Unix socket permissions, octal. [default: 700]
    #[arg(long, value_name = "MODE")]
    unixsocketperm: Option<String>,
    /// Data directory. [default: ./okapi-data]
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Write the bound ports (JSON) to this file once ready to accept clients.
    #[arg(long, value_name = "PATH")]
    ready_file: Option<PathBuf>,
    /// Close clients idle for this many seconds; 0 never. [default: 0]
    #[arg(long, value_name = "SECONDS")]
    timeout: Option<u64>,
    /// Most simultaneous clients. [default: 10000]
    #[arg(long)]
    maxclients: Option<usize>,
    /// Largest bulk string a client may send, e.g. 512mb. [default: 512mb]
    #[arg(long, value_name = "BYTES")]
    proto_max_bulk_len: Option<String>,
    /// Most bytes of unprocessed requests buffered per client. [default: 1gb]
    #[arg(long, value_name = "BYTES")]
    client_query_buffer_limit: Option<String>,
    /// Number of databases (namespaces) reachable with SELECT. [default: 16]
    #[arg(long)]
    databases: Option<u32>,
    /// Password of the default user (clients must AUTH).
    #[arg(long, env = "OKAPI_REQUIREPASS", hide_env_values = true)]
    requirepass: Option<String>,
    /// Background tasks per second (active expiry). [default: 10]
    #[arg(long)]
    hz: Option<u32>,
    /// Memory limit, e.g. 4gb; writes get OOM errors above it. [default: 0 = none]
    #[arg(long, value_name = "BYTES")]
    maxmemory: Option<String>,
    /// Policy at the memory limit (only noeviction so far). [default: noeviction]
    #[arg(long, value_name = "POLICY")]
    maxmemory_policy: Option<String>,
    /// Event-loop threads; 0 = half the cores, at least one. [default: 0]
    #[arg(long)]
    threads: Option<usize>,
    /// Log level: debug, verbose, notice, warning, nothing. [default: notice]
    #[arg(long)]
    loglevel: Option<String>,
    /// When the write-ahead log is fsynced: always (before every reply), everysec, no.
    /// [default: everysec]
    #[arg(long, value_name = "POLICY")]
    appendfsync: Option<String>,
    /// Snapshot when the log since the last snapshot exceeds this many bytes, or the size
    /// of the dataset in the last snapshot if that is larger; 0 never.
    /// [default: 67108864]
    #[arg(long, value_name = "BYTES")]
    snapshot_log_bytes: Option<u64>,
    /// Snapshot when the log since the last snapshot exceeds this many entries.
    /// [default: 1000000]
    #[arg(long, value_name = "ENTRIES")]
    snapshot_entries: Option<u64>,
    /// Split a new data directory's 16384 slots into this many shard groups, each with
    /// its own lock, log and snapshots (more cores used; multi-key commands must then
    /// keep their keys in one group, as in a cluster). Fixed once the directory
    /// exists. [default: 1]
    #[arg(long, value_name = "N")]
    shard_groups: Option<u32>,
    /// Serve blocks as NBD exports (export name = block key) on this port; 0 picks a
    /// free port (see --ready-file). NBD has no password: with --requirepass it also
    /// needs --nbd-unauthenticated. [default: off]
    #[arg(long, value_name = "PORT")]
    nbd_port: Option<u16>,
    /// Address for the NBD listener (repeat for several). [default: the --bind addresses]
    #[arg(long, value_name = "ADDR")]
    nbd_bind: Vec<String>,
    /// Serve NBD although a password is set: anyone who reaches the NBD port reads
    /// and writes every block.
    #[arg(long)]
    nbd_unauthenticated: bool,
    /// Run as a node of a cluster: open the cluster port and serve the slots the
    /// cluster map gives this node (form a cluster with `okapi cluster create`).
    #[arg(long)]
    cluster_enabled: bool,
    /// The cluster port (node-to-node Raft traffic), on the first --bind address.
    /// [default: port + 10000; 0 when --port is 0]
    #[arg(long, value_name = "PORT")]
    cluster_port: Option<u16>,
    /// Milliseconds a cluster node may be unreachable before its replicas are
    /// re-created on other nodes. [default: 60000]
    #[arg(long, value_name = "MS")]
    cluster_node_timeout: Option<u64>,
    /// HTTP API port; 0 picks a free port (see --ready-file). [default: 8379]
    #[arg(long, value_name = "PORT", conflicts_with = "no_http")]
    http_port: Option<u16>,
    /// Address for the HTTP listener (repeat for several). [default: the --bind
    /// addresses]
    #[arg(long, value_name = "ADDR")]
    http_bind: Vec<String>,
    /// Do not serve the HTTP API.
    #[arg(long)]
    no_http: bool,
    /// Write the log to this file (appending; reopened on SIGHUP, for logrotate)
    /// instead of standard error.
    #[arg(long, value_name = "PATH")]
    logfile: Option<PathBuf>,
    /// Log line format: text or json. [default: text]
    #[arg(long, value_name = "text|json")]
    log_format: Option<String>,
    /// Microseconds to pause per key restored from a snapshot at start, as Redis's
    /// key-load-delay: makes loading observable in tests. [default: 0]
    #[arg(long, value_name = "MICROSECONDS")]
    key_load_delay: Option<u64>,
    /// Turn transparent huge pages off for this process, yes or no (their page faults
    /// stall the event loop while memory grows; Redis does the same). [default: yes]
    #[arg(long, value_name = "yes|no", value_parser = parse_yes_no)]
    disable_thp: Option<bool>,
}

fn parse_yes_no(value: &str) -> Result<bool, String> {
    match value.to_ascii_lowercase().as_str() {
        "yes" | "true" => Ok(true),
        "no" | "false" => Ok(false),
        _ => Err(format!("expected yes or no, got '{value}'")),
    }
}

impl ServerArgs {
    fn into_config(self) -> anyhow::Result<(Config, Option<String>)> {
        let mut config = match &self.config {
            Some(path) => Config::from_file(path)?,
            None => Config::default(),
        };
        macro_rules! overlay {
            ($($field:ident),*) => { $( if let Some(v) = self.$field { config.$field = v; } )* };
        }
        overlay!(
            port,
            unixsocketperm,
            data_dir,
            timeout,
            maxclients,
            proto_max_bulk_len,
            client_query_buffer_limit,
            databases,
            hz,
            maxmemory,
            maxmemory_policy,
            threads,
            loglevel,
            appendfsync,
            snapshot_log_bytes,
            snapshot_entries,
            shard_groups,
            disable_thp,
            protected_mode,
            log_format,
            key_load_delay
        );
        macro_rules! overlay_list {
            ($($field:ident),*) => { $( if !self.$field.is_empty() { config.$field = self.$field; } )* };
        }
        overlay_list!(nbd_bind, http_bind);
        if self.logfile.is_some() {
            config.logfile = self.logfile;
        }
        if self.cluster_enabled {
            config.cluster_enabled = true;
        }
        if self.cluster_port.is_some() {
            config.cluster_port = self.cluster_port;
        }
        if let Some(ms) = self.cluster_node_timeout {
            config.cluster_node_timeout = ms;
        }
        if self.nbd_unauthenticated {
            config.nbd_unauthenticated = true;
        }
        if !self.bind.is_empty() {
            config.bind = self.bind;
        }
        if self.unixsocket.is_some() {
            config.unixsocket = self.unixsocket;
        }
        if self.ready_file.is_some() {
            config.ready_file = self.ready_file;
        }
        if self.requirepass.is_some() {
            config.requirepass = self.requirepass;
        }
        if self.nbd_port.is_some() {
            config.nbd_port = self.nbd_port;
        }
        if let Some(port) = self.http_port {
            // A flag wins over the file, its no-http included.
            config.http_port = port;
            config.no_http = false;
        }
        if self.no_http {
            config.no_http = true;
        }
        Ok((config, self.config.map(|p| p.display().to_string())))
    }
}

#[cfg(target_os = "linux")]
fn disable_transparent_huge_pages() {
    match okapi_node::sys::thp::disable_transparent_huge_pages() {
        Ok(()) => tracing::debug!("transparent huge pages disabled for this process"),
        // Not fatal: the server works with them, only with worse latency.
        Err(e) => tracing::warn!(error = %e, "cannot disable transparent huge pages"),
    }
}

#[cfg(not(target_os = "linux"))]
fn disable_transparent_huge_pages() {}

/// Runs the server until it is told to stop.
pub fn run(args: ServerArgs) -> anyhow::Result<()> {
    let (config, config_file) = args.into_config()?;
    let level: okapi_server::LogLevel = config
        .loglevel
        .parse()
        .map_err(|e| anyhow::anyhow!("loglevel: {e}"))?;
    let log = crate::logging::init(level, config.log_format == "json", config.logfile.clone())?;
    let result = serve(config, config_file, &log);
    if let Err(e) = &result {
        tracing::error!(error = %crate::describe(e), "okapi could not run");
    }
    // The last lines (the reason of a failure among them) reach the sink if it takes
    // them; a sink that blocks does not hold the exit up.
    log.sink().flush(std::time::Duration::from_secs(1));
    result
}

fn serve(
    config: Config,
    config_file: Option<String>,
    log: &crate::logging::Log,
) -> anyhow::Result<()> {
    if config.disable_thp {
        disable_transparent_huge_pages();
    }
    let loops = okapi_node::runtime::loop_count(config.threads);
    let runtime = okapi_node::runtime::event_loop().context("starting the event loop")?;
    let workers =
        okapi_node::runtime::Workers::spawn(loops - 1).context("starting event-loop threads")?;
    let mut handles = vec![runtime.handle().clone()];
    handles.extend(workers.handles().iter().cloned());
    let host = Host {
        memory: okapi_node::sys::alloc::allocated_bytes,
        config_file: config_file.clone(),
        logging: Some(Arc::new(log.clone())),
    };
    let sink = log.sink().clone();
    let result = runtime.block_on(async move {
        let mut node = Node::open(&config, host, &handles).await?;
        let ready = node.ready();
        tracing::info!(
            version = env!("CARGO_PKG_VERSION"),
            commit = env!("OKAPI_GIT_COMMIT"),
            pid = ready.pid,
            data_dir = %config.data_dir.display(),
            config_file = config_file.as_deref().unwrap_or("none"),
            resp = ?node.addresses(),
            unixsocket = ?ready.unixsocket,
            http = ?node.http_addresses(),
            nbd = ?node.nbd_addresses(),
            "okapi starting: listeners bound, loading the dataset"
        );
        let shared = node.shared().clone();
        tokio::spawn(async move {
            handle_signals(sink).await;
            tracing::info!("signal received, shutting down");
            shared.request_shutdown();
        });
        let mut stop = node.shared().shutdown.subscribe();
        tokio::select! {
            loaded = node.load() => loaded?,
            _ = stop.wait_for(|stop| *stop) => {
                // Nothing is lost: every acknowledged write is in the log the next
                // start loads.
                tracing::info!("stopped while loading the dataset");
                return anyhow::Ok(());
            }
        }
        node.wait().await;
        anyhow::Ok(())
    });
    workers.stop();
    result
}

/// Returns on SIGINT or SIGTERM; reopens the log file on every SIGHUP meanwhile.
async fn handle_signals(sink: crate::logging::LogSink) {
    use tokio::signal::unix::{SignalKind, signal};
    let hangup = signal(SignalKind::hangup());
    match (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) {
        (Ok(mut int), Ok(mut term)) => {
            let mut hangup = hangup.ok();
            loop {
                tokio::select! {
                    _ = int.recv() => return,
                    _ = term.recv() => return,
                    Some(()) = async { match hangup.as_mut() { Some(h) => h.recv().await, None => None } } => {
                        sink.reopen();
                        tracing::info!("SIGHUP: log file reopened");
                    }
                }
            }
        }
        _ => {
            tracing::warn!("cannot install signal handlers; stop the server with SHUTDOWN");
            std::future::pending::<()>().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// `okapi server`'s flags, for clap's introspection.
    #[derive(Debug, clap::Parser)]
    struct Flags {
        #[command(flatten)]
        args: super::ServerArgs,
    }

    #[test]
    fn every_flag_has_an_okapi_toml_key_and_the_reverse() {
        let flags: Vec<String> = Flags::command()
            .get_arguments()
            .filter_map(|a| a.get_long().map(str::to_owned))
            .filter(|name| !["config", "help", "version"].contains(&name.as_str()))
            .collect();
        let defaults = serde_json::to_value(okapi_node::Config::default()).expect("serializes");
        let keys: Vec<String> = defaults
            .as_object()
            .expect("a table")
            .keys()
            .cloned()
            .collect();
        for flag in &flags {
            assert!(keys.contains(flag), "--{flag} has no okapi.toml key");
        }
        for key in &keys {
            assert!(flags.contains(key), "okapi.toml key {key} has no flag");
        }
        assert!(flags.len() > 30, "{flags:?}");
    }
}
