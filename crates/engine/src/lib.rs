//! okapi's in-memory data model.
//!
//! State changes only through [`Engine::apply`] of an [`Op`]: deterministic, stamped by
//! the log with an [`ApplyCtx`] (leader time, log index), with no clock, thread, file
//! or unseeded randomness inside. Reads go through [`Engine::query`] and never change
//! data. Both answer with a protocol-neutral [`Reply`].
//!
//! Layout:
//! - [`engine`] — `Engine`, `Op`/`Query` envelopes, transactions
//! - [`keyspace`] — one namespace, TTL index, typed access, WATCH stamps, blocked keys
//! - [`dict`] — the hash table (incremental resize, resize-proof cursors)
//! - [`value`] — value types and per-key metadata
//! - one module per command family: [`strings`], [`keys`], [`hashes`], [`lists`],
//!   [`sets`], [`zsets`] (with the [`zset`] value), [`tables`], [`blocks`], [`bitmaps`],
//!   [`hyperloglog`]
//! - [`geo`] — positions in sorted sets (geohash scores), distances and area searches
//! - [`streams`] — stream ops and reads, over the [`stream`] value
//! - [`sort`] — SORT / SORT_RO over lists, sets and sorted sets
//! - [`script`] — scripts as log ops, run by an installed host; [`functions`] —
//!   function libraries (FUNCTION LOAD), replicated state like keys
//! - [`notify`] — keyspace notifications: event classes and the events ops raise
//! - [`digest`] — DEBUG DIGEST: an order-independent digest of a dataset
//! - [`snapshot`] — consistent snapshots taken while ops apply, `Op::touched_keys`,
//!   and restore
//! - [`glob`], [`rng`], [`reply`], [`error`]: helpers shared by the families

pub mod bitmaps;
pub mod blocks;
pub mod dict;
pub mod digest;
pub mod dump;
pub mod engine;
pub mod error;
pub mod functions;
pub mod geo;
pub mod glob;
pub mod hashes;
pub mod hyperloglog;
pub mod key;
pub mod keys;
pub mod keyspace;
pub mod lists;
pub mod notify;
pub mod reply;
pub mod rng;
pub mod script;
pub mod sets;
pub mod snapshot;
pub mod sort;
pub mod stream;
pub mod streams;
pub mod strings;
pub mod tables;
#[cfg(test)]
pub(crate) mod testing;
pub mod value;
pub mod wait;
pub mod wire;
pub mod zset;
pub mod zsets;

pub use engine::{
    ApplyCtx, Engine, Op, OpKind, Query, QueryKind, ReadCtx, Txn, TxnItem, WatchCheck,
};
pub use error::EngineError;
pub use key::Key;
pub use keyspace::WatchStamp;
pub use reply::Reply;
pub use snapshot::{Restore, SnapshotHeader, SnapshotStats, SpaceHeader, Touched};
pub use wait::{Serve, Wait};
