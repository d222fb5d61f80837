//! A running node: its locked data directory, engine, write log, listeners (RESP,
//! NBD, HTTP) and background tasks; opened first, then loaded.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use std::path::Path;

use okapi_engine::Engine;
use okapi_raft::transport::{Inbound, Peers};
use okapi_raft::{Group, GroupConfig, Membership};
use okapi_server::{Layout, ServerHandle, Shard, Shared};
use okapi_storage::{DirLock, SnapshotStore, Wal, WalOptions};
use okapi_types::{GroupId, NodeId};

use crate::durable::{LoadStats, NodeDurability, RaftLog};
use crate::groups::{Groups, GroupsParts, Prepared};
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
    /// Bound cluster port, on a node started with `cluster-enabled`.
    pub cluster_port: Option<u16>,
    /// This node's id (hex, as CLUSTER MYID without its padding).
    pub node_id: String,
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
    /// The shards of a standalone node and their logs, created at open and attached
    /// to their groups once loaded (empty on a node of a cluster).
    standalone: Vec<(Arc<Shard>, Arc<RaftLog>)>,
    /// The node's identity.
    meta: NodeMeta,
    /// The cluster side, on a node started with `cluster-enabled`.
    cluster: Option<ClusterSide>,
    config: Config,
    meter: Arc<LoadMeter>,
    /// Held for the node's life: no second process opens the directory meanwhile.
    _lock: DirLock,
}

/// The durable half of a node: its groups and the WAL they share.
struct Durable {
    groups: Arc<Groups>,
    wal: Wal,
}

/// What a node of a cluster has besides a standalone node's parts.
struct ClusterSide {
    peers: Arc<Peers>,
    inbound: Arc<Inbound>,
    port: u16,
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
pub(crate) struct NodeMeta {
    /// Format version of this file.
    version: u32,
    /// This node's id.
    pub(crate) node_id: u64,
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
        // Script ops in the log (replayed while loading) need the Lua host.
        okapi_scripting::install();
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
        if config.cluster_enabled && meta.groups != 1 {
            return Err(NodeError::Config(
                "shard-groups splits a standalone node; a node of a cluster gets its groups from the cluster map".into(),
            ));
        }
        let mut settings = settings;
        settings.shard_groups = meta.groups;
        let mut standalone = Vec::new();
        let layout = if config.cluster_enabled {
            // No group until the cluster map says which (CLUSTERDOWN meanwhile).
            Layout::cluster(meta.node_id, Vec::new(), None)
                .map_err(|e| NodeError::Config(e.to_string()))?
        } else {
            for g in 0..meta.groups {
                let id = GroupId(u64::from(g));
                let log = Arc::new(RaftLog::new());
                let engine = Engine::new(settings.databases, group_seed(meta.seed, id));
                standalone.push((Shard::new(id, engine, log.clone()), log));
            }
            let groups = u64::from(meta.groups);
            Layout::by_slot(
                standalone.iter().map(|(s, _)| s.clone()).collect(),
                |slot| {
                    // Contiguous, even ranges: group g serves slots [g*16384/n, (g+1)*16384/n).
                    GroupId(u64::from(slot) * groups / u64::from(okapi_types::SLOT_COUNT))
                },
            )
            .map_err(|e| NodeError::Config(e.to_string()))?
        };
        let shared = Shared::new(layout, settings, host.memory, host.config_file);
        if let Some(logging) = host.logging {
            let _ = shared.logging.set(logging);
        }
        shared.loading.begin();
        let bound = Self::bind(config, &shared, runtimes, &meta).await;
        let (server, nbd, http, cluster) = match bound {
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
            standalone,
            meta,
            cluster,
            config: config.clone(),
            meter: Arc::new(LoadMeter::default()),
            _lock: lock,
        })
    }

    async fn bind(
        config: &Config,
        shared: &Arc<Shared>,
        runtimes: &[tokio::runtime::Handle],
        meta: &NodeMeta,
    ) -> Result<Bound, NodeError> {
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
        let cluster = if config.cluster_enabled {
            Some(Self::bind_cluster(config, shared, &server, meta).await?)
        } else {
            None
        };
        Ok((server, nbd, http, cluster))
    }

    /// Binds the cluster port on the first RESP address and serves it.
    async fn bind_cluster(
        config: &Config,
        shared: &Arc<Shared>,
        server: &ServerHandle,
        meta: &NodeMeta,
    ) -> Result<ClusterSide, NodeError> {
        let host = config
            .bind
            .first()
            .cloned()
            .unwrap_or_else(|| "127.0.0.1".into());
        let resp_port = server.tcp.first().map_or(0, SocketAddr::port);
        let port = match config.cluster_port {
            Some(port) => port,
            None if config.port == 0 => 0,
            None => resp_port.checked_add(10_000).ok_or_else(|| {
                NodeError::Config(format!(
                    "the default cluster port (port + 10000) of port {resp_port} is above 65535: set cluster-port"
                ))
            })?,
        };
        let addr = if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        let io = |e| NodeError::Io(format!("cannot listen for the cluster bus on {addr}"), e);
        let listener = tokio::net::TcpListener::bind(&addr).await.map_err(io)?;
        let port = listener.local_addr().map_err(io)?.port();
        let local_ip: Option<std::net::IpAddr> = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .ok()
            .filter(|ip: &std::net::IpAddr| !ip.is_unspecified());
        let peers = Peers::new(meta.node_id, local_ip);
        let inbound = Inbound::new(meta.node_id);
        tokio::spawn(okapi_raft::transport::inbound::serve(
            listener,
            inbound.clone(),
            shared.shutdown.subscribe(),
        ));
        tracing::info!(%addr, port, node = %format!("{:016x}", meta.node_id), "cluster bus listening");
        Ok(ClusterSide {
            peers,
            inbound,
            port,
        })
    }

    /// Loads the dataset: recovers the WAL and restores the newest snapshots on a
    /// thread of its own (the event loops keep answering clients meanwhile), then
    /// replays the log through the Raft groups. A standalone node serves clients once
    /// everything committed before the restart is applied; a node of a cluster once
    /// its groups are started (they elect and catch up while it answers). The ready
    /// file is written then.
    pub async fn load(&mut self) -> Result<(), NodeError> {
        let started = std::time::Instant::now();
        let config = self.config.clone();
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
        let map = if self.cluster.is_some() {
            okapi_cluster::ClusterMap::load(&dir).map_err(|e| NodeError::Config(e.to_string()))?
        } else {
            None
        };
        let group_config = GroupConfig {
            snapshot_entries: config.snapshot_entries,
            // A one-member group has no follower to catch up, so entries behind a
            // snapshot serve nothing; kept, they would hold their payloads in memory
            // (1,000 block writes of up to 4 MiB each is GiBs). With peers, followers
            // that fall behind catch up from these before needing a snapshot.
            keep_after_snapshot: if self.cluster.is_some() { 1_000 } else { 0 },
            ..GroupConfig::default()
        };
        let (peers, inbound) = match &self.cluster {
            Some(c) => (c.peers.clone(), c.inbound.clone()),
            None => (
                Peers::new(self.meta.node_id, None),
                Inbound::new(self.meta.node_id),
            ),
        };
        // What to prepare: the standalone shards, or this node's groups of the map.
        let me = self.meta.node_id;
        let databases = self.shared.settings().databases;
        let plan: Vec<PlannedGroup> = match (&self.cluster, &map) {
            (None, _) => self
                .standalone
                .iter()
                .map(|(shard, log)| PlannedGroup {
                    id: shard.id(),
                    existing: Some((shard.clone(), log.clone())),
                    seed: 0,
                    databases,
                    membership: Membership::Bootstrap([(me, String::new())].into_iter().collect()),
                })
                .collect(),
            // Every cluster node runs a replica of the control group (voter or learner),
            // the map's source; before the cluster exists it waits to be contacted.
            (Some(_), None) => vec![crate::cluster::control_plan()],
            (Some(_), Some(map)) => {
                let mut plan = vec![crate::cluster::control_plan()];
                plan.extend(crate::cluster::plan_groups(map, me));
                plan
            }
        };
        let (done, recovered) = tokio::sync::oneshot::channel();
        let progress = (self.meter.clone(), self.shared.clone());
        let parts = LoaderParts {
            dir: dir.clone(),
            fsync,
            node: NodeId(me),
            shared: self.shared.clone(),
            peers,
            inbound,
            config: group_config,
            standalone: self.cluster.is_none(),
            adopt: (self.cluster.is_some() && map.is_none()).then(|| PlannedGroup {
                id: GroupId(0),
                existing: None,
                seed: group_seed(self.meta.seed, GroupId(0)),
                databases,
                membership: Membership::Existing,
            }),
        };
        std::thread::Builder::new()
            .name("okapi-load".to_owned())
            .spawn(move || {
                let recovered = recover(parts, plan, progress);
                let _ = done.send(recovered);
            })
            .map_err(|e| NodeError::Io("starting the loader thread".to_owned(), e))?;
        let (wal, groups, prepared) = recovered
            .await
            .map_err(|_| NodeError::Storage("the loader thread stopped".to_owned()))??;
        self.meter.set_replay(
            prepared
                .iter()
                .map(|(p, _)| p.recovered().snapshot_index())
                .sum(),
            prepared
                .iter()
                .map(|(p, _)| p.recovered().last_index())
                .sum(),
        );
        let mut running = Vec::with_capacity(prepared.len());
        for (prepared, membership) in prepared {
            running.push(groups.start(prepared, membership).await?);
        }
        if self.cluster.is_none() {
            // A standalone node answers once it leads and has replayed its log.
            for r in &running {
                r.group
                    .wait_leader()
                    .await
                    .map_err(|e| NodeError::Storage(format!("group {}: {e}", r.group.id())))?;
            }
        }
        let keys = self.shared.shards.key_count();
        let replayed = running
            .iter()
            .map(|r| {
                let status = r.group.status();
                status.last_applied.saturating_sub(status.snapshot.index)
            })
            .sum();
        let loaded = LoadStats {
            keys,
            replayed,
            ms: started.elapsed().as_millis() as u64,
        };
        tracing::info!(
            keys,
            ms = loaded.ms,
            groups = running.len(),
            "dataset loaded"
        );
        let _ = self.shared.durability.set(Arc::new(NodeDurability::new(
            groups.list(),
            wal.clone(),
            loaded,
        )));
        if let Some(cluster) = &self.cluster {
            let control = crate::cluster::ClusterNode::new(
                me,
                cluster.port,
                dir.clone(),
                databases,
                self.shared.clone(),
                groups.clone(),
                map,
            );
            control.install_layout()?;
            control.follow_map();
            let _ = self.shared.cluster.set(Arc::new(control));
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
            cluster_port: self.cluster.as_ref().map(|c| c.port),
            node_id: format!("{:016x}", self.meta.node_id),
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
                let groups: Vec<Arc<Group>> = durable
                    .groups
                    .list()
                    .read()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .clone();
                let all = async {
                    let mut index = 0;
                    for group in &groups {
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
            durable.groups.shutdown().await;
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

/// The listeners a node binds.
type Bound = (
    ServerHandle,
    Vec<SocketAddr>,
    Vec<SocketAddr>,
    Option<ClusterSide>,
);

/// A group to prepare at load, and how it starts.
pub(crate) struct PlannedGroup {
    pub(crate) id: GroupId,
    pub(crate) existing: Option<(Arc<Shard>, Arc<RaftLog>)>,
    pub(crate) seed: u64,
    /// Namespaces of a new group's engine.
    pub(crate) databases: u32,
    pub(crate) membership: Membership,
}

/// What the loader thread needs.
struct LoaderParts {
    dir: PathBuf,
    fsync: okapi_storage::FsyncPolicy,
    node: NodeId,
    shared: Arc<Shared>,
    peers: Arc<Peers>,
    inbound: Arc<Inbound>,
    config: GroupConfig,
    /// A standalone node: every group in the WAL must be one of its own.
    standalone: bool,
    /// On a node of no cluster yet: group 0, run when the directory holds one (a
    /// standalone node's data, restarted with `cluster-enabled`), so the data is
    /// counted, kept, and adopted by the cluster this node founds.
    adopt: Option<PlannedGroup>,
}

type Loaded = (Wal, Arc<Groups>, Vec<(Prepared, Membership)>);

/// The blocking part of loading, on the loader thread: recovers the WAL, then
/// prepares every planned group (its log rebuilt, its newest snapshot restored).
fn recover(
    parts: LoaderParts,
    plan: Vec<PlannedGroup>,
    (meter, shared): (Arc<LoadMeter>, Arc<Shared>),
) -> Result<Loaded, NodeError> {
    let fs: Arc<dyn okapi_storage::Fs> = Arc::new(okapi_storage::OsFs);
    let wal_options = WalOptions {
        fsync: parts.fsync,
        ..WalOptions::default()
    };
    let (wal, recovered) = Wal::open(fs.clone(), &parts.dir, wal_options)
        .map_err(|e| NodeError::Storage(e.to_string()))?;
    let snapshots = Arc::new(
        SnapshotStore::open(fs, &parts.dir).map_err(|e| NodeError::Storage(e.to_string()))?,
    );
    let mut plan = plan;
    if let Some(adopt) = parts.adopt
        && recovered.groups.contains_key(&adopt.id)
    {
        tracing::info!(
            "this directory holds a standalone node's data (group 0): it is kept and served once this node founds a cluster"
        );
        plan.push(adopt);
    }
    let planned: std::collections::BTreeSet<GroupId> = plan.iter().map(|p| p.id).collect();
    if parts.standalone
        && let Some(stray) = recovered.groups.keys().find(|id| !planned.contains(id))
    {
        return Err(NodeError::Storage(format!(
            "{}: the WAL holds group {stray}, which this node does not have",
            parts.dir.display()
        )));
    }
    // The segments may still hold entries a snapshot covers: the live entries are
    // what replay has to go through.
    let log_bytes = recovered
        .groups
        .iter()
        .filter(|(id, _)| planned.contains(id))
        .flat_map(|(_, g)| g.entries.iter())
        .map(|(_, payload)| payload.len() as u64)
        .sum();
    meter.set_sizes(meter.snapshot_bytes(), log_bytes);
    shared.loading.set_total(meter.total());
    let groups = Groups::new(GroupsParts {
        node: parts.node,
        shared: parts.shared,
        wal: wal.clone(),
        snapshots,
        peers: parts.peers,
        inbound: parts.inbound,
        config: parts.config,
        meter,
        recovered: recovered.groups.into_iter().collect(),
    });
    let mut prepared = Vec::with_capacity(plan.len());
    for group in plan {
        let ready = groups.prepare(group.id, group.existing, group.seed, group.databases)?;
        prepared.push((ready, group.membership));
    }
    Ok((wal, groups, prepared))
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
pub(crate) async fn snapshot_by_size(
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
