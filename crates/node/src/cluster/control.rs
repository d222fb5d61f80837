//! The control group's leader's duties: committing map changes (one at a time, each
//! computed from the committed map), keeping every node of the map a member of the
//! control group with up to three active voters, and watching nodes' health: a node
//! silent for longer than `cluster-node-timeout` is marked failed and its replicas
//! are re-created elsewhere; a failed node heard from again is active once more.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use bytes::Bytes;
use okapi_cluster::change::{self, ChangeError};
use okapi_cluster::{ClusterMap, NodeState};
use okapi_server::cluster::{ClusterError, MapChange};

use super::{CONTROL, CONTROL_VOTERS, ClusterNode, MAP_KEY};
use crate::groups::Running;

/// A learner this far behind the leader's log is not made a voter yet.
const CATCH_UP_SLACK: u64 = 100;
/// A node heard from within this long counts as up.
const UP_WITHIN: Duration = Duration::from_secs(2);

/// What the control leader remembers between rounds.
#[derive(Default)]
pub(super) struct Supervision {
    /// When this node last became the control leader.
    leader_since: Option<Instant>,
    /// When this leader first saw each node in the map (a node just added has not
    /// been heard from yet, and is not down for that).
    known_since: HashMap<u64, Instant>,
}

impl ClusterNode {
    /// The map the control group has committed, as this node's replica holds it.
    pub(super) fn committed(&self) -> Option<ClusterMap> {
        let bytes = self.committed_map()?;
        match ClusterMap::decode_versioned(&bytes) {
            Ok(map) => Some(map),
            Err(e) => {
                tracing::error!(error = %e, "the committed cluster map does not decode");
                None
            }
        }
    }

    /// The control group's replica here, if this node leads it; otherwise why not.
    fn control_leader(&self) -> Result<Running, ClusterError> {
        let control = self
            .0
            .groups
            .get(CONTROL)
            .ok_or_else(|| ClusterError::Refused("this node is in no cluster".into()))?;
        if control.group.is_leader() {
            return Ok(control);
        }
        let leader = control.shard.leader().and_then(|id| {
            self.current()
                .and_then(|m| m.node(id).map(okapi_cluster::NodeInfo::client_addr))
        });
        Err(ClusterError::NotControlLeader(leader))
    }

    /// Commits the map `change` makes of the committed one; the new epoch, or `None`
    /// when there was nothing to change. Only the control leader changes the map, one
    /// change at a time, each from the map as committed before it, so no change is
    /// lost to another.
    pub(super) async fn change_map(
        &self,
        change: impl FnOnce(&ClusterMap) -> Result<Option<ClusterMap>, ChangeError>,
    ) -> Result<Option<u64>, ClusterError> {
        let control = self.control_leader()?;
        let _one = self.0.proposing.lock().await;
        // Until the leader has applied an entry of its own term, it may not have
        // applied every map committed before it.
        let deadline = Instant::now() + Duration::from_secs(5);
        while !control.shard.read_lease_valid() {
            if Instant::now() > deadline || !control.group.is_leader() {
                return Err(ClusterError::Unavailable(
                    "the control group's leader is not settled yet".into(),
                ));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let map = self
            .committed()
            .ok_or_else(|| ClusterError::Refused("this node is in no cluster".into()))?;
        let Some(next) = change(&map).map_err(|e| ClusterError::Refused(e.to_string()))? else {
            return Ok(None);
        };
        next.validate()
            .map_err(|e| ClusterError::Refused(e.to_string()))?;
        self.commit_map(&control, next.encode_versioned()).await?;
        tracing::info!(epoch = next.epoch, "cluster map changed");
        Ok(Some(next.epoch))
    }

    /// Appends the map to the control group and waits until it is applied here.
    pub(super) async fn commit_map(
        &self,
        control: &Running,
        bytes: Bytes,
    ) -> Result<(), ClusterError> {
        let op = okapi_engine::Op {
            db: okapi_types::Namespace(0),
            kind: okapi_engine::strings::StringOp::Set {
                key: Bytes::from_static(MAP_KEY),
                value: bytes,
                cond: okapi_engine::strings::SetCond::Always,
                get: false,
                expire: okapi_engine::strings::SetExpire::Keep,
            }
            .into(),
        };
        let pending = control
            .shard
            .log()
            .append(vec![op], okapi_server::clock::now_ms());
        match pending.await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(ClusterError::Unavailable(e.to_string())),
            Err(_) => Err(ClusterError::Unavailable(
                "the control group stopped before committing the map".into(),
            )),
        }
    }

    /// Carries out a map change asked by a client.
    pub(super) async fn apply_change(&self, asked: MapChange) -> Result<Option<u64>, ClusterError> {
        match asked {
            MapChange::AddNode(node) => self.change_map(|m| change::add_node(m, node)).await,
            MapChange::RemoveNode(id) => self.change_map(|m| change::remove_node(m, id)).await,
            MapChange::ForgetNode(id) => self.change_map(|m| change::forget_node(m, id)).await,
            MapChange::Rebalance => self.change_map(|m| Ok(change::rebalance_step(m))).await,
        }
    }

    /// One round of the control leader's duties (nothing elsewhere).
    pub(super) async fn supervise(&self, state: &mut Supervision) {
        let Ok(control) = self.control_leader() else {
            state.leader_since = None;
            state.known_since.clear();
            return;
        };
        let now = Instant::now();
        let since = *state.leader_since.get_or_insert(now);
        let Some(map) = self.committed() else {
            return;
        };
        for node in &map.nodes {
            state.known_since.entry(node.id).or_insert(now);
        }
        state.known_since.retain(|id, _| map.node(*id).is_some());
        let silence: HashMap<u64, Option<Duration>> =
            control.group.peer_silence().into_iter().collect();
        // How long each node has been silent, as far as this leader can tell.
        let quiet = |id: u64| -> Duration {
            let watched = state
                .known_since
                .get(&id)
                .map_or(Duration::ZERO, |t| t.elapsed())
                .min(since.elapsed());
            silence
                .get(&id)
                .copied()
                .flatten()
                .map_or(watched, |s| s.min(watched))
        };
        if let Err(e) = self.control_membership(&control, &map, &quiet).await {
            tracing::debug!(error = %e, "control group membership not updated yet");
        }
        let timeout = Duration::from_millis(self.0.shared.settings().cluster_node_timeout_ms);
        for node in &map.nodes {
            if node.id == self.0.me {
                continue;
            }
            let heard = silence.get(&node.id).copied().flatten();
            let change = match node.state {
                NodeState::Active if quiet(node.id) >= timeout => {
                    tracing::warn!(
                        node = %format!("{:016x}", node.id),
                        addr = %node.client_addr(),
                        silent_ms = quiet(node.id).as_millis() as u64,
                        "node down past cluster-node-timeout: re-creating its replicas on other nodes"
                    );
                    Some(change::fail_node as fn(&ClusterMap, u64) -> Option<ClusterMap>)
                }
                NodeState::Failed if heard.is_some_and(|s| s < UP_WITHIN) => {
                    tracing::info!(
                        node = %format!("{:016x}", node.id),
                        "failed node is back: active again"
                    );
                    Some(change::revive_node as fn(&ClusterMap, u64) -> Option<ClusterMap>)
                }
                _ => None,
            };
            if let Some(f) = change {
                let id = node.id;
                if let Err(e) = self.change_map(|m| Ok(f(m, id))).await {
                    tracing::warn!(error = %e, "cluster map change for node health failed");
                }
                // One change per round: the next round works from the new map.
                return;
            }
        }
    }

    /// Makes the control group's membership follow the map: every node a member;
    /// up to three active, caught-up nodes voters (a failed or leaving voter is
    /// replaced once another node can take its place); nodes gone from the map out.
    async fn control_membership(
        &self,
        control: &Running,
        map: &ClusterMap,
        quiet: &(dyn Fn(u64) -> Duration + Sync),
    ) -> Result<(), okapi_raft::RaftError> {
        if !control.group.membership_settled() {
            return Ok(());
        }
        let me = self.0.me;
        let (voters, members) = control.group.membership();
        for node in &map.nodes {
            if !members.contains(&node.id) {
                control
                    .group
                    .add_learner(node.id, node.cluster_addr())
                    .await?;
                tracing::info!(node = %format!("{:016x}", node.id), "node added to the control group as a learner");
                return Ok(());
            }
        }
        let last = control.group.status().last_log_index;
        let active = |id: u64| map.node(id).is_some_and(|n| n.state == NodeState::Active);
        let healthy = |id: u64| {
            id == me
                || (quiet(id) < UP_WITHIN
                    && control.group.lag_of(id).unwrap_or(last) <= CATCH_UP_SLACK)
        };
        let active_nodes = map
            .nodes
            .iter()
            .filter(|n| n.state == NodeState::Active)
            .count();
        let want = CONTROL_VOTERS.min(active_nodes.max(1));
        let mut desired: BTreeSet<u64> = voters.iter().copied().filter(|&v| active(v)).collect();
        for node in &map.nodes {
            if desired.len() >= want {
                break;
            }
            if active(node.id) && healthy(node.id) {
                desired.insert(node.id);
            }
        }
        // A failed or leaving voter that nobody can replace yet stays a voter (the
        // group keeps its size); one gone from the map leaves regardless.
        for &v in &voters {
            if desired.len() >= voters.len().min(CONTROL_VOTERS) {
                break;
            }
            if map.node(v).is_some() {
                desired.insert(v);
            }
        }
        let current: BTreeSet<u64> = voters.iter().copied().collect();
        if !desired.is_empty() && desired != current {
            tracing::info!(voters = ?desired.iter().map(|v| format!("{v:016x}")).collect::<Vec<_>>(), "control group voters change");
            control.group.replace_voters(desired.clone(), true).await?;
            return Ok(());
        }
        let gone: BTreeSet<u64> = members
            .iter()
            .copied()
            .filter(|m| map.node(*m).is_none() && !desired.contains(m))
            .collect();
        if !gone.is_empty() {
            tracing::info!(nodes = ?gone.iter().map(|v| format!("{v:016x}")).collect::<Vec<_>>(), "nodes gone from the map leave the control group");
            control.group.remove_members(gone).await?;
        }
        Ok(())
    }
}
