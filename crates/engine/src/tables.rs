//! Tables: an ordered map of byte fields to byte values inside one key (okapi's
//! `TABLE.*`). Point reads and writes, half-open range reads (forward or reverse,
//! with a limit), range deletes, counts and cursor paging, all in field order.

use std::collections::BTreeMap;
use std::ops::Bound;

use bytes::Bytes;

use crate::error::EngineError;
use crate::keyspace::Keyspace;
use crate::notify::EventClass;
use crate::reply::Reply;
use crate::value::{TableValue, detach};
use crate::{ApplyCtx, ReadCtx};

/// One end of a field range.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum RangeEnd {
    /// Before every field (`-`).
    Min,
    /// After every field (`+`).
    Max,
    /// A field: included as a start, excluded as an end.
    Field(Bytes),
}

/// A half-open range of fields `[start, end)`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FieldRange {
    /// First field in the range (inclusive).
    pub start: RangeEnd,
    /// First field after the range (exclusive).
    pub end: RangeEnd,
}

impl FieldRange {
    /// Every field.
    pub fn all() -> Self {
        Self {
            start: RangeEnd::Min,
            end: RangeEnd::Max,
        }
    }

    /// The range as `BTreeMap` bounds, or `None` when it holds nothing (an end at or
    /// before the start, which `BTreeMap::range` would panic on).
    fn bounds(&self) -> Option<FieldBounds<'_>> {
        let start = match &self.start {
            RangeEnd::Min => Bound::Unbounded,
            RangeEnd::Max => return None,
            RangeEnd::Field(f) => Bound::Included(f.as_ref()),
        };
        let end = match &self.end {
            RangeEnd::Min => return None,
            RangeEnd::Max => Bound::Unbounded,
            RangeEnd::Field(f) => Bound::Excluded(f.as_ref()),
        };
        if let (Bound::Included(s), Bound::Excluded(e)) = (start, end)
            && s >= e
        {
            return None;
        }
        Some((start, end))
    }
}

/// A range as `BTreeMap::range` takes it.
type FieldBounds<'a> = (Bound<&'a [u8]>, Bound<&'a [u8]>);

/// Table writes.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum TableOp {
    /// TABLE.SET: replies the number of fields that were new.
    Set {
        /// Key.
        key: Bytes,
        /// Field/value pairs, applied in order (a repeated field keeps the last value).
        pairs: Vec<(Bytes, Bytes)>,
    },
    /// TABLE.DEL: replies the number of fields removed.
    Del {
        /// Key.
        key: Bytes,
        /// Fields.
        fields: Vec<Bytes>,
    },
    /// TABLE.DELRANGE: removes every field in the range; replies how many.
    DelRange {
        /// Key.
        key: Bytes,
        /// Fields to remove.
        range: FieldRange,
    },
}

/// Table reads.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum TableQuery {
    /// TABLE.GET: the value or nil.
    Get {
        /// Key.
        key: Bytes,
        /// Field.
        field: Bytes,
    },
    /// TABLE.MGET: one value or nil per field.
    MGet {
        /// Key.
        key: Bytes,
        /// Fields.
        fields: Vec<Bytes>,
    },
    /// TABLE.RANGE: field/value pairs in order (or reverse order).
    Range {
        /// Key.
        key: Bytes,
        /// Fields to return.
        range: FieldRange,
        /// Most pairs to return; `None` for all.
        limit: Option<u64>,
        /// Highest field first.
        rev: bool,
    },
    /// TABLE.COUNT: fields in the range.
    Count {
        /// Key.
        key: Bytes,
        /// Fields to count.
        range: FieldRange,
    },
    /// TABLE.SCAN: up to `count` pairs from `cursor` on, and the cursor to continue.
    Scan {
        /// Key.
        key: Bytes,
        /// First field to return; `None` starts at the beginning.
        from: Option<Bytes>,
        /// Most pairs to return.
        count: usize,
    },
}

impl TableOp {
    pub(crate) fn apply(self, ks: &mut Keyspace, ctx: &ApplyCtx) -> Result<Reply, EngineError> {
        match self {
            TableOp::Set { key, pairs } => {
                let table = ks.write_or_create::<TableValue>(&key, ctx)?;
                let mut added = 0;
                for (field, value) in pairs {
                    match table.get_mut(field.as_ref()) {
                        // Replaced in place: the stored field is not copied again.
                        Some(slot) => *slot = detach(value),
                        None => {
                            table.insert(detach(field), detach(value));
                            added += 1;
                        }
                    }
                }
                // Every pair is written, changed or not, as HSET does.
                ks.notify(EventClass::MODULE, "table.set", &key);
                ks.finish_write::<TableValue>(&key, ctx, true);
                Ok(Reply::Int(added))
            }
            TableOp::Del { key, fields } => Ok(Reply::Int(ks.remove_counted(
                &key,
                ctx,
                (EventClass::MODULE, "table.del"),
                |table: &mut TableValue| {
                    fields
                        .iter()
                        .filter(|f| table.remove(f.as_ref()).is_some())
                        .count()
                },
            )?)),
            TableOp::DelRange { key, range } => Ok(Reply::Int(ks.remove_counted(
                &key,
                ctx,
                (EventClass::MODULE, "table.delrange"),
                |table: &mut TableValue| delete_range(table, &range),
            )?)),
        }
    }
}

/// Removes the fields of `range` from `table` and returns how many there were. Cuts
/// the map with two `split_off`s rather than removing field by field, so deleting a
/// million fields costs about as much as walking them once.
fn delete_range(table: &mut TableValue, range: &FieldRange) -> usize {
    if range.bounds().is_none() {
        return 0;
    }
    let mut middle = match &range.start {
        RangeEnd::Field(start) => table.split_off(start.as_ref()),
        // `Min` (a `Max` start is an empty range, handled above).
        _ => std::mem::take(table),
    };
    let tail = match &range.end {
        RangeEnd::Field(end) => middle.split_off(end.as_ref()),
        // `Max` (a `Min` end is an empty range, handled above).
        _ => BTreeMap::new(),
    };
    let removed = middle.len();
    table.extend(tail);
    removed
}

impl TableQuery {
    pub(crate) fn run(&self, ks: &mut Keyspace, ctx: &ReadCtx) -> Result<Reply, EngineError> {
        match self {
            TableQuery::Get { key, field } => {
                let table = ks.read_as::<TableValue>(key, ctx.now_ms)?;
                Ok(Reply::opt_bulk(
                    table.and_then(|t| t.get(field.as_ref()).cloned()),
                ))
            }
            TableQuery::MGet { key, fields } => {
                let table = ks.read_as::<TableValue>(key, ctx.now_ms)?;
                Ok(Reply::Array(
                    fields
                        .iter()
                        .map(|f| Reply::opt_bulk(table.and_then(|t| t.get(f.as_ref()).cloned())))
                        .collect(),
                ))
            }
            TableQuery::Range {
                key,
                range,
                limit,
                rev,
            } => {
                let Some(table) = ks.read_as::<TableValue>(key, ctx.now_ms)? else {
                    return Ok(Reply::Pairs(Vec::new()));
                };
                let Some(bounds) = range.bounds() else {
                    return Ok(Reply::Pairs(Vec::new()));
                };
                let limit = limit.map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(usize::MAX));
                let pairs = table.range::<[u8], _>(bounds);
                let pair =
                    |(f, v): (&Bytes, &Bytes)| (Reply::Bulk(f.clone()), Reply::Bulk(v.clone()));
                let out: Vec<_> = if *rev {
                    pairs.rev().take(limit).map(pair).collect()
                } else {
                    pairs.take(limit).map(pair).collect()
                };
                Ok(Reply::Pairs(out))
            }
            TableQuery::Count { key, range } => {
                let Some(table) = ks.read_as::<TableValue>(key, ctx.now_ms)? else {
                    return Ok(Reply::Int(0));
                };
                let count = if *range == FieldRange::all() {
                    table.len()
                } else {
                    range
                        .bounds()
                        .map_or(0, |b| table.range::<[u8], _>(b).count())
                };
                Ok(Reply::Int(count as i64))
            }
            TableQuery::Scan { key, from, count } => {
                let table = ks.read_as::<TableValue>(key, ctx.now_ms)?;
                let Some(table) = table else {
                    return Ok(scan_reply(None, Vec::new()));
                };
                let start = match &from {
                    Some(f) => Bound::Included(f.as_ref()),
                    None => Bound::Unbounded,
                };
                let mut iter = table.range::<[u8], _>((start, Bound::Unbounded));
                let page: Vec<_> = iter
                    .by_ref()
                    .take((*count).max(1))
                    .map(|(f, v)| (Reply::Bulk(f.clone()), Reply::Bulk(v.clone())))
                    .collect();
                let next = iter.next().map(|(f, _)| f.clone());
                Ok(scan_reply(next, page))
            }
        }
    }
}

/// `[cursor, pairs]`: the cursor is `0` when the scan is over, otherwise `n` followed
/// by the next field in hex (opaque to clients, and never `0`).
fn scan_reply(next: Option<Bytes>, page: Vec<(Reply, Reply)>) -> Reply {
    let cursor = match next {
        None => Bytes::from_static(b"0"),
        Some(field) => {
            let mut text = String::with_capacity(1 + field.len() * 2);
            text.push('n');
            for byte in field.iter() {
                text.push_str(&format!("{byte:02x}"));
            }
            Bytes::from(text)
        }
    };
    Reply::Array(vec![Reply::Bulk(cursor), Reply::Pairs(page)])
}

/// Parses a TABLE.SCAN cursor: `0` starts, `n<hex>` continues at that field.
pub fn parse_scan_cursor(cursor: &[u8]) -> Result<Option<Bytes>, EngineError> {
    if cursor == b"0" {
        return Ok(None);
    }
    let invalid = || EngineError::Other("ERR invalid cursor".into());
    let hex = cursor.strip_prefix(b"n").ok_or_else(invalid)?;
    if !hex.len().is_multiple_of(2) {
        return Err(invalid());
    }
    let mut field = Vec::with_capacity(hex.len() / 2);
    for pair in hex.chunks_exact(2) {
        let text = std::str::from_utf8(pair).map_err(|_| invalid())?;
        field.push(u8::from_str_radix(text, 16).map_err(|_| invalid())?);
    }
    Ok(Some(Bytes::from(field)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(fields: &[&str]) -> TableValue {
        fields
            .iter()
            .map(|f| (Bytes::from(f.to_string()), Bytes::from_static(b"v")))
            .collect()
    }

    fn field(f: &str) -> RangeEnd {
        RangeEnd::Field(Bytes::from(f.to_string()))
    }

    #[test]
    fn delete_range_cuts_exactly_the_half_open_range() {
        let mut t = table(&["a", "b", "c", "d", "e"]);
        let range = FieldRange {
            start: field("b"),
            end: field("d"),
        };
        assert_eq!(delete_range(&mut t, &range), 2);
        let left: Vec<_> = t.keys().map(|k| k.to_vec()).collect();
        assert_eq!(left, vec![b"a".to_vec(), b"d".to_vec(), b"e".to_vec()]);
    }

    #[test]
    fn empty_and_inverted_ranges_remove_nothing() {
        let mut t = table(&["a", "b"]);
        for (start, end) in [
            (field("b"), field("a")),
            (field("a"), field("a")),
            (RangeEnd::Max, RangeEnd::Max),
            (RangeEnd::Min, RangeEnd::Min),
        ] {
            assert_eq!(delete_range(&mut t, &FieldRange { start, end }), 0);
        }
        assert_eq!(t.len(), 2);
        assert_eq!(delete_range(&mut t, &FieldRange::all()), 2);
        assert!(t.is_empty());
    }

    #[test]
    fn scan_cursors_round_trip_any_bytes() {
        for f in [&b""[..], b"0", b"\x00\xff", b"key:1"] {
            let Reply::Array(parts) = scan_reply(Some(Bytes::copy_from_slice(f)), Vec::new())
            else {
                panic!("scan reply is an array")
            };
            let Reply::Bulk(cursor) = &parts[0] else {
                panic!("cursor is a bulk")
            };
            assert_ne!(cursor.as_ref(), b"0");
            assert_eq!(
                parse_scan_cursor(cursor).expect("valid"),
                Some(Bytes::copy_from_slice(f))
            );
        }
        for bad in [&b"x"[..], b"n1", b"nzz", b"1"] {
            assert!(parse_scan_cursor(bad).is_err(), "{bad:?}");
        }
    }
}
