//! Consistent snapshots taken while ops keep being applied, and restore.
//!
//! [`Engine::snapshot_begin`] marks the snapshot point (the caller notes the log
//! index). From then on, each [`Engine::snapshot_next`] call walks a little of the
//! keyspaces with the dicts' hash-position cursors, which survive resizes, and returns
//! a chunk of encoded records. Ops applied in between go through a copy-on-write
//! guard: before an op changes a key the walk has not reached, the key's record as of
//! the snapshot point is encoded and set aside, and the walk skips that key later.
//! FLUSHDB/FLUSHALL hand their whole table to the snapshot instead of copying it. No
//! step copies more than one key or one scan step, so the engine lock is only ever
//! held briefly, and with no snapshot running `apply` pays one branch.
//!
//! A restored engine answers every op exactly as the original would from the snapshot
//! point on: records carry all metadata and container hash seeds, and dict iteration
//! is in hash order whatever the table size. Only SCAN-family cursors may batch
//! differently, since they follow table sizes (as between Redis replicas).
//!
//! Layout:
//! - [`touched`] — `Op::touched_keys`: what each op may change
//! - `guard` — the walk, the pre-images and the flushed tables of a snapshot under way
//! - [`header`] — `SnapshotHeader`: seed, namespaces, per-namespace `last_removal`
//! - `record`, `codec` — the chunk format (varints, one record per key)
//! - [`restore`] — `Restore`: header + chunks → engine, with completeness checks

pub(crate) mod codec;
mod guard;
pub mod header;
pub(crate) mod record;
pub mod restore;
pub mod touched;

#[cfg(test)]
pub(crate) mod dump;
#[cfg(test)]
mod tests;

use okapi_types::Namespace;

use crate::dict::Dict;
use crate::engine::Engine;
use crate::error::EngineError;
use crate::key::Key;
use crate::value::Entry;

pub(crate) use guard::Guard;
pub use header::{SnapshotHeader, SpaceHeader};
pub use restore::Restore;
pub use touched::Touched;

/// Counters of the snapshot under way, or of the last one, for INFO.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SnapshotStats {
    /// A snapshot is under way.
    pub in_progress: bool,
    /// Key records emitted so far.
    pub keys_emitted: u64,
    /// Bytes of chunks emitted so far.
    pub bytes_emitted: u64,
    /// Chunks emitted so far.
    pub chunks_emitted: u64,
    /// Keys copied ahead of the walk because an op was about to change them.
    pub keys_preserved: u64,
}

impl Engine {
    /// Marks the snapshot point: the snapshot will hold exactly the current state,
    /// whatever ops are applied while it is produced. Returns what the restore needs
    /// besides the key records. One snapshot at a time.
    pub fn snapshot_begin(&mut self) -> Result<SnapshotHeader, EngineError> {
        if self.snapshot.is_some() {
            return Err(EngineError::SnapshotInProgress);
        }
        let header = SnapshotHeader {
            format: SnapshotHeader::FORMAT,
            seed: self.seed(),
            clock_ms: self.clock_ms,
            spaces: self
                .spaces
                .iter()
                .map(|ks| SpaceHeader {
                    last_removal: ks.last_removal(),
                    keys: ks.len() as u64,
                })
                .collect(),
            libraries: self.libraries.iter().map(|lib| lib.code.clone()).collect(),
        };
        let guard = Guard::new(self.spaces.len());
        self.last_snapshot = guard.stats;
        self.snapshot = Some(Box::new(guard));
        Ok(header)
    }

    /// The next chunk of the snapshot under way, of about `max_bytes` (at least one
    /// record, so a single large key may exceed it). The last chunk ends the snapshot;
    /// after it, and with no snapshot under way, the answer is `None`.
    pub fn snapshot_next(&mut self, max_bytes: usize) -> Option<Vec<u8>> {
        let guard = self.snapshot.as_deref_mut()?;
        let (chunk, finished) = guard.next(&self.spaces, max_bytes);
        self.last_snapshot = guard.stats;
        if finished {
            self.snapshot = None;
        }
        Some(chunk)
    }

    /// Drops the snapshot under way, if any, with everything it set aside.
    pub fn snapshot_abort(&mut self) {
        if let Some(guard) = self.snapshot.take() {
            self.last_snapshot = SnapshotStats {
                in_progress: false,
                ..guard.stats
            };
        }
    }

    /// True while a snapshot is under way.
    pub fn snapshot_in_progress(&self) -> bool {
        self.snapshot.is_some()
    }

    /// Counters of the snapshot under way, or of the last one.
    pub fn snapshot_stats(&self) -> SnapshotStats {
        self.snapshot
            .as_ref()
            .map_or(self.last_snapshot, |g| g.stats)
    }

    /// Starts rebuilding an engine from `header`; feed it the chunks in order with
    /// [`Restore::restore_chunk`], then take the engine from [`Restore::finish`].
    pub fn restore_begin(header: &SnapshotHeader) -> Result<Restore, EngineError> {
        Restore::new(header)
    }

    /// Disposes of the table a flush removed from `db`: the snapshot under way keeps
    /// walking it if it still needs it, which spares copying it first.
    pub(crate) fn retire(&mut self, db: Namespace, table: Dict<Key, Entry>) {
        if let Some(guard) = self.snapshot.as_deref_mut() {
            guard.retire(db, table);
        }
    }
}
