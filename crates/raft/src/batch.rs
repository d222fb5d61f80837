//! What a log entry carries: ops from one or more proposals, each part stamped with the
//! leader time of its proposal.

use okapi_engine::Op;
pub use okapi_types::Writer;

/// One proposal's ops, stamped with the time the leader accepted them.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Part {
    /// Leader wall-clock time, Unix ms; becomes `ApplyCtx::now_ms` for these ops.
    pub now_ms: u64,
    /// The ops, applied in order.
    pub ops: Vec<Op>,
    /// Who proposed them (not in the legacy serde form, which predates it).
    #[serde(skip)]
    pub writer: Writer,
}

/// The payload of an okapi log entry: proposals merged so that concurrent clients share
/// one append, one fsync and one commit.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LogBatch {
    /// Parts in proposal order.
    pub parts: Vec<Part>,
}

impl LogBatch {
    /// Number of ops in all parts.
    pub fn op_count(&self) -> usize {
        self.parts.iter().map(|p| p.ops.len()).sum()
    }
}

impl std::fmt::Display for LogBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "LogBatch({} parts, {} ops)",
            self.parts.len(),
            self.op_count()
        )
    }
}

/// A responder that runs a closure with the result: the proposer distributes replies
/// straight from openraft's apply path, without a task per entry.
pub struct Callback<T> {
    call: Box<dyn FnOnce(T) + Send>,
}

impl<T> Callback<T> {
    /// A responder calling `call` once with the result.
    pub fn new(call: impl FnOnce(T) + Send + 'static) -> Self {
        Self {
            call: Box::new(call),
        }
    }
}

impl<C, T> openraft::raft::responder::Responder<C, T> for Callback<T>
where
    C: openraft::RaftTypeConfig,
    T: Send + 'static,
{
    fn on_complete(self, result: T) {
        (self.call)(result);
    }
}
