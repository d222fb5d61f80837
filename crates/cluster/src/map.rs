//! The cluster map.

use std::path::Path;

use bytes::Bytes;
use okapi_types::wire::{Input, Wire, WireError};
use okapi_types::{GroupId, NodeId, SLOT_COUNT, wire_enum, wire_struct};

/// First bytes of an encoded map.
const MAGIC: &[u8; 4] = b"OKCM";
/// The encoding written today: version 1 plus node states, group founders and the
/// replica count.
const VERSION: u8 = 2;
/// The first encoding, still read (node states active, founders the first members,
/// replicas the first group's member count).
const VERSION_1: u8 = 1;
/// Name of the map file in a data directory.
pub const MAP_FILE: &str = "cluster.map";

/// Why a map could not be read or is not valid.
#[derive(Debug, thiserror::Error)]
pub enum MapError {
    /// Not a map, or damaged.
    #[error("not a valid cluster map: {0}")]
    Corrupt(String),
    /// Written by a newer okapi.
    #[error("cluster map version {0} is newer than this build reads ({VERSION}): upgrade okapi")]
    Version(u8),
    /// The map's content breaks a rule.
    #[error("invalid cluster map: {0}")]
    Invalid(String),
    /// The map file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// What failed.
        source: std::io::Error,
    },
}

/// Where a node stands in the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NodeState {
    /// Up (or down for less than the node timeout): it holds replicas and gets new ones.
    #[default]
    Active,
    /// Being removed (`okapi cluster remove-node`): its replicas move elsewhere, and it
    /// gets no new ones.
    Leaving,
    /// Down for longer than the node timeout: its replicas were re-created elsewhere.
    /// It becomes active again (with no replicas) when it is heard from.
    Failed,
}

wire_enum!(NodeState {
    1 => Active,
    2 => Leaving,
    3 => Failed,
});

impl NodeState {
    /// Its name as `okapi cluster status` shows it.
    pub fn as_str(self) -> &'static str {
        match self {
            NodeState::Active => "active",
            NodeState::Leaving => "leaving",
            NodeState::Failed => "failed",
        }
    }
}

/// One node of the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeInfo {
    /// Its id (random, fixed when its data directory was created).
    pub id: u64,
    /// The address clients reach it at.
    pub host: String,
    /// Its RESP port.
    pub port: u64,
    /// Its cluster port (node-to-node traffic).
    pub cluster_port: u64,
    /// Where it stands.
    pub state: NodeState,
}

wire_struct!(NodeInfo {
    id,
    host,
    port,
    cluster_port,
    state
});

impl NodeInfo {
    /// `host:port` for clients.
    pub fn client_addr(&self) -> String {
        join(&self.host, self.port)
    }

    /// `host:cluster_port` for peers.
    pub fn cluster_addr(&self) -> String {
        join(&self.host, self.cluster_port)
    }

    /// The node id as Redis Cluster shows node ids: 40 hex characters.
    pub fn name(&self) -> String {
        node_name(self.id)
    }
}

/// A node id as 40 lowercase hex characters (Redis Cluster's node id format).
pub fn node_name(id: u64) -> String {
    format!("{id:016x}{:024x}", 0u128)
}

fn join(host: &str, port: u64) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// One shard group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupInfo {
    /// Its id: 1 and up for groups a cluster creates; 0 for the group of a
    /// standalone node's data, adopted by the cluster it founded (u64::MAX is the
    /// control group's).
    pub id: u64,
    /// Nodes that should hold a voting replica. The group's leader moves its Raft
    /// membership to this set (new members join as learners first). The order
    /// matters: the first active member is the preferred leader.
    pub members: Vec<u64>,
    /// Inclusive slot ranges it serves.
    pub slots: Vec<(u64, u64)>,
    /// Hash seed of its dataset, fixed when the group was created.
    pub seed: u64,
    /// The node that created the group's Raft log, fixed at creation (it may since
    /// have left the group).
    pub founder: u64,
}

wire_struct!(GroupInfo {
    id,
    members,
    slots,
    seed,
    founder
});

impl GroupInfo {
    /// The group's id.
    pub fn group_id(&self) -> GroupId {
        GroupId(self.id)
    }

    /// The node that creates the group's Raft log (once, when it is new).
    pub fn founder(&self) -> Option<NodeId> {
        Some(NodeId(self.founder))
    }

    /// Whether it serves `slot`.
    pub fn serves(&self, slot: u16) -> bool {
        let slot = u64::from(slot);
        self.slots.iter().any(|&(a, b)| a <= slot && slot <= b)
    }
}

/// The whole cluster: nodes and groups, at an epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterMap {
    /// Increases with every change.
    pub epoch: u64,
    /// Random id of the cluster, fixed at creation: a node of another cluster is
    /// refused.
    pub cluster_id: u64,
    /// Namespaces (SELECT 0..n) of every group, fixed at creation.
    pub databases: u64,
    /// The nodes.
    pub nodes: Vec<NodeInfo>,
    /// The shard groups.
    pub groups: Vec<GroupInfo>,
    /// Replicas each group should have (fewer while there are fewer nodes).
    pub replicas: u64,
}

wire_struct!(ClusterMap {
    epoch,
    cluster_id,
    databases,
    nodes,
    groups,
    replicas
});

/// The first encoding of the map's parts.
mod v1 {
    use okapi_types::wire_struct;

    pub struct Node {
        pub id: u64,
        pub host: String,
        pub port: u64,
        pub cluster_port: u64,
    }
    wire_struct!(Node {
        id,
        host,
        port,
        cluster_port
    });

    pub struct Group {
        pub id: u64,
        pub members: Vec<u64>,
        pub slots: Vec<(u64, u64)>,
        pub seed: u64,
    }
    wire_struct!(Group {
        id,
        members,
        slots,
        seed
    });

    pub struct Map {
        pub epoch: u64,
        pub cluster_id: u64,
        pub databases: u64,
        pub nodes: Vec<Node>,
        pub groups: Vec<Group>,
    }
    wire_struct!(Map {
        epoch,
        cluster_id,
        databases,
        nodes,
        groups
    });

    impl From<Map> for super::ClusterMap {
        fn from(m: Map) -> Self {
            let replicas = m.groups.first().map_or(1, |g| g.members.len() as u64);
            super::ClusterMap {
                epoch: m.epoch,
                cluster_id: m.cluster_id,
                databases: m.databases,
                nodes: m
                    .nodes
                    .into_iter()
                    .map(|n| super::NodeInfo {
                        id: n.id,
                        host: n.host,
                        port: n.port,
                        cluster_port: n.cluster_port,
                        state: super::NodeState::Active,
                    })
                    .collect(),
                groups: m
                    .groups
                    .into_iter()
                    .map(|g| super::GroupInfo {
                        id: g.id,
                        founder: g.members.first().copied().unwrap_or(0),
                        members: g.members,
                        slots: g.slots,
                        seed: g.seed,
                    })
                    .collect(),
                replicas,
            }
        }
    }
}

impl ClusterMap {
    /// The map's bytes: magic, version, body, CRC32C of the body.
    pub fn encode_versioned(&self) -> Bytes {
        let mut out = Vec::with_capacity(64 + self.encoded_len());
        out.extend_from_slice(MAGIC);
        out.push(VERSION);
        let start = out.len();
        self.encode(&mut out);
        let crc = crc32c::crc32c(&out[start..]);
        out.extend_from_slice(&crc.to_le_bytes());
        Bytes::from(out)
    }

    /// Reads a map written by [`ClusterMap::encode_versioned`] and checks it.
    pub fn decode_versioned(bytes: &[u8]) -> Result<ClusterMap, MapError> {
        if bytes.len() < MAGIC.len() + 1 + 4 || &bytes[..4] != MAGIC {
            return Err(MapError::Corrupt("no map header".into()));
        }
        let version = bytes[4];
        if version != VERSION && version != VERSION_1 {
            return Err(MapError::Version(version));
        }
        let body = &bytes[5..bytes.len() - 4];
        let mut crc = [0u8; 4];
        crc.copy_from_slice(&bytes[bytes.len() - 4..]);
        if crc32c::crc32c(body) != u32::from_le_bytes(crc) {
            return Err(MapError::Corrupt("checksum mismatch".into()));
        }
        let mut input = Input::new(Bytes::copy_from_slice(body));
        let map = if version == VERSION_1 {
            v1::Map::decode(&mut input).map(ClusterMap::from)
        } else {
            ClusterMap::decode(&mut input)
        }
        .and_then(|m| input.finish().map(|()| m))
        .map_err(|e: WireError| MapError::Corrupt(e.to_string()))?;
        map.validate()?;
        Ok(map)
    }

    /// Checks the rules every map keeps: unique nodes and groups, members that are
    /// nodes of the map, every slot served by exactly one group.
    pub fn validate(&self) -> Result<(), MapError> {
        let bad = |m: String| Err(MapError::Invalid(m));
        let mut ids: Vec<u64> = self.nodes.iter().map(|n| n.id).collect();
        ids.sort_unstable();
        if ids.windows(2).any(|w| w[0] == w[1]) {
            return bad("a node is listed twice".into());
        }
        let mut owner = vec![None::<u64>; usize::from(SLOT_COUNT)];
        let mut groups: Vec<u64> = Vec::new();
        for g in &self.groups {
            if g.id == u64::MAX || groups.contains(&g.id) {
                return bad(format!("group id {} is reserved or repeated", g.id));
            }
            groups.push(g.id);
            if g.members.is_empty() {
                return bad(format!("group {} has no members", g.id));
            }
            let mut distinct = g.members.clone();
            distinct.sort_unstable();
            distinct.dedup();
            if distinct.len() != g.members.len() {
                return bad(format!("group {} lists a member twice", g.id));
            }
            for m in &g.members {
                if !ids.contains(m) {
                    return bad(format!("group {} names unknown node {m:016x}", g.id));
                }
            }
            for &(a, b) in &g.slots {
                if a > b || b >= u64::from(SLOT_COUNT) {
                    return bad(format!("group {} has slot range {a}-{b}", g.id));
                }
                for slot in a..=b {
                    if let Some(other) = owner[slot as usize].replace(g.id) {
                        return bad(format!(
                            "slot {slot} is served by groups {other} and {}",
                            g.id
                        ));
                    }
                }
            }
        }
        if let Some(slot) = owner.iter().position(Option::is_none) {
            return bad(format!("slot {slot} is served by no group"));
        }
        if self.replicas == 0 {
            return bad("the replica count is 0".into());
        }
        Ok(())
    }

    /// The node with id `id`.
    pub fn node(&self, id: u64) -> Option<&NodeInfo> {
        self.nodes.iter().find(|n| n.id == id)
    }

    /// The group with id `id`.
    pub fn group(&self, id: GroupId) -> Option<&GroupInfo> {
        self.groups.iter().find(|g| g.id == id.0)
    }

    /// The group serving `slot`.
    pub fn group_of_slot(&self, slot: u16) -> Option<&GroupInfo> {
        self.groups.iter().find(|g| g.serves(slot))
    }

    /// The groups with a replica on node `node`.
    pub fn groups_on(&self, node: u64) -> impl Iterator<Item = &GroupInfo> {
        self.groups
            .iter()
            .filter(move |g| g.members.contains(&node))
    }

    /// The member that should lead `group`: its first active member. Rebalancing
    /// orders members so that every active node is first in about as many groups;
    /// each group's leader hands leadership to this member once it has caught up.
    pub fn preferred_leader(&self, group: &GroupInfo) -> Option<u64> {
        group
            .members
            .iter()
            .copied()
            .find(|&m| self.node(m).is_some_and(|n| n.state == NodeState::Active))
    }

    /// The node a node without a replica of `group` sends its clients to: the first
    /// of its members that is up (not failed), else its first member. Every member
    /// holds a replica and so knows the group's leader (it redirects on when it does
    /// not lead); the map itself does not follow leadership, which moves far more
    /// often than membership.
    pub fn contact(&self, group: &GroupInfo) -> Option<u64> {
        group
            .members
            .iter()
            .copied()
            .find(|&m| self.node(m).is_some_and(|n| n.state != NodeState::Failed))
            .or_else(|| group.members.first().copied())
    }

    /// Reads the map file of a data directory; `None` when the node is in no cluster.
    pub fn load(dir: &Path) -> Result<Option<ClusterMap>, MapError> {
        let path = dir.join(MAP_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => Self::decode_versioned(&bytes).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(MapError::Io {
                path: path.display().to_string(),
                source,
            }),
        }
    }

    /// Writes the map file of a data directory (write, fsync, rename, fsync the dir).
    pub fn store(&self, dir: &Path) -> Result<(), MapError> {
        let path = dir.join(MAP_FILE);
        let tmp = dir.join(format!("{MAP_FILE}.tmp"));
        let io = |source| MapError::Io {
            path: path.display().to_string(),
            source,
        };
        std::fs::write(&tmp, self.encode_versioned()).map_err(io)?;
        std::fs::File::open(&tmp)
            .and_then(|f| f.sync_all())
            .map_err(io)?;
        std::fs::rename(&tmp, &path).map_err(io)?;
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample() -> ClusterMap {
        ClusterMap {
            epoch: 3,
            cluster_id: 0xfeed,
            databases: 16,
            nodes: vec![
                NodeInfo {
                    id: 1,
                    host: "127.0.0.2".into(),
                    port: 7000,
                    cluster_port: 17000,
                    state: NodeState::Active,
                },
                NodeInfo {
                    id: 2,
                    host: "::1".into(),
                    port: 7001,
                    cluster_port: 17001,
                    state: NodeState::Failed,
                },
            ],
            groups: vec![
                GroupInfo {
                    id: 1,
                    members: vec![1, 2],
                    slots: vec![(0, 8191)],
                    seed: 11,
                    founder: 1,
                },
                GroupInfo {
                    id: 2,
                    members: vec![2, 1],
                    slots: vec![(8192, 16383)],
                    seed: 12,
                    founder: 2,
                },
            ],
            replicas: 2,
        }
    }

    #[test]
    fn a_map_round_trips_and_damage_is_detected() {
        let map = sample();
        let bytes = map.encode_versioned();
        assert_eq!(ClusterMap::decode_versioned(&bytes).expect("decodes"), map);
        let mut damaged = bytes.to_vec();
        damaged[10] ^= 1;
        assert!(matches!(
            ClusterMap::decode_versioned(&damaged),
            Err(MapError::Corrupt(_))
        ));
        let mut newer = bytes.to_vec();
        newer[4] = 9;
        assert!(matches!(
            ClusterMap::decode_versioned(&newer),
            Err(MapError::Version(9))
        ));
        assert_eq!(map.nodes[1].client_addr(), "[::1]:7001");
        assert_eq!(map.nodes[0].name().len(), 40);
    }

    #[test]
    fn a_version_1_map_still_reads() {
        let old = v1::Map {
            epoch: 4,
            cluster_id: 9,
            databases: 16,
            nodes: vec![v1::Node {
                id: 5,
                host: "127.0.0.2".into(),
                port: 7000,
                cluster_port: 17000,
            }],
            groups: vec![v1::Group {
                id: 1,
                members: vec![5],
                slots: vec![(0, 16383)],
                seed: 3,
            }],
        };
        let mut bytes = MAGIC.to_vec();
        bytes.push(VERSION_1);
        let start = bytes.len();
        old.encode(&mut bytes);
        let crc = crc32c::crc32c(&bytes[start..]);
        bytes.extend_from_slice(&crc.to_le_bytes());
        let map = ClusterMap::decode_versioned(&bytes).expect("a version 1 map");
        assert_eq!(map.epoch, 4);
        assert_eq!(map.replicas, 1);
        assert_eq!(map.nodes[0].state, NodeState::Active);
        assert_eq!(map.groups[0].founder, 5);
    }

    #[test]
    fn invalid_maps_are_refused() {
        let mut gap = sample();
        gap.groups[1].slots = vec![(8193, 16383)];
        assert!(
            gap.validate()
                .expect_err("refused")
                .to_string()
                .contains("slot 8192")
        );
        let mut overlap = sample();
        overlap.groups[1].slots = vec![(8000, 16383)];
        assert!(
            overlap
                .validate()
                .expect_err("refused")
                .to_string()
                .contains("served by groups")
        );
        let mut stranger = sample();
        stranger.groups[0].members.push(9);
        assert!(stranger.validate().is_err());
        let mut control = sample();
        control.groups[0].id = u64::MAX;
        assert!(control.validate().is_err(), "the control group's id");
        let mut repeated = sample();
        repeated.groups[1].id = repeated.groups[0].id;
        assert!(repeated.validate().is_err());
        // Group 0 is a standalone node's data, adopted by the cluster it founded.
        let mut adopted = sample();
        adopted.groups[0].id = 0;
        assert!(adopted.validate().is_ok());
        let mut twice = sample();
        twice.groups[0].members = vec![1, 1];
        assert!(twice.validate().is_err());
        let mut none = sample();
        none.replicas = 0;
        assert!(none.validate().is_err());
    }

    #[test]
    fn the_map_file_round_trips() {
        let dir = tempfile::tempdir().expect("dir");
        assert!(ClusterMap::load(dir.path()).expect("no map").is_none());
        sample().store(dir.path()).expect("store");
        assert_eq!(ClusterMap::load(dir.path()).expect("load"), Some(sample()));
    }
}
