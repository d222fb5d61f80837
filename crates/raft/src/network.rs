//! A group's view of the transport: openraft's network traits over the node's shared
//! peer connections ([`crate::transport::Peers`]), tagged with the group's id. Peers
//! are found by the address recorded for them in the group's membership.

use std::sync::Arc;
use std::time::Duration;

use okapi_storage::SnapshotStore;
use okapi_types::GroupId;
use openraft::base::{BoxFuture, BoxStream};
use openraft::error::{NetworkError, RPCError, ReplicationClosed, StreamingError, Unreachable};
use openraft::network::{RPCOption, RaftNetworkFactory, v2::RaftNetworkV2};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, StreamAppendResult,
    TransferLeaderRequest, TransferLeaderResponse, VoteRequest, VoteResponse,
};
use openraft::{AnyError, OptionalSend};

use crate::state_machine::SnapshotHandle;
use crate::transport::frame::{self, Frame, Message};
use crate::transport::peers::{LinkError, Peers};
use crate::types::{TypeConfig, Vote};

/// Longest a whole snapshot transfer may take.
const SNAPSHOT_DEADLINE: Duration = Duration::from_secs(600);

/// Creates the clients group `group` uses to reach its peers.
#[derive(Clone)]
pub struct GroupNetwork {
    peers: Arc<Peers>,
    group: GroupId,
    snapshots: Arc<SnapshotStore>,
}

impl GroupNetwork {
    /// The network of `group` over `peers`; snapshots are read from `snapshots`.
    pub fn new(peers: Arc<Peers>, group: GroupId, snapshots: Arc<SnapshotStore>) -> Self {
        Self {
            peers,
            group,
            snapshots,
        }
    }
}

/// A client of one peer for one group.
pub struct PeerClient {
    net: GroupNetwork,
    target: u64,
    addr: String,
}

impl RaftNetworkFactory<TypeConfig> for GroupNetwork {
    type Network = PeerClient;

    async fn new_client(&mut self, target: u64, node: &openraft::impls::BasicNode) -> PeerClient {
        PeerClient {
            net: self.clone(),
            target,
            addr: node.addr.clone(),
        }
    }
}

fn unreachable(e: &LinkError) -> Unreachable<TypeConfig> {
    Unreachable::new(&AnyError::error(e.to_string()))
}

fn remote_failure(reason: &str) -> RPCError<TypeConfig> {
    // The peer answered but could not serve the request (group not there yet, it
    // stopped): treated as unreachable, so openraft backs off and retries.
    RPCError::Unreachable(Unreachable::new(&AnyError::error(reason.to_owned())))
}

fn no_reply(addr: &str, ttl: Duration) -> RPCError<TypeConfig> {
    RPCError::Network(NetworkError::new(&AnyError::error(format!(
        "no reply from {addr} within {ttl:?}"
    ))))
}

fn unexpected(what: &str) -> RPCError<TypeConfig> {
    RPCError::Network(NetworkError::new(&AnyError::error(format!(
        "unexpected reply to {what}"
    ))))
}

impl PeerClient {
    async fn call(&self, message: Message, ttl: Duration) -> Result<Message, RPCError<TypeConfig>> {
        let frame = Frame {
            id: self.net.peers.next_id(),
            group: self.net.group,
            message,
        };
        let request = self.net.peers.request(self.target, &self.addr, frame);
        match tokio::time::timeout(ttl, request).await {
            Ok(Ok(Message::Failed(reason))) => Err(remote_failure(&reason)),
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(e)) => Err(RPCError::Unreachable(unreachable(&e))),
            Err(_) => Err(no_reply(&self.addr, ttl)),
        }
    }

    /// Streams the snapshot file of `snapshot` in checksummed chunks, then waits
    /// for the peer to install it.
    async fn send_snapshot(
        &self,
        vote: Vote,
        handle: SnapshotHandle,
    ) -> Result<SnapshotResponse<TypeConfig>, StreamingError<TypeConfig>> {
        let network = |e: String| StreamingError::Network(NetworkError::new(&AnyError::error(e)));
        let info = handle.info();
        let mut reader = self
            .net
            .snapshots
            .open_reader(&info)
            .map_err(|e| network(e.to_string()))?;
        let id = self.net.peers.next_id();
        let group = self.net.group;
        let begin = Frame {
            id,
            group,
            message: Message::SnapshotBegin {
                vote,
                index: handle.index,
                meta: bytes::Bytes::copy_from_slice(reader.meta()),
            },
        };
        let link = |e: LinkError| StreamingError::Unreachable(unreachable(&e));
        self.net
            .peers
            .stream(self.target, &self.addr, vec![begin.encode()], id)
            .await
            .map_err(link)?;
        let mut sent = 0u64;
        loop {
            // File reads and decompression stay off the event loop.
            let (back, chunk) = tokio::task::spawn_blocking(move || {
                let chunk = reader.next_chunk();
                (reader, chunk)
            })
            .await
            .map_err(|e| network(e.to_string()))?;
            reader = back;
            let chunk = chunk.map_err(|e| network(e.to_string()))?;
            let Some(chunk) = chunk else {
                break;
            };
            sent += chunk.len() as u64;
            let frame = Frame {
                id,
                group,
                message: Message::SnapshotChunk {
                    crc: crc32c::crc32c(&chunk),
                    data: chunk,
                },
            };
            self.net
                .peers
                .stream(self.target, &self.addr, vec![frame.encode()], id)
                .await
                .map_err(link)?;
        }
        let end = Frame {
            id,
            group,
            message: Message::SnapshotEnd,
        };
        tracing::info!(%group, peer = %format!("{:016x}", self.target), index = handle.index, bytes = sent, "snapshot sent; waiting for the peer to install it");
        match self
            .net
            .peers
            .request(self.target, &self.addr, end)
            .await
            .map_err(link)?
        {
            Message::SnapshotReply(reply) => Ok(reply),
            Message::Failed(reason) => {
                Err(network(format!("the peer refused the snapshot: {reason}")))
            }
            _ => Err(network("unexpected reply to a snapshot".into())),
        }
    }
}

/// How many entries of `entries`, from the first, fit one frame of about
/// [`frame::APPEND_BYTES`] (at least one).
fn fitting(entries: &[crate::types::Entry]) -> usize {
    let mut bytes = 0usize;
    for (i, entry) in entries.iter().enumerate() {
        bytes += match &entry.payload {
            openraft::EntryPayload::Normal(batch) => crate::codec::batch_encoded_len(batch),
            _ => 64,
        };
        if bytes > frame::APPEND_BYTES && i > 0 {
            return i;
        }
    }
    entries.len()
}

/// Cuts `rpc` into requests of at most a frame's worth of entries each, chained by
/// their previous log ids.
fn split(mut rpc: AppendEntriesRequest<TypeConfig>) -> Vec<AppendEntriesRequest<TypeConfig>> {
    let mut parts = Vec::new();
    loop {
        let keep = fitting(&rpc.entries);
        if keep == rpc.entries.len() {
            parts.push(rpc);
            return parts;
        }
        let rest = rpc.entries.split_off(keep);
        let next_prev = rpc.entries.last().map(|entry| entry.log_id);
        parts.push(AppendEntriesRequest {
            vote: rpc.vote,
            prev_log_id: rpc.prev_log_id,
            entries: std::mem::replace(&mut rpc.entries, rest),
            leader_commit: rpc.leader_commit,
        });
        rpc.prev_log_id = next_prev;
    }
}

/// Requests of one append stream sent and not yet answered. Enough to keep a peer
/// busy while replies travel back; bounded so a slow peer holds little.
const STREAM_WINDOW: usize = 16;
/// Replies of one stream that may wait for the replication task to read them.
const STREAM_REPLIES: usize = 64;

/// The outcome of one request of an append stream.
type StreamItem = Result<StreamAppendResult<TypeConfig>, RPCError<TypeConfig>>;

/// The sending side of one append stream: takes requests from openraft's stream as
/// long as fewer than [`STREAM_WINDOW`] are unanswered, sends each at once, and
/// yields the replies in order. The receiver appends them in order (one connection,
/// one stream), so the requests need not wait for each other's round trips.
struct Pipeline<S> {
    peers: Arc<Peers>,
    group: GroupId,
    target: u64,
    addr: String,
    id: u64,
    input: S,
    input_done: bool,
    /// Given with the first request; the replies arrive on `replies`.
    register: Option<tokio::sync::mpsc::Sender<Message>>,
    replies: tokio::sync::mpsc::Receiver<Message>,
    /// When each unanswered request was sent, oldest first.
    inflight: std::collections::VecDeque<tokio::time::Instant>,
    /// Longest a reply may take.
    ttl: Duration,
}

impl<S> Pipeline<S>
where
    S: futures_util::Stream<Item = AppendEntriesRequest<TypeConfig>> + Unpin,
{
    fn send(&mut self, rpc: AppendEntriesRequest<TypeConfig>) -> Result<(), LinkError> {
        let frame = Frame {
            id: self.id,
            group: self.group,
            message: Message::AppendStream(rpc),
        };
        self.peers
            .send_streamed(self.target, &self.addr, frame, self.register.take())?;
        self.inflight.push_back(tokio::time::Instant::now());
        Ok(())
    }

    /// The next outcome, and whether the stream goes on after it.
    async fn next_outcome(&mut self) -> Option<(StreamItem, bool)> {
        loop {
            if self.input_done && self.inflight.is_empty() {
                return None;
            }
            let deadline = self.inflight.front().map_or_else(
                || tokio::time::Instant::now() + self.ttl,
                |sent| *sent + self.ttl,
            );
            tokio::select! {
                biased;
                reply = self.replies.recv(), if !self.inflight.is_empty() => {
                    self.inflight.pop_front();
                    return Some(match reply {
                        Some(Message::StreamReply(result)) => {
                            let goes_on = result.is_ok();
                            (Ok(result), goes_on)
                        }
                        Some(Message::Failed(reason)) => (Err(remote_failure(&reason)), false),
                        Some(_) => (Err(unexpected("AppendEntries")), false),
                        None => (
                            Err(RPCError::Unreachable(Unreachable::new(&AnyError::error(format!(
                                "the connection to {} closed before the reply", self.addr
                            ))))),
                            false,
                        ),
                    });
                }
                request = futures_util::StreamExt::next(&mut self.input),
                    if !self.input_done && self.inflight.len() < STREAM_WINDOW =>
                {
                    let Some(rpc) = request else {
                        self.input_done = true;
                        continue;
                    };
                    for part in split(rpc) {
                        if let Err(e) = self.send(part) {
                            return Some((Err(RPCError::Unreachable(unreachable(&e))), false));
                        }
                    }
                }
                _ = tokio::time::sleep_until(deadline), if !self.inflight.is_empty() => {
                    return Some((Err(no_reply(&self.addr, self.ttl)), false));
                }
            }
        }
    }
}

impl<S> Drop for Pipeline<S> {
    fn drop(&mut self) {
        if self.register.is_none() {
            // The receiver holds the stream until told it is over.
            let end = Frame {
                id: self.id,
                group: self.group,
                message: Message::StreamEnd,
            };
            let _ = self.peers.send_streamed(self.target, &self.addr, end, None);
        }
    }
}

impl RaftNetworkV2<TypeConfig> for PeerClient {
    type SnapshotData = SnapshotHandle;

    fn stream_append<'s, S>(
        &'s mut self,
        input: S,
        option: RPCOption,
    ) -> BoxFuture<'s, Result<BoxStream<'s, StreamItem>, RPCError<TypeConfig>>>
    where
        S: futures_util::Stream<Item = AppendEntriesRequest<TypeConfig>>
            + OptionalSend
            + Unpin
            + 'static,
    {
        let (register, replies) = tokio::sync::mpsc::channel(STREAM_REPLIES);
        let pipeline = Pipeline {
            peers: self.net.peers.clone(),
            group: self.net.group,
            target: self.target,
            addr: self.addr.clone(),
            id: self.net.peers.next_id(),
            input,
            input_done: false,
            register: Some(register),
            replies,
            inflight: std::collections::VecDeque::new(),
            ttl: option.hard_ttl(),
        };
        let outcomes = futures_util::stream::unfold(Some(pipeline), |state| async move {
            let mut pipeline = state?;
            let (item, goes_on) = pipeline.next_outcome().await?;
            Some((item, goes_on.then_some(pipeline)))
        });
        Box::pin(async move { Ok(Box::pin(outcomes) as BoxStream<'s, StreamItem>) })
    }

    async fn append_entries(
        &mut self,
        mut rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<TypeConfig>, RPCError<TypeConfig>> {
        // Bounded requests: send a prefix and report how far it got (PartialSuccess),
        // so a backlog of large entries never makes one huge frame.
        let keep = fitting(&rpc.entries);
        let partial = (keep < rpc.entries.len()).then(|| rpc.entries[keep - 1].log_id);
        rpc.entries.truncate(keep);
        match self.call(Message::Append(rpc), option.hard_ttl()).await? {
            Message::AppendReply(AppendEntriesResponse::Success) if partial.is_some() => {
                Ok(AppendEntriesResponse::PartialSuccess(partial))
            }
            Message::AppendReply(reply) => Ok(reply),
            _ => Err(unexpected("AppendEntries")),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        match self.call(Message::Vote(rpc), option.hard_ttl()).await? {
            Message::VoteReply(reply) => Ok(reply),
            _ => Err(unexpected("RequestVote")),
        }
    }

    async fn pre_vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        // A peer that cannot be asked is an error, never a grant (see openraft's
        // pre-vote notes): an isolated node must not inflate its term.
        match self.call(Message::PreVote(rpc), option.hard_ttl()).await? {
            Message::VoteReply(reply) => Ok(reply),
            _ => Err(unexpected("PreVote")),
        }
    }

    async fn transfer_leader(
        &mut self,
        rpc: TransferLeaderRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<TransferLeaderResponse<TypeConfig>, RPCError<TypeConfig>> {
        match self
            .call(Message::TransferLeader(rpc), option.hard_ttl())
            .await?
        {
            Message::TransferReply(reply) => Ok(reply),
            _ => Err(unexpected("TransferLeader")),
        }
    }

    async fn full_snapshot(
        &mut self,
        vote: Vote,
        snapshot: openraft::alias::SnapshotOf<TypeConfig, SnapshotHandle>,
        cancel: impl Future<Output = ReplicationClosed> + OptionalSend + 'static,
        _option: RPCOption,
    ) -> Result<SnapshotResponse<TypeConfig>, StreamingError<TypeConfig>> {
        let send = self.send_snapshot(vote, snapshot.snapshot);
        tokio::select! {
            result = tokio::time::timeout(SNAPSHOT_DEADLINE, send) => match result {
                Ok(result) => result,
                Err(_) => Err(StreamingError::Network(NetworkError::new(&AnyError::error(format!(
                    "snapshot transfer took over {}s", SNAPSHOT_DEADLINE.as_secs()
                ))))),
            },
            closed = cancel => Err(StreamingError::Closed(closed)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::{LogBatch, Part};
    use crate::types::{Entry, LogId};
    use okapi_engine::Op;
    use okapi_engine::strings::{SetCond, SetExpire, StringOp};

    fn entry(index: u64, value_bytes: usize) -> Entry {
        let op = Op {
            db: okapi_types::Namespace(0),
            kind: StringOp::Set {
                key: bytes::Bytes::from(format!("k{index}")),
                value: bytes::Bytes::from(vec![b'v'; value_bytes]),
                cond: SetCond::Always,
                get: false,
                expire: SetExpire::Keep,
            }
            .into(),
        };
        Entry {
            log_id: LogId::new(
                openraft::impls::leader_id_adv::LeaderId {
                    term: 2,
                    node_id: 1,
                },
                index,
            ),
            payload: openraft::EntryPayload::Normal(LogBatch {
                parts: vec![Part {
                    now_ms: 1,
                    ops: vec![op],
                    writer: Default::default(),
                }],
            }),
        }
    }

    #[test]
    fn large_appends_are_cut_into_chained_requests_of_a_frame_each() {
        let prev = entry(9, 0).log_id;
        let rpc = AppendEntriesRequest {
            vote: Vote::new_committed(2, 1),
            prev_log_id: Some(prev),
            entries: (10..15).map(|i| entry(i, 3 << 20)).collect(),
            leader_commit: Some(prev),
        };
        let parts = split(rpc.clone());
        let sizes: Vec<usize> = parts.iter().map(|p| p.entries.len()).collect();
        assert_eq!(sizes, vec![2, 2, 1], "3 MiB entries, 8 MiB a frame");
        let mut expected_prev = Some(prev);
        for part in &parts {
            assert_eq!(part.prev_log_id, expected_prev);
            assert_eq!(
                (part.vote, part.leader_commit),
                (rpc.vote, rpc.leader_commit)
            );
            expected_prev = part.entries.last().map(|e| e.log_id);
        }
        let rejoined: Vec<Entry> = parts.into_iter().flat_map(|p| p.entries).collect();
        assert_eq!(rejoined, rpc.entries);
        // Small requests, entry-less ones (heartbeats) and a single huge entry stay whole.
        assert_eq!(
            split(AppendEntriesRequest {
                entries: vec![],
                ..rpc.clone()
            })
            .len(),
            1
        );
        let huge = AppendEntriesRequest {
            entries: vec![entry(10, 20 << 20)],
            ..rpc.clone()
        };
        assert_eq!(split(huge).len(), 1);
    }
}
