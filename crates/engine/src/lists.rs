//! List ops and reads: pushes and pops at both ends, index and range access, LINSERT,
//! LREM, LTRIM, LPOS, moves between lists, and the multi-key pops that blocking
//! commands (BLPOP, BLMOVE, BLMPOP) retry whenever one of their keys gains data.
//!
//! Every mutation ends with [`Keyspace::finish_write`], which stamps the version for
//! WATCH, deletes a list that became empty and wakes clients blocked on the key.

use bytes::Bytes;

use crate::error::EngineError;
use crate::keyspace::Keyspace;
use crate::notify::EventClass;
use crate::reply::Reply;
use crate::value::{ListValue, detach};
use crate::{ApplyCtx, ReadCtx};

/// One end of a list (Redis's LEFT / RIGHT, head / tail).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum End {
    /// The head: index 0.
    Left,
    /// The tail: index -1.
    Right,
}

/// List writes.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum ListOp {
    /// LPUSH / RPUSH / LPUSHX / RPUSHX: replies the new length.
    Push {
        /// Key.
        key: Bytes,
        /// Where the elements go, one after the other.
        end: End,
        /// Elements, in argument order.
        elements: Vec<Bytes>,
        /// The X forms: only push into an existing list (reply 0 otherwise).
        existing_only: bool,
    },
    /// LPOP / RPOP. Without a count: one element or nil. With a count: an array, or a
    /// nil array when the key does not exist.
    Pop {
        /// Key.
        key: Bytes,
        /// End popped from.
        end: End,
        /// The optional count argument.
        count: Option<u64>,
    },
    /// LSET.
    Set {
        /// Key.
        key: Bytes,
        /// Index; `None` when the argument was not an integer. Redis checks the key
        /// before the index, so that error is raised here, after the key checks.
        index: Option<i64>,
        /// New element.
        element: Bytes,
    },
    /// LINSERT: replies the new length, -1 without the pivot, 0 without the key.
    Insert {
        /// Key.
        key: Bytes,
        /// AFTER (true) or BEFORE (false) the pivot.
        after: bool,
        /// First element equal to this is the pivot.
        pivot: Bytes,
        /// Element inserted.
        element: Bytes,
    },
    /// LREM: replies the number removed.
    Rem {
        /// Key.
        key: Bytes,
        /// Positive: that many from the head; negative: from the tail; 0: all.
        count: i64,
        /// Element removed.
        element: Bytes,
    },
    /// LTRIM: keeps `start..=stop` (LRANGE's index rules).
    Trim {
        /// Key.
        key: Bytes,
        /// First index kept.
        start: i64,
        /// Last index kept.
        stop: i64,
    },
    /// LMOVE / RPOPLPUSH, and the attempt of BLMOVE / BRPOPLPUSH: replies the moved
    /// element, or nil when the source does not exist.
    Move {
        /// Source list.
        src: Bytes,
        /// Destination list (created if absent; may be the source).
        dst: Bytes,
        /// End popped from.
        from: End,
        /// End pushed to.
        to: End,
    },
    /// LMPOP and the attempt of BLMPOP: pops up to `count` elements from the first
    /// non-empty list; replies `[key, [elements]]` or a nil array.
    MPop {
        /// Keys, tried in order.
        keys: Vec<Bytes>,
        /// End popped from.
        end: End,
        /// Most elements popped.
        count: u64,
    },
    /// The attempt of BLPOP / BRPOP: pops one element from the first non-empty list;
    /// replies `[key, element]` or a nil array.
    PopFirst {
        /// Keys, tried in order.
        keys: Vec<Bytes>,
        /// End popped from.
        end: End,
    },
}

/// List reads.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum ListQuery {
    /// LLEN.
    Len {
        /// Key.
        key: Bytes,
    },
    /// LINDEX: the element or nil.
    Index {
        /// Key.
        key: Bytes,
        /// Index (negative counts from the end); `None` when the argument was not an
        /// integer, reported after the key checks as Redis does.
        index: Option<i64>,
    },
    /// LRANGE.
    Range {
        /// Key.
        key: Bytes,
        /// First index.
        start: i64,
        /// Last index, inclusive.
        stop: i64,
    },
    /// LPOS.
    Pos {
        /// Key.
        key: Bytes,
        /// Element searched.
        element: Bytes,
        /// Which match comes first (1 = first from the head, -1 = first from the
        /// tail); never 0.
        rank: i64,
        /// `None`: reply one position or nil. `Some(0)`: every match as an array.
        /// `Some(n)`: up to `n` matches as an array.
        count: Option<u64>,
        /// Compare at most this many elements; 0 means all.
        maxlen: u64,
    },
}

impl ListOp {
    pub(crate) fn apply(self, ks: &mut Keyspace, ctx: &ApplyCtx) -> Result<Reply, EngineError> {
        match self {
            ListOp::Push {
                key,
                end,
                elements,
                existing_only,
            } => {
                let list = if existing_only {
                    match ks.write_as::<ListValue>(&key, ctx)? {
                        Some(list) => list,
                        None => return Ok(Reply::Int(0)),
                    }
                } else {
                    ks.write_or_create::<ListValue>(&key, ctx)?
                };
                for element in elements {
                    push(list, end, detach(element));
                }
                let len = list.len();
                ks.notify(EventClass::LIST, push_event(end), &key);
                ks.finish_write::<ListValue>(&key, ctx, true);
                Ok(Reply::Int(len as i64))
            }
            ListOp::Pop { key, end, count } => {
                let Some(list) = ks.write_as::<ListValue>(&key, ctx)? else {
                    return Ok(if count.is_some() {
                        Reply::NilArray
                    } else {
                        Reply::Nil
                    });
                };
                let reply = match count {
                    None => Reply::opt_bulk(pop(list, end)),
                    Some(0) => return Ok(Reply::Array(Vec::new())),
                    Some(n) => Reply::bulks(pop_many(list, end, n)),
                };
                ks.notify(EventClass::LIST, pop_event(end), &key);
                ks.finish_write::<ListValue>(&key, ctx, true);
                Ok(reply)
            }
            ListOp::Set {
                key,
                index,
                element,
            } => {
                let Some(list) = ks.write_as::<ListValue>(&key, ctx)? else {
                    return Err(EngineError::NoSuchKey);
                };
                let index = index.ok_or(EngineError::NotInteger)?;
                let slot = position(list.len(), index)
                    .and_then(|i| list.get_mut(i))
                    .ok_or(EngineError::IndexOutOfRange)?;
                *slot = detach(element);
                ks.notify(EventClass::LIST, "lset", &key);
                ks.finish_write::<ListValue>(&key, ctx, true);
                Ok(Reply::Ok)
            }
            ListOp::Insert {
                key,
                after,
                pivot,
                element,
            } => {
                let Some(list) = ks.write_as::<ListValue>(&key, ctx)? else {
                    return Ok(Reply::Int(0));
                };
                if !insert(list, after, &pivot, detach(element)) {
                    return Ok(Reply::Int(-1));
                }
                let len = list.len();
                ks.notify(EventClass::LIST, "linsert", &key);
                ks.finish_write::<ListValue>(&key, ctx, true);
                Ok(Reply::Int(len as i64))
            }
            ListOp::Rem {
                key,
                count,
                element,
            } => Ok(Reply::Int(ks.remove_counted(
                &key,
                ctx,
                (EventClass::LIST, "lrem"),
                |list: &mut ListValue| remove(list, count, &element),
            )?)),
            ListOp::Trim { key, start, stop } => {
                let Some(list) = ks.write_as::<ListValue>(&key, ctx)? else {
                    return Ok(Reply::Ok);
                };
                trim(list, start, stop);
                // Redis counts every LTRIM of an existing list as a change for WATCH,
                // even one that keeps everything.
                ks.notify(EventClass::LIST, "ltrim", &key);
                ks.finish_write::<ListValue>(&key, ctx, true);
                Ok(Reply::Ok)
            }
            ListOp::Move { src, dst, from, to } => move_element(ks, ctx, src, dst, from, to),
            ListOp::MPop { keys, end, count } => {
                let Some((key, list)) = first_non_empty(ks, ctx, &keys)? else {
                    return Ok(Reply::NilArray);
                };
                let popped = pop_many(list, end, count);
                ks.notify(EventClass::LIST, pop_event(end), &key);
                ks.finish_write::<ListValue>(&key, ctx, true);
                Ok(Reply::Array(vec![Reply::Bulk(key), Reply::bulks(popped)]))
            }
            ListOp::PopFirst { keys, end } => {
                let Some((key, list)) = first_non_empty(ks, ctx, &keys)? else {
                    return Ok(Reply::NilArray);
                };
                let popped = pop(list, end);
                ks.notify(EventClass::LIST, pop_event(end), &key);
                ks.finish_write::<ListValue>(&key, ctx, true);
                Ok(match popped {
                    Some(element) => Reply::Array(vec![Reply::Bulk(key), Reply::Bulk(element)]),
                    None => Reply::NilArray,
                })
            }
        }
    }
}

impl ListQuery {
    pub(crate) fn run(&self, ks: &mut Keyspace, ctx: &ReadCtx) -> Result<Reply, EngineError> {
        match self {
            ListQuery::Len { key } => Ok(Reply::Int(
                ks.read_as::<ListValue>(key, ctx.now_ms)?
                    .map_or(0, |l| l.len() as i64),
            )),
            ListQuery::Index { key, index } => {
                let Some(list) = ks.read_as::<ListValue>(key, ctx.now_ms)? else {
                    return Ok(Reply::Nil);
                };
                let index = index.ok_or(EngineError::NotInteger)?;
                Ok(Reply::opt_bulk(
                    position(list.len(), index).and_then(|i| list.get(i).cloned()),
                ))
            }
            ListQuery::Range { key, start, stop } => {
                let Some(list) = ks.read_as::<ListValue>(key, ctx.now_ms)? else {
                    return Ok(Reply::Array(Vec::new()));
                };
                Ok(match range(list.len(), *start, *stop) {
                    Some((from, to)) => Reply::bulks(list.range(from..=to).cloned()),
                    None => Reply::Array(Vec::new()),
                })
            }
            ListQuery::Pos {
                key,
                element,
                rank,
                count,
                maxlen,
            } => {
                let list = ks.read_as::<ListValue>(key, ctx.now_ms)?;
                let found = list.map_or_else(Vec::new, |list| {
                    positions(list, element, *rank, count.unwrap_or(1), *maxlen)
                });
                Ok(match count {
                    Some(_) => {
                        Reply::Array(found.into_iter().map(|i| Reply::Int(i as i64)).collect())
                    }
                    None => found.first().map_or(Reply::Nil, |&i| Reply::Int(i as i64)),
                })
            }
        }
    }
}

/// The event of a push at `end`.
fn push_event(end: End) -> &'static str {
    match end {
        End::Left => "lpush",
        End::Right => "rpush",
    }
}

/// The event of a pop at `end`.
fn pop_event(end: End) -> &'static str {
    match end {
        End::Left => "lpop",
        End::Right => "rpop",
    }
}

fn push(list: &mut ListValue, end: End, element: Bytes) {
    match end {
        End::Left => list.push_front(element),
        End::Right => list.push_back(element),
    }
}

fn pop(list: &mut ListValue, end: End) -> Option<Bytes> {
    match end {
        End::Left => list.pop_front(),
        End::Right => list.pop_back(),
    }
}

/// Pops up to `count` elements, in the order they leave the list (RPOP 2 of `a b c`
/// gives `c b`).
fn pop_many(list: &mut ListValue, end: End, count: u64) -> Vec<Bytes> {
    let n = usize::try_from(count).unwrap_or(usize::MAX).min(list.len());
    match end {
        End::Left => list.drain(..n).collect(),
        End::Right => list.drain(list.len() - n..).rev().collect(),
    }
}

/// The first of `keys` holding a non-empty list, checking types in order as Redis
/// does: a missing key is skipped, a key of another type fails the whole command.
fn first_non_empty<'a>(
    ks: &'a mut Keyspace,
    ctx: &ApplyCtx,
    keys: &[Bytes],
) -> Result<Option<(Bytes, &'a mut ListValue)>, EngineError> {
    let mut found = None;
    for key in keys {
        if ks
            .write_as::<ListValue>(key, ctx)?
            .is_some_and(|list| !list.is_empty())
        {
            found = Some(key.clone());
            break;
        }
    }
    // The lookup is repeated because the borrow of the loop cannot outlive it.
    let Some(key) = found else {
        return Ok(None);
    };
    let list = ks
        .write_as::<ListValue>(&key, ctx)?
        .expect("the key was found holding a list just above");
    Ok(Some((key, list)))
}

fn move_element(
    ks: &mut Keyspace,
    ctx: &ApplyCtx,
    src: Bytes,
    dst: Bytes,
    from: End,
    to: End,
) -> Result<Reply, EngineError> {
    let Some(list) = ks.write_as::<ListValue>(&src, ctx)? else {
        return Ok(Reply::Nil);
    };
    if src == dst {
        // Rotation: popping first could empty the list, but it is refilled at once, so
        // the key never disappears.
        let Some(element) = pop(list, from) else {
            return Ok(Reply::Nil);
        };
        push(list, to, element.clone());
        ks.notify(EventClass::LIST, push_event(to), &src);
        ks.notify(EventClass::LIST, pop_event(from), &src);
        ks.finish_write::<ListValue>(&src, ctx, true);
        return Ok(Reply::Bulk(element));
    }
    if list.is_empty() {
        return Ok(Reply::Nil);
    }
    // The destination's type is checked before anything moves, so a WRONGTYPE leaves
    // the source untouched.
    ks.write_as::<ListValue>(&dst, ctx)?;
    let element = ks
        .write_as::<ListValue>(&src, ctx)?
        .and_then(|list| pop(list, from))
        .expect("the source was checked to be a non-empty list just above");
    // Redis's order of events: the push, the pop, then the source's removal.
    push(
        ks.write_or_create::<ListValue>(&dst, ctx)?,
        to,
        element.clone(),
    );
    ks.notify(EventClass::LIST, push_event(to), &dst);
    ks.finish_write::<ListValue>(&dst, ctx, true);
    ks.notify(EventClass::LIST, pop_event(from), &src);
    ks.finish_write::<ListValue>(&src, ctx, true);
    Ok(Reply::Bulk(element))
}

/// LINSERT on a list: false when the pivot is absent.
fn insert(list: &mut ListValue, after: bool, pivot: &[u8], element: Bytes) -> bool {
    let Some(at) = list.iter().position(|e| e.as_ref() == pivot) else {
        return false;
    };
    list.insert(if after { at + 1 } else { at }, element);
    true
}

/// LREM on a list; returns how many elements were removed.
fn remove(list: &mut ListValue, count: i64, element: &[u8]) -> usize {
    let limit = usize::try_from(count.unsigned_abs()).unwrap_or(usize::MAX);
    // `retain` walks from the head; removing the last `limit` matches is removing every
    // match after skipping the first `total - limit`.
    let skip = if count < 0 {
        let total = list.iter().filter(|e| e.as_ref() == element).count();
        total.saturating_sub(limit)
    } else {
        0
    };
    let mut seen = 0;
    let mut removed = 0;
    list.retain(|e| {
        if e.as_ref() != element {
            return true;
        }
        seen += 1;
        if seen <= skip || (count != 0 && removed >= limit) {
            return true;
        }
        removed += 1;
        false
    });
    removed
}

/// LTRIM on a list.
fn trim(list: &mut ListValue, start: i64, stop: i64) {
    match range(list.len(), start, stop) {
        Some((from, to)) => {
            list.truncate(to + 1);
            list.drain(..from);
        }
        None => list.clear(),
    }
}

/// LPOS on a list: the indexes (from the head) of up to `count` matches (0: all),
/// starting at match number `|rank|` from the head (positive rank) or the tail
/// (negative), comparing at most `maxlen` elements (0: all).
fn positions(list: &ListValue, element: &[u8], rank: i64, count: u64, maxlen: u64) -> Vec<usize> {
    let skip = rank.unsigned_abs().saturating_sub(1);
    let scan = match usize::try_from(maxlen) {
        Ok(0) | Err(_) => list.len(),
        Ok(n) => n.min(list.len()),
    };
    let len = list.len();
    // The k-th element compared, from the head or from the tail.
    let at = |k: usize| if rank > 0 { k } else { len - 1 - k };
    let mut matches = 0u64;
    let mut found = Vec::new();
    for i in (0..scan).map(at) {
        if list[i].as_ref() != element {
            continue;
        }
        matches += 1;
        if matches > skip {
            found.push(i);
            if count != 0 && found.len() as u64 >= count {
                break;
            }
        }
    }
    found
}

/// Resolves a possibly negative index against a list of `len` elements.
pub(crate) fn position(len: usize, index: i64) -> Option<usize> {
    let len = i64::try_from(len).ok()?;
    let index = if index < 0 { len + index } else { index };
    (0..len).contains(&index).then_some(index as usize)
}

/// LRANGE's and LTRIM's index rules: negative indexes count from the end, the start
/// clamps to the head and the stop to the tail. `None` is the empty range; otherwise
/// both bounds are inclusive and inside the list.
pub(crate) fn range(len: usize, start: i64, stop: i64) -> Option<(usize, usize)> {
    let len = i64::try_from(len).ok()?;
    // `len + negative` cannot overflow: len is non-negative.
    let start = if start < 0 { len + start } else { start }.max(0);
    let stop = if stop < 0 { len + stop } else { stop };
    if start > stop || start >= len {
        return None;
    }
    Some((start as usize, stop.min(len - 1) as usize))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(items: &[&str]) -> ListValue {
        items
            .iter()
            .map(|s| Bytes::copy_from_slice(s.as_bytes()))
            .collect()
    }

    fn items(list: &ListValue) -> Vec<String> {
        list.iter()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .collect()
    }

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    fn ctx(index: u64) -> ApplyCtx {
        ApplyCtx {
            now_ms: 1_000,
            index,
        }
    }

    fn read_ctx() -> ReadCtx {
        ReadCtx {
            now_ms: 1_000,
            random: 0,
        }
    }

    fn lrange(ks: &mut Keyspace, key: &str) -> Reply {
        ListQuery::Range {
            key: b(key),
            start: 0,
            stop: -1,
        }
        .run(ks, &read_ctx())
        .expect("lrange")
    }

    fn rpush(ks: &mut Keyspace, key: &str, elements: &[&str]) {
        ListOp::Push {
            key: b(key),
            end: End::Right,
            elements: elements.iter().map(|e| b(e)).collect(),
            existing_only: false,
        }
        .apply(ks, &ctx(1))
        .expect("rpush");
    }

    fn bulks(elements: &[&str]) -> Reply {
        Reply::bulks(elements.iter().map(|e| b(e)))
    }

    #[test]
    fn range_converts_negative_indexes_and_clamps() {
        assert_eq!(range(5, 0, -1), Some((0, 4)));
        assert_eq!(range(5, -2, -1), Some((3, 4)));
        assert_eq!(range(5, -100, 100), Some((0, 4)));
        assert_eq!(range(5, 1, 1), Some((1, 1)));
        assert_eq!(range(5, 3, 1), None);
        assert_eq!(range(5, 5, 10), None);
        assert_eq!(range(5, 0, -6), None);
        assert_eq!(range(5, -1, -2), None);
        assert_eq!(range(0, 0, -1), None);
        assert_eq!(range(5, i64::MIN, i64::MAX), Some((0, 4)));
        assert_eq!(range(5, i64::MAX, i64::MIN), None);
    }

    #[test]
    fn position_resolves_negative_indexes() {
        assert_eq!(position(3, 0), Some(0));
        assert_eq!(position(3, -1), Some(2));
        assert_eq!(position(3, -3), Some(0));
        assert_eq!(position(3, -4), None);
        assert_eq!(position(3, 3), None);
        assert_eq!(position(0, 0), None);
        assert_eq!(position(3, i64::MIN), None);
    }

    #[test]
    fn trim_keeps_the_inclusive_range() {
        let mut l = list(&["a", "b", "c", "d", "e"]);
        trim(&mut l, 1, -2);
        assert_eq!(items(&l), ["b", "c", "d"]);
        let mut l = list(&["a", "b", "c"]);
        trim(&mut l, -100, 100);
        assert_eq!(items(&l), ["a", "b", "c"]);
        let mut l = list(&["a", "b", "c"]);
        trim(&mut l, 2, 1);
        assert!(l.is_empty());
        let mut l = list(&["a", "b", "c"]);
        trim(&mut l, 0, -10);
        assert!(l.is_empty());
    }

    #[test]
    fn insert_before_and_after_the_first_pivot() {
        let mut l = list(&["a", "c", "c"]);
        assert!(insert(&mut l, false, b"c", b("b")));
        assert_eq!(items(&l), ["a", "b", "c", "c"]);
        assert!(insert(&mut l, true, b"c", b("x")));
        assert_eq!(items(&l), ["a", "b", "c", "x", "c"]);
        assert!(insert(&mut l, true, b"c", b("y")) && l.len() == 6);
        assert!(!insert(&mut l, true, b"zz", b("q")));
        let mut l = list(&["a"]);
        assert!(insert(&mut l, true, b"a", b("z")));
        assert!(insert(&mut l, false, b"a", b("0")));
        assert_eq!(items(&l), ["0", "a", "z"]);
    }

    #[test]
    fn remove_from_head_tail_or_all() {
        let mut l = list(&["x", "a", "x", "b", "x"]);
        assert_eq!(remove(&mut l, 2, b"x"), 2);
        assert_eq!(items(&l), ["a", "b", "x"]);
        let mut l = list(&["x", "a", "x", "b", "x"]);
        assert_eq!(remove(&mut l, -2, b"x"), 2);
        assert_eq!(items(&l), ["x", "a", "b"]);
        let mut l = list(&["x", "a", "x", "b", "x"]);
        assert_eq!(remove(&mut l, 0, b"x"), 3);
        assert_eq!(items(&l), ["a", "b"]);
        let mut l = list(&["x", "a"]);
        assert_eq!(remove(&mut l, -10, b"x"), 1);
        assert_eq!(remove(&mut l, 1, b"nope"), 0);
        assert_eq!(remove(&mut l, i64::MIN, b"a"), 1);
        assert!(l.is_empty());
    }

    #[test]
    fn positions_follow_rank_count_and_maxlen() {
        // The list of Redis's LPOS tests: a b c d 2 3 c c.
        let l = list(&["a", "b", "c", "d", "2", "3", "c", "c"]);
        assert_eq!(positions(&l, b"a", 1, 1, 0), [0]);
        assert_eq!(positions(&l, b"c", 1, 1, 0), [2]);
        assert_eq!(positions(&l, b"c", 2, 1, 0), [6]);
        assert_eq!(positions(&l, b"c", 4, 1, 0), Vec::<usize>::new());
        assert_eq!(positions(&l, b"c", -1, 1, 0), [7]);
        assert_eq!(positions(&l, b"c", -2, 1, 0), [6]);
        assert_eq!(positions(&l, b"c", 1, 0, 0), [2, 6, 7]);
        assert_eq!(positions(&l, b"c", 1, 2, 0), [2, 6]);
        assert_eq!(positions(&l, b"c", 1, 100, 0), [2, 6, 7]);
        assert_eq!(positions(&l, b"c", 2, 0, 0), [6, 7]);
        assert_eq!(positions(&l, b"c", -1, 2, 0), [7, 6]);
        assert_eq!(positions(&l, b"a", 1, 0, 1), [0]);
        assert_eq!(positions(&l, b"c", 1, 0, 1), Vec::<usize>::new());
        assert_eq!(positions(&l, b"c", 1, 0, 3), [2]);
        assert_eq!(positions(&l, b"c", -1, 0, 3), [7, 6]);
        assert_eq!(positions(&l, b"c", 2, 0, 7), [6]);
        assert_eq!(positions(&l, b"c", i64::MAX, 0, 0), Vec::<usize>::new());
        assert_eq!(
            positions(&l, b"c", -i64::MAX, 0, u64::MAX),
            Vec::<usize>::new()
        );
    }

    #[test]
    fn pop_many_returns_elements_in_pop_order() {
        let mut l = list(&["a", "b", "c", "d"]);
        assert_eq!(pop_many(&mut l, End::Right, 2), [b("d"), b("c")]);
        assert_eq!(pop_many(&mut l, End::Left, 10), [b("a"), b("b")]);
        assert!(l.is_empty());
        assert!(pop_many(&mut l, End::Left, u64::MAX).is_empty());
    }

    #[test]
    fn pushing_into_a_new_list_wakes_blocked_clients() {
        let mut ks = Keyspace::new(7);
        ks.add_blocked(b("q"));
        rpush(&mut ks, "q", &["x"]);
        assert_eq!(ks.take_ready(), [b("q")]);
        rpush(&mut ks, "other", &["x"]);
        assert!(ks.take_ready().is_empty());
    }

    #[test]
    fn moving_into_a_new_list_wakes_blocked_clients() {
        let mut ks = Keyspace::new(7);
        rpush(&mut ks, "src", &["x"]);
        ks.add_blocked(b("dst"));
        let reply = ListOp::Move {
            src: b("src"),
            dst: b("dst"),
            from: End::Left,
            to: End::Left,
        }
        .apply(&mut ks, &ctx(2))
        .expect("lmove");
        assert_eq!(reply, Reply::Bulk(b("x")));
        assert_eq!(ks.take_ready(), [b("dst")]);
        assert!(
            ks.peek(b"src", 1_000).is_none(),
            "emptied source is deleted"
        );
    }

    #[test]
    fn popping_the_last_element_deletes_the_key() {
        let mut ks = Keyspace::new(7);
        rpush(&mut ks, "l", &["a", "b"]);
        let reply = ListOp::Pop {
            key: b("l"),
            end: End::Right,
            count: Some(5),
        }
        .apply(&mut ks, &ctx(2))
        .expect("rpop");
        assert_eq!(reply, bulks(&["b", "a"]));
        assert!(ks.peek(b"l", 1_000).is_none());
    }

    #[test]
    fn pop_replies_depend_on_count_and_key() {
        let mut ks = Keyspace::new(7);
        let pop = |count| ListOp::Pop {
            key: b("l"),
            end: End::Left,
            count,
        };
        assert_eq!(pop(None).apply(&mut ks, &ctx(1)), Ok(Reply::Nil));
        assert_eq!(pop(Some(0)).apply(&mut ks, &ctx(1)), Ok(Reply::NilArray));
        rpush(&mut ks, "l", &["a"]);
        assert_eq!(
            pop(Some(0)).apply(&mut ks, &ctx(2)),
            Ok(Reply::Array(Vec::new()))
        );
        assert_eq!(pop(None).apply(&mut ks, &ctx(3)), Ok(Reply::Bulk(b("a"))));
    }

    #[test]
    fn move_onto_itself_rotates() {
        let mut ks = Keyspace::new(7);
        rpush(&mut ks, "l", &["a", "b", "c"]);
        let rotate = |from, to| ListOp::Move {
            src: b("l"),
            dst: b("l"),
            from,
            to,
        };
        let reply = rotate(End::Right, End::Left).apply(&mut ks, &ctx(2));
        assert_eq!(reply, Ok(Reply::Bulk(b("c"))));
        assert_eq!(lrange(&mut ks, "l"), bulks(&["c", "a", "b"]));
        let reply = rotate(End::Left, End::Left).apply(&mut ks, &ctx(3));
        assert_eq!(reply, Ok(Reply::Bulk(b("c"))));
        assert_eq!(lrange(&mut ks, "l"), bulks(&["c", "a", "b"]));
        rpush(&mut ks, "one", &["x"]);
        let reply = ListOp::Move {
            src: b("one"),
            dst: b("one"),
            from: End::Left,
            to: End::Right,
        }
        .apply(&mut ks, &ctx(4));
        assert_eq!(reply, Ok(Reply::Bulk(b("x"))));
        assert_eq!(lrange(&mut ks, "one"), bulks(&["x"]));
    }

    #[test]
    fn move_into_another_type_leaves_the_source_intact() {
        let mut ks = Keyspace::new(7);
        rpush(&mut ks, "src", &["a", "b"]);
        ks.insert(
            b("dst"),
            crate::value::Value::Str(crate::value::StrValue::from_bytes(b("s"))),
            &ctx(2),
        );
        let reply = ListOp::Move {
            src: b("src"),
            dst: b("dst"),
            from: End::Right,
            to: End::Left,
        }
        .apply(&mut ks, &ctx(3));
        assert_eq!(reply, Err(EngineError::WrongType));
        assert_eq!(lrange(&mut ks, "src"), bulks(&["a", "b"]));
    }

    #[test]
    fn multi_pops_take_the_first_non_empty_list() {
        let mut ks = Keyspace::new(7);
        rpush(&mut ks, "b", &["1", "2", "3"]);
        let reply = ListOp::MPop {
            keys: vec![b("a"), b("b"), b("c")],
            end: End::Right,
            count: 2,
        }
        .apply(&mut ks, &ctx(2));
        assert_eq!(
            reply,
            Ok(Reply::Array(vec![Reply::Bulk(b("b")), bulks(&["3", "2"])]))
        );
        let reply = ListOp::PopFirst {
            keys: vec![b("a"), b("b")],
            end: End::Left,
        }
        .apply(&mut ks, &ctx(3));
        assert_eq!(
            reply,
            Ok(Reply::Array(vec![Reply::Bulk(b("b")), Reply::Bulk(b("1"))]))
        );
        let reply = ListOp::PopFirst {
            keys: vec![b("a"), b("b")],
            end: End::Left,
        }
        .apply(&mut ks, &ctx(4));
        assert_eq!(reply, Ok(Reply::NilArray));
    }

    #[test]
    fn lset_and_lindex_check_the_key_before_the_index() {
        let mut ks = Keyspace::new(7);
        let set = |index| ListOp::Set {
            key: b("l"),
            index,
            element: b("z"),
        };
        assert_eq!(
            set(None).apply(&mut ks, &ctx(1)),
            Err(EngineError::NoSuchKey)
        );
        let index = |index| ListQuery::Index { key: b("l"), index };
        assert_eq!(index(None).run(&mut ks, &read_ctx()), Ok(Reply::Nil));
        rpush(&mut ks, "l", &["a", "b"]);
        assert_eq!(
            set(None).apply(&mut ks, &ctx(2)),
            Err(EngineError::NotInteger)
        );
        assert_eq!(
            set(Some(2)).apply(&mut ks, &ctx(2)),
            Err(EngineError::IndexOutOfRange)
        );
        assert_eq!(set(Some(-1)).apply(&mut ks, &ctx(3)), Ok(Reply::Ok));
        assert_eq!(
            index(None).run(&mut ks, &read_ctx()),
            Err(EngineError::NotInteger)
        );
        assert_eq!(
            index(Some(-1)).run(&mut ks, &read_ctx()),
            Ok(Reply::Bulk(b("z")))
        );
        assert_eq!(index(Some(5)).run(&mut ks, &read_ctx()), Ok(Reply::Nil));
    }

    #[test]
    fn trim_and_rem_delete_emptied_lists() {
        let mut ks = Keyspace::new(7);
        rpush(&mut ks, "l", &["a", "a"]);
        let reply = ListOp::Rem {
            key: b("l"),
            count: 0,
            element: b("a"),
        }
        .apply(&mut ks, &ctx(2));
        assert_eq!(reply, Ok(Reply::Int(2)));
        assert!(ks.peek(b"l", 1_000).is_none());
        rpush(&mut ks, "l", &["a", "b"]);
        let reply = ListOp::Trim {
            key: b("l"),
            start: 5,
            stop: 10,
        }
        .apply(&mut ks, &ctx(3));
        assert_eq!(reply, Ok(Reply::Ok));
        assert!(ks.peek(b"l", 1_000).is_none());
    }
}
