//! One key record of a snapshot chunk, and the end record.
//!
//! ```text
//! chunk    := FORMAT:u8 record*
//! record   := tag:u8 body            (tags are append-only, never reused)
//! key body := db:varint key:bytes expire_at:varint created_ms:varint
//!             (updated_ms - created_ms):zigzag version:varint payload
//! payload  := STR      bytes                      (text, kept as text)
//!           | STR_INT  zigzag                     (a string stored as an integer)
//!           | HASH     seed count (field:bytes value:bytes)*
//!           | LIST     count item:bytes*          (head first)
//!           | SET      seed count member:bytes*
//!           | ZSET     seed count (member:bytes score:f64 LE bits)*  (ascending)
//!           | TABLE    count (field:bytes value:bytes)*   (ascending fields)
//!           | BLOCK    length:varint pages:varint     (the pages follow in PAGES records)
//!           | STREAM   last_id max_deleted_id entries_added:varint count
//!                    (id nfields:varint field:bytes*)* nodes (start:id taken:varint live:varint)*
//!                    (an id is ms:varint seq:varint; entries ascending)
//!           | STREAM_NODES  as STREAM, each node followed by its last id (the last
//!                    entry it took in, deleted or not)
//!           | STREAM_NODES_GROUPS  the STREAM_NODES payload, then the groups as in
//!                    STREAM_GROUPS
//!           | STREAM_GROUPS  the STREAM payload, then count (name:bytes last_id
//!                    entries_read:zigzag consumers:count (name:bytes seen_ms:varint)*
//!                    pending:count (id delivery_ms:varint deliveries:varint
//!                    owner:varint)*)*   (names ascending; owner indexes the consumers)
//! PAGES body := db:varint key:bytes count:varint (index:varint page)*
//! page     := 0 bytes[PAGE_SIZE]                 (a new page; numbered from 0 in stream order)
//!           | 1 number:varint                    (a page sent earlier: shared between blocks)
//! END body := records:varint                      (key records in the whole stream)
//! seed     := (container seed XOR namespace seed):varint  — 0 unless COPY/MOVE
//!             brought the value from another namespace
//! ```
//! The payload lists logical contents only, never the table layout, so the format
//! outlives any change of in-memory representation. `read_ms` is a local observation
//! and not part of it. A block's pages travel in PAGES records after its key record,
//! any number of them and not necessarily next to it, so one huge block never makes a
//! huge chunk; a page shared by clones travels once and is referred to after that, so
//! clones are still shared after a restore.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use foldhash::fast::FixedState;

use super::codec::{Reader, corrupt, put_bytes, put_signed, put_varint};
use crate::blocks::{BlockValue, MAX_BLOCK_LEN, PAGE_SIZE, Page};
use crate::dict::Dict;
use crate::error::EngineError;
use crate::value::{Entry, StrValue, Value};
use crate::zset::ZSetValue;

/// Version of the chunk format; the first byte of every chunk.
pub(crate) const FORMAT: u8 = 1;

const END: u8 = 0;
const STR: u8 = 1;
const STR_INT: u8 = 2;
const HASH: u8 = 3;
const LIST: u8 = 4;
const SET: u8 = 5;
const ZSET: u8 = 6;
const TABLE: u8 = 7;
const BLOCK: u8 = 8;
const PAGES: u8 = 9;
const STREAM: u8 = 10;
const STREAM_GROUPS: u8 = 11;
const STREAM_NODES: u8 = 12;
const STREAM_NODES_GROUPS: u8 = 13;

const PAGE_NEW: u8 = 0;
const PAGE_SENT: u8 = 1;

/// Appends the record of `key` holding `entry` in namespace `db`, whose seed is
/// `space_seed`.
pub(crate) fn encode(out: &mut Vec<u8>, db: u32, key: &[u8], entry: &Entry, space_seed: u64) {
    out.push(value_tag(&entry.value));
    put_varint(out, u64::from(db));
    put_bytes(out, key);
    put_varint(out, entry.expire_at);
    put_varint(out, entry.created_ms);
    put_signed(out, entry.updated_ms.wrapping_sub(entry.created_ms) as i64);
    put_varint(out, entry.version);
    encode_value(out, &entry.value, space_seed);
}

/// The record tag of `value`.
pub(crate) fn value_tag(value: &Value) -> u8 {
    match value {
        Value::Str(s) if s.as_int().is_some() => STR_INT,
        Value::Str(_) => STR,
        Value::Hash(_) => HASH,
        Value::List(_) => LIST,
        Value::Set(_) => SET,
        Value::ZSet(_) => ZSET,
        Value::Table(_) => TABLE,
        Value::Block(_) => BLOCK,
        Value::Stream(s) if s.groups.is_empty() => STREAM_NODES,
        Value::Stream(_) => STREAM_NODES_GROUPS,
    }
}

/// A value's payload (what follows the key fields of its record); a block's pages are
/// not in it.
pub(crate) fn encode_value(out: &mut Vec<u8>, value: &Value, space_seed: u64) {
    match value {
        Value::Str(s) => match s.as_int() {
            Some(n) => put_signed(out, n),
            None => s.with_bytes(|b| put_bytes(out, b)),
        },
        Value::Hash(h) => {
            put_varint(out, h.seed() ^ space_seed);
            put_varint(out, h.len() as u64);
            for (field, value) in h.iter() {
                put_bytes(out, field);
                put_bytes(out, value);
            }
        }
        Value::List(l) => {
            put_varint(out, l.len() as u64);
            l.iter().for_each(|item| put_bytes(out, item));
        }
        Value::Set(s) => {
            put_varint(out, s.seed() ^ space_seed);
            put_varint(out, s.len() as u64);
            s.keys().for_each(|member| put_bytes(out, member));
        }
        Value::ZSet(z) => {
            put_varint(out, z.seed() ^ space_seed);
            put_varint(out, z.len() as u64);
            for e in z.iter() {
                put_bytes(out, &e.member);
                out.extend_from_slice(&e.score.to_bits().to_le_bytes());
            }
        }
        Value::Table(t) => {
            put_varint(out, t.len() as u64);
            for (field, value) in t.iter() {
                put_bytes(out, field);
                put_bytes(out, value);
            }
        }
        Value::Block(b) => {
            put_varint(out, b.len());
            put_varint(out, b.pages_used() as u64);
        }
        Value::Stream(s) => {
            put_stream(out, s);
            if !s.groups.is_empty() {
                put_groups(out, s);
            }
        }
    }
}

/// Numbers the pages a snapshot stream has carried, so a page shared by several
/// blocks travels once. Holds every page it numbered until the stream ends: a freed
/// page's address could otherwise be reused by a different page and be mistaken for it.
#[derive(Default)]
pub(crate) struct PageNumbers {
    numbers: HashMap<usize, u64, FixedState>,
    held: Vec<Page>,
}

/// Appends a PAGES record for `pages` of the block at `key` in namespace `db`.
pub(crate) fn encode_pages(
    out: &mut Vec<u8>,
    db: u32,
    key: &[u8],
    pages: &[(u64, &Page)],
    numbers: &mut PageNumbers,
) {
    out.push(PAGES);
    put_varint(out, u64::from(db));
    put_bytes(out, key);
    put_varint(out, pages.len() as u64);
    for &(index, page) in pages {
        put_varint(out, index);
        let address = Arc::as_ptr(page) as usize;
        match numbers.numbers.get(&address) {
            Some(&number) => {
                out.push(PAGE_SENT);
                put_varint(out, number);
            }
            None => {
                out.push(PAGE_NEW);
                out.extend_from_slice(page.bytes());
                numbers.numbers.insert(address, numbers.held.len() as u64);
                numbers.held.push(Arc::clone(page));
            }
        }
    }
}

/// Appends the end record: `records` key records were emitted in all.
pub(crate) fn encode_end(out: &mut Vec<u8>, records: u64) {
    out.push(END);
    put_varint(out, records);
}

/// A decoded record.
pub(crate) enum Record<'a> {
    /// A key of namespace `db`; a block announces how many pages will follow.
    Key {
        db: usize,
        key: &'a [u8],
        entry: Entry,
        pages: u64,
    },
    /// Pages of the block at `key`: `(index, source)` in order.
    Pages {
        db: usize,
        key: &'a [u8],
        pages: Vec<(u64, PageSource<'a>)>,
    },
    /// The end of the stream, with the number of key records it held.
    End { records: u64 },
}

/// Where a restored page comes from.
pub(crate) enum PageSource<'a> {
    /// Its bytes, sent for the first time.
    New(&'a [u8]),
    /// The page sent earlier with this number.
    Sent(u64),
}

/// Decodes the next record; `space_seeds[db]` is the seed of namespace `db`.
pub(crate) fn decode<'a>(
    r: &mut Reader<'a>,
    space_seeds: &[u64],
) -> Result<Record<'a>, EngineError> {
    let tag = r.u8()?;
    if tag == END {
        return Ok(Record::End {
            records: r.varint()?,
        });
    }
    let db = usize::try_from(r.varint()?).map_err(|_| corrupt("namespace out of range"))?;
    let space_seed = *space_seeds
        .get(db)
        .ok_or_else(|| corrupt("namespace out of range"))?;
    let key = r.bytes()?;
    if tag == PAGES {
        let count = r.count()?;
        let mut pages = Vec::with_capacity(count.min(r.remaining()));
        for _ in 0..count {
            let index = r.varint()?;
            let source = match r.u8()? {
                PAGE_NEW => PageSource::New(r.slice(PAGE_SIZE)?),
                PAGE_SENT => PageSource::Sent(r.varint()?),
                _ => return Err(corrupt("unknown page kind")),
            };
            pages.push((index, source));
        }
        return Ok(Record::Pages { db, key, pages });
    }
    let expire_at = r.varint()?;
    let created_ms = r.varint()?;
    let updated_ms = created_ms.wrapping_add(r.signed()? as u64);
    let version = r.varint()?;
    let (value, pages) = decode_value(tag, r, space_seed)?;
    let entry = Entry {
        value,
        expire_at,
        created_ms,
        updated_ms,
        // Never read on this node yet: the same as a key written at `updated_ms`.
        read_ms: updated_ms,
        version,
    };
    Ok(Record::Key {
        db,
        key,
        entry,
        pages,
    })
}

/// Decodes a value's payload after its tag: the value, and for a block the number of
/// pages that follow in PAGES records.
pub(crate) fn decode_value(
    tag: u8,
    r: &mut Reader<'_>,
    space_seed: u64,
) -> Result<(Value, u64), EngineError> {
    // Pages a block record announces (they come in PAGES records).
    let mut pages = 0;
    let value = match tag {
        STR => Value::Str(StrValue::from_text(r.bytes()?)),
        STR_INT => Value::Str(StrValue::int(r.signed()?)),
        HASH => Value::Hash(Box::new(decode_hash(r, space_seed)?)),
        LIST => {
            let count = nonempty(r.count()?)?;
            let mut list = crate::value::ListValue::with_capacity(count);
            for _ in 0..count {
                list.push_back(Bytes::copy_from_slice(r.bytes()?));
            }
            Value::List(list)
        }
        SET => {
            let seed = r.varint()? ^ space_seed;
            let count = nonempty(r.count()?)?;
            let mut set = Dict::with_capacity(seed, count);
            for _ in 0..count {
                if set.insert(Bytes::copy_from_slice(r.bytes()?), ()).is_some() {
                    return Err(corrupt("duplicate set member"));
                }
            }
            Value::Set(Box::new(set))
        }
        ZSET => Value::ZSet(Box::new(decode_zset(r, space_seed)?)),
        TABLE => {
            let count = nonempty(r.count()?)?;
            let mut table = crate::value::TableValue::new();
            let mut last: Option<&[u8]> = None;
            for _ in 0..count {
                let field = r.bytes()?;
                // Written in ascending order: anything else is damage, not data.
                if last.is_some_and(|l| l >= field) {
                    return Err(corrupt("table fields out of order"));
                }
                last = Some(field);
                table.insert(
                    Bytes::copy_from_slice(field),
                    Bytes::copy_from_slice(r.bytes()?),
                );
            }
            Value::Table(Box::new(table))
        }
        STREAM => Value::Stream(Box::new(decode_stream(r, false)?)),
        STREAM_NODES => Value::Stream(Box::new(decode_stream(r, true)?)),
        STREAM_GROUPS | STREAM_NODES_GROUPS => {
            let mut stream = decode_stream(r, tag == STREAM_NODES_GROUPS)?;
            decode_groups(r, &mut stream)?;
            Value::Stream(Box::new(stream))
        }
        BLOCK => {
            let len = r.varint()?;
            if len > MAX_BLOCK_LEN {
                return Err(corrupt("block longer than the maximum"));
            }
            pages = r.varint()?;
            if pages > len.div_ceil(PAGE_SIZE as u64) {
                return Err(corrupt("more block pages than the block holds"));
            }
            Value::Block(BlockValue::new(len))
        }
        _ => return Err(corrupt("unknown record type")),
    };
    Ok((value, pages))
}

/// Containers are removed when they drain, so an empty one means corrupt data.
fn nonempty(count: usize) -> Result<usize, EngineError> {
    if count == 0 {
        return Err(corrupt("empty container"));
    }
    Ok(count)
}

fn decode_hash(r: &mut Reader<'_>, space_seed: u64) -> Result<Dict<Bytes, Bytes>, EngineError> {
    let seed = r.varint()? ^ space_seed;
    let count = nonempty(r.count()?)?;
    let mut hash = Dict::with_capacity(seed, count);
    for _ in 0..count {
        let field = Bytes::copy_from_slice(r.bytes()?);
        let value = Bytes::copy_from_slice(r.bytes()?);
        if hash.insert(field, value).is_some() {
            return Err(corrupt("duplicate hash field"));
        }
    }
    Ok(hash)
}

fn decode_zset(r: &mut Reader<'_>, space_seed: u64) -> Result<ZSetValue, EngineError> {
    let seed = r.varint()? ^ space_seed;
    let count = nonempty(r.count()?)?;
    let mut zset = ZSetValue::with_capacity(seed, count);
    for _ in 0..count {
        let member = Bytes::copy_from_slice(r.bytes()?);
        let score = f64::from_bits(u64::from_le_bytes(r.array::<8>()?));
        if score.is_nan() {
            return Err(corrupt("NaN score"));
        }
        if !zset.restore_insert(member, score) {
            return Err(corrupt("duplicate sorted-set member"));
        }
    }
    Ok(zset)
}

/// A stream's STREAM payload; the digest hashes the same bytes (node boundaries
/// included: they decide what a later `~` trim drops, so replicas must agree on them).
pub(crate) fn put_stream(out: &mut Vec<u8>, s: &crate::stream::StreamValue) {
    for id in [s.last_id, s.max_deleted_id] {
        put_varint(out, id.ms);
        put_varint(out, id.seq);
    }
    put_varint(out, s.entries_added);
    put_varint(out, s.len() as u64);
    for (id, fields) in s.iter() {
        put_varint(out, id.ms);
        put_varint(out, id.seq);
        put_varint(out, fields.len() as u64);
        fields.iter().for_each(|f| put_bytes(out, f));
    }
    put_varint(out, s.nodes().count() as u64);
    for (start, taken, live, last) in s.nodes() {
        put_varint(out, start.ms);
        put_varint(out, start.seq);
        put_varint(out, taken);
        put_varint(out, live);
        put_varint(out, last.ms);
        put_varint(out, last.seq);
    }
}

/// A stream's consumer groups (the STREAM_GROUPS tail); the digest hashes them too.
pub(crate) fn put_groups(out: &mut Vec<u8>, s: &crate::stream::StreamValue) {
    let put_id = |out: &mut Vec<u8>, id: &crate::stream::StreamId| {
        put_varint(out, id.ms);
        put_varint(out, id.seq);
    };
    put_varint(out, s.groups.len() as u64);
    for (name, g) in &s.groups {
        put_bytes(out, name);
        put_id(out, &g.last_id);
        put_signed(out, g.entries_read);
        put_varint(out, g.consumers.len() as u64);
        let mut index = HashMap::with_capacity(g.consumers.len());
        for (i, (consumer, c)) in g.consumers.iter().enumerate() {
            put_bytes(out, consumer);
            put_varint(out, c.seen_ms);
            index.insert(consumer.clone(), i as u64);
        }
        put_varint(out, g.pel.len() as u64);
        for (id, nack) in &g.pel {
            put_id(out, id);
            put_varint(out, nack.delivery_ms);
            put_varint(out, nack.delivery_count);
            put_varint(out, index.get(&nack.consumer).copied().unwrap_or(u64::MAX));
        }
    }
}

fn decode_groups(
    r: &mut Reader<'_>,
    stream: &mut crate::stream::StreamValue,
) -> Result<(), EngineError> {
    use crate::stream::StreamId;
    use crate::stream::group::{Consumer, Group, Pending};
    let id = |r: &mut Reader<'_>| -> Result<StreamId, EngineError> {
        Ok(StreamId {
            ms: r.varint()?,
            seq: r.varint()?,
        })
    };
    let count = nonempty(r.count()?)?;
    for _ in 0..count {
        let name = Bytes::copy_from_slice(r.bytes()?);
        let last_id = id(r)?;
        let entries_read = r.signed()?;
        let mut group = Group::new(last_id, entries_read);
        let consumers = r.count()?;
        let mut names = Vec::with_capacity(consumers);
        for _ in 0..consumers {
            let consumer = Bytes::copy_from_slice(r.bytes()?);
            let seen_ms = r.varint()?;
            if names.last().is_some_and(|last: &Bytes| *last >= consumer) {
                return Err(corrupt("stream consumers out of order"));
            }
            names.push(consumer.clone());
            group.consumers.insert(
                consumer,
                Consumer {
                    seen_ms,
                    pel: Default::default(),
                },
            );
        }
        let pending = r.count()?;
        for _ in 0..pending {
            let entry = id(r)?;
            let delivery_ms = r.varint()?;
            let delivery_count = r.varint()?;
            let owner = usize::try_from(r.varint()?)
                .ok()
                .and_then(|i| names.get(i))
                .ok_or_else(|| corrupt("pending entry without a consumer"))?
                .clone();
            if let Some(c) = group.consumers.get_mut(&owner) {
                c.pel.insert(entry);
            }
            let nack = Pending {
                delivery_ms,
                delivery_count,
                consumer: owner,
            };
            if group.pel.insert(entry, nack).is_some() {
                return Err(corrupt("duplicate pending entry"));
            }
        }
        if stream.groups.insert(name, group).is_some() {
            return Err(corrupt("duplicate consumer group"));
        }
    }
    Ok(())
}

fn decode_stream(
    r: &mut Reader<'_>,
    with_last: bool,
) -> Result<crate::stream::StreamValue, EngineError> {
    use crate::stream::{StreamId, StreamValue};
    let id = |r: &mut Reader<'_>| -> Result<StreamId, EngineError> {
        Ok(StreamId {
            ms: r.varint()?,
            seq: r.varint()?,
        })
    };
    let last_id = id(r)?;
    let max_deleted_id = id(r)?;
    let entries_added = r.varint()?;
    let count = r.count()?;
    let mut entries = Vec::with_capacity(count);
    let mut previous: Option<StreamId> = None;
    for _ in 0..count {
        let entry_id = id(r)?;
        if previous.is_some_and(|p| p >= entry_id) || entry_id > last_id {
            return Err(corrupt("stream entries out of order"));
        }
        previous = Some(entry_id);
        let n = r.count()?;
        if n == 0 || !n.is_multiple_of(2) {
            return Err(corrupt("stream entry without field/value pairs"));
        }
        let mut fields = Vec::with_capacity(n);
        for _ in 0..n {
            fields.push(Bytes::copy_from_slice(r.bytes()?));
        }
        entries.push((entry_id, fields.into_boxed_slice()));
    }
    let node_count = r.count()?;
    let mut nodes = Vec::with_capacity(node_count);
    for _ in 0..node_count {
        let (start, taken, live) = (id(r)?, r.varint()?, r.varint()?);
        let last = if with_last { Some(id(r)?) } else { None };
        nodes.push((start, taken, live, last));
    }
    StreamValue::restored(entries, nodes, last_id, max_deleted_id, entries_added)
        .ok_or_else(|| corrupt("stream nodes do not match its entries"))
}
