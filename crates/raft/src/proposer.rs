//! Merges concurrent proposals into one log entry: proposals that queue up while the
//! proposer task waits its turn on the event loop leave together, so many clients
//! share one entry, one append and one fsync. Entries are not held back to grow the
//! batch: openraft and the WAL batch again downstream (several entries per append,
//! several appends per fsync), and limiting entries in flight measured no better.

use okapi_engine::{Op, Reply};
use tokio::sync::mpsc;

use crate::batch::{Callback, LogBatch, Part, Writer};
use crate::types::{Raft, TypeConfig};

/// Most ops merged into one entry.
const MAX_OPS_PER_ENTRY: usize = 8192;
/// Most payload bytes (block data) merged into one entry: a proposal carrying more is
/// spread over several consecutive entries, so no entry holds a multi-GiB write.
pub const MAX_ENTRY_BYTES: usize = 4 << 20;

/// Why a proposal got no replies.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProposeError {
    /// This node did not lead the group when the proposal arrived, so nothing was
    /// appended; the leader may be known.
    #[error("not the leader (leader: {0:?})")]
    NotLeader(Option<u64>),
    /// The entry was appended but this node lost leadership before it was applied
    /// here: another leader may still commit it. The outcome is unknown.
    #[error("{0}")]
    Unknown(String),
    /// The group stopped or failed.
    #[error("{0}")]
    Stopped(String),
}

/// Where a proposal's replies go.
pub type Done = Box<dyn FnOnce(Result<Vec<Reply>, ProposeError>) + Send>;

/// A proposal and where its replies go.
struct Proposal {
    part: Part,
    /// Payload bytes of the part's ops.
    bytes: usize,
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

    /// Proposes `ops` stamped `now_ms` from `writer`; `done` gets the replies (one per
    /// op) once the entry carrying them is committed and applied.
    pub fn propose(&self, now_ms: u64, ops: Vec<Op>, writer: Writer, done: Done) {
        let bytes: usize = ops.iter().map(Op::payload_len).sum();
        if bytes <= MAX_ENTRY_BYTES {
            self.send(Proposal {
                part: Part {
                    now_ms,
                    ops,
                    writer,
                },
                bytes,
                done,
            });
            return;
        }
        // Sent back to back on one channel, so the groups land in consecutive entries
        // in order; the caller gets all replies at once, or the first error.
        let groups = group_by_bytes(ops);
        let gather = Gather::new(groups.len(), done);
        for (i, (ops, bytes)) in groups.into_iter().enumerate() {
            let gather = gather.clone();
            self.send(Proposal {
                part: Part {
                    now_ms,
                    ops,
                    writer,
                },
                bytes,
                done: Box::new(move |result| gather.arrive(i, result)),
            });
        }
    }

    fn send(&self, proposal: Proposal) {
        if let Err(mpsc::error::SendError(proposal)) = self.tx.send(proposal) {
            (proposal.done)(Err(ProposeError::Stopped("the group is shut down".into())));
        }
    }
}

/// Splits `ops` into runs of at most [`MAX_ENTRY_BYTES`] of payload (a single larger op
/// makes a run of its own), with each run's payload size.
fn group_by_bytes(ops: Vec<Op>) -> Vec<(Vec<Op>, usize)> {
    let mut groups: Vec<(Vec<Op>, usize)> = Vec::new();
    for op in ops {
        let size = op.payload_len();
        match groups.last_mut() {
            Some((group, bytes)) if *bytes + size <= MAX_ENTRY_BYTES => {
                group.push(op);
                *bytes += size;
            }
            _ => groups.push((vec![op], size)),
        }
    }
    groups
}

/// Collects the replies of a proposal spread over several entries.
#[derive(Clone)]
struct Gather(std::sync::Arc<std::sync::Mutex<GatherState>>);

struct GatherState {
    parts: Vec<Option<Vec<Reply>>>,
    missing: usize,
    error: Option<ProposeError>,
    done: Option<Done>,
}

impl Gather {
    fn new(parts: usize, done: Done) -> Self {
        Self(std::sync::Arc::new(std::sync::Mutex::new(GatherState {
            parts: vec![None; parts],
            missing: parts,
            error: None,
            done: Some(done),
        })))
    }

    fn arrive(&self, index: usize, result: Result<Vec<Reply>, ProposeError>) {
        let mut state = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match result {
            Ok(replies) => state.parts[index] = Some(replies),
            Err(e) => {
                state.error.get_or_insert(e);
            }
        }
        state.missing -= 1;
        if state.missing > 0 {
            return;
        }
        let Some(done) = state.done.take() else {
            return;
        };
        let result = match state.error.take() {
            Some(e) => Err(e),
            None => Ok(state
                .parts
                .iter_mut()
                .flat_map(|p| p.take().unwrap_or_default())
                .collect()),
        };
        drop(state);
        done(result);
    }
}

async fn run(raft: Raft, mut rx: mpsc::UnboundedReceiver<Proposal>) {
    // A proposal that did not fit the last entry; it starts the next one.
    let mut held: Option<Proposal> = None;
    loop {
        let first = match held.take() {
            Some(proposal) => proposal,
            None => match rx.recv().await {
                Some(proposal) => proposal,
                None => return,
            },
        };
        let mut ops = first.part.ops.len();
        let mut bytes = first.bytes;
        let mut proposals = vec![first];
        while ops < MAX_OPS_PER_ENTRY && bytes < MAX_ENTRY_BYTES {
            match rx.try_recv() {
                Ok(next) if bytes + next.bytes > MAX_ENTRY_BYTES => {
                    // Starts the next entry instead.
                    held = Some(next);
                    break;
                }
                Ok(next) => {
                    ops += next.part.ops.len();
                    bytes += next.bytes;
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
                    openraft::error::ClientWriteError::LogEntryDiscarded(_) => {
                        ProposeError::Unknown(
                            "leadership changed while the write was replicated".into(),
                        )
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
            for p in held
                .take()
                .into_iter()
                .chain(std::iter::from_fn(|| rx.try_recv().ok()))
            {
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
