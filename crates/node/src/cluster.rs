//! A node of a cluster: it holds the cluster map (in `cluster.map` in its data
//! directory), runs a replica of every group the map gives it, and routes clients by
//! the map. `okapi cluster create` hands every node the same map; the founder of
//! each group (its first member) creates the group's Raft log with all its members,
//! the other members start empty and are brought up to date by the group's leader.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use okapi_cluster::ClusterMap;
use okapi_raft::Membership;
use okapi_server::{BoxFuture, Layout, Shared};
use okapi_types::GroupId;

use crate::error::NodeError;
use crate::groups::Groups;
use crate::node::PlannedGroup;

/// The groups of `map` with a replica on node `me`, and how each starts here.
pub(crate) fn plan_groups(map: &ClusterMap, me: u64) -> Vec<PlannedGroup> {
    map.groups_on(me)
        .map(|group| PlannedGroup {
            id: group.group_id(),
            existing: None,
            seed: group.seed,
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
    /// One map change at a time.
    changing: tokio::sync::Mutex<()>,
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
        }))
    }

    fn current(&self) -> Option<ClusterMap> {
        self.0
            .map
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Routes clients by the current map over the groups running here.
    pub fn install_layout(&self) -> Result<(), NodeError> {
        let layout = Layout::cluster(self.0.me, self.0.groups.shards(), self.current())
            .map_err(|e| NodeError::Config(e.to_string()))?;
        self.0.shared.shards.set(layout);
        Ok(())
    }

    /// Checks `map` may replace the current one on this node.
    fn admissible(&self, map: &ClusterMap) -> Result<bool, String> {
        if map.node(self.0.me).is_none() {
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
                if self.0.shared.shards.key_count() > 0 {
                    return Err("this node holds keys: a cluster is formed from empty nodes".into());
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

    async fn apply(self, bytes: Bytes) -> Result<(), String> {
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

    /// Group ids of the current map with a replica here.
    pub fn local_groups(&self) -> Vec<GroupId> {
        self.current()
            .map(|m| m.groups_on(self.0.me).map(|g| g.group_id()).collect())
            .unwrap_or_default()
    }
}

impl okapi_server::cluster::ClusterControl for ClusterNode {
    fn node_id(&self) -> u64 {
        self.0.me
    }

    fn cluster_port(&self) -> u16 {
        self.0.port
    }

    fn set_map(&self, map: Bytes) -> BoxFuture<Result<(), String>> {
        Box::pin(self.clone().apply(map))
    }
}
