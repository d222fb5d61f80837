//! How a group's Raft state is written down: log entries, the hard state (vote and
//! committed id), the purge point and snapshot metadata. Every payload starts with a
//! format byte:
//! - [`FORMAT_OKAPI`] (1): okapi's own encoding ([`okapi_types::wire`], explicit tags),
//!   written today. No openraft type is serialized: log ids, votes and memberships are
//!   written field by field, so an openraft upgrade cannot change what disk bytes mean.
//! - [`okapi_storage::LEGACY_PAYLOAD`] (0): data written before format bytes existed,
//!   which was postcard of openraft's and okapi's serde types. Still read (so a data
//!   directory from earlier builds loads as it is), never written.
//!
//! AppendEntries between nodes will carry these same bytes.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use okapi_types::wire::{Input, Wire, WireError, put_tag, put_varint, varint_len};
use openraft::EntryPayload;
use openraft::impls::BasicNode;

use crate::batch::{LogBatch, Part, Writer};
use crate::error::RaftError;
use crate::types::{Entry, LogId, SnapshotMeta, StoredMembership, Vote};

/// The format byte of okapi's own encoding.
pub const FORMAT_OKAPI: u8 = 1;

/// A batch as written: parts in order, each `now_ms`, ops and, in tag 4 entries
/// (`writers`), its writer's process token and client id. An entry with no writer in
/// any part is written as tag 2, the format before writers existed.
fn encode_batch(batch: &LogBatch, writers: bool, out: &mut Vec<u8>) {
    put_varint(out, batch.parts.len() as u64);
    for part in &batch.parts {
        part.now_ms.encode(out);
        part.ops.encode(out);
        if writers {
            part.writer.process.encode(out);
            part.writer.client.encode(out);
        }
    }
}

fn batch_len(batch: &LogBatch, writers: bool) -> usize {
    varint_len(batch.parts.len() as u64)
        + batch
            .parts
            .iter()
            .map(|part| {
                let writer = if writers {
                    part.writer.process.encoded_len() + part.writer.client.encoded_len()
                } else {
                    0
                };
                part.now_ms.encoded_len() + part.ops.encoded_len() + writer
            })
            .sum::<usize>()
}

fn decode_batch(input: &mut Input, writers: bool) -> Result<LogBatch, WireError> {
    let n = input.count("parts")?;
    let mut parts = Vec::with_capacity(n);
    for _ in 0..n {
        let now_ms = u64::decode(input)?;
        let ops = Vec::decode(input)?;
        let writer = if writers {
            Writer {
                process: u64::decode(input)?,
                client: u64::decode(input)?,
            }
        } else {
            Writer::NONE
        };
        parts.push(Part {
            now_ms,
            ops,
            writer,
        });
    }
    Ok(LogBatch { parts })
}

/// The bytes `batch` takes in an entry.
pub(crate) fn batch_encoded_len(batch: &LogBatch) -> usize {
    batch_len(batch, has_writers(batch))
}

fn has_writers(batch: &LogBatch) -> bool {
    batch.parts.iter().any(|p| p.writer != Writer::NONE)
}

const PAYLOAD_BLANK: u64 = 1;
const PAYLOAD_NORMAL: u64 = 2;
const PAYLOAD_MEMBERSHIP: u64 = 3;
/// A normal entry whose parts carry their writer.
const PAYLOAD_NORMAL_WRITERS: u64 = 4;

fn decode_error(what: &'static str) -> impl Fn(WireError) -> RaftError {
    move |e| RaftError::Decode {
        what,
        reason: e.to_string(),
    }
}

fn legacy<T: serde::de::DeserializeOwned>(
    what: &'static str,
    bytes: &[u8],
) -> Result<T, RaftError> {
    postcard::from_bytes(bytes).map_err(|e| RaftError::Decode {
        what,
        reason: format!("format 0 (postcard): {e}"),
    })
}

/// Splits off the format byte and says which decoder the rest needs.
fn format_of(what: &'static str, bytes: &Bytes) -> Result<(u8, Bytes), RaftError> {
    match bytes.first() {
        Some(&format @ (okapi_storage::LEGACY_PAYLOAD | FORMAT_OKAPI)) => {
            Ok((format, bytes.slice(1..)))
        }
        Some(&other) => Err(RaftError::Decode {
            what,
            reason: format!(
                "format {other} is newer than this build reads ({FORMAT_OKAPI}): upgrade okapi"
            ),
        }),
        None => Err(RaftError::Decode {
            what,
            reason: "empty payload".into(),
        }),
    }
}

fn put_u64(out: &mut Vec<u8>, v: u64) {
    v.encode(out);
}

fn log_id_len(id: &LogId) -> usize {
    varint_len(id.leader_id.term) + varint_len(id.leader_id.node_id) + varint_len(id.index)
}

fn put_log_id(out: &mut Vec<u8>, id: &LogId) {
    put_u64(out, id.leader_id.term);
    put_u64(out, id.leader_id.node_id);
    put_u64(out, id.index);
}

fn get_log_id(input: &mut Input) -> Result<LogId, WireError> {
    let term = u64::decode(input)?;
    let node = u64::decode(input)?;
    let index = u64::decode(input)?;
    Ok(LogId::new(
        openraft::impls::leader_id_adv::LeaderId {
            term,
            node_id: node,
        },
        index,
    ))
}

pub(crate) fn put_opt_log_id(out: &mut Vec<u8>, id: &Option<LogId>) {
    match id {
        None => out.push(0),
        Some(id) => {
            out.push(1);
            put_log_id(out, id);
        }
    }
}

pub(crate) fn get_opt_log_id(input: &mut Input) -> Result<Option<LogId>, WireError> {
    match input.byte("log id option")? {
        0 => Ok(None),
        1 => get_log_id(input).map(Some),
        _ => Err(WireError::Invalid("log id option")),
    }
}

/// A vote: term, node, committed — in the WAL's hard state and on the wire.
pub(crate) fn put_vote(out: &mut Vec<u8>, vote: &Vote) {
    put_u64(out, vote.leader_id.term);
    put_u64(out, vote.leader_id.node_id);
    vote.committed.encode(out);
}

pub(crate) fn get_vote(input: &mut Input) -> Result<Vote, WireError> {
    let term = u64::decode(input)?;
    let node = u64::decode(input)?;
    Ok(if bool::decode(input)? {
        Vote::new_committed(term, node)
    } else {
        Vote::new(term, node)
    })
}

type Membership = openraft::Membership<u64, BasicNode>;

/// Joint configs (each a sorted list of voter ids), then every node with its address.
fn put_membership(out: &mut Vec<u8>, m: &Membership) {
    let configs: Vec<Vec<u64>> = m
        .get_joint_config()
        .iter()
        .map(|c| c.iter().copied().collect())
        .collect();
    configs.encode(out);
    let nodes: Vec<(u64, String)> = m.nodes().map(|(id, n)| (*id, n.addr.clone())).collect();
    nodes.encode(out);
}

fn get_membership(input: &mut Input) -> Result<Membership, WireError> {
    let configs = Vec::<Vec<u64>>::decode(input)?
        .into_iter()
        .map(|c| c.into_iter().collect::<BTreeSet<u64>>())
        .collect();
    let nodes: BTreeMap<u64, BasicNode> = Vec::<(u64, String)>::decode(input)?
        .into_iter()
        .map(|(id, addr)| (id, BasicNode { addr }))
        .collect();
    Membership::new(configs, nodes).map_err(|_| WireError::Invalid("membership"))
}

/// A log entry's bytes, in a buffer of exactly their size (see `log_store`: growing
/// buffers cost more than encoding).
pub fn encode_entry(entry: &Entry) -> Bytes {
    let writers = matches!(&entry.payload, EntryPayload::Normal(batch) if has_writers(batch));
    let body_len = match &entry.payload {
        EntryPayload::Blank => 0,
        EntryPayload::Normal(batch) => batch_len(batch, writers),
        // Rare: measured by encoding.
        EntryPayload::Membership(_) => 64,
    };
    let mut out = Vec::with_capacity(1 + log_id_len(&entry.log_id) + 1 + body_len);
    out.push(FORMAT_OKAPI);
    put_log_id(&mut out, &entry.log_id);
    match &entry.payload {
        EntryPayload::Blank => put_tag(&mut out, PAYLOAD_BLANK),
        EntryPayload::Normal(batch) => {
            put_tag(
                &mut out,
                if writers {
                    PAYLOAD_NORMAL_WRITERS
                } else {
                    PAYLOAD_NORMAL
                },
            );
            encode_batch(batch, writers, &mut out);
        }
        EntryPayload::Membership(m) => {
            put_tag(&mut out, PAYLOAD_MEMBERSHIP);
            put_membership(&mut out, m);
        }
    }
    Bytes::from(out)
}

/// Decodes a log entry written by [`encode_entry`] or by an earlier build.
pub fn decode_entry(bytes: &Bytes) -> Result<Entry, RaftError> {
    let (format, rest) = format_of("log entry", bytes)?;
    if format == okapi_storage::LEGACY_PAYLOAD {
        return legacy("log entry", &rest);
    }
    let mut input = Input::new(rest);
    let entry = (|| {
        let log_id = get_log_id(&mut input)?;
        let payload = match input.varint("entry payload")? {
            PAYLOAD_BLANK => EntryPayload::Blank,
            PAYLOAD_NORMAL => EntryPayload::Normal(decode_batch(&mut input, false)?),
            PAYLOAD_NORMAL_WRITERS => EntryPayload::Normal(decode_batch(&mut input, true)?),
            PAYLOAD_MEMBERSHIP => EntryPayload::Membership(get_membership(&mut input)?),
            tag => {
                return Err(WireError::UnknownTag {
                    ty: "entry payload",
                    tag,
                });
            }
        };
        input.finish()?;
        Ok(Entry { log_id, payload })
    })();
    entry.map_err(decode_error("log entry"))
}

/// The vote and the last known committed id.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HardState {
    /// The vote, if any was cast.
    pub vote: Option<Vote>,
    /// The last committed log id known when it was written.
    pub committed: Option<LogId>,
}

/// A hard state's bytes.
pub fn encode_hard_state(hard: &HardState) -> Bytes {
    let mut out = Vec::with_capacity(48);
    out.push(FORMAT_OKAPI);
    match &hard.vote {
        None => out.push(0),
        Some(vote) => {
            out.push(1);
            put_vote(&mut out, vote);
        }
    }
    put_opt_log_id(&mut out, &hard.committed);
    Bytes::from(out)
}

/// Decodes a hard state.
pub fn decode_hard_state(bytes: &Bytes) -> Result<HardState, RaftError> {
    let (format, rest) = format_of("hard state", bytes)?;
    if format == okapi_storage::LEGACY_PAYLOAD {
        return legacy("hard state", &rest);
    }
    let mut input = Input::new(rest);
    let hard = (|| {
        let vote = match input.byte("vote option")? {
            0 => None,
            1 => Some(get_vote(&mut input)?),
            _ => return Err(WireError::Invalid("vote option")),
        };
        let committed = get_opt_log_id(&mut input)?;
        input.finish()?;
        Ok(HardState { vote, committed })
    })();
    hard.map_err(decode_error("hard state"))
}

/// A purge point's bytes (the last purged log id).
pub fn encode_log_id(id: &LogId) -> Bytes {
    let mut out = Vec::with_capacity(1 + log_id_len(id));
    out.push(FORMAT_OKAPI);
    put_log_id(&mut out, id);
    Bytes::from(out)
}

/// Decodes a purge point.
pub fn decode_log_id(bytes: &Bytes) -> Result<LogId, RaftError> {
    let (format, rest) = format_of("purged log id", bytes)?;
    if format == okapi_storage::LEGACY_PAYLOAD {
        return legacy("purged log id", &rest);
    }
    let mut input = Input::new(rest);
    let id = get_log_id(&mut input).and_then(|id| input.finish().map(|()| id));
    id.map_err(decode_error("purged log id"))
}

/// What a snapshot file's metadata holds.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct FileMeta {
    /// openraft's view: last included log id and membership.
    pub meta: SnapshotMeta,
    /// The machine's header (engine seed, namespaces ...).
    pub header: Vec<u8>,
    /// When the snapshot began, Unix seconds (LASTSAVE after a restart).
    pub taken_at: u64,
}

/// Snapshot metadata's bytes.
pub fn encode_file_meta(file: &FileMeta) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + file.header.len());
    out.push(FORMAT_OKAPI);
    put_opt_log_id(&mut out, &file.meta.last_log_id);
    put_opt_log_id(&mut out, file.meta.last_membership.log_id());
    put_membership(&mut out, file.meta.last_membership.membership());
    Bytes::copy_from_slice(&file.header).encode(&mut out);
    file.taken_at.encode(&mut out);
    out
}

/// Decodes snapshot metadata.
pub fn decode_file_meta(bytes: &[u8]) -> Result<FileMeta, RaftError> {
    let bytes = Bytes::copy_from_slice(bytes);
    let (format, rest) = format_of("snapshot meta", &bytes)?;
    if format == okapi_storage::LEGACY_PAYLOAD {
        return legacy("snapshot meta", &rest);
    }
    let mut input = Input::new(rest);
    let file = (|| {
        let last_log_id = get_opt_log_id(&mut input)?;
        let membership_log_id = get_opt_log_id(&mut input)?;
        let membership = get_membership(&mut input)?;
        let header = Bytes::decode(&mut input)?.to_vec();
        let taken_at = u64::decode(&mut input)?;
        input.finish()?;
        Ok(FileMeta {
            meta: SnapshotMeta {
                last_log_id,
                last_membership: StoredMembership::new(membership_log_id, membership),
            },
            header,
            taken_at,
        })
    })();
    file.map_err(decode_error("snapshot meta"))
}

#[cfg(test)]
mod tests;
