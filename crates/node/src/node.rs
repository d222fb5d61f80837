//! A running node: engine, write log, RESP server and background tasks.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use std::path::Path;

use okapi_engine::Engine;
use okapi_raft::{Group, GroupConfig};
use okapi_server::{ServerHandle, Shared};
use okapi_storage::{SnapshotStore, Wal, WalOptions};
use okapi_types::{GroupId, NodeId};

use crate::durable::{EngineMachine, LoadStats, NodeDurability, RaftLog};

use crate::config::Config;
use crate::error::NodeError;

/// What `--ready-file` contains.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Ready {
    /// Process id.
    pub pid: u32,
    /// Bound RESP TCP port.
    pub port: u16,
    /// Every bound RESP address.
    pub addresses: Vec<String>,
    /// Unix socket path, if any.
    pub unixsocket: Option<PathBuf>,
    /// Bound NBD port, when NBD is on.
    pub nbd_port: Option<u16>,
    /// Bound HTTP port, when HTTP is on.
    pub http_port: Option<u16>,
}

/// A started node.
pub struct Node {
    shared: Arc<Shared>,
    server: ServerHandle,
    nbd: Option<SocketAddr>,
    http: Option<SocketAddr>,
    durable: Option<Durable>,
}

/// The durable half of a node: its group, WAL and background snapshot trigger.
struct Durable {
    group: Arc<Group>,
    wal: Wal,
}

/// `host:port` for the first RESP bind address.
fn first_bind(bind: &[String], port: u16) -> String {
    let host = bind.first().map_or("127.0.0.1", String::as_str);
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Binds a front end's listener on the first RESP bind address (port 0 picks one)
/// and serves it with `serve` in the background until shutdown.
async fn start_front_end<F>(
    what: &str,
    bind: &[String],
    port: u16,
    shared: &Arc<Shared>,
    serve: impl FnOnce(tokio::net::TcpListener, okapi_server::Service) -> F,
) -> Result<SocketAddr, NodeError>
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    let addr = first_bind(bind, port);
    let io = |e| NodeError::Io(format!("cannot listen for {what} on {addr}"), e);
    let listener = tokio::net::TcpListener::bind(&addr).await.map_err(io)?;
    let local = listener.local_addr().map_err(io)?;
    tokio::spawn(serve(listener, okapi_server::Service::new(shared.clone())));
    tracing::info!(address = %local, "serving {what}");
    Ok(local)
}

/// Identity of a data directory, written once when it is created.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct NodeMeta {
    /// Format version of this file.
    version: u32,
    /// This node's id.
    node_id: u64,
    /// Hash seed of the dataset: replicas and restarts must hash alike.
    seed: u64,
}

impl NodeMeta {
    fn load_or_create(dir: &Path) -> Result<Self, NodeError> {
        let path = dir.join("node.json");
        let io = |e| NodeError::Io(path.display().to_string(), e);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| NodeError::Config(format!("{}: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let meta = NodeMeta {
                    version: 1,
                    node_id: 1,
                    seed: okapi_server::shared::random_u64(),
                };
                let json = serde_json::to_vec_pretty(&meta)
                    .map_err(|e| NodeError::Config(e.to_string()))?;
                let tmp = path.with_extension("tmp");
                std::fs::write(&tmp, json).map_err(io)?;
                std::fs::File::open(&tmp)
                    .and_then(|f| f.sync_all())
                    .map_err(io)?;
                std::fs::rename(&tmp, &path).map_err(io)?;
                Ok(meta)
            }
            Err(e) => Err(io(e)),
        }
    }
}

impl Node {
    /// Starts a node: opens the data directory (WAL and snapshots), loads the newest
    /// snapshot and replays the log, then binds listeners and writes the ready file —
    /// only once the data is loaded. `memory` reports allocated bytes for INFO and
    /// `maxmemory`. Clients are served on `runtimes` (the calling runtime when empty).
    pub async fn start(
        config: &Config,
        memory: okapi_server::MemoryProbe,
        config_file: Option<String>,
        runtimes: &[tokio::runtime::Handle],
    ) -> Result<Self, NodeError> {
        let started = std::time::Instant::now();
        let settings = config.server_settings()?;
        let dir = config.data_dir.clone();
        std::fs::create_dir_all(&dir).map_err(|e| NodeError::Io(dir.display().to_string(), e))?;
        let meta = NodeMeta::load_or_create(&dir)?;
        let fsync: okapi_storage::FsyncPolicy = config
            .appendfsync
            .parse()
            .map_err(|e: okapi_storage::ParseFsyncPolicyError| NodeError::Config(e.to_string()))?;
        let fs: Arc<dyn okapi_storage::Fs> = Arc::new(okapi_storage::OsFs);
        let wal_options = WalOptions {
            fsync,
            ..WalOptions::default()
        };
        let (wal, mut recovered) = Wal::open(fs.clone(), &dir, wal_options)
            .map_err(|e| NodeError::Storage(e.to_string()))?;
        let snapshots =
            Arc::new(SnapshotStore::open(fs, &dir).map_err(|e| NodeError::Storage(e.to_string()))?);
        let engine = Engine::new(settings.databases, meta.seed);
        let log = Arc::new(RaftLog::new());
        let shared = Shared::new(engine, log.clone(), settings, memory, config_file);
        let machine = Arc::new(EngineMachine::new(shared.clone()));
        let group_config = GroupConfig {
            snapshot_entries: config.snapshot_entries,
            // A one-member group has no follower to catch up, so entries behind a
            // snapshot serve nothing; kept, they would hold their payloads in memory
            // (1,000 block writes of up to 4 MiB each is GiBs).
            keep_after_snapshot: 0,
        };
        let recovered_group = recovered.groups.remove(&GroupId(0)).unwrap_or_default();
        let group = Group::start_single(
            GroupId(0),
            NodeId(meta.node_id),
            wal.clone(),
            recovered_group,
            snapshots,
            machine,
            &group_config,
        )
        .await
        .map_err(|e| NodeError::Storage(e.to_string()))?;
        let group = Arc::new(group);
        log.attach(group.clone());
        let keys = shared
            .lock()
            .engine
            .spaces()
            .map(|(_, ks)| ks.len() as u64)
            .sum();
        let status = group.status();
        let loaded = LoadStats {
            keys,
            replayed: status.last_applied.saturating_sub(status.snapshot.index),
            ms: started.elapsed().as_millis() as u64,
        };
        tracing::info!(keys, ms = loaded.ms, "dataset loaded");
        let _ = shared.durability.set(Arc::new(NodeDurability::new(
            group.clone(),
            wal.clone(),
            loaded,
        )));
        tokio::spawn(snapshot_by_size(
            group.clone(),
            shared.clone(),
            config.snapshot_log_bytes,
            shared.shutdown.subscribe(),
        ));
        let server = okapi_server::start(shared.clone(), runtimes).await?;
        let nbd = match config.nbd_port {
            Some(port) => {
                Some(start_front_end("NBD", &config.bind, port, &shared, okapi_nbd::serve).await?)
            }
            None => None,
        };
        let http = match config.http_port {
            Some(port) => {
                Some(start_front_end("HTTP", &config.bind, port, &shared, okapi_http::serve).await?)
            }
            None => None,
        };
        let node = Node {
            shared,
            server,
            nbd,
            http,
            durable: Some(Durable { group, wal }),
        };
        if let Some(path) = &config.ready_file {
            node.write_ready_file(path)?;
        }
        tracing::info!(addresses = ?node.server.tcp, unixsocket = ?node.server.unix, "okapi is ready to accept connections");
        Ok(node)
    }

    /// Bound RESP addresses.
    pub fn addresses(&self) -> &[SocketAddr] {
        &self.server.tcp
    }

    /// Shared state (for embedding and tests).
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// What the ready file says.
    pub fn ready(&self) -> Ready {
        Ready {
            pid: std::process::id(),
            port: self.server.tcp.first().map_or(0, SocketAddr::port),
            addresses: self.server.tcp.iter().map(ToString::to_string).collect(),
            unixsocket: self.server.unix.clone(),
            nbd_port: self.nbd.map(|a| a.port()),
            http_port: self.http.map(|a| a.port()),
        }
    }

    fn write_ready_file(&self, path: &std::path::Path) -> Result<(), NodeError> {
        let io = |e| NodeError::Io(path.display().to_string(), e);
        let json = serde_json::to_string(&self.ready())
            .map_err(|e| NodeError::Io(path.display().to_string(), e.into()))?;
        // Write then rename, so a watcher never reads half a file.
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, json).map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)
    }

    /// Stops accepting clients and ends every connection.
    pub fn shutdown(&self) {
        self.shared.request_shutdown();
    }

    /// Waits until the node has stopped (after [`Node::shutdown`] or SHUTDOWN).
    pub async fn wait(self) {
        let mut stop = self.shared.shutdown.subscribe();
        while !*stop.borrow() {
            if stop.changed().await.is_err() {
                break;
            }
        }
        self.server.wait().await;
        if let Some(durable) = &self.durable {
            // A snapshot at shutdown makes the next start a load, not a replay.
            match tokio::time::timeout(std::time::Duration::from_secs(60), durable.group.snapshot())
                .await
            {
                Ok(Ok(index)) => tracing::info!(index, "shutdown snapshot written"),
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "shutdown snapshot failed; the log will be replayed")
                }
                Err(_) => {
                    tracing::warn!("shutdown snapshot took over 60 s; the log will be replayed")
                }
            }
            if let Err(e) = durable.group.shutdown().await {
                tracing::warn!(error = %e, "raft group did not stop cleanly");
            }
            if let Err(e) = durable.wal.clone().close() {
                tracing::warn!(error = %e, "WAL did not close cleanly");
            }
        }
        // Give connection tasks a moment to flush their last replies.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        while !self.shared.clients.is_empty() && std::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        tracing::info!("okapi stopped");
    }
}

/// Triggers a snapshot whenever the log since the last one outgrows `limit` bytes, so
/// memory held by the log and restart replay time stay bounded.
async fn snapshot_by_size(
    group: Arc<Group>,
    shared: Arc<Shared>,
    limit: u64,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    if limit == 0 {
        return;
    }
    loop {
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_millis(500)) => {}
            _ = shutdown.changed() => return,
        }
        // As Redis's auto-aof-rewrite-percentage 100: the log also grows to the size of
        // the dataset as last written out, so big datasets are not re-snapshotted for
        // every `limit` bytes of writes (write amplification stays under 2x).
        let dataset = shared.lock().engine.snapshot_stats().bytes_emitted;
        if group.status().log_bytes > limit.max(dataset)
            && let Err(e) = group.trigger_snapshot().await
        {
            tracing::warn!(error = %e, "size-triggered snapshot failed to start");
        }
    }
}
