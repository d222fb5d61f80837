//! Bodies of the sorted-set ops. Each ends with `finish_write`, which stamps WATCH
//! versions, deletes an emptied set and wakes clients blocked in BZPOP*.

use bytes::Bytes;

use super::range::{self, RangeBy, RangeSpec};
use super::{AddFlags, PopEnd, PopShape};
use crate::ApplyCtx;
use crate::error::EngineError;
use crate::keyspace::Keyspace;
use crate::notify::EventClass;
use crate::reply::Reply;
use crate::value::Value;
use crate::zset::ZSetValue;

type ZSet = Box<ZSetValue>;

/// What ZADD did to one member.
enum Added {
    New(f64),
    Updated(f64),
    Unchanged(f64),
    Skipped,
    Nan,
}

/// One member of a ZADD, as Redis's `zsetAdd`.
fn add_one(z: &mut ZSetValue, score: f64, member: Bytes, flags: AddFlags) -> Added {
    let Some(current) = z.score(&member) else {
        if flags.xx {
            return Added::Skipped;
        }
        // The reply keeps the sign of -0; the stored score does not (see `stored`).
        z.insert(member, stored(score));
        return Added::New(score);
    };
    if flags.nx {
        return Added::Skipped;
    }
    let score = if flags.incr { current + score } else { score };
    if score.is_nan() {
        return Added::Nan;
    }
    if (flags.lt && score >= current) || (flags.gt && score <= current) {
        return Added::Skipped;
    }
    if score == current {
        return Added::Unchanged(score);
    }
    z.insert(member, stored(score));
    Added::Updated(score)
}

/// The score a sorted set keeps: -0 becomes 0. Redis stores small sorted sets as
/// listpacks, which keep scores as text that reads back as 0, so a client of its
/// default configuration never reads -0 back from a stored set (only from replies
/// computed on the fly, such as ZUNION's). okapi has one layout and always does this.
pub(super) fn stored(score: f64) -> f64 {
    if score == 0.0 { 0.0 } else { score }
}

pub(super) fn add(
    ks: &mut Keyspace,
    ctx: &ApplyCtx,
    key: Bytes,
    flags: AddFlags,
    pairs: Vec<(f64, Bytes)>,
) -> Result<Reply, EngineError> {
    let exists = ks.write_as::<ZSet>(&key, ctx)?.is_some();
    let (mut added, mut updated, mut processed) = (0i64, 0i64, 0usize);
    let mut last = 0.0;
    let mut nan = false;
    if exists || !flags.xx {
        let z = ks.write_or_create::<ZSet>(&key, ctx)?;
        for (score, member) in pairs {
            match add_one(z, score, member, flags) {
                Added::New(s) => (added, processed, last) = (added + 1, processed + 1, s),
                Added::Updated(s) => (updated, processed, last) = (updated + 1, processed + 1, s),
                Added::Unchanged(s) => (processed, last) = (processed + 1, s),
                Added::Skipped => {}
                Added::Nan => {
                    nan = true;
                    break;
                }
            }
        }
        if added + updated > 0 {
            ks.notify(
                EventClass::ZSET,
                if flags.incr { "zincr" } else { "zadd" },
                &key,
            );
        }
        ks.finish_write::<ZSet>(&key, ctx, added + updated > 0);
    }
    if nan {
        return Err(EngineError::ScoreNan);
    }
    Ok(match (flags.incr, processed > 0) {
        (true, true) => Reply::Double(last),
        (true, false) => Reply::Nil,
        (false, _) if flags.ch => Reply::Int(added + updated),
        (false, _) => Reply::Int(added),
    })
}

pub(super) fn rem(
    ks: &mut Keyspace,
    ctx: &ApplyCtx,
    key: &Bytes,
    members: &[Bytes],
) -> Result<Reply, EngineError> {
    let Some(z) = ks.write_as::<ZSet>(key, ctx)? else {
        return Ok(Reply::Int(0));
    };
    let removed = members.iter().filter(|m| z.remove(m).is_some()).count();
    if removed > 0 {
        ks.notify(EventClass::ZSET, "zrem", key);
    }
    ks.finish_write::<ZSet>(key, ctx, removed > 0);
    Ok(Reply::Int(removed as i64))
}

pub(super) fn rem_range(
    ks: &mut Keyspace,
    ctx: &ApplyCtx,
    key: &Bytes,
    by: &RangeBy,
) -> Result<Reply, EngineError> {
    let Some(z) = ks.write_as::<ZSet>(key, ctx)? else {
        return Ok(Reply::Int(0));
    };
    let removed = range::remove(z, by);
    if removed > 0 {
        let event = match by {
            RangeBy::Rank { .. } => "zremrangebyrank",
            RangeBy::Score(_) => "zremrangebyscore",
            RangeBy::Lex(_) => "zremrangebylex",
        };
        ks.notify(EventClass::ZSET, event, key);
    }
    ks.finish_write::<ZSet>(key, ctx, removed > 0);
    Ok(Reply::Int(removed as i64))
}

pub(super) fn pop(
    ks: &mut Keyspace,
    ctx: &ApplyCtx,
    keys: &[Bytes],
    end: PopEnd,
    count: Option<usize>,
    shape: PopShape,
) -> Result<Reply, EngineError> {
    // The first key holding a sorted set wins; a wrong type before it is an error.
    let mut found = None;
    for key in keys {
        if ks.write_as::<ZSet>(key, ctx)?.is_some() {
            found = Some(key);
            break;
        }
    }
    let nothing = match shape {
        PopShape::Plain => Reply::Array(Vec::new()),
        PopShape::Keyed | PopShape::Multi => Reply::NilArray,
    };
    let Some(key) = found else {
        return Ok(nothing);
    };
    if count == Some(0) {
        return Ok(Reply::Array(Vec::new()));
    }
    let Some(z) = ks.write_as::<ZSet>(key, ctx)? else {
        return Ok(nothing);
    };
    let n = count.unwrap_or(1).min(z.len());
    let mut popped = match end {
        PopEnd::Min => z.remove_ranks(0, n),
        PopEnd::Max => z.remove_ranks(z.len() - n, z.len()),
    };
    if end == PopEnd::Max {
        popped.reverse();
    }
    let event = match end {
        PopEnd::Min => "zpopmin",
        PopEnd::Max => "zpopmax",
    };
    ks.notify(EventClass::ZSET, event, key);
    ks.finish_write::<ZSet>(key, ctx, true);
    let pairs = || {
        popped
            .iter()
            .map(|e| (Reply::Bulk(e.member.clone()), Reply::Double(e.score)))
            .collect::<Vec<_>>()
    };
    Ok(match shape {
        PopShape::Plain if count.is_some() => Reply::Pairs(pairs()),
        PopShape::Plain => Reply::Array(pairs().into_iter().flat_map(|(m, s)| [m, s]).collect()),
        PopShape::Keyed => {
            let mut items = vec![Reply::Bulk(key.clone())];
            items.extend(pairs().into_iter().flat_map(|(m, s)| [m, s]));
            Reply::Array(items)
        }
        // Nested `[member, score]` pairs in RESP2 too, as Redis replies to ZMPOP.
        PopShape::Multi => Reply::Array(vec![
            Reply::Bulk(key.clone()),
            Reply::Array(
                pairs()
                    .into_iter()
                    .map(|(m, s)| Reply::Array(vec![m, s]))
                    .collect(),
            ),
        ]),
    })
}

pub(super) fn range_store(
    ks: &mut Keyspace,
    ctx: &ApplyCtx,
    dst: Bytes,
    src: &[u8],
    spec: &RangeSpec,
) -> Result<Reply, EngineError> {
    let mut result = ZSetValue::new(ks.seed());
    if let Some(z) = ks.peek_as::<ZSet>(src, ctx.now_ms)? {
        for entry in range::select(z, spec) {
            result.insert(entry.member.clone(), entry.score);
        }
    }
    Ok(store(ks, ctx, dst, result, "zrangestore"))
}

/// Stores a computed set under `dst` (replacing any value and TTL) and raises `event`,
/// or deletes `dst` when the set is empty; replies with its size.
pub(crate) fn store(
    ks: &mut Keyspace,
    ctx: &ApplyCtx,
    dst: Bytes,
    mut result: ZSetValue,
    event: &'static str,
) -> Reply {
    let negative_zeros: Vec<Bytes> = result
        .iter()
        .filter(|e| e.score == 0.0 && e.score.is_sign_negative())
        .map(|e| e.member.clone())
        .collect();
    for member in negative_zeros {
        result.insert(member, 0.0);
    }
    let len = result.len();
    if len == 0 {
        ks.delete(&dst, ctx);
    } else {
        ks.insert(&dst, Value::ZSet(Box::new(result)), ctx);
        ks.notify(EventClass::ZSET, event, &dst);
    }
    Reply::Int(len as i64)
}
