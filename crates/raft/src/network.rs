//! A group's view of the transport: openraft's network traits over the node's shared
//! peer connections ([`crate::transport::Peers`]), tagged with the group's id. Peers
//! are found by the address recorded for them in the group's membership.

use std::sync::Arc;
use std::time::Duration;

use okapi_storage::SnapshotStore;
use okapi_types::GroupId;
use openraft::error::{NetworkError, RPCError, ReplicationClosed, StreamingError, Unreachable};
use openraft::network::{RPCOption, RaftNetworkFactory, v2::RaftNetworkV2};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, TransferLeaderRequest,
    TransferLeaderResponse, VoteRequest, VoteResponse,
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
            Err(_) => Err(RPCError::Network(NetworkError::new(&AnyError::error(
                format!("no reply from {} within {ttl:?}", self.addr),
            )))),
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

impl RaftNetworkV2<TypeConfig> for PeerClient {
    type SnapshotData = SnapshotHandle;

    async fn append_entries(
        &mut self,
        mut rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<TypeConfig>, RPCError<TypeConfig>> {
        // Bounded requests: send a prefix and report how far it got (PartialSuccess),
        // so a backlog of large entries never makes one huge frame.
        let mut bytes = 0usize;
        let mut keep = rpc.entries.len();
        for (i, entry) in rpc.entries.iter().enumerate() {
            bytes += match &entry.payload {
                openraft::EntryPayload::Normal(batch) => {
                    okapi_types::wire::Wire::encoded_len(batch)
                }
                _ => 64,
            };
            if bytes > frame::APPEND_BYTES && i > 0 {
                keep = i;
                break;
            }
        }
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
