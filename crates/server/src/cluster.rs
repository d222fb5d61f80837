//! Redis Cluster's view of an okapi cluster: CLUSTER INFO/MYID/SLOTS/SHARDS/NODES,
//! COUNTKEYSINSLOT/GETKEYSINSLOT, in Redis's exact formats, computed from the layout
//! (the cluster map and the leaders of the local groups). A node leads some groups
//! and follows others, so it is shown as the master of the slots it leads.
//!
//! The node side (joining a cluster, this node's identity) is behind
//! [`ClusterControl`], implemented by whoever runs the groups.

use bytes::Bytes;
use okapi_cluster::{ClusterMap, GroupInfo, NodeInfo};
use okapi_engine::Reply;

use crate::durability::BoxFuture;
use crate::shard::{ClusterLayout, Layout, SlotRoute};

/// A change to the cluster map, made by the control group's leader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MapChange {
    /// Add this node (CLUSTER OKAPI-ADDNODE).
    AddNode(NodeInfo),
    /// Move every replica off this node (CLUSTER OKAPI-REMOVENODE).
    RemoveNode(u64),
    /// Drop this node, which holds nothing, from the map (CLUSTER OKAPI-FORGETNODE).
    ForgetNode(u64),
    /// One rebalancing step (CLUSTER OKAPI-REBALANCE).
    Rebalance,
}

/// Why a cluster request was not carried out. The display text is the RESP error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClusterError {
    /// Map changes are made by the control group's leader, at this client address
    /// (`None`: unknown now).
    #[error("CONTROLLEADER {}", .0.as_deref().unwrap_or("unknown"))]
    NotControlLeader(Option<String>),
    /// The request cannot be carried out as asked.
    #[error("ERR {0}")]
    Refused(String),
    /// The cluster could not do it now (no leader, a timeout); retrying may work.
    #[error("TRYAGAIN {0}")]
    Unavailable(String),
}

/// One group this node leads: its Raft membership now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedGroup {
    /// The group.
    pub id: u64,
    /// Its voters.
    pub voters: Vec<u64>,
    /// Its learners (members catching up).
    pub learners: Vec<u64>,
}

/// What the server asks of the node about the cluster.
pub trait ClusterControl: Send + Sync + 'static {
    /// This node's id.
    fn node_id(&self) -> u64;
    /// The bound cluster port.
    fn cluster_port(&self) -> u16;
    /// Founds a cluster with an encoded cluster map (CLUSTER OKAPI-SETMAP) and starts
    /// this node's replicas of its groups.
    fn set_map(&self, map: Bytes) -> BoxFuture<Result<(), ClusterError>>;
    /// Commits a change to the map; the new epoch, or `None` when there was nothing
    /// to change.
    fn change(&self, change: MapChange) -> BoxFuture<Result<Option<u64>, ClusterError>>;
    /// The shard groups (not the control group) this node leads, with their Raft
    /// membership.
    fn led_groups(&self) -> Vec<LedGroup>;
    /// The control group's leader as this node's replica sees it, and this node's
    /// role in it (`voter`, `learner` or `none`).
    fn control_role(&self) -> (Option<u64>, &'static str);
}

/// The error of a CLUSTER command on a node started without `cluster-enabled`.
pub const DISABLED: &str = "ERR This instance has cluster support disabled";

fn bulk(s: impl Into<String>) -> Reply {
    Reply::Bulk(Bytes::from(s.into()))
}

/// The leader of `group` as this node knows it: reported by the local replica, or
/// the map's contact for it when the group has no replica here (which redirects on).
fn leader_of(layout: &Layout, map: &ClusterMap, group: &GroupInfo) -> Option<u64> {
    match layout.shards().iter().find(|s| s.id() == group.group_id()) {
        Some(shard) => shard.leader(),
        None => map.contact(group),
    }
}

/// Slot ranges led by `node`, merged where adjacent.
fn led_ranges(layout: &Layout, map: &ClusterMap, node: u64) -> Vec<(u64, u64)> {
    let mut ranges: Vec<(u64, u64)> = map
        .groups
        .iter()
        .filter(|g| leader_of(layout, map, g) == Some(node))
        .flat_map(|g| g.slots.iter().copied())
        .collect();
    ranges.sort_unstable();
    let mut merged: Vec<(u64, u64)> = Vec::with_capacity(ranges.len());
    for (a, b) in ranges {
        match merged.last_mut() {
            Some(last) if last.1 + 1 == a => last.1 = b,
            _ => merged.push((a, b)),
        }
    }
    merged
}

fn host_port(node: &NodeInfo) -> (Reply, Reply) {
    (bulk(node.host.clone()), Reply::Int(node.port as i64))
}

/// CLUSTER INFO.
pub fn info(layout: &Layout, cluster: &ClusterLayout) -> Reply {
    let (assigned, ok, nodes, size, epoch) = match &cluster.map {
        None => (0, 0, 1, 0, 0),
        Some(map) => {
            let assigned: u64 = map
                .groups
                .iter()
                .flat_map(|g| &g.slots)
                .map(|(a, b)| b - a + 1)
                .sum();
            let ok: u64 = map
                .groups
                .iter()
                .filter(|g| leader_of(layout, map, g).is_some())
                .flat_map(|g| &g.slots)
                .map(|(a, b)| b - a + 1)
                .sum();
            let masters = map
                .nodes
                .iter()
                .filter(|n| !led_ranges(layout, map, n.id).is_empty())
                .count();
            (assigned, ok, map.nodes.len(), masters, map.epoch)
        }
    };
    let state = if ok == 16384 { "ok" } else { "fail" };
    Reply::Text(format!(
        "cluster_state:{state}\r\ncluster_slots_assigned:{assigned}\r\ncluster_slots_ok:{ok}\r\ncluster_slots_pfail:0\r\ncluster_slots_fail:{}\r\ncluster_known_nodes:{nodes}\r\ncluster_size:{size}\r\ncluster_current_epoch:{epoch}\r\ncluster_my_epoch:{epoch}\r\ncluster_stats_messages_sent:0\r\ncluster_stats_messages_received:0\r\ntotal_cluster_links_buffer_limit_exceeded:0\r\n",
        assigned - ok
    ))
}

/// CLUSTER MYID.
pub fn myid(cluster: &ClusterLayout) -> Reply {
    bulk(okapi_cluster::map::node_name(cluster.me))
}

/// `f` of the map; an empty array before the node is in a cluster.
fn with_map(cluster: &ClusterLayout, f: impl FnOnce(&ClusterMap) -> Reply) -> Reply {
    match &cluster.map {
        None => Reply::Array(Vec::new()),
        Some(map) => f(map),
    }
}

/// The group's members, leader first.
fn members_leader_first(layout: &Layout, map: &ClusterMap, group: &GroupInfo) -> Vec<u64> {
    let leader = leader_of(layout, map, group);
    let mut members = group.members.clone();
    if let Some(leader) = leader
        && let Some(pos) = members.iter().position(|&m| m == leader)
    {
        members.swap(0, pos);
    }
    members
}

/// CLUSTER SLOTS: per slot range, the leader then the replicas that lead no group, each as
/// `[host, port, id]`.
pub fn slots(layout: &Layout, cluster: &ClusterLayout) -> Reply {
    with_map(cluster, |map| {
        // Cluster clients take a node listed as a replica anywhere for a replica
        // everywhere (redis-py then leaves it out of the primaries it sends DBSIZE,
        // SCAN, FLUSHALL to): a node that leads a group is listed as a master only.
        let leaders: std::collections::BTreeSet<u64> = map
            .groups
            .iter()
            .filter_map(|g| leader_of(layout, map, g))
            .collect();
        let mut rows = Vec::new();
        for group in &map.groups {
            for &(a, b) in &group.slots {
                let mut row = vec![Reply::Int(a as i64), Reply::Int(b as i64)];
                for (i, id) in members_leader_first(layout, map, group)
                    .into_iter()
                    .enumerate()
                {
                    if i > 0 && leaders.contains(&id) {
                        continue;
                    }
                    if let Some(node) = map.node(id) {
                        let (host, port) = host_port(node);
                        row.push(Reply::Array(vec![host, port, bulk(node.name())]));
                    }
                }
                rows.push(Reply::Array(row));
            }
        }
        Reply::Array(rows)
    })
}

/// CLUSTER SHARDS: per group, its slots and nodes with their roles.
pub fn shards(layout: &Layout, cluster: &ClusterLayout) -> Reply {
    with_map(cluster, |map| {
        Reply::Array(
            map.groups
                .iter()
                .map(|group| {
                    let leader = leader_of(layout, map, group);
                    // Offsets as the group's leader sees them (only known there).
                    let local = layout.shards().iter().find(|s| s.id() == group.group_id());
                    let here_leads = local.is_some() && leader == Some(cluster.me);
                    let (last, matched): (u64, Vec<(u64, u64)>) = match local {
                        Some(shard) if here_leads => {
                            (shard.log().last_index(), shard.log().replication())
                        }
                        _ => (0, Vec::new()),
                    };
                    let slots = group
                        .slots
                        .iter()
                        .flat_map(|&(a, b)| [Reply::Int(a as i64), Reply::Int(b as i64)])
                        .collect();
                    let nodes = members_leader_first(layout, map, group)
                        .into_iter()
                        .filter_map(|id| map.node(id))
                        .map(|node| {
                            let role = if Some(node.id) == leader {
                                "master"
                            } else {
                                "replica"
                            };
                            let offset = if Some(node.id) == leader {
                                last
                            } else {
                                matched
                                    .iter()
                                    .find(|(id, _)| *id == node.id)
                                    .map_or(0, |(_, m)| *m)
                            };
                            // Seen from the leader: a replica more than 1,000 entries
                            // behind is catching up ("loading"); elsewhere unknown.
                            let health = if !here_leads || last.saturating_sub(offset) <= 1000 {
                                "online"
                            } else {
                                "loading"
                            };
                            Reply::Map(vec![
                                (bulk("id"), bulk(node.name())),
                                (bulk("port"), Reply::Int(node.port as i64)),
                                (bulk("ip"), bulk(node.host.clone())),
                                (bulk("endpoint"), bulk(node.host.clone())),
                                (bulk("role"), bulk(role)),
                                (bulk("replication-offset"), Reply::Int(offset as i64)),
                                (bulk("health"), bulk(health)),
                            ])
                        })
                        .collect();
                    Reply::Map(vec![
                        (bulk("slots"), Reply::Array(slots)),
                        (bulk("nodes"), Reply::Array(nodes)),
                    ])
                })
                .collect(),
        )
    })
}

/// CLUSTER NODES, in Redis's text format: one line per node, every node a master of
/// the slots it leads (cluster clients need at least one master per slot range).
pub fn nodes(layout: &Layout, cluster: &ClusterLayout) -> Reply {
    let Some(map) = &cluster.map else {
        return Reply::Bulk(Bytes::from(format!(
            "{} :0@0 myself,master - 0 0 0 connected\n",
            okapi_cluster::map::node_name(cluster.me)
        )));
    };
    let mut out = String::new();
    for node in &map.nodes {
        let failed = node.state == okapi_cluster::NodeState::Failed;
        let flags = match (node.id == cluster.me, failed) {
            (true, _) => "myself,master",
            (false, false) => "master",
            (false, true) => "master,fail",
        };
        out.push_str(&format!(
            "{} {}:{}@{} {flags} - 0 0 {} {}",
            node.name(),
            node.host,
            node.port,
            node.cluster_port,
            map.epoch,
            if failed { "disconnected" } else { "connected" }
        ));
        for (a, b) in led_ranges(layout, map, node.id) {
            if a == b {
                out.push_str(&format!(" {a}"));
            } else {
                out.push_str(&format!(" {a}-{b}"));
            }
        }
        out.push('\n');
    }
    Reply::Bulk(Bytes::from(out))
}

/// CLUSTER OKAPI-GROUPS: per shard group this node leads, `[id, [voters], [learners]]`.
pub fn led_groups(groups: Vec<LedGroup>) -> Reply {
    let ids = |ids: Vec<u64>| {
        Reply::Array(
            ids.into_iter()
                .map(|i| bulk(okapi_cluster::map::node_name(i)))
                .collect(),
        )
    };
    Reply::Array(
        groups
            .into_iter()
            .map(|g| {
                Reply::Array(vec![
                    Reply::Int(g.id as i64),
                    ids(g.voters),
                    ids(g.learners),
                ])
            })
            .collect(),
    )
}

/// The local shard holding `slot`, for COUNTKEYSINSLOT / GETKEYSINSLOT.
pub fn local_shard_of(cluster: &ClusterLayout, slot: u16) -> Option<usize> {
    match cluster.route(slot) {
        SlotRoute::Local(index) => Some(index),
        _ => None,
    }
}
