//! The node's shards: one per shard group it holds, each with its part of the dataset
//! (an engine and the clients blocked on it, behind one lock) and the log its writes
//! go through. A [`Layout`] says which shard serves each of the 16384 hash slots;
//! connections route every request by the slot of its keys, so groups snapshot,
//! restore, fail and move independently.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};

use okapi_engine::Engine;
use okapi_types::{GroupId, SLOT_COUNT, key_slot};

use crate::blocking::BlockRegistry;
use crate::log::ReplicatedLog;

/// What a shard's lock protects: its data and the clients blocked on it.
pub struct Core {
    /// The shard's namespaces.
    pub engine: Engine,
    /// Clients blocked in BLPOP-style commands on this shard's keys.
    pub blocked: BlockRegistry,
}

/// One shard group's part of the dataset on this node.
pub struct Shard {
    id: GroupId,
    core: Mutex<Core>,
    log: Arc<dyn ReplicatedLog>,
    /// Woken when an applied write fed a key blocked clients wait on.
    blocked_ready: tokio::sync::Notify,
    /// The group's leader as last reported by its Raft group (0: unknown).
    leader: std::sync::atomic::AtomicU64,
    /// On the leader: end of its read lease, ns after [`clock_base`] (0: none).
    read_lease_until: std::sync::atomic::AtomicU64,
}

/// The origin of the shards' monotonic deadlines.
fn clock_base() -> std::time::Instant {
    static BASE: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    *BASE.get_or_init(std::time::Instant::now)
}

impl Shard {
    /// The shard of group `id` over `engine`, writing through `log`.
    pub fn new(id: GroupId, engine: Engine, log: Arc<dyn ReplicatedLog>) -> Arc<Self> {
        Arc::new(Self {
            id,
            core: Mutex::new(Core {
                engine,
                blocked: BlockRegistry::default(),
            }),
            log,
            blocked_ready: tokio::sync::Notify::new(),
            leader: std::sync::atomic::AtomicU64::new(0),
            read_lease_until: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// Records until when this replica, as leader, may serve reads alone (`None`: it
    /// may not).
    pub fn set_read_lease(&self, until: Option<std::time::Instant>) {
        let ns = until.map_or(0, |t| {
            t.saturating_duration_since(clock_base()).as_nanos().max(1) as u64
        });
        self.read_lease_until
            .store(ns, std::sync::atomic::Ordering::Release);
    }

    /// Whether this replica may serve a linearizable read now: it leads, and a quorum
    /// confirmed that recently enough that no other leader can exist yet.
    pub fn read_lease_valid(&self) -> bool {
        let until = self
            .read_lease_until
            .load(std::sync::atomic::Ordering::Acquire);
        until != 0 && (clock_base().elapsed().as_nanos() as u64) < until
    }

    /// Records the group's leader (`None`: electing).
    pub fn set_leader(&self, leader: Option<u64>) {
        self.leader
            .store(leader.unwrap_or(0), std::sync::atomic::Ordering::Release);
    }

    /// The group's leader as last reported, if any.
    pub fn leader(&self) -> Option<u64> {
        match self.leader.load(std::sync::atomic::Ordering::Acquire) {
            0 => None,
            id => Some(id),
        }
    }

    /// The group this shard belongs to.
    pub fn id(&self) -> GroupId {
        self.id
    }

    /// Locks the shard's data. A panic while holding it cannot leave the data
    /// half-changed in a way later ops could not cope with, so poisoning is ignored.
    pub fn lock(&self) -> MutexGuard<'_, Core> {
        self.core.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Where the shard's writes go.
    pub fn log(&self) -> &dyn ReplicatedLog {
        self.log.as_ref()
    }

    /// Tells the blocked-client server that keys of this shard received data.
    pub fn notify_blocked(&self) {
        self.blocked_ready.notify_one();
    }

    /// Resolves once [`Shard::notify_blocked`] was called.
    pub async fn blocked_ready(&self) {
        self.blocked_ready.notified().await;
    }
}

/// Why a layout could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LayoutError {
    /// A layout needs at least one shard.
    #[error("a node needs at least one shard group")]
    Empty,
    /// Slots were given to a shard the layout does not hold.
    #[error("slot {slot} is given to group {group}, which this node does not hold")]
    UnknownGroup {
        /// The slot.
        slot: u16,
        /// Its group.
        group: GroupId,
    },
    /// More shards than a SCAN cursor can tell apart.
    #[error("at most {MAX_SHARDS} shard groups per node, not {0}")]
    TooMany(usize),
}

/// Most shards one node holds: SCAN cursors carry the shard in their low byte.
pub const MAX_SHARDS: usize = 256;
/// The low bits of a node-wide SCAN cursor that name the shard. A shard's own cursor
/// is a position in its 64-bit hash order at a bucket boundary, so its low bits are
/// zero for any table smaller than 2^56 buckets.
const SCAN_SHARD_MASK: u64 = 0xFF;

/// Which shard serves each slot.
pub struct Layout {
    shards: Vec<Arc<Shard>>,
    /// Index into `shards` per slot; `None` when there is one shard, which serves all.
    slots: Option<Box<[u8]>>,
    /// Set on a node of a cluster: slots are routed by the cluster map.
    cluster: Option<ClusterLayout>,
}

/// Where a slot is served, on a node of a cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotRoute {
    /// A replica of the slot's group is here: the shard at this index.
    Local(usize),
    /// The slot's group has no replica here: the group at this index of the map.
    Remote(usize),
    /// No group serves the slot (no map yet).
    Unserved,
}

/// Who serves a request for one slot, on a node of a cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Serving {
    /// This node, from the local shard at this index.
    Here(usize),
    /// Another node: the group's leader, or (no replica here) one of its members,
    /// which knows the leader.
    Elsewhere(u64),
    /// The group has no leader now (electing), or this leader's read lease lapsed.
    Electing,
    /// No group serves the slot.
    Unserved,
}

/// The cluster's part of a layout: the map, and per slot where it is served.
pub struct ClusterLayout {
    /// This node's id.
    pub me: u64,
    /// The cluster map, once the node is in a cluster.
    pub map: Option<okapi_cluster::ClusterMap>,
    routes: Box<[SlotRoute]>,
}

impl ClusterLayout {
    /// Where `slot` is served.
    pub fn route(&self, slot: u16) -> SlotRoute {
        self.routes[usize::from(slot)]
    }

    /// The client address of node `id`.
    pub fn client_addr(&self, id: u64) -> Option<String> {
        self.map
            .as_ref()?
            .node(id)
            .map(okapi_cluster::NodeInfo::client_addr)
    }
}

const NO_SLOT_INDEX: u8 = u8::MAX;

impl Layout {
    /// One shard serving every slot: a standalone node.
    pub fn single(shard: Arc<Shard>) -> Self {
        Self {
            shards: vec![shard],
            slots: None,
            cluster: None,
        }
    }

    /// The layout of node `me` of a cluster: `shards` are its local replicas, and
    /// `map` (none before the node joins a cluster) says who serves every slot.
    pub fn cluster(
        me: u64,
        shards: Vec<Arc<Shard>>,
        map: Option<okapi_cluster::ClusterMap>,
    ) -> Result<Self, LayoutError> {
        if shards.len() >= MAX_SHARDS {
            return Err(LayoutError::TooMany(shards.len()));
        }
        let mut routes = vec![SlotRoute::Unserved; usize::from(SLOT_COUNT)].into_boxed_slice();
        let mut slots = vec![NO_SLOT_INDEX; usize::from(SLOT_COUNT)].into_boxed_slice();
        if let Some(map) = &map {
            for (index, group) in map.groups.iter().enumerate() {
                let local = shards.iter().position(|s| s.id() == group.group_id());
                for &(a, b) in &group.slots {
                    for slot in a..=b {
                        let slot = slot as usize;
                        routes[slot] = match local {
                            Some(i) => {
                                slots[slot] = i as u8;
                                SlotRoute::Local(i)
                            }
                            None => SlotRoute::Remote(index),
                        };
                    }
                }
            }
        }
        Ok(Self {
            shards,
            slots: Some(slots),
            cluster: Some(ClusterLayout { me, map, routes }),
        })
    }

    /// The cluster part, on a node of a cluster.
    pub fn cluster_view(&self) -> Option<&ClusterLayout> {
        self.cluster.as_ref()
    }

    /// Who serves a request for `slot` on a node of a cluster (`Unserved` on a
    /// standalone node): this node when it leads the slot's group — and, for a
    /// `read`, while its read lease holds (a leader cut off from its majority stops
    /// answering within it, before another can be elected) — or any local replica
    /// for a read when `stale_reads_ok` (after READONLY).
    pub fn serving(&self, slot: u16, read: bool, stale_reads_ok: bool) -> Serving {
        let Some(cluster) = &self.cluster else {
            return Serving::Unserved;
        };
        match cluster.route(slot) {
            SlotRoute::Local(index) if read && stale_reads_ok => Serving::Here(index),
            SlotRoute::Local(index) => {
                let shard = &self.shards[index];
                match shard.leader() {
                    Some(me) if me == cluster.me && read && !shard.read_lease_valid() => {
                        Serving::Electing
                    }
                    Some(me) if me == cluster.me => Serving::Here(index),
                    Some(other) => Serving::Elsewhere(other),
                    None => Serving::Electing,
                }
            }
            SlotRoute::Remote(group) => match cluster
                .map
                .as_ref()
                .and_then(|m| m.groups.get(group).and_then(|g| m.contact(g)))
            {
                Some(node) => Serving::Elsewhere(node),
                None => Serving::Unserved,
            },
            SlotRoute::Unserved => Serving::Unserved,
        }
    }

    /// Indexes of the shards keyspace-wide commands (DBSIZE, SCAN, FLUSHALL ...) cover:
    /// every shard of a standalone node; on a node of a cluster the groups it leads,
    /// as a Redis Cluster node answers for its master slots.
    pub fn everywhere(&self) -> Vec<usize> {
        match &self.cluster {
            None => (0..self.shards.len()).collect(),
            Some(cluster) => (0..self.shards.len())
                .filter(|&i| self.shards[i].leader() == Some(cluster.me))
                .collect(),
        }
    }

    /// Several shards, `owner(slot)` naming the group of each slot.
    pub fn by_slot(
        shards: Vec<Arc<Shard>>,
        owner: impl Fn(u16) -> GroupId,
    ) -> Result<Self, LayoutError> {
        if shards.is_empty() {
            return Err(LayoutError::Empty);
        }
        if shards.len() > MAX_SHARDS {
            return Err(LayoutError::TooMany(shards.len()));
        }
        if shards.len() == 1 {
            return Ok(Self::single(
                shards.into_iter().next().ok_or(LayoutError::Empty)?,
            ));
        }
        let mut slots = vec![0u8; usize::from(SLOT_COUNT)].into_boxed_slice();
        for slot in 0..SLOT_COUNT {
            let group = owner(slot);
            let index = shards
                .iter()
                .position(|s| s.id() == group)
                .ok_or(LayoutError::UnknownGroup { slot, group })?;
            slots[usize::from(slot)] = index as u8;
        }
        Ok(Self {
            shards,
            slots: Some(slots),
            cluster: None,
        })
    }

    /// Every shard, in layout order.
    pub fn shards(&self) -> &[Arc<Shard>] {
        &self.shards
    }

    /// The shard at `index` (as returned by [`Layout::index_of`]).
    pub fn shard(&self, index: usize) -> &Shard {
        &self.shards[index]
    }

    /// True when one shard serves every slot: nothing needs routing.
    pub fn is_single(&self) -> bool {
        self.slots.is_none()
    }

    /// Index of the local shard that serves `key`; `None` on a node of a cluster
    /// that holds no replica of the key's group.
    pub fn index_of(&self, key: &[u8]) -> Option<usize> {
        match &self.slots {
            None => Some(0),
            Some(slots) => match slots[usize::from(key_slot(key).0)] {
                NO_SLOT_INDEX if self.cluster.is_some() => None,
                index => Some(usize::from(index)),
            },
        }
    }

    /// The local shard that serves `key`, if any.
    pub fn for_key(&self, key: &[u8]) -> Option<&Arc<Shard>> {
        self.index_of(key).map(|i| &self.shards[i])
    }

    /// Splits a node-wide SCAN cursor into the position (in `shards`) of the shard it
    /// is in and that shard's own cursor; `None` when the cursor names no shard.
    pub fn scan_cursor(&self, cursor: u64, shards: usize) -> Option<(usize, u64)> {
        if self.is_single() {
            return Some((0, cursor));
        }
        let shard = (cursor & SCAN_SHARD_MASK) as usize;
        (shard < shards.max(1)).then_some((shard, cursor & !SCAN_SHARD_MASK))
    }

    /// The node-wide cursor for `inner` in the shard at position `shard` of
    /// `shards`; 0 (done) after the last.
    pub fn node_cursor(&self, shard: usize, inner: u64, shards: usize) -> u64 {
        if self.is_single() {
            return inner;
        }
        match (inner, shard + 1 < shards) {
            (0, true) => (shard + 1) as u64,
            (0, false) => 0,
            // Never taken by real cursors (bucket boundaries have these bits clear);
            // were one not, rounding down revisits entries, which SCAN allows, and the
            // floor keeps it from reading as the start or the end.
            (inner, _) => (inner & !SCAN_SHARD_MASK).max(SCAN_SHARD_MASK + 1) | shard as u64,
        }
    }
}

/// The node's current [`Layout`], replaced as groups come and go.
pub struct Shards {
    layout: RwLock<Arc<Layout>>,
}

impl Shards {
    /// Starts with `layout`.
    pub fn new(layout: Layout) -> Self {
        Self {
            layout: RwLock::new(Arc::new(layout)),
        }
    }

    /// The layout now; requests routed with it keep it until they finish.
    pub fn layout(&self) -> Arc<Layout> {
        self.layout
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Installs a new layout.
    pub fn set(&self, layout: Layout) {
        *self.layout.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(layout);
    }

    /// Every shard now.
    pub fn all(&self) -> Vec<Arc<Shard>> {
        self.layout().shards().to_vec()
    }

    /// Keys in every shard, all namespaces.
    pub fn key_count(&self) -> u64 {
        self.all().iter().map(|s| s.lock().engine.key_count()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct NoLog;

    impl ReplicatedLog for NoLog {
        fn append(&self, _ops: Vec<okapi_engine::Op>, _now_ms: u64) -> crate::log::Pending {
            tokio::sync::oneshot::channel().1
        }
        fn last_index(&self) -> u64 {
            0
        }
        fn leads(&self) -> bool {
            true
        }
    }

    fn shard(id: u64) -> Arc<Shard> {
        Shard::new(GroupId(id), Engine::new(1, id), Arc::new(NoLog))
    }

    #[test]
    fn keys_route_by_slot_and_hash_tags_stay_together() {
        let layout = Layout::by_slot(vec![shard(1), shard(2)], |slot| {
            GroupId(if slot < 8192 { 1 } else { 2 })
        })
        .expect("layout");
        // Slot 11058 ("somekey") is in the upper half, slot 2515 ("{hash_tag}") below.
        assert_eq!(layout.for_key(b"somekey").expect("local").id(), GroupId(2));
        assert_eq!(
            layout.for_key(b"foo{hash_tag}").expect("local").id(),
            GroupId(1)
        );
        assert_eq!(
            layout.index_of(b"{user1000}.following"),
            layout.index_of(b"{user1000}.followers")
        );
    }

    #[test]
    fn a_slot_given_to_a_missing_group_is_refused() {
        let err = Layout::by_slot(vec![shard(1), shard(2)], |_| GroupId(3))
            .err()
            .expect("refused");
        assert_eq!(
            err,
            LayoutError::UnknownGroup {
                slot: 0,
                group: GroupId(3)
            }
        );
        assert!(matches!(
            Layout::by_slot(Vec::new(), |_| GroupId(1)),
            Err(LayoutError::Empty)
        ));
    }

    #[test]
    fn scan_cursors_walk_every_shard_then_end() {
        let layout = Layout::by_slot(vec![shard(1), shard(2), shard(3)], |s| {
            GroupId(u64::from(s % 3) + 1)
        })
        .expect("layout");
        assert_eq!(layout.scan_cursor(0, 3), Some((0, 0)));
        let inner = 0xABCD_u64 << 48;
        let next = layout.node_cursor(1, inner, 3);
        assert_eq!(layout.scan_cursor(next, 3), Some((1, inner)));
        let next = layout.node_cursor(0, 0, 3);
        assert_eq!(layout.scan_cursor(next, 3), Some((1, 0)));
        assert_eq!(layout.node_cursor(2, 0, 3), 0);
        assert_eq!(layout.scan_cursor(7, 3), None);
        // A shard cursor with low bits set still moves on, never back to the start.
        let odd = layout.node_cursor(0, 5, 3);
        assert_ne!(odd, 0);
        assert_eq!(layout.scan_cursor(odd, 3).map(|(s, _)| s), Some(0));
        let single = Layout::single(shard(1));
        assert_eq!(single.node_cursor(0, 99, 1), 99);
        assert_eq!(single.scan_cursor(99, 1), Some((0, 99)));
    }
}
