//! The write path's seam: every op goes through a [`ReplicatedLog`], which appends,
//! replicates and applies it on commit (the node's Raft group), without any command
//! code knowing how.

use okapi_engine::{Op, Reply};
use tokio::sync::oneshot;

/// Why an appended op has no reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogError {
    /// This node cannot accept writes (not the leader, poisoned log ...); the text is
    /// a complete Redis error with its prefix.
    #[error("{0}")]
    Refused(String),
    /// The op may or may not have been applied: it was handed to the log, then the
    /// log lost track of it (leadership changed, the node is stopping). Never reported
    /// as "not applied", since another leader may still commit it.
    #[error("ERR the write's outcome is unknown ({0}): it may or may not have been applied")]
    Unknown(String),
    /// This node does not lead the op's shard group (nothing was appended); the
    /// leader's node id when known. Front ends redirect to it.
    #[error("CLUSTERDOWN The cluster is down")]
    NotLeader(Option<u64>),
    /// Used memory is above `maxmemory` and the op may grow the dataset (Redis's
    /// `noeviction` refusal); front ends map it to their "no space" error.
    #[error("{}", OVER_MEMORY)]
    OverMemory,
}

/// Redis's reply to a write that may grow the dataset while used memory is above
/// `maxmemory` (policy `noeviction`).
pub const OVER_MEMORY: &str = "OOM command not allowed when used memory > 'maxmemory'.";

/// Where the replies of appended ops (one per op) arrive once they commit and apply.
pub type Pending = oneshot::Receiver<Result<Vec<Reply>, LogError>>;

/// The replicated log ops are submitted to.
pub trait ReplicatedLog: Send + Sync + 'static {
    /// Appends `ops` in order, stamped with the leader time `now_ms`. Callers hold the
    /// engine lock, so appends are ordered with the reads and WATCH checks around
    /// them. Consecutive writes of a pipeline come as one call, so the log can carry
    /// them in one entry.
    fn append(&self, ops: Vec<Op>, now_ms: u64) -> Pending;

    /// [`ReplicatedLog::append`] on behalf of client `writer`, which the entry records
    /// (for CLIENT TRACKING NOLOOP). A log that keeps no writers appends as `append`.
    fn append_from(&self, ops: Vec<Op>, now_ms: u64, writer: okapi_types::Writer) -> Pending {
        let _ = writer;
        self.append(ops, now_ms)
    }

    /// Index of the last appended entry.
    fn last_index(&self) -> u64;

    /// Whether this node leads the log now: leader-side work (active expiry) runs only
    /// there, so replicas never propose the same removals.
    fn leads(&self) -> bool;

    /// On the leader, how many other replicas hold the log up to `index` (WAIT).
    fn replicas_with(&self, _index: u64) -> u64 {
        0
    }

    /// On the leader, how far each other replica's log matches its own: (node id,
    /// index); empty elsewhere.
    fn replication(&self) -> Vec<(u64, u64)> {
        Vec::new()
    }
}
