//! Each group's replicas follow the map. The group's leader moves the group's Raft
//! membership to the map's members (new ones join as learners, vote once caught up,
//! and the replaced ones leave in the same joint-consensus change), and a node whose
//! replica the map no longer lists drops it once the group has moved on without it.
//! A leader that is not its group's preferred leader (the map's first active member)
//! hands leadership over once that member is up and caught up.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use okapi_cluster::{ClusterMap, GroupInfo};
use okapi_types::GroupId;

use super::{CONTROL, ClusterNode};
use crate::groups::Running;

/// A learner this far behind the leader's log is not made a voter yet.
const CATCH_UP_SLACK: u64 = 1000;
/// A replica the map no longer lists is dropped once no peer has sent it anything
/// this long (the group moved on without it).
const ORPHAN_AFTER: Duration = Duration::from_secs(3);
/// A leader hands its group to the preferred leader at most this often.
const HAND_OVER_EVERY: Duration = Duration::from_secs(10);
/// ... only when the leader heard from it within this long,
const HAND_OVER_HEARD: Duration = Duration::from_millis(500);
/// ... and its log is at most this far behind.
const HAND_OVER_SLACK: u64 = 64;

impl ClusterNode {
    /// One round: membership moves on the groups this node leads, and replicas that
    /// left this node dropped.
    pub(super) async fn reconcile_replicas(&self, map: &ClusterMap) {
        let me = self.0.me;
        let mut dropped = false;
        for shard in self.0.groups.shards() {
            let id = shard.id();
            if id == CONTROL {
                continue;
            }
            let Some(running) = self.0.groups.get(id) else {
                continue;
            };
            let target = map.group(id);
            if running.group.is_leader()
                && let Some(target) = target
            {
                self.move_membership(&running, target, map);
                self.hand_to_preferred(&running, target, map).await;
            }
            let listed = target.is_some_and(|g| g.members.contains(&me));
            if listed || running.group.is_leader() {
                continue;
            }
            let (_, members) = running.group.membership();
            let left = !members.contains(&me);
            // A leader sends its followers a heartbeat many times a second: a replica
            // nobody has sent anything for a while is no longer in the group.
            let silent = self
                .0
                .groups
                .silent_for(id)
                .is_some_and(|s| s >= ORPHAN_AFTER);
            if left || silent {
                match self.0.groups.discard(id).await {
                    Ok(()) => {
                        dropped = true;
                        tracing::info!(group = %id, "this node's replica left the group: dropped");
                    }
                    Err(e) => {
                        tracing::error!(group = %id, error = %e, "cannot drop a replica that left the group")
                    }
                }
            }
        }
        if dropped && let Err(e) = self.install_layout() {
            tracing::error!(error = %e, "cannot route by the cluster map");
        }
    }

    /// On the group's leader: moves the Raft membership one step toward the map's
    /// members, in a task of its own (one per group at a time).
    fn move_membership(&self, running: &Running, target: &GroupInfo, map: &ClusterMap) {
        let want: BTreeSet<u64> = target.members.iter().copied().collect();
        let (voters, members) = running.group.membership();
        let voters: BTreeSet<u64> = voters.into_iter().collect();
        let members: BTreeSet<u64> = members.into_iter().collect();
        if voters == want && members == want {
            return;
        }
        if !running.group.membership_settled() {
            return;
        }
        let id = running.shard.id();
        if !self.moving().insert(id) {
            return;
        }
        let addrs: HashMap<u64, String> =
            map.nodes.iter().map(|n| (n.id, n.cluster_addr())).collect();
        let this = self.clone();
        let group = running.group.clone();
        tokio::spawn(async move {
            let result: Result<(), okapi_raft::RaftError> = async {
                for &node in want.difference(&members) {
                    let Some(addr) = addrs.get(&node) else {
                        continue;
                    };
                    group.add_learner(node, addr.clone()).await?;
                    tracing::info!(group = %id, node = %format!("{node:016x}"), "new replica added as a learner");
                }
                let ready = want.iter().all(|&n| {
                    voters.contains(&n) || group.lag_of(n).is_some_and(|l| l <= CATCH_UP_SLACK)
                });
                if !ready {
                    return Ok(());
                }
                if voters != want {
                    group.replace_voters(want.clone(), false).await?;
                    tracing::info!(group = %id, voters = ?want.iter().map(|v| format!("{v:016x}")).collect::<Vec<_>>(), "group voters changed");
                }
                let (_, now) = group.membership();
                let strays: BTreeSet<u64> = now.into_iter().filter(|m| !want.contains(m)).collect();
                if !strays.is_empty() {
                    group.remove_members(strays).await?;
                }
                Ok(())
            }
            .await;
            if let Err(e) = result {
                tracing::debug!(group = %id, error = %e, "group membership change not done yet");
            }
            this.moving().remove(&id);
        });
    }

    /// On the group's leader, once the group's voters are the map's: hands
    /// leadership to the map's preferred leader when that is another node that is
    /// up and caught up, so leaders spread as rebalancing placed them (a node back
    /// from a restart takes its groups back). At most once per
    /// [`HAND_OVER_EVERY`] per group, so a preferred node that cannot take over is
    /// not asked again and again.
    async fn hand_to_preferred(&self, running: &Running, target: &GroupInfo, map: &ClusterMap) {
        let me = self.0.me;
        let Some(preferred) = map.preferred_leader(target) else {
            return;
        };
        if preferred == me || !running.group.membership_settled() {
            return;
        }
        let (voters, members) = running.group.membership();
        if !voters.contains(&preferred) || voters.len() != members.len() {
            return;
        }
        let heard = running
            .group
            .peer_silence()
            .into_iter()
            .any(|(id, s)| id == preferred && s.is_some_and(|s| s < HAND_OVER_HEARD));
        let caught_up = running
            .group
            .lag_of(preferred)
            .is_some_and(|l| l <= HAND_OVER_SLACK);
        if !heard || !caught_up {
            return;
        }
        let id = running.shard.id();
        {
            let mut handed = self
                .0
                .handed
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if handed
                .get(&id)
                .is_some_and(|t| t.elapsed() < HAND_OVER_EVERY)
            {
                return;
            }
            handed.insert(id, Instant::now());
        }
        match running.group.transfer_leader(preferred).await {
            Ok(()) => {
                tracing::info!(group = %id, to = %format!("{preferred:016x}"), "leadership handed to the group's preferred leader")
            }
            Err(e) => tracing::warn!(group = %id, error = %e, "cannot hand over leadership"),
        }
    }

    fn moving(&self) -> std::sync::MutexGuard<'_, std::collections::HashSet<GroupId>> {
        self.0
            .moving
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
