//! Node-to-node transport for every group of a node: [`peers`] sends (one connection
//! per peer node, shared by all groups), [`inbound`] serves the cluster port and
//! dispatches to the groups registered there, [`frame`] is the versioned wire format.
//! Mutual TLS and node certificates (security issue) wrap the streams of `peers` and
//! `inbound` without changing what travels over them.

pub mod frame;
pub mod inbound;
pub mod peers;

pub use inbound::{Inbound, Registered};
pub use peers::{LinkError, Peers};

#[cfg(test)]
mod tests {
    use okapi_types::GroupId;

    use super::*;
    use crate::transport::frame::{Frame, Message};
    use crate::types::Vote;

    fn vote_frame(peers: &Peers, group: u64) -> Frame {
        Frame {
            id: peers.next_id(),
            group: GroupId(group),
            message: Message::Vote(openraft::raft::VoteRequest::new(Vote::new(1, 1), None)),
        }
    }

    /// An inbound dispatcher of node `node` on a free loopback port.
    async fn listen(node: u64) -> (String, tokio::sync::watch::Sender<bool>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        let (stop, watch) = tokio::sync::watch::channel(false);
        tokio::spawn(inbound::serve(listener, Inbound::new(node), watch));
        (addr, stop)
    }

    #[tokio::test]
    async fn requests_fail_clearly_when_the_peer_cannot_serve_them() {
        let peers = Peers::new(1, None);
        // Nobody listening: unreachable, not a hang.
        let free = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let dead = free.local_addr().expect("addr").to_string();
        drop(free);
        let err = peers
            .request(2, &dead, vote_frame(&peers, 5))
            .await
            .expect_err("nobody there");
        assert!(
            matches!(err, LinkError::Unreachable { target: 2, .. }),
            "{err}"
        );

        let (addr, _stop) = listen(2).await;
        // A group the peer does not run: it answers, saying so.
        match peers.request(2, &addr, vote_frame(&peers, 5)).await {
            Ok(Message::Failed(reason)) => {
                assert!(reason.contains("group 5 does not run"), "{reason}");
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
        // A stream request for a group the peer does not run: the refusal comes back
        // on the stream, under the stream's id.
        let (replies, mut incoming) = tokio::sync::mpsc::channel(4);
        let rpc = openraft::raft::AppendEntriesRequest {
            vote: Vote::new_committed(1, 1),
            prev_log_id: None,
            entries: Vec::new(),
            leader_commit: None,
        };
        let stream = Frame {
            id: peers.next_id(),
            group: GroupId(5),
            message: Message::AppendStream(rpc),
        };
        peers
            .send_streamed(2, &addr, stream, Some(replies))
            .expect("queued");
        match tokio::time::timeout(std::time::Duration::from_secs(10), incoming.recv()).await {
            Ok(Some(Message::Failed(reason))) => {
                assert!(reason.contains("group 5 does not run"), "{reason}");
            }
            other => panic!("expected a refusal on the stream, got {other:?}"),
        }
        // The address belongs to another node than the one asked for.
        let err = peers
            .request(3, &addr, vote_frame(&peers, 5))
            .await
            .expect_err("wrong node");
        assert!(err.to_string().contains("belongs to node"), "{err}");
    }
}
