//! Changes to a committed cluster map. Each takes the map and returns the next one
//! (epoch + 1), `None` when there is nothing to change (so a retried request is
//! harmless), or why the change cannot be made.
//!
//! A change only rewrites each group's *target* members; every group's leader then
//! moves its Raft membership there (new members join as learners and vote once they
//! have caught up), so a change never removes a replica before its replacement holds
//! the data. Rebalancing moves at most one replica of a group per step, so a group
//! never depends on two new members at once.

use std::collections::BTreeMap;

use crate::map::{ClusterMap, NodeInfo, NodeState};

/// Why a change cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChangeError {
    /// No such node.
    #[error("no node {0:016x} in the cluster")]
    UnknownNode(u64),
    /// Another node already has this address.
    #[error("node {other:016x} already has address {addr}")]
    AddressTaken {
        /// The node that has it.
        other: u64,
        /// The address.
        addr: String,
    },
    /// Too few other active nodes to keep every group's replicas.
    #[error(
        "removing node {node:016x} would leave {left} active nodes for {replicas} replicas per group: add a node first"
    )]
    TooFewNodes {
        /// The node to remove.
        node: u64,
        /// Active nodes that would remain.
        left: usize,
        /// Replicas per group.
        replicas: u64,
    },
    /// The node still holds replicas, or is active.
    #[error("node {node:016x} {why}")]
    StillInUse {
        /// The node.
        node: u64,
        /// What keeps it.
        why: String,
    },
}

/// Replicas per node (every node of the map, including ones holding none).
fn loads(map: &ClusterMap) -> BTreeMap<u64, usize> {
    let mut loads: BTreeMap<u64, usize> = map.nodes.iter().map(|n| (n.id, 0)).collect();
    for g in &map.groups {
        for m in &g.members {
            *loads.entry(*m).or_default() += 1;
        }
    }
    loads
}

fn active(map: &ClusterMap, id: u64) -> bool {
    map.node(id).is_some_and(|n| n.state == NodeState::Active)
}

/// The least loaded active node not in `exclude` (ties: the lowest id).
fn least_loaded(map: &ClusterMap, loads: &BTreeMap<u64, usize>, exclude: &[u64]) -> Option<u64> {
    loads
        .iter()
        .filter(|(id, _)| active(map, **id) && !exclude.contains(id))
        .min_by_key(|(id, load)| (**load, **id))
        .map(|(id, _)| *id)
}

/// Replaces `node` in every group holding it by the least loaded active node not
/// already a member, where there is one. Returns whether a group changed.
fn replace_everywhere(map: &mut ClusterMap, node: u64) -> bool {
    let mut changed = false;
    let mut loads = loads(map);
    for i in 0..map.groups.len() {
        let members = map.groups[i].members.clone();
        let Some(pos) = members.iter().position(|&m| m == node) else {
            continue;
        };
        if let Some(new) = least_loaded(map, &loads, &members) {
            map.groups[i].members[pos] = new;
            *loads.entry(new).or_default() += 1;
            if let Some(l) = loads.get_mut(&node) {
                *l = l.saturating_sub(1);
            }
            changed = true;
        }
    }
    changed
}

/// Gives every group with fewer members than the replica count new ones (least
/// loaded active nodes first). Returns whether a group changed.
fn fill(map: &mut ClusterMap) -> bool {
    let mut changed = false;
    let mut loads = loads(map);
    for i in 0..map.groups.len() {
        while (map.groups[i].members.len() as u64) < map.replicas {
            let Some(new) = least_loaded(map, &loads, &map.groups[i].members) else {
                break;
            };
            map.groups[i].members.push(new);
            *loads.entry(new).or_default() += 1;
            changed = true;
        }
    }
    changed
}

fn next(mut map: ClusterMap) -> ClusterMap {
    map.epoch += 1;
    map
}

/// Adds `node` (active, holding nothing yet), and gives it replicas of the groups
/// that have fewer than the replica count.
pub fn add_node(map: &ClusterMap, node: NodeInfo) -> Result<Option<ClusterMap>, ChangeError> {
    if let Some(other) = map.nodes.iter().find(|n| {
        n.id != node.id
            && (n.client_addr() == node.client_addr() || n.cluster_addr() == node.cluster_addr())
    }) {
        return Err(ChangeError::AddressTaken {
            other: other.id,
            addr: node.client_addr(),
        });
    }
    let mut new = map.clone();
    match new.nodes.iter_mut().find(|n| n.id == node.id) {
        Some(known) if known.state == NodeState::Active && *known == node => {}
        Some(known) => {
            *known = NodeInfo {
                state: NodeState::Active,
                ..node
            }
        }
        None => new.nodes.push(NodeInfo {
            state: NodeState::Active,
            ..node
        }),
    }
    fill(&mut new);
    Ok((new != *map).then(|| next(new)))
}

/// Starts removing `node`: it is marked leaving and replaced in every group.
pub fn remove_node(map: &ClusterMap, node: u64) -> Result<Option<ClusterMap>, ChangeError> {
    let info = map.node(node).ok_or(ChangeError::UnknownNode(node))?;
    let left = map
        .nodes
        .iter()
        .filter(|n| n.id != node && n.state == NodeState::Active)
        .count();
    let holds = map.groups_on(node).next().is_some();
    if holds && (left as u64) < map.replicas {
        return Err(ChangeError::TooFewNodes {
            node,
            left,
            replicas: map.replicas,
        });
    }
    if info.state == NodeState::Leaving && !holds {
        return Ok(None);
    }
    let mut new = map.clone();
    if let Some(n) = new.nodes.iter_mut().find(|n| n.id == node) {
        n.state = NodeState::Leaving;
    }
    replace_everywhere(&mut new, node);
    Ok(Some(next(new)))
}

/// Drops `node` from the map once it holds no replica and is not active.
pub fn forget_node(map: &ClusterMap, node: u64) -> Result<Option<ClusterMap>, ChangeError> {
    let Some(info) = map.node(node) else {
        return Ok(None);
    };
    if info.state == NodeState::Active {
        return Err(ChangeError::StillInUse {
            node,
            why: "is active: remove it first".into(),
        });
    }
    if let Some(g) = map.groups_on(node).next() {
        return Err(ChangeError::StillInUse {
            node,
            why: format!("still holds a replica of group {}", g.id),
        });
    }
    let mut new = map.clone();
    new.nodes.retain(|n| n.id != node);
    Ok(Some(next(new)))
}

/// Marks `node` failed (down past the node timeout) and re-creates its replicas on
/// other active nodes where there are any.
pub fn fail_node(map: &ClusterMap, node: u64) -> Option<ClusterMap> {
    let info = map.node(node)?;
    if info.state != NodeState::Active {
        return None;
    }
    let mut new = map.clone();
    if let Some(n) = new.nodes.iter_mut().find(|n| n.id == node) {
        n.state = NodeState::Failed;
    }
    replace_everywhere(&mut new, node);
    fill(&mut new);
    Some(next(new))
}

/// Marks a failed `node` active again (it was heard from): it gets replicas when
/// groups lack some, or by rebalancing.
pub fn revive_node(map: &ClusterMap, node: u64) -> Option<ClusterMap> {
    if map.node(node)?.state != NodeState::Failed {
        return None;
    }
    let mut new = map.clone();
    if let Some(n) = new.nodes.iter_mut().find(|n| n.id == node) {
        n.state = NodeState::Active;
    }
    fill(&mut new);
    Some(next(new))
}

/// One rebalancing step: replicas left on nodes that are not active move to active
/// ones, groups short of replicas get new ones, and replicas move from the most to
/// the least loaded nodes until no two active nodes differ by more than one;
/// at most one move per group. Members are then reordered so preferred leaders
/// spread evenly too (reordering moves no data). `None` when the map is balanced.
pub fn rebalance_step(map: &ClusterMap) -> Option<ClusterMap> {
    let mut new = map.clone();
    let mut moved = vec![false; new.groups.len()];
    let stranded: Vec<u64> = new
        .nodes
        .iter()
        .filter(|n| n.state != NodeState::Active)
        .map(|n| n.id)
        .collect();
    for node in stranded {
        let before: Vec<Vec<u64>> = new.groups.iter().map(|g| g.members.clone()).collect();
        replace_everywhere(&mut new, node);
        for (i, g) in new.groups.iter().enumerate() {
            moved[i] |= g.members != before[i];
        }
    }
    fill(&mut new);
    loop {
        let loads = loads(&new);
        let mut moved_one = false;
        for (i, done) in moved.iter_mut().enumerate() {
            if *done {
                continue;
            }
            let members = new.groups[i].members.clone();
            let Some((pos, from)) = members
                .iter()
                .enumerate()
                .filter(|(_, m)| active(&new, **m))
                .max_by_key(|(_, m)| (loads[*m], **m))
                .map(|(p, m)| (p, *m))
            else {
                continue;
            };
            let Some(to) = least_loaded(&new, &loads, &members) else {
                continue;
            };
            if loads[&from] > loads[&to] + 1 {
                new.groups[i].members[pos] = to;
                *done = true;
                moved_one = true;
                break;
            }
        }
        if !moved_one {
            break;
        }
    }
    balance_leaders(&mut new);
    (new != *map).then(|| next(new))
}

/// Groups each active node is the preferred leader of.
fn leader_loads(map: &ClusterMap) -> BTreeMap<u64, usize> {
    let mut loads: BTreeMap<u64, usize> = map
        .nodes
        .iter()
        .filter(|n| n.state == NodeState::Active)
        .map(|n| (n.id, 0))
        .collect();
    for g in &map.groups {
        if let Some(lead) = map.preferred_leader(g) {
            *loads.entry(lead).or_default() += 1;
        }
    }
    loads
}

/// Reorders members so that no two active nodes are the preferred leader of
/// groups differing in number by more than one, where a member swap can do it:
/// each swap brings to the front of a group the member leading the fewest groups,
/// taken from the node leading the most. Returns whether a group changed.
fn balance_leaders(map: &mut ClusterMap) -> bool {
    let mut changed = false;
    loop {
        let loads = leader_loads(map);
        let mut best: Option<(usize, usize, usize)> = None;
        for (i, g) in map.groups.iter().enumerate() {
            let Some(lead) = map.preferred_leader(g) else {
                continue;
            };
            for (pos, m) in g.members.iter().enumerate() {
                let (Some(&from), Some(&to)) = (loads.get(&lead), loads.get(m)) else {
                    continue;
                };
                if *m != lead && from > to + 1 && best.is_none_or(|(_, _, gap)| from - to > gap) {
                    best = Some((i, pos, from - to));
                }
            }
        }
        let Some((i, pos, _)) = best else {
            return changed;
        };
        let m = map.groups[i].members.remove(pos);
        map.groups[i].members.insert(0, m);
        changed = true;
    }
}

/// Groups each node is the preferred leader of, as (node, count), for reports.
pub fn leader_counts(map: &ClusterMap) -> Vec<(u64, usize)> {
    leader_loads(map).into_iter().collect()
}

/// Replicas per active node, as (node, count), for reports.
pub fn replica_counts(map: &ClusterMap) -> Vec<(u64, usize)> {
    loads(map).into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::map::NodeState;
    use crate::placement::plan;

    fn node(id: u64) -> NodeInfo {
        NodeInfo {
            id,
            host: format!("127.0.0.{}", id + 1),
            port: 6379,
            cluster_port: 16379,
            state: NodeState::Active,
        }
    }

    fn cluster(nodes: u64, groups: usize) -> ClusterMap {
        plan((1..=nodes).map(node).collect(), groups, 3, (1, 16), || 7).expect("plan")
    }

    fn spread(map: &ClusterMap) -> (usize, usize) {
        let loads: Vec<usize> = replica_counts(map)
            .into_iter()
            .filter(|(id, _)| active(map, *id))
            .map(|(_, l)| l)
            .collect();
        (
            loads.iter().copied().min().unwrap_or(0),
            loads.iter().copied().max().unwrap_or(0),
        )
    }

    fn balance(mut map: ClusterMap) -> (ClusterMap, usize) {
        let mut steps = 0;
        while let Some(next) = rebalance_step(&map) {
            next.validate().expect("every step is a valid map");
            assert_eq!(next.epoch, map.epoch + 1);
            for (a, b) in map.groups.iter().zip(&next.groups) {
                let changed = b.members.iter().filter(|m| !a.members.contains(m)).count();
                assert!(changed <= 1, "one move per group per step");
            }
            map = next;
            steps += 1;
            assert!(steps < 100, "rebalancing ends");
        }
        (map, steps)
    }

    #[test]
    fn an_added_node_gets_an_even_share_by_rebalancing() {
        let map = cluster(3, 6);
        let added = add_node(&map, node(4)).expect("add").expect("a change");
        added.validate().expect("valid");
        assert_eq!(added.epoch, map.epoch + 1);
        assert_eq!(added.groups, map.groups, "full groups are not touched");
        assert!(
            add_node(&added, node(4)).expect("again").is_none(),
            "adding it again changes nothing"
        );
        let (balanced, steps) = balance(added);
        assert!(steps > 0);
        assert_eq!(spread(&balanced), (4, 5), "18 replicas over 4 nodes");
        assert!(rebalance_step(&balanced).is_none());
    }

    #[test]
    fn rebalancing_spreads_preferred_leaders_too() {
        let (balanced, _) = balance(
            add_node(&cluster(3, 8), node(4))
                .expect("add")
                .expect("change"),
        );
        let leads: Vec<usize> = leader_counts(&balanced)
            .into_iter()
            .map(|(_, n)| n)
            .collect();
        assert_eq!(leads, vec![2, 2, 2, 2], "8 groups led by 4 nodes");
        // Every group was first led by its founder on nodes 1-3: node 4 leads some
        // now only because members were reordered.
        assert!(balanced.groups.iter().any(|g| g.members[0] == 4));
        // A node back from a failure holds no replica yet, so it leads nothing;
        // once rebalanced it leads its share.
        let failed = fail_node(&balanced, 2).expect("fail");
        assert_eq!(failed.groups_on(2).count(), 0);
        let revived = revive_node(&failed, 2).expect("revive");
        let (again, _) = balance(revived);
        let leads: Vec<usize> = leader_counts(&again).into_iter().map(|(_, n)| n).collect();
        assert!(leads.iter().all(|&n| n == 2), "{leads:?}");
        // A failed first member that no node can replace yet (3 nodes, 3 replicas)
        // stays listed, but neither leads nor is sent clients: the next one is.
        let small = cluster(3, 3);
        let first = small.groups[0].members[0];
        let down = fail_node(&small, first).expect("fail");
        let g = &down.groups[0];
        assert_eq!(g.members[0], first, "kept: there is no other node");
        assert_eq!(down.preferred_leader(g), Some(g.members[1]));
        assert_eq!(down.contact(g), Some(g.members[1]));
        assert_eq!(small.contact(&small.groups[0]), Some(first));
    }

    #[test]
    fn a_new_address_must_be_free() {
        let map = cluster(3, 3);
        let mut twin = node(9);
        twin.host = map.nodes[0].host.clone();
        assert!(matches!(
            add_node(&map, twin),
            Err(ChangeError::AddressTaken { other: 1, .. })
        ));
    }

    #[test]
    fn a_small_cluster_grows_its_groups_to_the_replica_count() {
        let mut map = cluster(3, 2);
        for g in &mut map.groups {
            g.members.truncate(1);
        }
        map.nodes.truncate(1);
        map.groups.iter_mut().for_each(|g| g.members = vec![1]);
        map.validate().expect("a one-node cluster");
        let two = add_node(&map, node(2)).expect("add").expect("change");
        assert!(two.groups.iter().all(|g| g.members == vec![1, 2]));
        let three = add_node(&two, node(3)).expect("add").expect("change");
        assert!(three.groups.iter().all(|g| g.members.len() == 3));
        three.validate().expect("valid");
    }

    #[test]
    fn a_removed_node_is_replaced_then_forgotten() {
        let map = add_node(&cluster(3, 6), node(4))
            .expect("add")
            .expect("change");
        let (map, _) = balance(map);
        assert!(matches!(
            forget_node(&map, 2),
            Err(ChangeError::StillInUse { .. })
        ));
        let leaving = remove_node(&map, 2).expect("remove").expect("change");
        leaving.validate().expect("valid");
        assert_eq!(leaving.node(2).map(|n| n.state), Some(NodeState::Leaving));
        assert_eq!(leaving.groups_on(2).count(), 0);
        assert!(leaving.groups.iter().all(|g| g.members.len() == 3));
        assert!(remove_node(&leaving, 2).expect("again").is_none());
        let gone = forget_node(&leaving, 2).expect("forget").expect("change");
        assert!(gone.node(2).is_none());
        gone.validate().expect("valid");
        assert!(matches!(
            remove_node(&gone, 3),
            Err(ChangeError::TooFewNodes { left: 2, .. })
        ));
        assert_eq!(remove_node(&gone, 2), Err(ChangeError::UnknownNode(2)));
    }

    #[test]
    fn a_failed_node_is_replaced_where_possible_and_revives_empty() {
        let map = add_node(&cluster(3, 3), node(4))
            .expect("add")
            .expect("change");
        let failed = fail_node(&map, 1).expect("a change");
        failed.validate().expect("valid");
        assert_eq!(failed.groups_on(1).count(), 0);
        assert!(failed.groups.iter().all(|g| g.members.len() == 3));
        assert!(fail_node(&failed, 1).is_none(), "already failed");
        let back = revive_node(&failed, 1).expect("a change");
        assert_eq!(back.node(1).map(|n| n.state), Some(NodeState::Active));
        let (balanced, _) = balance(back);
        assert!(balanced.groups_on(1).count() >= 2);
        // With no spare node, the failed node's replicas stay until there is one.
        let small = cluster(3, 3);
        let stuck = fail_node(&small, 1).expect("a change");
        assert_eq!(stuck.groups_on(1).count(), 3);
        let grown = add_node(&stuck, node(4)).expect("add").expect("change");
        let (healed, _) = balance(grown);
        assert_eq!(healed.groups_on(1).count(), 0);
        assert!(healed.groups_on(4).count() == 3);
    }
}
