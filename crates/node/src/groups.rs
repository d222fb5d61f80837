//! The groups a node runs: for each, a shard (its engine, blocked clients and log
//! seam) and the Raft group that applies to it. Standalone nodes start theirs once at
//! load; nodes of a cluster start the groups the cluster map gives them, at load and
//! whenever a new map arrives.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use okapi_engine::Engine;
use okapi_raft::transport::{Inbound, Peers, Registered};
use okapi_raft::{Group, GroupConfig, GroupNetwork, Membership, Recovered};
use okapi_server::{Shard, Shared};
use okapi_storage::{RecoveredGroup, SnapshotStore, Wal};
use okapi_types::{GroupId, NodeId};

use crate::durable::{EngineMachine, RaftLog};
use crate::error::NodeError;
use crate::load::LoadMeter;

/// The groups running now, shared with the persistence controls.
pub type GroupList = Arc<RwLock<Vec<Arc<Group>>>>;

/// A group prepared (log rebuilt, snapshot restored) but not started.
pub struct Prepared {
    shard: Arc<Shard>,
    log: Arc<RaftLog>,
    recovered: Recovered,
}

impl Prepared {
    /// What was recovered.
    pub fn recovered(&self) -> &Recovered {
        &self.recovered
    }
}

/// A running group and its shard.
#[derive(Clone)]
pub struct Running {
    /// The Raft group.
    pub group: Arc<Group>,
    /// Its part of the dataset.
    pub shard: Arc<Shard>,
    /// Ends the group's own tasks (blocked clients, snapshots by size) when it stops.
    stop: Arc<tokio::sync::watch::Sender<bool>>,
}

/// Everything needed to prepare and start groups on this node.
pub struct Groups {
    node: NodeId,
    shared: Arc<Shared>,
    wal: Wal,
    snapshots: Arc<SnapshotStore>,
    peers: Arc<Peers>,
    inbound: Arc<Inbound>,
    config: GroupConfig,
    meter: Arc<LoadMeter>,
    running: Mutex<BTreeMap<GroupId, Running>>,
    list: GroupList,
    /// Group state the WAL held at start, taken when the group is prepared.
    leftovers: Mutex<HashMap<GroupId, RecoveredGroup>>,
}

/// What [`Groups::new`] takes.
pub struct GroupsParts {
    /// This node.
    pub node: NodeId,
    /// The server's shared state.
    pub shared: Arc<Shared>,
    /// The WAL every group writes to.
    pub wal: Wal,
    /// The snapshot files.
    pub snapshots: Arc<SnapshotStore>,
    /// Connections to peers.
    pub peers: Arc<Peers>,
    /// The cluster port's dispatcher.
    pub inbound: Arc<Inbound>,
    /// Settings of every group.
    pub config: GroupConfig,
    /// Loading progress.
    pub meter: Arc<LoadMeter>,
    /// Each group's state as the WAL recovered it.
    pub recovered: HashMap<GroupId, RecoveredGroup>,
}

impl Groups {
    /// The node's group set, none running yet.
    pub fn new(parts: GroupsParts) -> Arc<Self> {
        Arc::new(Self {
            node: parts.node,
            shared: parts.shared,
            wal: parts.wal,
            snapshots: parts.snapshots,
            peers: parts.peers,
            inbound: parts.inbound,
            config: parts.config,
            meter: parts.meter,
            running: Mutex::new(BTreeMap::new()),
            list: Arc::default(),
            leftovers: Mutex::new(parts.recovered),
        })
    }

    /// The running groups, shared with whoever reports on them.
    pub fn list(&self) -> GroupList {
        self.list.clone()
    }

    /// The running group `id`.
    pub fn get(&self, id: GroupId) -> Option<Running> {
        self.running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&id)
            .cloned()
    }

    /// Every running group's shard, by group id.
    pub fn shards(&self) -> Vec<Arc<Shard>> {
        self.running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .map(|r| r.shard.clone())
            .collect()
    }

    /// Prepares group `id` over `existing` (a shard already in the layout and its
    /// log; a new one with `seed` and `databases` when `None`): rebuilds its log from
    /// the WAL and restores its newest snapshot. Reads files and may take long:
    /// callers run it off their event loop when the group may have data.
    pub fn prepare(
        &self,
        id: GroupId,
        existing: Option<(Arc<Shard>, Arc<RaftLog>)>,
        seed: u64,
        databases: u32,
    ) -> Result<Prepared, NodeError> {
        let (shard, log) = existing.unwrap_or_else(|| {
            let log = Arc::new(RaftLog::new());
            (
                Shard::new(id, Engine::new(databases, seed), log.clone()),
                log,
            )
        });
        let machine = Arc::new(EngineMachine::new(
            self.shared.clone(),
            shard.clone(),
            self.meter.clone(),
            id != crate::cluster::CONTROL,
        ));
        let recovered = self
            .leftovers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&id)
            .unwrap_or_default();
        let recovered = Group::recover(
            id,
            self.node,
            self.wal.clone(),
            recovered,
            self.snapshots.clone(),
            machine,
            &self.config,
        )
        .map_err(|e| NodeError::Storage(format!("group {id}: {e}")))?;
        Ok(Prepared {
            shard,
            log,
            recovered,
        })
    }

    /// Starts a prepared group: serves it on the cluster port, attaches its log, and
    /// starts the tasks that follow its leader, serve its blocked clients and
    /// snapshot it by size. Returns without waiting for a leader.
    pub async fn start(
        &self,
        prepared: Prepared,
        membership: Membership,
    ) -> Result<Running, NodeError> {
        let Prepared {
            shard,
            log,
            recovered,
        } = prepared;
        let id = shard.id();
        let network = GroupNetwork::new(self.peers.clone(), id, recovered.snapshots().clone());
        let snapshots = recovered.snapshots().clone();
        let group = Arc::new(
            recovered
                .start(network, membership)
                .await
                .map_err(|e| NodeError::Storage(format!("group {id}: {e}")))?,
        );
        log.attach(group.clone());
        self.inbound
            .register(id, Registered::new(group.raft().clone(), snapshots));
        group.watch_role({
            let shard = shard.clone();
            move |role| {
                shard.set_read_lease(role.read_lease_until.map(tokio::time::Instant::into_std));
                shard.set_leader(role.leader);
            }
        });
        // The group's tasks end when it stops or the node shuts down.
        let (stop, _) = tokio::sync::watch::channel(false);
        let stop = Arc::new(stop);
        tokio::spawn({
            let stop = stop.clone();
            let mut shutdown = self.shared.shutdown.subscribe();
            async move {
                tokio::select! {
                    _ = shutdown.changed() => {}
                    () = stop.closed() => {}
                }
                stop.send_replace(true);
            }
        });
        tokio::spawn(okapi_server::blocking::serve_loop(
            shard.clone(),
            stop.subscribe(),
        ));
        tokio::spawn(crate::node::snapshot_by_size(
            group.clone(),
            shard.clone(),
            self.shared.clone(),
            stop.subscribe(),
        ));
        let running = Running {
            group: group.clone(),
            shard,
            stop,
        };
        self.running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id, running.clone());
        self.list
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .push(group);
        Ok(running)
    }

    /// How long since a peer last sent group `id` a request (`None`: not running).
    pub fn silent_for(&self, id: GroupId) -> Option<std::time::Duration> {
        self.inbound.silent_for(id)
    }

    /// Stops group `id` and drops this node's replica of it (it left the group): its
    /// log and snapshots go, its vote stays, so a replica of it created here later
    /// starts empty (a learner the leader fills) and never votes twice in a term.
    pub async fn discard(&self, id: GroupId) -> Result<(), NodeError> {
        let Some(running) = self
            .running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&id)
        else {
            return Ok(());
        };
        self.list
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|g| g.id() != id);
        self.inbound.unregister(id);
        running.stop.send_replace(true);
        let left = running
            .group
            .discard(&self.snapshots)
            .await
            .map_err(|e| NodeError::Storage(format!("group {id}: {e}")))?;
        self.leftovers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id, left);
        Ok(())
    }

    /// Stops every group (at shutdown).
    pub async fn shutdown(&self) {
        let groups: Vec<Arc<Group>> = self
            .list
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        for group in groups {
            self.inbound.unregister(group.id());
            if let Err(e) = group.shutdown().await {
                tracing::warn!(group = %group.id(), error = %e, "raft group did not stop cleanly");
            }
        }
    }
}
