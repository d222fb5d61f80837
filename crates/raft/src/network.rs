//! The transport of a one-member group: there is nobody to talk to, so every RPC
//! reports the target unreachable. The node-to-node transport arrives with clusters.

use openraft::error::{RPCError, ReplicationClosed, StreamingError, Unreachable};
use openraft::network::{RPCOption, RaftNetworkFactory, v2::RaftNetworkV2};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, VoteRequest, VoteResponse,
};
use openraft::{AnyError, OptionalSend};

use crate::state_machine::SnapshotHandle;
use crate::types::{TypeConfig, Vote};

/// Creates [`Nowhere`] clients.
#[derive(Debug, Clone, Default)]
pub struct NoNetwork;

/// A client to a peer that cannot exist yet.
#[derive(Debug, Clone, Default)]
pub struct Nowhere;

fn unreachable() -> Unreachable<TypeConfig> {
    Unreachable::new(&AnyError::error("single-member group: no peers to reach"))
}

impl RaftNetworkFactory<TypeConfig> for NoNetwork {
    type Network = Nowhere;

    async fn new_client(&mut self, _target: u64, _node: &openraft::impls::BasicNode) -> Nowhere {
        Nowhere
    }
}

impl RaftNetworkV2<TypeConfig> for Nowhere {
    type SnapshotData = SnapshotHandle;

    async fn append_entries(
        &mut self,
        _rpc: AppendEntriesRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<AppendEntriesResponse<TypeConfig>, RPCError<TypeConfig>> {
        Err(RPCError::Unreachable(unreachable()))
    }

    async fn vote(
        &mut self,
        _rpc: VoteRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        Err(RPCError::Unreachable(unreachable()))
    }

    async fn full_snapshot(
        &mut self,
        _vote: Vote,
        _snapshot: openraft::alias::SnapshotOf<TypeConfig, SnapshotHandle>,
        _cancel: impl Future<Output = ReplicationClosed> + OptionalSend + 'static,
        _option: RPCOption,
    ) -> Result<SnapshotResponse<TypeConfig>, StreamingError<TypeConfig>> {
        Err(StreamingError::Unreachable(unreachable()))
    }
}
