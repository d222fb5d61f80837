//! Where groups go when a cluster is created.

use crate::map::{ClusterMap, GroupInfo, NodeInfo};
use okapi_types::SLOT_COUNT;

/// Why a cluster cannot be laid out as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlacementError {
    /// Fewer nodes than replicas per group.
    #[error("{replicas} replicas per group need at least {replicas} nodes, not {nodes}")]
    TooFewNodes {
        /// Nodes given.
        nodes: usize,
        /// Replicas asked for.
        replicas: usize,
    },
    /// A group count that cannot split the slots.
    #[error("the number of groups must be between 1 and {SLOT_COUNT}, not {0}")]
    Groups(usize),
    /// Zero replicas.
    #[error("a group needs at least one replica")]
    NoReplicas,
}

/// The map of a new cluster of `nodes` with `groups` shard groups of `replicas`
/// replicas: slots split into even contiguous ranges, and group `g`'s replicas on
/// nodes `g, g+1, …` (mod the node count), so founders (which lead first) and
/// replicas are spread evenly. `seeds` gives each group's hash seed.
pub fn plan(
    nodes: Vec<NodeInfo>,
    groups: usize,
    replicas: usize,
    (cluster_id, databases): (u64, u64),
    mut seeds: impl FnMut() -> u64,
) -> Result<ClusterMap, PlacementError> {
    if replicas == 0 {
        return Err(PlacementError::NoReplicas);
    }
    if nodes.len() < replicas {
        return Err(PlacementError::TooFewNodes {
            nodes: nodes.len(),
            replicas,
        });
    }
    if groups == 0 || groups > usize::from(SLOT_COUNT) {
        return Err(PlacementError::Groups(groups));
    }
    let total = u64::from(SLOT_COUNT);
    let n = groups as u64;
    let groups = (0..n)
        .map(|g| GroupInfo {
            id: g + 1,
            members: (0..replicas)
                .map(|k| nodes[(g as usize + k) % nodes.len()].id)
                .collect(),
            slots: vec![(g * total / n, (g + 1) * total / n - 1)],
            seed: seeds(),
            founder: nodes[g as usize % nodes.len()].id,
        })
        .collect();
    Ok(ClusterMap {
        epoch: 1,
        cluster_id,
        databases,
        nodes,
        groups,
        replicas: replicas as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes(n: u64) -> Vec<NodeInfo> {
        (1..=n)
            .map(|id| NodeInfo {
                id,
                host: format!("127.0.0.{}", id + 1),
                port: 6379,
                cluster_port: 16379,
                state: crate::map::NodeState::Active,
            })
            .collect()
    }

    #[test]
    fn slots_and_replicas_are_spread_evenly() {
        let mut seed = 0;
        let map = plan(nodes(3), 6, 3, (7, 16), || {
            seed += 1;
            seed
        })
        .expect("plan");
        map.validate().expect("a valid map");
        assert_eq!(map.groups.len(), 6);
        for node in 1..=3 {
            let founded = map
                .groups
                .iter()
                .filter(|g| g.founder().map(|n| n.0) == Some(node));
            assert_eq!(founded.count(), 2, "node {node} founds two groups");
            assert_eq!(
                map.groups_on(node).count(),
                6,
                "every node holds every group"
            );
        }
        for g in &map.groups {
            let mut members = g.members.clone();
            members.sort_unstable();
            members.dedup();
            assert_eq!(members.len(), 3, "three distinct replicas");
        }
        let five = plan(nodes(5), 10, 3, (7, 16), || 1).expect("plan");
        for node in 1..=5 {
            assert_eq!(five.groups_on(node).count(), 6, "30 replicas over 5 nodes");
        }
    }

    #[test]
    fn impossible_layouts_are_refused() {
        assert_eq!(
            plan(nodes(2), 4, 3, (1, 16), || 1),
            Err(PlacementError::TooFewNodes {
                nodes: 2,
                replicas: 3
            })
        );
        assert_eq!(
            plan(nodes(3), 0, 3, (1, 16), || 1),
            Err(PlacementError::Groups(0))
        );
        assert_eq!(
            plan(nodes(3), 3, 0, (1, 16), || 1),
            Err(PlacementError::NoReplicas)
        );
    }
}
