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
use crate::reply::Reply;
use crate::value::{StrValue, Value};
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

/// The HLL held at `key`: `Ok(None)` when missing, an error when it is not one.
fn read(ks: &Keyspace, key: &[u8], now_ms: u64) -> Result<Option<Hll>, EngineError> {
    match ks.peek_as::<StrValue>(key, now_ms) {
        Err(e) => Err(e),
        Ok(None) => Ok(None),
        Ok(Some(s)) => s.with_bytes(Hll::from_bytes).map(Some).ok_or_else(not_hll),
    }
}

/// Stores `hll` under `key`, keeping the key's TTL when it exists.
fn store(ks: &mut Keyspace, ctx: &ApplyCtx, key: Bytes, hll: &Hll) {
    let value = StrValue::from_mut(BytesMut::from(hll.bytes()));
    match ks.write_as::<StrValue>(&key, ctx) {
        Ok(Some(current)) => {
            *current = value;
            ks.finish_write::<StrValue>(&key, ctx, true);
        }
        _ => {
            ks.insert(key, Value::Str(value), ctx);
        }
    }
}

impl HllOp {
    pub(crate) fn apply(self, ks: &mut Keyspace, ctx: &ApplyCtx) -> Result<Reply, EngineError> {
        match self {
            HllOp::Add { key, elements } => {
                let (mut hll, mut updated) = match read(ks, &key, ctx.now_ms)? {
                    Some(hll) => (hll, false),
                    None => (Hll::new(), true),
                };
                for element in &elements {
                    updated |= hll.add(element).ok_or_else(corrupt)?;
                }
                if updated {
                    hll.invalidate_cache();
                    store(ks, ctx, key, &hll);
                }
                Ok(Reply::Int(i64::from(updated)))
            }
            HllOp::Count { key } => {
                let Some(mut hll) = read(ks, &key, ctx.now_ms)? else {
                    return Ok(Reply::Int(0));
                };
                if let Some(card) = hll.cached() {
                    return Ok(Reply::Int(card as i64));
                }
                let card = hll.count().ok_or_else(corrupt)?;
                hll.set_cache(card);
                store(ks, ctx, key, &hll);
                Ok(Reply::Int(card as i64))
            }
            HllOp::Merge { dst, keys } => {
                let mut max = vec![0u8; REGISTERS];
                let mut dense = false;
                for key in std::iter::once(&dst).chain(&keys) {
                    if let Some(hll) = read(ks, key, ctx.now_ms)? {
                        dense |= hll.is_dense();
                        hll.merge_into(&mut max).ok_or_else(corrupt)?;
                    }
                }
                let mut target = read(ks, &dst, ctx.now_ms)?.unwrap_or_else(Hll::new);
                if dense {
                    target.to_dense().ok_or_else(corrupt)?;
                }
                for (index, &count) in max.iter().enumerate() {
                    if count != 0 {
                        target.set(index, count).ok_or_else(corrupt)?;
                    }
                }
                target.invalidate_cache();
                store(ks, ctx, dst, &target);
                Ok(Reply::Ok)
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
                    if let Some(hll) = read(ks, key, ctx.now_ms)? {
                        hll.merge_into(&mut max).ok_or_else(corrupt)?;
                    }
                }
                Ok(Reply::Int(format::estimate(&format::histogram(&max)) as i64))
            }
        }
    }
}
