//! The write path's seam: every op goes through a [`ReplicatedLog`]. The local log
//! applies at once; a Raft log (next layer) appends, replicates and applies on commit,
//! without any command code changing.

use std::sync::atomic::{AtomicU64, Ordering};

use okapi_engine::{ApplyCtx, Engine, Op, Reply};
use tokio::sync::oneshot;

/// Why an appended op has no reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogError {
    /// This node cannot accept writes (not the leader, poisoned log ...); the text is
    /// a complete Redis error with its prefix.
    #[error("{0}")]
    Refused(String),
    /// The op was dropped before it committed (leadership lost, shutdown).
    #[error("ERR write was not committed: {0}")]
    Dropped(String),
}

/// Where appended ops stand.
#[derive(Debug)]
pub enum Appended {
    /// Committed and applied; one reply per op.
    Applied(Vec<Reply>),
    /// Accepted; the replies (one per op) arrive once the ops commit and apply.
    Pending(oneshot::Receiver<Result<Vec<Reply>, LogError>>),
}

/// The replicated log ops are submitted to.
pub trait ReplicatedLog: Send + Sync + 'static {
    /// Appends `ops` in order, stamped with the leader time `now_ms`. Called with the
    /// engine locked, so a log that commits on append can apply at once and return
    /// [`Appended::Applied`]; a log that must wait releases nothing and returns
    /// [`Appended::Pending`]. Consecutive writes of a pipeline come as one call, so a
    /// replicated log can carry them in one entry.
    fn append(&self, engine: &mut Engine, ops: Vec<Op>, now_ms: u64) -> Appended;

    /// Index of the last appended entry.
    fn last_index(&self) -> u64;
}

/// A single in-memory node: each op is committed as soon as it is appended.
#[derive(Debug, Default)]
pub struct LocalLog {
    last: AtomicU64,
}

impl LocalLog {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }
}

impl ReplicatedLog for LocalLog {
    fn append(&self, engine: &mut Engine, ops: Vec<Op>, now_ms: u64) -> Appended {
        // The engine lock held by the caller orders appends; the atomic only publishes
        // the index to readers that do not hold it (INFO).
        let replies = ops
            .into_iter()
            .map(|op| {
                let index = self.last.load(Ordering::Relaxed) + 1;
                self.last.store(index, Ordering::Relaxed);
                engine.apply(op, &ApplyCtx { now_ms, index })
            })
            .collect();
        Appended::Applied(replies)
    }

    fn last_index(&self) -> u64 {
        self.last.load(Ordering::Relaxed)
    }
}
