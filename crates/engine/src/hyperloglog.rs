//! HyperLogLog (PFADD, PFCOUNT, PFMERGE) in Redis's own format, byte for byte: a
//! string value with the `HYLL` header, sparse (run-length opcodes) or dense (16384
//! six-bit registers) encoding, the cached cardinality, MurmurHash64A, and Ertl's
//! estimator. A client that GETs, DUMPs or copies an HLL between okapi and Redis gets
//! the same bytes and the same counts.

mod format;
#[cfg(test)]
mod tests;

use bytes::{Bytes, BytesMut};

use crate::error::EngineError;
use crate::keyspace::Keyspace;
use crate::notify::EventClass;
use crate::reply::Reply;
use crate::strings::store_string;
use crate::value::StrValue;
use crate::{ApplyCtx, ReadCtx};

pub use format::{Hll, REGISTERS};

/// HyperLogLog writes.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum HllOp {
    /// PFADD: replies 1 when a register changed or the key was created.
    Add {
        /// Key.
        key: Bytes,
        /// Elements.
        elements: Vec<Bytes>,
    },
    /// PFCOUNT of one key: replies with the cardinality, storing it in the value's
    /// cache when that was stale (Redis's PFCOUNT writes the cache back too).
    Count {
        /// Key.
        key: Bytes,
    },
    /// PFMERGE: the union of the sources (and the destination) stored in `dst`.
    Merge {
        /// Destination.
        dst: Bytes,
        /// Sources.
        keys: Vec<Bytes>,
    },
}

/// HyperLogLog reads.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum HllQuery {
    /// PFCOUNT of several keys: the cardinality of their union (nothing is stored).
    CountUnion {
        /// Keys.
        keys: Vec<Bytes>,
    },
}

fn not_hll() -> EngineError {
    EngineError::Other("WRONGTYPE Key is not a valid HyperLogLog string value.".into())
}

fn corrupt() -> EngineError {
    EngineError::Other("INVALIDOBJ Corrupted HLL object detected".into())
}

/// Merges the HLL at `key` into `max` where it lies, without copying it: whether it is
/// dense, `None` when the key is missing, an error when it holds no valid HLL.
fn merge_from(
    ks: &Keyspace,
    key: &[u8],
    now_ms: u64,
    max: &mut [u8],
) -> Result<Option<bool>, EngineError> {
    let Some(s) = ks.peek_as::<StrValue>(key, now_ms)? else {
        return Ok(None);
    };
    s.with_bytes(|b| {
        if !Hll::is_hll(b) {
            return Err(not_hll());
        }
        format::merge_bytes(b, max).ok_or_else(corrupt)?;
        Ok(Some(b[4] == 0))
    })
}

/// The HLL at `key` taken out of its value without copying (12 KB when dense): put it
/// back with [`put`]. `Ok(None)` when missing.
fn take(ks: &mut Keyspace, ctx: &ApplyCtx, key: &[u8]) -> Result<Option<Hll>, EngineError> {
    match ks.write_as::<StrValue>(key, ctx)? {
        None => Ok(None),
        Some(s) if !s.with_bytes(Hll::is_hll) => Err(not_hll()),
        Some(s) => Ok(Some(Hll::from_vec(Vec::from(s.take_mut())))),
    }
}

/// Puts back an HLL [`take`] took out (or stores a new one), keeping the key's TTL.
fn put(ks: &mut Keyspace, ctx: &ApplyCtx, key: &[u8], hll: Hll, changed: bool) {
    // A Bytes made from a Vec is unique, so it becomes a BytesMut without a copy.
    let buf = Bytes::from(hll.into_vec())
        .try_into_mut()
        .unwrap_or_else(|b| BytesMut::from(&b[..]));
    store_string(ks, ctx, key, StrValue::from_mut(buf), changed);
}

impl HllOp {
    pub(crate) fn apply(self, ks: &mut Keyspace, ctx: &ApplyCtx) -> Result<Reply, EngineError> {
        match self {
            HllOp::Add { key, elements } => {
                let (mut hll, mut updated) = match take(ks, ctx, &key)? {
                    Some(hll) => (hll, false),
                    None => (Hll::new(), true),
                };
                let mut result = Ok(());
                for element in &elements {
                    match hll.add(element) {
                        Some(grew) => updated |= grew,
                        None => {
                            result = Err(corrupt());
                            break;
                        }
                    }
                }
                if updated && result.is_ok() {
                    hll.invalidate_cache();
                }
                // Back in place whatever happened: it was taken out of the value.
                put(ks, ctx, &key, hll, updated);
                if updated && result.is_ok() {
                    ks.notify(EventClass::STRING, "pfadd", &key);
                }
                result.map(|()| Reply::Int(i64::from(updated)))
            }
            HllOp::Count { key } => {
                // A fresh cache answers without touching the value.
                match ks.peek_as::<StrValue>(&key, ctx.now_ms)? {
                    None => return Ok(Reply::Int(0)),
                    Some(s) => match s.with_bytes(|b| (Hll::is_hll(b), Hll::cached_in(b))) {
                        (false, _) => return Err(not_hll()),
                        (true, Some(card)) => return Ok(Reply::Int(card as i64)),
                        (true, None) => {}
                    },
                }
                let Some(mut hll) = take(ks, ctx, &key)? else {
                    return Ok(Reply::Int(0));
                };
                let card = hll.count();
                if let Some(card) = card {
                    hll.set_cache(card);
                }
                put(ks, ctx, &key, hll, card.is_some());
                card.map(|c| Reply::Int(c as i64)).ok_or_else(corrupt)
            }
            HllOp::Merge { dst, keys } => {
                let mut max = vec![0u8; REGISTERS];
                let mut dense = false;
                // The destination is an input too, and is checked first, as in Redis.
                for key in std::iter::once(&dst).chain(&keys) {
                    dense |= merge_from(ks, key, ctx.now_ms, &mut max)?.unwrap_or(false);
                }
                // Every input was valid, so the destination's registers and opcodes
                // were too: writing them cannot fail half way.
                let mut target = take(ks, ctx, &dst)?.unwrap_or_else(Hll::new);
                let mut result = Ok(Reply::Ok);
                if dense && target.to_dense().is_none() {
                    result = Err(corrupt());
                }
                for (index, &count) in max.iter().enumerate() {
                    if result.is_ok() && count != 0 && target.set(index, count).is_none() {
                        result = Err(corrupt());
                    }
                }
                if result.is_ok() {
                    target.invalidate_cache();
                }
                // Back in place either way: `take` took it out of the value.
                put(ks, ctx, &dst, target, result.is_ok());
                if result.is_ok() {
                    ks.notify(EventClass::STRING, "pfadd", &dst);
                }
                result
            }
        }
    }
}

impl HllQuery {
    pub(crate) fn run(&self, ks: &mut Keyspace, ctx: &ReadCtx) -> Result<Reply, EngineError> {
        match self {
            HllQuery::CountUnion { keys } => {
                let mut max = vec![0u8; REGISTERS];
                for key in keys {
                    merge_from(ks, key, ctx.now_ms, &mut max)?;
                }
                Ok(Reply::Int(format::estimate(&format::histogram(&max)) as i64))
            }
        }
    }
}
