//! What travels between nodes, version 2. A connection opens with a preamble each way
//! (magic, protocol version, the sender's node id), then carries length-prefixed
//! frames: a kind byte, a request id, the group, and the message. Log entries travel
//! in the same encoding as in the WAL (`codec::encode_entry`); votes and log ids are
//! written field by field, so nothing on the wire depends on openraft's serde.

use bytes::{BufMut, Bytes, BytesMut};
use okapi_types::GroupId;
use okapi_types::wire::{Input, Wire, WireError, put_varint};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, StreamAppendError,
    StreamAppendResult, TransferLeaderError, TransferLeaderRequest, TransferLeaderResponse,
    VoteRequest, VoteResponse,
};

use crate::codec::{self, get_vote, put_vote};
use crate::types::{TypeConfig, Vote};

/// First bytes of every connection, both ways.
pub const MAGIC: &[u8; 4] = b"OKRT";
/// The protocol version this build speaks.
/// Version 2 added pipelined append streams ([`Message::AppendStream`]).
pub const VERSION: u8 = 2;
/// Largest frame accepted (a 4 MiB entry and its framing fit many times over).
pub const MAX_FRAME: usize = 64 << 20;
/// Buffer for reading frames off a connection.
pub const READ_BUFFER: usize = 64 << 10;
/// AppendEntries requests are cut to about this many bytes of entries.
pub const APPEND_BYTES: usize = 8 << 20;

/// Why a frame could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The bytes do not decode.
    #[error("bad frame: {0}")]
    Wire(#[from] WireError),
    /// An entry inside does not decode.
    #[error("bad entry: {0}")]
    Entry(String),
    /// Unknown message kind.
    #[error("unknown frame kind {0}")]
    Kind(u8),
    /// The peer speaks another protocol or version.
    #[error("{0}")]
    Preamble(String),
}

/// Message kinds.
mod kind {
    pub const APPEND: u8 = 1;
    pub const VOTE: u8 = 2;
    pub const PRE_VOTE: u8 = 3;
    pub const SNAPSHOT_BEGIN: u8 = 4;
    pub const SNAPSHOT_CHUNK: u8 = 5;
    pub const SNAPSHOT_END: u8 = 6;
    pub const TRANSFER_LEADER: u8 = 7;
    pub const APPEND_STREAM: u8 = 8;
    pub const STREAM_END: u8 = 9;
    pub const APPEND_REPLY: u8 = 129;
    pub const VOTE_REPLY: u8 = 130;
    pub const SNAPSHOT_REPLY: u8 = 131;
    pub const FAILED: u8 = 132;
    pub const TRANSFER_REPLY: u8 = 133;
    pub const STREAM_REPLY: u8 = 134;
}

/// One message.
#[derive(Debug)]
pub enum Message {
    /// AppendEntries.
    Append(AppendEntriesRequest<TypeConfig>),
    /// RequestVote.
    Vote(VoteRequest<TypeConfig>),
    /// Pre-vote.
    PreVote(VoteRequest<TypeConfig>),
    /// A snapshot transfer starts: the leader's vote and the snapshot file's metadata
    /// (as written by `codec::encode_file_meta`), and its last index.
    SnapshotBegin {
        /// The sending leader's vote.
        vote: Vote,
        /// Last log index covered.
        index: u64,
        /// Encoded file metadata.
        meta: Bytes,
    },
    /// One chunk of the snapshot's data, with its CRC32C.
    SnapshotChunk {
        /// CRC32C of `data`.
        crc: u32,
        /// The chunk.
        data: Bytes,
    },
    /// The last chunk was sent: install it.
    SnapshotEnd,
    /// Reply to AppendEntries.
    AppendReply(AppendEntriesResponse<TypeConfig>),
    /// Reply to a vote or pre-vote.
    VoteReply(VoteResponse<TypeConfig>),
    /// Reply to an installed snapshot.
    SnapshotReply(SnapshotResponse<TypeConfig>),
    /// The request failed on the receiver (unknown group, group stopped, bad chunk).
    Failed(String),
    /// The leader hands leadership to the receiver.
    TransferLeader(TransferLeaderRequest<TypeConfig>),
    /// Reply to a leadership transfer.
    TransferReply(TransferLeaderResponse<TypeConfig>),
    /// One AppendEntries of a pipelined stream: the frame's id names the stream, and
    /// the receiver answers each in order with a [`Message::StreamReply`] of that id.
    /// A leader runs at most one stream per group and peer; a new id replaces the old.
    AppendStream(AppendEntriesRequest<TypeConfig>),
    /// The outcome of one request of an append stream, in request order; an error
    /// ends the stream.
    StreamReply(StreamAppendResult<TypeConfig>),
    /// The leader is done with the append stream the frame's id names (no reply).
    StreamEnd,
}

/// A frame: which request (ids pair replies with requests on a connection) of
/// which group, and the message.
#[derive(Debug)]
pub struct Frame {
    /// Request id, chosen by the side that sent the request.
    pub id: u64,
    /// The group.
    pub group: GroupId,
    /// What it says.
    pub message: Message,
}

fn put_append(out: &mut Vec<u8>, rpc: &AppendEntriesRequest<TypeConfig>) {
    put_vote(out, &rpc.vote);
    codec::put_opt_log_id(out, &rpc.prev_log_id);
    codec::put_opt_log_id(out, &rpc.leader_commit);
    put_varint(out, rpc.entries.len() as u64);
    for entry in &rpc.entries {
        codec::encode_entry(entry).encode(out);
    }
}

fn get_append(input: &mut Input) -> Result<AppendEntriesRequest<TypeConfig>, FrameError> {
    let vote = get_vote(input)?;
    let prev_log_id = codec::get_opt_log_id(input)?;
    let leader_commit = codec::get_opt_log_id(input)?;
    let count = input.count("entries")?;
    let mut entries = Vec::with_capacity(count.min(4096));
    for _ in 0..count {
        let bytes = Bytes::decode(input)?;
        entries.push(codec::decode_entry(&bytes).map_err(|e| FrameError::Entry(e.to_string()))?);
    }
    Ok(AppendEntriesRequest {
        vote,
        prev_log_id,
        entries,
        leader_commit,
    })
}

fn put_vote_request(out: &mut Vec<u8>, rpc: &VoteRequest<TypeConfig>) {
    put_vote(out, &rpc.vote);
    codec::put_opt_log_id(out, &rpc.last_log_id);
    rpc.leadership_transfer.encode(out);
}

fn get_vote_request(input: &mut Input) -> Result<VoteRequest<TypeConfig>, WireError> {
    let vote = get_vote(input)?;
    let last = codec::get_opt_log_id(input)?;
    let mut rpc = VoteRequest::new(vote, last);
    rpc.leadership_transfer = bool::decode(input)?;
    Ok(rpc)
}

impl Frame {
    /// The frame's bytes, length prefix included.
    pub fn encode(&self) -> Bytes {
        let mut out = Vec::with_capacity(64);
        out.extend_from_slice(&[0; 4]);
        let kind = match &self.message {
            Message::Append(_) => kind::APPEND,
            Message::Vote(_) => kind::VOTE,
            Message::PreVote(_) => kind::PRE_VOTE,
            Message::SnapshotBegin { .. } => kind::SNAPSHOT_BEGIN,
            Message::SnapshotChunk { .. } => kind::SNAPSHOT_CHUNK,
            Message::SnapshotEnd => kind::SNAPSHOT_END,
            Message::AppendReply(_) => kind::APPEND_REPLY,
            Message::VoteReply(_) => kind::VOTE_REPLY,
            Message::SnapshotReply(_) => kind::SNAPSHOT_REPLY,
            Message::Failed(_) => kind::FAILED,
            Message::TransferLeader(_) => kind::TRANSFER_LEADER,
            Message::TransferReply(_) => kind::TRANSFER_REPLY,
            Message::AppendStream(_) => kind::APPEND_STREAM,
            Message::StreamReply(_) => kind::STREAM_REPLY,
            Message::StreamEnd => kind::STREAM_END,
        };
        out.push(kind);
        put_varint(&mut out, self.id);
        put_varint(&mut out, self.group.0);
        match &self.message {
            Message::Append(rpc) | Message::AppendStream(rpc) => put_append(&mut out, rpc),
            Message::Vote(rpc) | Message::PreVote(rpc) => put_vote_request(&mut out, rpc),
            Message::SnapshotBegin { vote, index, meta } => {
                put_vote(&mut out, vote);
                index.encode(&mut out);
                meta.encode(&mut out);
            }
            Message::SnapshotChunk { crc, data } => {
                crc.encode(&mut out);
                data.encode(&mut out);
            }
            Message::SnapshotEnd | Message::StreamEnd => {}
            Message::AppendReply(reply) => match reply {
                AppendEntriesResponse::Success => out.push(1),
                AppendEntriesResponse::PartialSuccess(id) => {
                    out.push(2);
                    codec::put_opt_log_id(&mut out, id);
                }
                AppendEntriesResponse::Conflict => out.push(3),
                AppendEntriesResponse::HigherVote(vote) => {
                    out.push(4);
                    put_vote(&mut out, vote);
                }
            },
            Message::VoteReply(reply) => {
                put_vote(&mut out, &reply.vote);
                reply.vote_granted.encode(&mut out);
                codec::put_opt_log_id(&mut out, &reply.last_log_id);
            }
            Message::SnapshotReply(reply) => put_vote(&mut out, &reply.vote),
            Message::Failed(reason) => reason.encode(&mut out),
            Message::TransferLeader(rpc) => {
                put_vote(&mut out, rpc.from_leader());
                put_varint(&mut out, *rpc.to_node_id());
                codec::put_opt_log_id(&mut out, &rpc.last_log_id().cloned());
            }
            Message::StreamReply(reply) => match reply {
                Ok(matched) => {
                    out.push(1);
                    codec::put_opt_log_id(&mut out, matched);
                }
                Err(StreamAppendError::Conflict(id)) => {
                    out.push(2);
                    codec::put_opt_log_id(&mut out, &Some(*id));
                }
                Err(StreamAppendError::HigherVote(vote)) => {
                    out.push(3);
                    put_vote(&mut out, vote);
                }
            },
            Message::TransferReply(reply) => match reply {
                Ok(()) => out.push(1),
                Err(TransferLeaderError::VoteChanged { expected, actual }) => {
                    out.push(2);
                    put_vote(&mut out, expected);
                    put_vote(&mut out, actual);
                }
                Err(TransferLeaderError::LogNotFlushed { expected, actual }) => {
                    out.push(3);
                    codec::put_opt_log_id(&mut out, expected);
                    codec::put_opt_log_id(&mut out, actual);
                }
            },
        }
        let len = (out.len() - 4) as u32;
        out[..4].copy_from_slice(&len.to_le_bytes());
        Bytes::from(out)
    }

    /// Decodes a frame's body (after its length prefix).
    pub fn decode(body: Bytes) -> Result<Frame, FrameError> {
        let mut input = Input::new(body);
        let kind = input.byte("frame kind")?;
        let id = input.varint("request id")?;
        let group = GroupId(input.varint("group")?);
        let message = match kind {
            kind::APPEND => Message::Append(get_append(&mut input)?),
            kind::APPEND_STREAM => Message::AppendStream(get_append(&mut input)?),
            kind::STREAM_REPLY => Message::StreamReply(match input.byte("stream reply")? {
                1 => Ok(codec::get_opt_log_id(&mut input)?),
                2 => Err(StreamAppendError::Conflict(
                    codec::get_opt_log_id(&mut input)?
                        .ok_or(WireError::Invalid("conflict without a log id"))?,
                )),
                3 => Err(StreamAppendError::HigherVote(get_vote(&mut input)?)),
                _ => return Err(WireError::Invalid("stream reply").into()),
            }),
            kind::VOTE => Message::Vote(get_vote_request(&mut input)?),
            kind::PRE_VOTE => Message::PreVote(get_vote_request(&mut input)?),
            kind::SNAPSHOT_BEGIN => Message::SnapshotBegin {
                vote: get_vote(&mut input)?,
                index: u64::decode(&mut input)?,
                meta: Bytes::decode(&mut input)?,
            },
            kind::SNAPSHOT_CHUNK => Message::SnapshotChunk {
                crc: u32::decode(&mut input)?,
                data: Bytes::decode(&mut input)?,
            },
            kind::SNAPSHOT_END => Message::SnapshotEnd,
            kind::STREAM_END => Message::StreamEnd,
            kind::APPEND_REPLY => Message::AppendReply(match input.byte("append reply")? {
                1 => AppendEntriesResponse::Success,
                2 => AppendEntriesResponse::PartialSuccess(codec::get_opt_log_id(&mut input)?),
                3 => AppendEntriesResponse::Conflict,
                4 => AppendEntriesResponse::HigherVote(get_vote(&mut input)?),
                _ => return Err(WireError::Invalid("append reply").into()),
            }),
            kind::VOTE_REPLY => {
                let vote = get_vote(&mut input)?;
                let granted = bool::decode(&mut input)?;
                let last = codec::get_opt_log_id(&mut input)?;
                Message::VoteReply(VoteResponse::new(vote, last, granted))
            }
            kind::SNAPSHOT_REPLY => {
                Message::SnapshotReply(SnapshotResponse::new(get_vote(&mut input)?))
            }
            kind::FAILED => Message::Failed(String::decode(&mut input)?),
            kind::TRANSFER_LEADER => {
                let vote = get_vote(&mut input)?;
                let to = input.varint("transfer target")?;
                let last = codec::get_opt_log_id(&mut input)?;
                Message::TransferLeader(TransferLeaderRequest::new(vote, to, last))
            }
            kind::TRANSFER_REPLY => Message::TransferReply(match input.byte("transfer reply")? {
                1 => Ok(()),
                2 => Err(TransferLeaderError::VoteChanged {
                    expected: get_vote(&mut input)?,
                    actual: get_vote(&mut input)?,
                }),
                3 => Err(TransferLeaderError::LogNotFlushed {
                    expected: codec::get_opt_log_id(&mut input)?,
                    actual: codec::get_opt_log_id(&mut input)?,
                }),
                _ => return Err(WireError::Invalid("transfer reply").into()),
            }),
            other => return Err(FrameError::Kind(other)),
        };
        input.finish()?;
        Ok(Frame { id, group, message })
    }
}

/// A connection's preamble: magic, version, the sender's node id.
pub fn preamble(node: u64) -> Bytes {
    let mut out = BytesMut::with_capacity(16);
    out.put_slice(MAGIC);
    out.put_u8(VERSION);
    out.put_u64_le(node);
    out.freeze()
}

/// Length of a preamble.
pub const PREAMBLE_LEN: usize = 13;

/// The node id in a peer's preamble, or why it is not one this build speaks.
pub fn parse_preamble(bytes: &[u8; PREAMBLE_LEN]) -> Result<u64, FrameError> {
    if &bytes[..4] != MAGIC {
        return Err(FrameError::Preamble(
            "the peer is not an okapi cluster port".into(),
        ));
    }
    if bytes[4] != VERSION {
        return Err(FrameError::Preamble(format!(
            "the peer speaks cluster protocol {}, this build {VERSION}: run one okapi version across the cluster",
            bytes[4]
        )));
    }
    let mut id = [0u8; 8];
    id.copy_from_slice(&bytes[5..13]);
    Ok(u64::from_le_bytes(id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::{LogBatch, Part};
    use crate::types::{Entry, LogId};
    use okapi_engine::Op;
    use okapi_engine::strings::{SetCond, SetExpire, StringOp};
    use openraft::EntryPayload;

    fn log_id(term: u64, node: u64, index: u64) -> LogId {
        LogId::new(
            openraft::impls::leader_id_adv::LeaderId {
                term,
                node_id: node,
            },
            index,
        )
    }

    fn round_trip(frame: Frame) -> Frame {
        let bytes = frame.encode();
        let len = u32::from_le_bytes(bytes[..4].try_into().expect("4 bytes")) as usize;
        assert_eq!(len, bytes.len() - 4);
        Frame::decode(bytes.slice(4..)).expect("decodes")
    }

    #[test]
    fn append_entries_keep_every_field() {
        let op = Op {
            db: okapi_types::Namespace(3),
            kind: StringOp::Set {
                key: Bytes::from_static(b"k"),
                value: Bytes::from_static(b"v"),
                cond: SetCond::Always,
                get: false,
                expire: SetExpire::Keep,
            }
            .into(),
        };
        let entries = vec![
            Entry {
                log_id: log_id(2, 7, 10),
                payload: EntryPayload::Blank,
            },
            Entry {
                log_id: log_id(2, 7, 11),
                payload: EntryPayload::Normal(LogBatch {
                    parts: vec![Part {
                        now_ms: 1234,
                        ops: vec![op],
                        writer: Default::default(),
                    }],
                }),
            },
        ];
        let rpc = AppendEntriesRequest {
            vote: Vote::new_committed(2, 7),
            prev_log_id: Some(log_id(1, 3, 9)),
            entries,
            leader_commit: Some(log_id(2, 7, 10)),
        };
        for streamed in [false, true] {
            let message = if streamed {
                Message::AppendStream(rpc.clone())
            } else {
                Message::Append(rpc.clone())
            };
            let back = round_trip(Frame {
                id: 99,
                group: GroupId(5),
                message,
            });
            assert_eq!((back.id, back.group), (99, GroupId(5)));
            let got = match back.message {
                Message::Append(got) if !streamed => got,
                Message::AppendStream(got) if streamed => got,
                other => panic!("not the append sent: {other:?}"),
            };
            assert_eq!(got.vote, rpc.vote);
            assert_eq!(got.prev_log_id, rpc.prev_log_id);
            assert_eq!(got.leader_commit, rpc.leader_commit);
            assert_eq!(got.entries, rpc.entries);
        }
    }

    #[test]
    fn replies_and_votes_round_trip() {
        for reply in [
            AppendEntriesResponse::Success,
            AppendEntriesResponse::PartialSuccess(Some(log_id(3, 1, 4))),
            AppendEntriesResponse::PartialSuccess(None),
            AppendEntriesResponse::Conflict,
            AppendEntriesResponse::HigherVote(Vote::new(9, 2)),
        ] {
            let back = round_trip(Frame {
                id: 1,
                group: GroupId(0),
                message: Message::AppendReply(reply.clone()),
            });
            assert!(matches!(back.message, Message::AppendReply(ref r) if *r == reply));
        }
        for reply in [
            Ok(Some(log_id(3, 1, 4))),
            Ok(None),
            Err(StreamAppendError::Conflict(log_id(2, 1, 7))),
            Err(StreamAppendError::HigherVote(Vote::new(9, 2))),
        ] {
            let back = round_trip(Frame {
                id: 6,
                group: GroupId(3),
                message: Message::StreamReply(reply.clone()),
            });
            assert!(matches!(back.message, Message::StreamReply(ref r) if *r == reply));
        }
        let end = round_trip(Frame {
            id: 7,
            group: GroupId(3),
            message: Message::StreamEnd,
        });
        assert!(matches!(end.message, Message::StreamEnd) && end.id == 7);
        let mut vote = VoteRequest::new(Vote::new(4, 2), Some(log_id(3, 1, 8)));
        vote.leadership_transfer = true;
        let back = round_trip(Frame {
            id: 2,
            group: GroupId(1),
            message: Message::PreVote(vote.clone()),
        });
        assert!(matches!(back.message, Message::PreVote(ref v) if *v == vote));
        let granted = VoteResponse::new(Vote::new(4, 2), Some(log_id(3, 1, 8)), true);
        let back = round_trip(Frame {
            id: 3,
            group: GroupId(1),
            message: Message::VoteReply(granted.clone()),
        });
        assert!(matches!(back.message, Message::VoteReply(ref v) if *v == granted));
        let transfer = TransferLeaderRequest::new(Vote::new(5, 1), 3, Some(log_id(5, 1, 9)));
        let back = round_trip(Frame {
            id: 4,
            group: GroupId(2),
            message: Message::TransferLeader(transfer.clone()),
        });
        assert!(matches!(back.message, Message::TransferLeader(ref t) if *t == transfer));
        for reply in [
            Ok(()),
            Err(TransferLeaderError::VoteChanged {
                expected: Vote::new(5, 1),
                actual: Vote::new(6, 2),
            }),
            Err(TransferLeaderError::LogNotFlushed {
                expected: Some(log_id(5, 1, 9)),
                actual: None,
            }),
        ] {
            let back = round_trip(Frame {
                id: 5,
                group: GroupId(2),
                message: Message::TransferReply(reply.clone()),
            });
            assert!(matches!(back.message, Message::TransferReply(ref r) if *r == reply));
        }
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        assert!(matches!(
            Frame::decode(Bytes::from_static(&[77, 1, 0])),
            Err(FrameError::Kind(77))
        ));
        assert!(Frame::decode(Bytes::from_static(&[kind::APPEND, 1])).is_err());
        let mut preamble_bytes = [0u8; PREAMBLE_LEN];
        preamble_bytes.copy_from_slice(&preamble(42));
        assert_eq!(parse_preamble(&preamble_bytes).expect("valid"), 42);
        preamble_bytes[4] = 9;
        let err = parse_preamble(&preamble_bytes).expect_err("version");
        assert!(err.to_string().contains("protocol 9"), "{err}");
        assert!(parse_preamble(b"GET / HTTP/1.").is_err());
    }
}
