//! A running node: its locked data directory, engine, write log, listeners (RESP,
//! NBD, HTTP) and background tasks; opened first, then loaded.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use std::path::Path;

use okapi_engine::Engine;
use okapi_raft::{Group, GroupConfig, RecoveredSingle};
use okapi_server::{Layout, ServerHandle, Shard, Shared};
use okapi_storage::{DirLock, SnapshotStore, Wal, WalOptions};
use okapi_types::{GroupId, NodeId};

use crate::durable::{EngineMachine, LoadStats, NodeDurability, RaftLog};
use crate::load::LoadMeter;

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

/// What the embedding process gives a node besides its configuration.
#[derive(Clone)]
pub struct Host {
    /// Reports allocated bytes for INFO and `maxmemory`.
    pub memory: okapi_server::MemoryProbe,
    /// Path of the config file the settings came from, for INFO.
    pub config_file: Option<String>,
    /// The process's log, so CONFIG SET loglevel and INFO reach it.
    pub logging: Option<Arc<dyn okapi_server::Logging>>,
}

/// A node: its data directory locked, its listeners bound, and, once
/// [`Node::load`] returns, its dataset loaded.
pub struct Node {
    shared: Arc<Shared>,
    server: ServerHandle,
    nbd: Vec<SocketAddr>,
    http: Vec<SocketAddr>,
    durable: Option<Durable>,
    /// The logs writes go to, one per shard group; each group is attached once
    /// loaded.
    logs: Vec<(GroupId, Arc<RaftLog>)>,
    config: Config,
    meter: Arc<LoadMeter>,
    /// Held for the node's life: no second process opens the directory meanwhile.
    _lock: DirLock,
}

/// The durable half of a node: its groups and the WAL they share.
struct Durable {
    groups: Vec<Arc<Group>>,
    wal: Wal,
}

/// Binds a front end's listener on every address of `bind` (port 0 picks a port on
/// the first, which the rest then share) and serves each with `serve` in the
/// background until shutdown.
async fn start_front_end<F>(
    what: &str,
    bind: &[String],
    port: u16,
    shared: &Arc<Shared>,
    serve: impl Fn(tokio::net::TcpListener, okapi_server::Service) -> F,
) -> Result<Vec<SocketAddr>, NodeError>
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    let mut bound: Vec<SocketAddr> = Vec::new();
    for host in bind {
        let port = bound.first().map_or(port, SocketAddr::port);
        let addr = if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        let io = |e| NodeError::Io(format!("cannot listen for {what} on {addr}"), e);
        let listener = tokio::net::TcpListener::bind(&addr).await.map_err(io)?;
        let local = listener.local_addr().map_err(io)?;
        tokio::spawn(serve(listener, okapi_server::Service::new(shared.clone())));
        bound.push(local);
    }
    Ok(bound)
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
    /// Shard groups the slots are split into (absent in directories written before
    /// groups: one).
    #[serde(default = "one_group")]
    groups: u32,
}

fn one_group() -> u32 {
    1
}

impl NodeMeta {
    /// The identity of the data directory `dir`, created with `groups` shard groups
    /// when the directory is new.
    fn load_or_create(dir: &Path, groups: u32) -> Result<Self, NodeError> {
        let path = dir.join("node.json");
        let io = |e| NodeError::Io(path.display().to_string(), e);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| NodeError::Config(format!("{}: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let meta = NodeMeta {
                    version: 1,
                    // Unique per node, so nodes can form a cluster; 0 is never used.
                    node_id: okapi_server::shared::random_u64().max(1),
                    seed: okapi_server::shared::random_u64(),
                    groups,
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
    /// Starts a node: [`Node::open`], then [`Node::load`].
    pub async fn start(
        config: &Config,
        host: Host,
        runtimes: &[tokio::runtime::Handle],
    ) -> Result<Self, NodeError> {
        let mut node = Self::open(config, host, runtimes).await?;
        node.load().await?;
        Ok(node)
    }

    /// Opens a node without loading its data: validates the settings, takes the data
    /// directory's lock (a second server on the same directory fails here, before
    /// reading anything in it), and binds every listener, so a taken port fails fast.
    /// Clients are accepted at once and told the node is loading until
    /// [`Node::load`] ends. Clients are served on `runtimes` (the calling runtime when
    /// empty).
    pub async fn open(
        config: &Config,
        host: Host,
        runtimes: &[tokio::runtime::Handle],
    ) -> Result<Self, NodeError> {
        let settings = config.server_settings()?;
        let dir = config.data_dir.clone();
        std::fs::create_dir_all(&dir).map_err(|e| NodeError::Io(dir.display().to_string(), e))?;
        let lock = DirLock::acquire(&dir).map_err(NodeError::DataDir)?;
        let meta = NodeMeta::load_or_create(&dir, config.shard_groups)?;
        if meta.groups != config.shard_groups && config.shard_groups != 1 {
            return Err(NodeError::Config(format!(
                "{} holds {} shard group(s), not the {} asked for: the count is fixed when a data directory is created",
                dir.display(),
                meta.groups,
                config.shard_groups
            )));
        }
        let mut settings = settings;
        settings.shard_groups = meta.groups;
        let logs: Vec<(GroupId, Arc<RaftLog>)> = (0..meta.groups)
            .map(|g| (GroupId(u64::from(g)), Arc::new(RaftLog::new())))
            .collect();
        let shards: Vec<Arc<Shard>> = logs
            .iter()
            .map(|(id, log)| {
                Shard::new(
                    *id,
                    Engine::new(settings.databases, group_seed(meta.seed, *id)),
                    log.clone(),
                )
            })
            .collect();
        let groups = u64::from(meta.groups);
        let layout = Layout::by_slot(shards, |slot| {
            // Contiguous, even ranges: group g serves slots [g*16384/n, (g+1)*16384/n).
            GroupId(u64::from(slot) * groups / u64::from(okapi_types::SLOT_COUNT))
        })
        .map_err(|e| NodeError::Config(e.to_string()))?;
        let shared = Shared::new(layout, settings, host.memory, host.config_file);
        if let Some(logging) = host.logging {
            let _ = shared.logging.set(logging);
        }
        shared.loading.begin();
        let bound = Self::bind(config, &shared, runtimes).await;
        let (server, nbd, http) = match bound {
            Ok(bound) => bound,
            Err(e) => {
                // Whatever did bind stops with the error.
                shared.request_shutdown();
                return Err(e);
            }
        };
        Ok(Node {
            shared,
            server,
            nbd,
            http,
            durable: None,
            logs,
            config: config.clone(),
            meter: Arc::new(LoadMeter::default()),
            _lock: lock,
        })
    }

    async fn bind(
        config: &Config,
        shared: &Arc<Shared>,
        runtimes: &[tokio::runtime::Handle],
    ) -> Result<(ServerHandle, Vec<SocketAddr>, Vec<SocketAddr>), NodeError> {
        let server = okapi_server::start(shared.clone(), runtimes).await?;
        let (nbd_bind, http_bind, http_port) = {
            let s = shared.settings();
            (s.nbd_bind.clone(), s.http_bind.clone(), s.http_port)
        };
        let nbd = match config.nbd_port {
            Some(port) => start_front_end("NBD", &nbd_bind, port, shared, okapi_nbd::serve).await?,
            None => Vec::new(),
        };
        let http = match http_port {
            Some(port) => {
                start_front_end("HTTP", &http_bind, port, shared, okapi_http::serve).await?
            }
            None => Vec::new(),
        };
        Ok((server, nbd, http))
    }

    /// Loads the dataset: recovers the WAL and restores the newest snapshot on a
    /// thread of its own (the event loops keep answering clients meanwhile), then
    /// replays the log through the Raft group. Once everything committed before the
    /// restart is applied, clients are served and the ready file is written.
    pub async fn load(&mut self) -> Result<(), NodeError> {
        let started = std::time::Instant::now();
        let config = &self.config;
        let dir = config.data_dir.clone();
        let fsync: okapi_storage::FsyncPolicy = config
            .appendfsync
            .parse()
            .map_err(|e: okapi_storage::ParseFsyncPolicyError| NodeError::Config(e.to_string()))?;
        self.meter.set_sizes(
            crate::load::newest_snapshot_bytes(&dir.join(okapi_storage::SNAPSHOT_DIR)),
            crate::load::bytes_of(&dir.join(okapi_storage::WAL_DIR), ".seg"),
        );
        self.shared.loading.set_total(self.meter.total());
        tokio::spawn(crate::load::report(
            self.shared.clone(),
            std::time::Duration::from_secs(3),
        ));
        let layout = self.shared.shards.layout();
        let machines: Vec<(GroupId, Arc<EngineMachine>)> = layout
            .shards()
            .iter()
            .map(|shard| {
                let machine =
                    EngineMachine::new(self.shared.clone(), shard.clone(), self.meter.clone());
                (shard.id(), Arc::new(machine))
            })
            .collect();
        let group_config = GroupConfig {
            snapshot_entries: config.snapshot_entries,
            // A one-member group has no follower to catch up, so entries behind a
            // snapshot serve nothing; kept, they would hold their payloads in memory
            // (1,000 block writes of up to 4 MiB each is GiBs).
            keep_after_snapshot: 0,
        };
        let node_id = NodeId(NodeMeta::load_or_create(&dir, config.shard_groups)?.node_id);
        let (done, recovered) = tokio::sync::oneshot::channel();
        let progress = (self.meter.clone(), self.shared.clone());
        std::thread::Builder::new()
            .name("okapi-load".to_owned())
            .spawn(move || {
                let recovered = recover(&dir, fsync, node_id, machines, &group_config, progress);
                let _ = done.send(recovered);
            })
            .map_err(|e| NodeError::Io("starting the loader thread".to_owned(), e))?;
        let (wal, recovered) = recovered
            .await
            .map_err(|_| NodeError::Storage("the loader thread stopped".to_owned()))??;
        self.meter.set_replay(
            recovered.iter().map(RecoveredSingle::snapshot_index).sum(),
            recovered.iter().map(RecoveredSingle::last_index).sum(),
        );
        let mut groups = Vec::with_capacity(recovered.len());
        for (recovered, (id, log)) in recovered.into_iter().zip(&self.logs) {
            let group = Arc::new(
                recovered
                    .start()
                    .await
                    .map_err(|e| NodeError::Storage(format!("group {id}: {e}")))?,
            );
            log.attach(group.clone());
            groups.push(group);
        }
        let keys = self.shared.shards.key_count();
        let (replayed, _) = groups.iter().fold((0, 0), |(replayed, _), g| {
            let status = g.status();
            (
                replayed + status.last_applied.saturating_sub(status.snapshot.index),
                0,
            )
        });
        let loaded = LoadStats {
            keys,
            replayed,
            ms: started.elapsed().as_millis() as u64,
        };
        tracing::info!(
            keys,
            ms = loaded.ms,
            groups = groups.len(),
            "dataset loaded"
        );
        let _ = self.shared.durability.set(Arc::new(NodeDurability::new(
            groups.clone(),
            wal.clone(),
            loaded,
        )));
        for (group, shard) in groups.iter().zip(layout.shards()) {
            tokio::spawn(snapshot_by_size(
                group.clone(),
                shard.clone(),
                self.shared.clone(),
                self.shared.shutdown.subscribe(),
            ));
        }
        self.durable = Some(Durable { groups, wal });
        self.shared.loading.finish();
        if let Some(path) = &self.config.ready_file {
            self.write_ready_file(path)?;
        }
        tracing::info!(addresses = ?self.server.tcp, unixsocket = ?self.server.unix, "okapi is ready to accept connections");
        Ok(())
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
            nbd_port: self.nbd.first().map(SocketAddr::port),
            http_port: self.http.first().map(SocketAddr::port),
        }
    }

    /// Bound NBD addresses (empty when NBD is off).
    pub fn nbd_addresses(&self) -> &[SocketAddr] {
        &self.nbd
    }

    /// Bound HTTP addresses (empty when HTTP is off).
    pub fn http_addresses(&self) -> &[SocketAddr] {
        &self.http
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
        if let Some(path) = &self.config.ready_file {
            // Nobody should take a stopping node for a ready one.
            let _ = std::fs::remove_file(path);
        }
        self.server.wait().await;
        if let Some(durable) = &self.durable {
            let skip = self
                .shared
                .skip_shutdown_snapshot
                .load(std::sync::atomic::Ordering::Relaxed);
            if skip {
                tracing::info!("SHUTDOWN NOSAVE: no snapshot; the next start replays the log");
            } else {
                // A snapshot at shutdown makes the next start a load, not a replay.
                let all = async {
                    let mut index = 0;
                    for group in &durable.groups {
                        index += group.snapshot().await?;
                    }
                    Ok::<u64, okapi_raft::RaftError>(index)
                };
                match tokio::time::timeout(std::time::Duration::from_secs(60), all).await {
                    Ok(Ok(index)) => tracing::info!(index, "shutdown snapshot written"),
                    Ok(Err(e)) => {
                        tracing::warn!(error = %e, "shutdown snapshot failed; the log will be replayed")
                    }
                    Err(_) => {
                        tracing::warn!("shutdown snapshot took over 60 s; the log will be replayed")
                    }
                }
            }
            for group in &durable.groups {
                if let Err(e) = group.shutdown().await {
                    tracing::warn!(group = %group.id(), error = %e, "raft group did not stop cleanly");
                }
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

/// The blocking part of loading, on the loader thread: recovers the WAL and restores
/// each group's newest snapshot into its shard.
fn recover(
    dir: &Path,
    fsync: okapi_storage::FsyncPolicy,
    node: NodeId,
    machines: Vec<(GroupId, Arc<EngineMachine>)>,
    group_config: &GroupConfig,
    (meter, shared): (Arc<LoadMeter>, Arc<Shared>),
) -> Result<(Wal, Vec<RecoveredSingle>), NodeError> {
    let fs: Arc<dyn okapi_storage::Fs> = Arc::new(okapi_storage::OsFs);
    let wal_options = WalOptions {
        fsync,
        ..WalOptions::default()
    };
    let (wal, mut recovered) =
        Wal::open(fs.clone(), dir, wal_options).map_err(|e| NodeError::Storage(e.to_string()))?;
    let snapshots =
        Arc::new(SnapshotStore::open(fs, dir).map_err(|e| NodeError::Storage(e.to_string()))?);
    let expected: std::collections::BTreeSet<GroupId> =
        machines.iter().map(|(id, _)| *id).collect();
    if let Some(stray) = recovered.groups.keys().find(|id| !expected.contains(id)) {
        return Err(NodeError::Storage(format!(
            "{}: the WAL holds group {stray}, which this node does not have",
            dir.display()
        )));
    }
    let mut groups = Vec::with_capacity(machines.len());
    let mut log_bytes = 0;
    let mut parts = Vec::with_capacity(machines.len());
    for (id, machine) in machines {
        let recovered_group = recovered.groups.remove(&id).unwrap_or_default();
        // The segments may still hold entries a snapshot covers: the live entries are
        // what replay has to go through.
        log_bytes += recovered_group
            .entries
            .iter()
            .map(|(_, payload)| payload.len() as u64)
            .sum::<u64>();
        parts.push((id, machine, recovered_group));
    }
    meter.set_sizes(meter.snapshot_bytes(), log_bytes);
    shared.loading.set_total(meter.total());
    for (id, machine, recovered_group) in parts {
        let group = Group::recover_single(
            id,
            node,
            wal.clone(),
            recovered_group,
            snapshots.clone(),
            machine,
            group_config,
        )
        .map_err(|e| NodeError::Storage(format!("group {id}: {e}")))?;
        groups.push(group);
    }
    Ok((wal, groups))
}

/// The hash seed of group `id`, derived from the directory's seed: fixed for the
/// group's life, the same after every restart.
fn group_seed(seed: u64, id: GroupId) -> u64 {
    if id.0 == 0 {
        // Group 0 keeps the seed directories had before there were groups.
        return seed;
    }
    seed ^ id.0.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17)
}

/// Triggers a snapshot whenever the log since the last one outgrows
/// `snapshot-log-bytes` (read at every check, so CONFIG SET takes effect), keeping the
/// memory held by the log and restart replay time bounded.
async fn snapshot_by_size(
    group: Arc<Group>,
    shard: Arc<Shard>,
    shared: Arc<Shared>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_millis(500)) => {}
            _ = shutdown.changed() => return,
        }
        let limit = shared.settings().snapshot_log_bytes;
        if limit == 0 {
            continue;
        }
        // As Redis's auto-aof-rewrite-percentage 100: the log also grows to the size of
        // the dataset as last written out, so big datasets are not re-snapshotted for
        // every `limit` bytes of writes (write amplification stays under 2x).
        let dataset = shard.lock().engine.snapshot_stats().bytes_emitted;
        if group.status().log_bytes > limit.max(dataset)
            && let Err(e) = group.trigger_snapshot().await
        {
            tracing::warn!(error = %e, "size-triggered snapshot failed to start");
        }
    }
}
