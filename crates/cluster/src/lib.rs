//! The cluster map and what follows from it: which nodes form the cluster, which
//! shard groups exist, the slot ranges each serves and the nodes holding its
//! replicas. The map has an explicit, versioned encoding (it is persisted and sent
//! between nodes) and is only ever replaced whole by one with a higher epoch.
//!
//! Layout:
//! - [`map`] — [`ClusterMap`], [`NodeInfo`], [`GroupInfo`], encoding, the map file
//! - [`placement`] — the map `okapi cluster create` proposes: even slot ranges,
//!   replicas and founders spread round-robin
//! - [`change`] — the maps that follow: nodes added, removed, failed and revived,
//!   replicas rebalanced

pub mod change;
pub mod map;
pub mod placement;

pub use change::ChangeError;
pub use map::{ClusterMap, GroupInfo, MapError, NodeInfo, NodeState};
pub use placement::{PlacementError, plan};
