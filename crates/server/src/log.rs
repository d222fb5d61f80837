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

/// Where an appended op stands.
#[derive(Debug)]
pub enum Appended {
    /// Committed and applied; here is its reply.
    Applied(Reply),
    /// Accepted; the reply arrives once the op commits and applies.
    Pending(oneshot::Receiver<Result<Reply, LogError>>),
}

/// The replicated log ops are submitted to.
pub trait ReplicatedLog: Send + Sync + 'static {
    /// Appends `op`, stamped with the leader time `now_ms`. Called with the engine
    /// locked, so a log that commits on append can apply at once and return
    /// [`Appended::Applied`]; a log that must wait releases nothing and returns
    /// [`Appended::Pending`].
    fn append(&self, engine: &mut Engine, op: Op, now_ms: u64) -> Appended;

    /// Index of the last appended op.
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
    fn append(&self, engine: &mut Engine, op: Op, now_ms: u64) -> Appended {
        // The engine lock held by the caller orders appends; the atomic only publishes
        // the index to readers that do not hold it (INFO).
        let index = self.last.load(Ordering::Relaxed) + 1;
        self.last.store(index, Ordering::Relaxed);
        Appended::Applied(engine.apply(op, &ApplyCtx { now_ms, index }))
    }

    fn last_index(&self) -> u64 {
        self.last.load(Ordering::Relaxed)
    }
}
