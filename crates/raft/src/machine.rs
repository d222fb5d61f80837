//! The state a group replicates. Implemented over the engine by the node, so that the
//! raft crate depends on neither the server nor its locks.

use bytes::Bytes;
use okapi_engine::Reply;

use crate::batch::LogBatch;

/// Why the state machine could not snapshot or restore.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct MachineError(pub String);

/// What a group applies committed entries to.
pub trait Machine: Send + Sync + 'static {
    /// Applies a committed batch at log `index`; one reply per op, in order.
    fn apply(&self, index: u64, batch: LogBatch) -> Vec<Reply>;

    /// Begins a snapshot of the state as it is now (between two applies); returns a
    /// header that restore needs. Later applies must not change what the snapshot sees.
    fn snapshot_begin(&self) -> Result<Vec<u8>, MachineError>;

    /// The next chunk of the snapshot begun last, at most about `max_bytes`; `None` when
    /// it is complete.
    fn snapshot_next(&self, max_bytes: usize) -> Option<Vec<u8>>;

    /// Abandons the snapshot under way.
    fn snapshot_abort(&self);

    /// Replaces the whole state with a snapshot.
    fn restore(
        &self,
        header: &[u8],
        chunks: &mut dyn Iterator<Item = Result<Bytes, MachineError>>,
    ) -> Result<(), MachineError>;
}
