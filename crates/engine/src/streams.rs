//! Stream ops and reads: XADD, XTRIM, XDEL, XSETID, XRANGE/XREVRANGE, XLEN, XREAD,
//! and the consumer-group commands in [`groups`]. IDs of `*` and every delivery or
//! claim time are the op's leader-stamped time, so every replica reaches the same
//! state.

mod groups;
mod info;

pub use groups::{Claim, ClaimTime, GroupFrom, GroupStart, PendingRange, ReadGroup};

use bytes::Bytes;

use crate::engine::{ApplyCtx, ReadCtx};
use crate::error::EngineError;
use crate::keyspace::Keyspace;
use crate::notify::EventClass;
use crate::reply::Reply;
use crate::stream::{StreamId, StreamValue, TrimBound};
use crate::value::detach;

type Stream = Box<StreamValue>;

/// The ID XADD is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum IdSpec {
    /// `*`: the op's time, or the next sequence of the last ID.
    Auto,
    /// `ms-*`: the next sequence within `ms`.
    AutoSeq(u64),
    /// A full ID.
    Explicit(StreamId),
}

/// A trim request (XADD's MAXLEN/MINID options, XTRIM).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Trim {
    /// What to keep.
    pub bound: TrimBound,
    /// `~`: whole nodes only.
    pub approx: bool,
    /// Most entries an approximate trim removes (0: no cap).
    pub limit: u64,
}

/// Where XREAD starts in one stream.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum ReadFrom {
    /// Entries after this ID.
    After(StreamId),
    /// `$`: after the stream's last ID (nothing, unless blocking).
    Last,
    /// An ID that does not parse: reported after the key's type is checked.
    Invalid(EngineError),
}

/// Stream writes.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[allow(clippy::large_enum_variant)]
pub enum StreamOp {
    /// XADD.
    Add {
        /// Key.
        key: Bytes,
        /// Requested ID.
        id: IdSpec,
        /// Field/value pairs, flat.
        fields: Vec<Bytes>,
        /// Do not create the stream.
        nomkstream: bool,
        /// Trim after adding.
        trim: Option<Trim>,
    },
    /// XTRIM.
    Trim {
        /// Key.
        key: Bytes,
        /// How.
        trim: Trim,
    },
    /// XDEL.
    Del {
        /// Key.
        key: Bytes,
        /// IDs.
        ids: Vec<StreamId>,
    },
    /// XSETID.
    SetId {
        /// Key.
        key: Bytes,
        /// New last ID.
        id: StreamId,
        /// ENTRIESADDED.
        entries_added: Option<u64>,
        /// MAXDELETEDID.
        max_deleted: Option<StreamId>,
    },
    /// XGROUP CREATE.
    GroupCreate {
        /// Key.
        key: Bytes,
        /// Group name.
        group: Bytes,
        /// Where the group starts.
        start: GroupStart,
        /// MKSTREAM.
        mkstream: bool,
        /// ENTRIESREAD (-1: unknown).
        entries_read: i64,
    },
    /// XGROUP SETID.
    GroupSetId {
        /// Key.
        key: Bytes,
        /// Group name.
        group: Bytes,
        /// The new last delivered ID.
        start: GroupStart,
        /// ENTRIESREAD (-1: unknown).
        entries_read: i64,
    },
    /// XGROUP DESTROY.
    GroupDestroy {
        /// Key.
        key: Bytes,
        /// Group name.
        group: Bytes,
    },
    /// XGROUP CREATECONSUMER.
    ConsumerCreate {
        /// Key.
        key: Bytes,
        /// Group name.
        group: Bytes,
        /// Consumer name.
        consumer: Bytes,
    },
    /// XGROUP DELCONSUMER.
    ConsumerDelete {
        /// Key.
        key: Bytes,
        /// Group name.
        group: Bytes,
        /// Consumer name.
        consumer: Bytes,
    },
    /// XREADGROUP.
    ReadGroup(Box<ReadGroup>),
    /// XACK.
    Ack {
        /// Key.
        key: Bytes,
        /// Group name.
        group: Bytes,
        /// IDs to acknowledge.
        ids: Vec<StreamId>,
        /// An ID that does not parse: reported once the key and group are found.
        error: Option<EngineError>,
    },
    /// XCLAIM.
    Claim(Box<Claim>),
    /// XAUTOCLAIM.
    AutoClaim {
        /// Key.
        key: Bytes,
        /// Group name.
        group: Bytes,
        /// Consumer that takes the entries.
        consumer: Bytes,
        /// Only entries idle this long (ms).
        min_idle: i64,
        /// First PEL ID to look at.
        start: StreamId,
        /// Most entries to claim.
        count: u64,
        /// JUSTID.
        justid: bool,
    },
}

/// Stream reads.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum StreamQuery {
    /// XRANGE / XREVRANGE over `start..=end` (already made inclusive).
    Range {
        /// Key.
        key: Bytes,
        /// Lowest ID.
        start: StreamId,
        /// Highest ID.
        end: StreamId,
        /// COUNT (`None`: all; `Some(0)`: a null reply, as Redis).
        count: Option<u64>,
        /// Highest first.
        rev: bool,
    },
    /// XLEN.
    Len {
        /// Key.
        key: Bytes,
    },
    /// XREAD without blocking.
    Read {
        /// Keys and where to read from.
        streams: Vec<(Bytes, ReadFrom)>,
        /// COUNT per stream (0: all).
        count: u64,
        /// BLOCK was given (the server waits when nothing is served; see
        /// [`crate::Wait`]).
        wait: bool,
    },
    /// XDEL with an ID that does not parse: Redis looks the key up first, so a
    /// missing key answers 0 and another type WRONGTYPE before the ID error.
    DelInvalid {
        /// Key.
        key: Bytes,
        /// The ID error.
        error: EngineError,
    },
    /// XPENDING.
    Pending {
        /// Key.
        key: Bytes,
        /// Group name.
        group: Bytes,
        /// The extended form's arguments (`None`: the summary).
        range: Option<PendingRange>,
    },
    /// XINFO STREAM [FULL [COUNT n]].
    InfoStream {
        /// Key.
        key: Bytes,
        /// FULL with its COUNT (0: everything).
        full: Option<u64>,
        /// An option error, reported after the key is found (as Redis).
        error: Option<EngineError>,
    },
    /// XINFO GROUPS.
    InfoGroups {
        /// Key.
        key: Bytes,
    },
    /// XINFO CONSUMERS.
    InfoConsumers {
        /// Key.
        key: Bytes,
        /// Group name.
        group: Bytes,
    },
}

const ADD_NOT_ABOVE: &str =
    "ERR The ID specified in XADD is equal or smaller than the target stream top item";

fn err(text: &str) -> EngineError {
    EngineError::Other(text.to_owned())
}

/// A name inside an error text as Redis's `%s` prints it: up to the first NUL, with
/// line breaks turned into spaces so the reply stays one line.
fn c_text(name: &[u8]) -> String {
    let name = name.split(|&b| b == 0).next().unwrap_or_default();
    String::from_utf8_lossy(name).replace(['\r', '\n'], " ")
}

/// An entry as Redis replies it: `[id, [field, value, ...]]`.
fn entry_reply(id: &StreamId, fields: &[Bytes]) -> Reply {
    Reply::Array(vec![
        Reply::Bulk(id.to_bytes()),
        Reply::Array(fields.iter().cloned().map(Reply::Bulk).collect()),
    ])
}

impl StreamOp {
    pub(crate) fn apply(self, ks: &mut Keyspace, ctx: &ApplyCtx) -> Result<Reply, EngineError> {
        match self {
            StreamOp::Add {
                key,
                id,
                fields,
                nomkstream,
                trim,
            } => {
                let existed = ks.write_as::<Stream>(&key, ctx)?.is_some();
                if !existed && nomkstream {
                    return Ok(Reply::Nil);
                }
                let stream = ks.write_or_create::<Stream>(&key, ctx)?;
                let result = add(stream, id, fields, ctx.now_ms);
                match result {
                    Ok(added) => {
                        let trimmed =
                            trim.is_some_and(|t| stream.trim(t.bound, t.approx, t.limit) > 0);
                        ks.notify(EventClass::STREAM, "xadd", &key);
                        if trimmed {
                            ks.notify(EventClass::STREAM, "xtrim", &key);
                        }
                        ks.finish_write::<Stream>(&key, ctx, true);
                        Ok(Reply::Bulk(added.to_bytes()))
                    }
                    Err(e) => {
                        if !existed {
                            // Redis checks before creating the key; nothing stays.
                            ks.discard_created(&key, ctx);
                        }
                        Err(e)
                    }
                }
            }
            StreamOp::Trim { key, trim } => {
                let Some(stream) = ks.write_as::<Stream>(&key, ctx)? else {
                    return Ok(Reply::Int(0));
                };
                let removed = stream.trim(trim.bound, trim.approx, trim.limit);
                if removed > 0 {
                    ks.notify(EventClass::STREAM, "xtrim", &key);
                }
                ks.finish_write::<Stream>(&key, ctx, removed > 0);
                Ok(Reply::Int(removed as i64))
            }
            StreamOp::Del { key, ids } => {
                let Some(stream) = ks.write_as::<Stream>(&key, ctx)? else {
                    return Ok(Reply::Int(0));
                };
                let removed = ids.iter().filter(|id| stream.delete(**id)).count();
                if removed > 0 {
                    ks.notify(EventClass::STREAM, "xdel", &key);
                }
                ks.finish_write::<Stream>(&key, ctx, removed > 0);
                Ok(Reply::Int(removed as i64))
            }
            StreamOp::SetId {
                key,
                id,
                entries_added,
                max_deleted,
            } => {
                let Some(stream) = ks.write_as::<Stream>(&key, ctx)? else {
                    return Err(EngineError::NoSuchKey);
                };
                if let Some(top) = stream.last_entry_id() {
                    if id < top {
                        return Err(err(
                            "ERR The ID specified in XSETID is smaller than the target stream top item",
                        ));
                    }
                    if entries_added.is_some_and(|n| (stream.len() as u64) > n) {
                        return Err(err(
                            "ERR The entries_added specified in XSETID is smaller than the target stream length",
                        ));
                    }
                }
                stream.last_id = id;
                if let Some(n) = entries_added {
                    stream.entries_added = n;
                }
                if let Some(m) = max_deleted.filter(|m| *m != StreamId::MIN) {
                    stream.max_deleted_id = m;
                }
                ks.notify(EventClass::STREAM, "xsetid", &key);
                ks.finish_write::<Stream>(&key, ctx, true);
                Ok(Reply::Ok)
            }
            other => groups::apply(other, ks, ctx),
        }
    }
}

/// `streamAppendItem`'s ID rules.
fn add(
    stream: &mut StreamValue,
    id: IdSpec,
    fields: Vec<Bytes>,
    now_ms: u64,
) -> Result<StreamId, EngineError> {
    let last = stream.last_id;
    if last == StreamId::MAX {
        return Err(err(
            "ERR The stream has exhausted the last possible ID, unable to add more items",
        ));
    }
    let new = match id {
        IdSpec::Auto => {
            if now_ms > last.ms {
                StreamId { ms: now_ms, seq: 0 }
            } else {
                last.next().ok_or_else(|| err(ADD_NOT_ABOVE))?
            }
        }
        IdSpec::AutoSeq(ms) => {
            if ms == last.ms {
                if last.seq == u64::MAX {
                    return Err(err(ADD_NOT_ABOVE));
                }
                StreamId {
                    ms,
                    seq: last.seq + 1,
                }
            } else {
                StreamId { ms, seq: 0 }
            }
        }
        IdSpec::Explicit(id) => id,
    };
    if new <= last {
        return Err(err(ADD_NOT_ABOVE));
    }
    // Fields arrive as slices of the request buffer: own them.
    let fields: Box<[Bytes]> = fields.into_iter().map(detach).collect();
    stream.push(new, fields);
    Ok(new)
}

impl StreamQuery {
    pub(crate) fn run(&self, ks: &mut Keyspace, ctx: &ReadCtx) -> Result<Reply, EngineError> {
        let now = ctx.now_ms;
        match self {
            StreamQuery::Range {
                key,
                start,
                end,
                count,
                rev,
            } => {
                let Some(stream) = ks.read_as::<Stream>(key, now)? else {
                    return Ok(Reply::Array(Vec::new()));
                };
                if *count == Some(0) {
                    return Ok(Reply::NilArray);
                }
                let take = count.map_or(usize::MAX, |c| c as usize);
                let range = stream.range(*start, *end);
                let items: Vec<Reply> = if *rev {
                    range
                        .rev()
                        .take(take)
                        .map(|(id, f)| entry_reply(id, f))
                        .collect()
                } else {
                    range.take(take).map(|(id, f)| entry_reply(id, f)).collect()
                };
                Ok(Reply::Array(items))
            }
            StreamQuery::DelInvalid { key, error } => match ks.peek_as::<Stream>(key, now)? {
                None => Ok(Reply::Int(0)),
                Some(_) => Err(error.clone()),
            },
            StreamQuery::Len { key } => Ok(Reply::Int(
                ks.read_as::<Stream>(key, now)?
                    .map_or(0, |s| s.len() as i64),
            )),
            StreamQuery::Read { streams, count, .. } => {
                let mut starts = Vec::with_capacity(streams.len());
                for (key, from) in streams {
                    let stream = ks.peek_as::<Stream>(key, now)?;
                    starts.push(match from {
                        ReadFrom::Invalid(e) => return Err(e.clone()),
                        ReadFrom::After(id) => *id,
                        ReadFrom::Last => stream.map_or(StreamId::MIN, |s| s.last_id),
                    });
                }
                let mut served = Vec::new();
                for ((key, _), after) in streams.iter().zip(starts) {
                    let Some(stream) = ks.peek_as::<Stream>(key, now)? else {
                        continue;
                    };
                    // Served only when the last live entry is past the start (XSETID
                    // and XDEL can leave `last_id` beyond it).
                    if stream.last_entry_id().is_none_or(|top| top <= after) {
                        continue;
                    }
                    let Some(from) = after.next() else {
                        continue;
                    };
                    let take = if *count == 0 {
                        usize::MAX
                    } else {
                        *count as usize
                    };
                    let entries: Vec<Reply> = stream
                        .range(from, StreamId::MAX)
                        .take(take)
                        .map(|(id, f)| entry_reply(id, f))
                        .collect();
                    served.push((Reply::Bulk(key.clone()), Reply::Array(entries)));
                }
                if served.is_empty() {
                    return Ok(Reply::NilArray);
                }
                Ok(Reply::Keyed(served))
            }
            StreamQuery::Pending { key, group, range } => {
                groups::pending(ks, now, key, group, range.as_ref())
            }
            StreamQuery::InfoStream { key, full, error } => {
                info::stream(ks, now, key, *full, error.as_ref())
            }
            StreamQuery::InfoGroups { key } => info::groups(ks, now, key),
            StreamQuery::InfoConsumers { key, group } => info::consumers(ks, now, key, group),
        }
    }
}
