//! A node of a cluster: it follows the cluster map, runs a replica of every group the
//! map gives it, and routes clients by the map.
//!
//! The map is the state of the *control group*, a Raft group like the others (its
//! state machine an engine holding one key, the encoded map), with voters on the
//! first three nodes and every other node a learner, so every node has the map
//! through its own replica and any change is one committed entry. `okapi cluster
//! create` hands the first map to one node, which founds the control group with the
//! voters and commits the map; every node's [`ClusterNode::follow_map`] task installs
//! each newer map it sees (a copy is kept in `cluster.map` for a fast start). The
//! founder of each shard group (its first member) creates the group's Raft log with
//! all its members; the other members start empty and are brought up to date by the
//! group's leader.

mod control;
mod replicas;

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use okapi_cluster::ClusterMap;
use okapi_raft::Membership;
use okapi_server::cluster::{ClusterError, LedGroup, MapChange};
use okapi_server::{BoxFuture, Layout, Shared};
use okapi_types::GroupId;

use crate::error::NodeError;
use crate::groups::Groups;
use crate::node::PlannedGroup;

/// The control group's id (shard groups count up from 1).
pub const CONTROL: GroupId = GroupId(u64::MAX);
/// The group of a standalone node's data, when the cluster it founded adopted it.
const ADOPTED: GroupId = GroupId(0);
/// The key of the control group's engine that holds the encoded map.
const MAP_KEY: &[u8] = b"cluster-map";
/// Voters of the control group: the first nodes of the map, at most this many.
const CONTROL_VOTERS: usize = 3;

/// The control group's replica on this node: restarted from its own log, or new and
/// waiting to be contacted by the cluster's founder. Its engine is the same on every
/// node (one namespace, seed 0).
pub(crate) fn control_plan() -> PlannedGroup {
    PlannedGroup {
        id: CONTROL,
        existing: None,
        seed: 0,
        databases: 1,
        membership: Membership::Existing,
    }
}

/// The groups of `map` with a replica on node `me`, and how each starts here.
pub(crate) fn plan_groups(map: &ClusterMap, me: u64) -> Vec<PlannedGroup> {
    map.groups_on(me)
        .map(|group| PlannedGroup {
            id: group.group_id(),
            existing: None,
            seed: group.seed,
            databases: map.databases as u32,
            membership: membership_of(map, group, me),
        })
        .collect()
}

/// The founder bootstraps a new group with every member; the others wait for it.
/// (A group that already has state here restarts from it either way.)
fn membership_of(map: &ClusterMap, group: &okapi_cluster::GroupInfo, me: u64) -> Membership {
    if group.founder().map(|n| n.0) != Some(me) {
        return Membership::Existing;
    }
    Membership::Bootstrap(
        group
            .members
            .iter()
            .filter_map(|&id| map.node(id).map(|n| (id, n.cluster_addr())))
            .collect(),
    )
}

/// The cluster side of a node (a cheap handle: clones share one state).
#[derive(Clone)]
pub struct ClusterNode(Arc<Inner>);

struct Inner {
    me: u64,
    port: u16,
    dir: PathBuf,
    databases: u32,
    shared: Arc<Shared>,
    groups: Arc<Groups>,
    map: Mutex<Option<ClusterMap>>,
    /// One map install at a time.
    changing: tokio::sync::Mutex<()>,
    /// One map change proposed at a time (on the control leader).
    proposing: tokio::sync::Mutex<()>,
    /// Groups whose membership this node (their leader) is changing now.
    moving: Mutex<HashSet<GroupId>>,
    /// When this node, leading a group, last handed its leadership to the group's
    /// preferred leader.
    handed: Mutex<std::collections::HashMap<GroupId, std::time::Instant>>,
}

impl ClusterNode {
    /// The cluster side of node `me` (cluster port `port`), holding `map` if it has
    /// joined a cluster.
    pub fn new(
        me: u64,
        port: u16,
        dir: PathBuf,
        databases: u32,
        shared: Arc<Shared>,
        groups: Arc<Groups>,
        map: Option<ClusterMap>,
    ) -> Self {
        Self(Arc::new(Inner {
            me,
            port,
            dir,
            databases,
            shared,
            groups,
            map: Mutex::new(map),
            changing: tokio::sync::Mutex::new(()),
            proposing: tokio::sync::Mutex::new(()),
            moving: Mutex::default(),
            handed: Mutex::default(),
        }))
    }

    fn current(&self) -> Option<ClusterMap> {
        self.0
            .map
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Routes clients by the current map over the shard groups running here (the
    /// control group serves no slot).
    pub fn install_layout(&self) -> Result<(), NodeError> {
        let shards = self
            .0
            .groups
            .shards()
            .into_iter()
            .filter(|s| s.id() != CONTROL)
            .collect();
        let layout = Layout::cluster(self.0.me, shards, self.current())
            .map_err(|e| NodeError::Config(e.to_string()))?;
        self.0.shared.shards.set(layout);
        Ok(())
    }

    /// The map as this node's control replica holds it now.
    fn committed_map(&self) -> Option<Bytes> {
        let control = self.0.groups.get(CONTROL)?;
        let core = control.shard.lock();
        let entry = core
            .engine
            .space(okapi_types::Namespace(0))?
            .peek(MAP_KEY, u64::MAX / 2)?;
        match &entry.value {
            okapi_engine::value::Value::Str(s) => Some(s.to_bytes()),
            _ => None,
        }
    }

    /// Installs every newer map the control group commits, until shutdown, and
    /// keeps this node's part of the cluster following the map: the control leader's
    /// duties ([`control`]) and the membership of the groups it leads or held
    /// ([`replicas`]).
    pub fn follow_map(&self) {
        let this = self.clone();
        tokio::spawn(async move {
            let mut shutdown = this.0.shared.shutdown.subscribe();
            let mut installed: Option<Bytes> = None;
            let mut supervision = control::Supervision::default();
            let mut round = 0u64;
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(std::time::Duration::from_millis(50)) => {}
                    _ = shutdown.changed() => return,
                }
                if let Some(bytes) = this.committed_map()
                    && installed.as_ref() != Some(&bytes)
                {
                    if let Err(e) = this.clone().install(bytes.clone()).await {
                        tracing::error!(error = %e, "cannot install the committed cluster map");
                    }
                    installed = Some(bytes);
                }
                round += 1;
                if !round.is_multiple_of(4) {
                    continue;
                }
                this.supervise(&mut supervision).await;
                if let Some(map) = this.current() {
                    this.reconcile_replicas(&map).await;
                }
            }
        });
    }

    /// Founds the cluster with `map` (CLUSTER OKAPI-SETMAP on a node in no cluster):
    /// bootstraps the control group with the map's first nodes as voters and commits
    /// the map as its first state.
    async fn found(&self, bytes: Bytes, map: &ClusterMap) -> Result<(), String> {
        let control = self
            .0
            .groups
            .get(CONTROL)
            .ok_or("this node runs no control group replica")?;
        let voters: std::collections::BTreeMap<u64, String> = map
            .nodes
            .iter()
            .take(CONTROL_VOTERS)
            .map(|n| (n.id, n.cluster_addr()))
            .collect();
        if !voters.contains_key(&self.0.me) {
            return Err("the founding node must be one of the map's first nodes".into());
        }
        control
            .group
            .initialize(voters)
            .await
            .map_err(|e| format!("cannot found the control group: {e}"))?;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !control.group.is_leader() {
            if std::time::Instant::now() > deadline {
                return Err("the control group elected no leader within 10 s".into());
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        // A leader refuses writes until a quorum has acknowledged it (its lease), and
        // the election may still move: retry until committed. Setting the same bytes
        // twice is harmless, so an unknown outcome is retried too.
        loop {
            let error = match self.commit_map(&control, bytes.clone()).await {
                Ok(()) => break,
                Err(e) => e.to_string(),
            };
            if std::time::Instant::now() > deadline {
                return Err(format!("the control group did not commit the map: {error}"));
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        tracing::info!(
            epoch = map.epoch,
            "cluster founded: map committed by the control group"
        );
        Ok(())
    }

    /// Checks `map` may replace the current one on this node.
    fn admissible(&self, map: &ClusterMap) -> Result<bool, String> {
        // A node removed from its cluster still follows the map that removed it, so
        // it drops its replicas and redirects clients; joining needs to be listed.
        if map.node(self.0.me).is_none() && self.current().is_none() {
            return Err(format!(
                "the map does not list this node ({:016x})",
                self.0.me
            ));
        }
        if map.databases != u64::from(self.0.databases) {
            return Err(format!(
                "the map's groups have {} namespaces, this node {} (databases)",
                map.databases, self.0.databases
            ));
        }
        match self.current() {
            None => {
                if self.0.shared.shards.key_count() > 0 && !self.adopts(map) {
                    return Err("this node holds keys: a cluster is formed from empty nodes, or founded by the one node with data".into());
                }
                Ok(true)
            }
            Some(current) if current.cluster_id != map.cluster_id => Err(format!(
                "this node is in cluster {:016x}, the map is of cluster {:016x}",
                current.cluster_id, map.cluster_id
            )),
            Some(current) if current == *map => Ok(false),
            Some(current) if map.epoch <= current.epoch => Err(format!(
                "the map's epoch {} is not newer than this node's {}",
                map.epoch, current.epoch
            )),
            Some(_) => Ok(true),
        }
    }

    /// Whether `map` takes over this node's standalone data: its group 0 (the
    /// standalone node's), founded by this node, which runs it.
    fn adopts(&self, map: &ClusterMap) -> bool {
        map.group(ADOPTED).is_some_and(|g| g.founder == self.0.me)
            && self.0.groups.get(ADOPTED).is_some()
    }

    /// Prepares the founding of a cluster that adopts this node's standalone data
    /// (group 0): the map gets the group's real hash seed (replicas that replay its
    /// log must pick as it did), and the group's Raft membership this node's cluster
    /// address (a standalone node recorded none). Returns the map to found with.
    async fn adopt(&self, mut map: ClusterMap) -> Result<ClusterMap, String> {
        let Some(running) = self.0.groups.get(ADOPTED) else {
            return Ok(map);
        };
        let seed = running.shard.lock().engine.seed();
        if let Some(g) = map.groups.iter_mut().find(|g| g.id == ADOPTED.0) {
            g.seed = seed;
        }
        let me = map
            .node(self.0.me)
            .ok_or("the map does not list this node")?
            .cluster_addr();
        running
            .group
            .set_address(self.0.me, me)
            .await
            .map_err(|e| format!("cannot record this node's address in group 0: {e}"))?;
        tracing::info!(
            keys = self.0.shared.shards.key_count(),
            "the cluster adopts this node's standalone data as group 0"
        );
        Ok(map)
    }

    /// CLUSTER OKAPI-SETMAP: founds the cluster with this map when the node is in
    /// none; a map it already has is accepted again (a retried create); any other is
    /// refused: changes go through the control group.
    async fn set_map(self, bytes: Bytes) -> Result<(), String> {
        let map = ClusterMap::decode_versioned(&bytes).map_err(|e| e.to_string())?;
        if self.current().is_some() || self.committed_map().is_some() {
            return match self.admissible(&map)? {
                false => Ok(()),
                true => Err(
                    "this node is in a cluster already: its map changes through the control group"
                        .into(),
                ),
            };
        }
        self.admissible(&map)?;
        let bytes = if self.adopts(&map) {
            let map = self.adopt(map.clone()).await?;
            map.encode_versioned()
        } else {
            bytes
        };
        let map = ClusterMap::decode_versioned(&bytes).map_err(|e| e.to_string())?;
        self.found(bytes.clone(), &map).await?;
        // Install here at once, so the caller sees the cluster from this node.
        self.install(bytes).await
    }

    /// Installs a map committed by the control group: stores it and starts this
    /// node's replicas of its groups.
    async fn install(self, bytes: Bytes) -> Result<(), String> {
        let _one = self.0.changing.lock().await;
        let map = ClusterMap::decode_versioned(&bytes).map_err(|e| e.to_string())?;
        if !self.admissible(&map)? {
            return Ok(());
        }
        let dir = self.0.dir.clone();
        let stored = map.clone();
        tokio::task::spawn_blocking(move || stored.store(&dir))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        for planned in plan_groups(&map, self.0.me) {
            if self.0.groups.get(planned.id).is_some() {
                continue;
            }
            let prepared = self
                .0
                .groups
                .prepare(planned.id, None, planned.seed, self.0.databases)
                .map_err(|e| e.to_string())?;
            self.0
                .groups
                .start(prepared, planned.membership)
                .await
                .map_err(|e| e.to_string())?;
        }
        tracing::info!(
            epoch = map.epoch,
            groups = map.groups.len(),
            nodes = map.nodes.len(),
            "cluster map installed"
        );
        *self.0.map.lock().unwrap_or_else(PoisonError::into_inner) = Some(map);
        self.install_layout().map_err(|e| e.to_string())
    }
}

impl okapi_server::cluster::ClusterControl for ClusterNode {
    fn node_id(&self) -> u64 {
        self.0.me
    }

    fn cluster_port(&self) -> u16 {
        self.0.port
    }

    fn control_role(&self) -> (Option<u64>, &'static str) {
        match self.0.groups.get(CONTROL) {
            None => (None, "none"),
            Some(control) => {
                let (voters, members) = control.group.membership();
                let role = if voters.contains(&self.0.me) {
                    "voter"
                } else if members.contains(&self.0.me) {
                    "learner"
                } else {
                    "none"
                };
                (control.shard.leader(), role)
            }
        }
    }

    fn set_map(&self, map: Bytes) -> BoxFuture<Result<(), ClusterError>> {
        let this = self.clone();
        Box::pin(async move { this.set_map(map).await.map_err(ClusterError::Refused) })
    }

    fn change(&self, change: MapChange) -> BoxFuture<Result<Option<u64>, ClusterError>> {
        let this = self.clone();
        Box::pin(async move { this.apply_change(change).await })
    }

    fn led_groups(&self) -> Vec<LedGroup> {
        self.0
            .groups
            .shards()
            .into_iter()
            .filter(|shard| shard.id() != CONTROL)
            .filter_map(|shard| {
                let running = self.0.groups.get(shard.id())?;
                if !running.group.is_leader() {
                    return None;
                }
                let (voters, members) = running.group.membership();
                let learners = members
                    .into_iter()
                    .filter(|m| !voters.contains(m))
                    .collect();
                Some(LedGroup {
                    id: shard.id().0,
                    voters,
                    learners,
                })
            })
            .collect()
    }
}
