//! Newtype identifiers used across crate boundaries, so a slot is never mistaken for a
//! namespace or a log index for an epoch.

use std::fmt;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident($inner:ty)) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub $inner);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl From<$inner> for $name {
            fn from(v: $inner) -> Self {
                Self(v)
            }
        }
    };
}

id_type!(
    /// A node of the cluster (a running `okapi server`).
    NodeId(u64)
);
id_type!(
    /// A shard group: one Raft group owning a set of slot ranges.
    GroupId(u64)
);
id_type!(
    /// One of the 16384 cluster hash slots.
    Slot(u16)
);
id_type!(
    /// Position of an entry in a replicated log; the first entry has index 1.
    LogIndex(u64)
);
id_type!(
    /// Version of the cluster map; grows with every change.
    Epoch(u64)
);
id_type!(
    /// An independent keyspace. Redis `SELECT n` maps to namespace `n`.
    Namespace(u32)
);

impl Namespace {
    /// Index of this namespace as a position in a per-namespace table.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// The client connection a proposal came from, as the node it connected to names it:
/// that node's process token and its client id. It changes nothing the ops do; the
/// node uses it to leave a client's own writes out of the invalidations it asked not
/// to get (CLIENT TRACKING NOLOOP). Every other replica, and the same node after a
/// restart (a new token), sees a stranger.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Writer {
    /// The process token of the node the client is connected to (0: no client).
    pub process: u64,
    /// The client's id on that node.
    pub client: u64,
}

impl Writer {
    /// No client: a write the node made itself (active expiry, a blocked client served).
    pub const NONE: Writer = Writer {
        process: 0,
        client: 0,
    };
}
