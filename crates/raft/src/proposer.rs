//! Merges concurrent proposals into one log entry: proposals that queue up while the
//! proposer task waits its turn on the event loop leave together, so many clients
//! share one entry, one append and one fsync. Entries are not held back to grow the
//! batch: openraft and the WAL batch again downstream (several entries per append,
//! several appends per fsync), and limiting entries in flight measured no better.

use okapi_engine::{Op, Reply};
use tokio::sync::mpsc;

use crate::batch::{Callback, LogBatch, Part};
use crate::types::{Raft, TypeConfig};

/// Most ops merged into one entry.
const MAX_OPS_PER_ENTRY: usize = 8192;

/// Why a proposal got no replies.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProposeError {
    /// This node does not lead the group; the leader may be known.
    #[error("not the leader (leader: {0:?})")]
    NotLeader(Option<u64>),
    /// The group stopped or failed.
    #[error("{0}")]
    Stopped(String),
}

/// Where a proposal's replies go.
pub type Done = Box<dyn FnOnce(Result<Vec<Reply>, ProposeError>) + Send>;

/// A proposal and where its replies go.
struct Proposal {
    part: Part,
    done: Done,
}

/// Handle to a group's proposer task.
#[derive(Clone)]
pub struct Proposer {
    tx: mpsc::UnboundedSender<Proposal>,
}

impl Proposer {
    /// Starts the proposer task of `raft` on the current runtime.
    pub(crate) fn spawn(raft: Raft) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(raft, rx));
        Self { tx }
    }

    /// Proposes `ops` stamped `now_ms`; `done` gets the replies (one per op) once the
    /// entry carrying them is committed and applied.
    pub fn propose(&self, now_ms: u64, ops: Vec<Op>, done: Done) {
        let proposal = Proposal {
            part: Part { now_ms, ops },
            done,
        };
        if let Err(mpsc::error::SendError(proposal)) = self.tx.send(proposal) {
            (proposal.done)(Err(ProposeError::Stopped("the group is shut down".into())));
        }
    }
}

async fn run(raft: Raft, mut rx: mpsc::UnboundedReceiver<Proposal>) {
    while let Some(first) = rx.recv().await {
        let mut ops = first.part.ops.len();
        let mut proposals = vec![first];
        while ops < MAX_OPS_PER_ENTRY {
            match rx.try_recv() {
                Ok(next) => {
                    ops += next.part.ops.len();
                    proposals.push(next);
                }
                Err(_) => break,
            }
        }
        let mut parts = Vec::with_capacity(proposals.len());
        let mut routes = Vec::with_capacity(proposals.len());
        for proposal in proposals {
            routes.push((proposal.part.ops.len(), proposal.done));
            parts.push(proposal.part);
        }
        let responder = Callback::new(
            move |result: openraft::raft::ClientWriteResult<TypeConfig>| {
                let result = result.map(|r| r.data).map_err(|e| match e {
                    openraft::error::ClientWriteError::ForwardToLeader(f) => {
                        ProposeError::NotLeader(f.leader_id)
                    }
                    other => ProposeError::Stopped(other.to_string()),
                });
                distribute(routes, result);
            },
        );
        if let Err(fatal) = raft
            .client_write_ff(LogBatch { parts }, Some(responder))
            .await
        {
            tracing::error!(error = %fatal, "raft group stopped; refusing proposals");
            // This entry's responder was dropped with the request (its callers see their
            // reply channel close); queued proposals fail here.
            while let Ok(p) = rx.try_recv() {
                (p.done)(Err(ProposeError::Stopped(fatal.to_string())));
            }
        }
    }
}

/// Splits an entry's replies among the proposals it carried.
fn distribute(routes: Vec<(usize, Done)>, result: Result<Vec<Reply>, ProposeError>) {
    match result {
        Ok(replies) => {
            let mut replies = replies.into_iter();
            for (count, done) in routes {
                done(Ok(replies.by_ref().take(count).collect()));
            }
        }
        Err(e) => {
            for (_, done) in routes {
                done(Err(e.clone()));
            }
        }
    }
}
