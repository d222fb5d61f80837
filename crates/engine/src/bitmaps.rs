//! Bitmap ops and reads on string values: SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP and
//! BITFIELD. Bits are numbered as Redis numbers them: bit 0 is the most significant bit
//! of byte 0. Writes grow the string with zero bytes; reads treat missing bytes (and
//! missing keys) as zeros.

mod field;
#[cfg(test)]
mod tests;

use bytes::{Bytes, BytesMut};

pub use field::{FieldKind, FieldOp, Overflow};

use crate::error::EngineError;
use crate::keyspace::Keyspace;
use crate::notify::EventClass;
use crate::reply::Reply;
use crate::strings::store_string;
use crate::value::{StrValue, Value};
use crate::{ApplyCtx, ReadCtx};

/// Whether a range counts bytes or bits (BITCOUNT / BITPOS `BYTE|BIT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum BitUnit {
    /// Offsets are bytes (the default).
    Byte,
    /// Offsets are bits.
    Bit,
}

/// The range arguments of BITCOUNT or BITPOS. Redis looks the key up before it reads
/// them (a missing key answers whatever they say), so a malformed range travels as the
/// error it causes and is reported only for an existing string.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum BitRange {
    /// No range: the whole string.
    Whole,
    /// `start [end] [unit]`, negative offsets counting from the end; `end` absent
    /// means the end of the string.
    Span {
        /// First offset.
        start: i64,
        /// Last offset, inclusive.
        end: Option<i64>,
        /// Bytes or bits.
        unit: BitUnit,
    },
    /// A range known to be empty from its arguments alone (both negative, start after
    /// end: BITCOUNT replies 0 before it reads the unit).
    Empty,
    /// Arguments that did not parse.
    Invalid(EngineError),
}

/// BITOP's operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum BitOperation {
    /// AND.
    And,
    /// OR.
    Or,
    /// XOR.
    Xor,
    /// NOT (one source).
    Not,
}

/// Bitmap writes.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum BitOp {
    /// SETBIT: replies with the bit's previous value.
    SetBit {
        /// Key.
        key: Bytes,
        /// Bit offset (below 2^32, checked by the command layer).
        offset: u64,
        /// The new value.
        on: bool,
    },
    /// BITOP: stores the result in `dst` (deleting it when every source is empty)
    /// and replies with its length.
    Combine {
        /// Operation.
        op: BitOperation,
        /// Destination.
        dst: Bytes,
        /// Sources; missing keys are empty strings.
        keys: Vec<Bytes>,
    },
    /// BITFIELD with at least one SET or INCRBY.
    Field {
        /// Key.
        key: Bytes,
        /// The subcommands, in order.
        ops: Vec<FieldOp>,
    },
}

/// Bitmap reads.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum BitQuery {
    /// GETBIT.
    GetBit {
        /// Key.
        key: Bytes,
        /// Bit offset.
        offset: u64,
    },
    /// BITCOUNT.
    Count {
        /// Key.
        key: Bytes,
        /// Range.
        range: BitRange,
    },
    /// BITPOS.
    Pos {
        /// Key.
        key: Bytes,
        /// The bit looked for.
        bit: bool,
        /// Range.
        range: BitRange,
    },
    /// BITFIELD / BITFIELD_RO with GETs only.
    Field {
        /// Key.
        key: Bytes,
        /// The GETs, in order.
        ops: Vec<FieldOp>,
    },
}

impl BitOp {
    pub(crate) fn apply(self, ks: &mut Keyspace, ctx: &ApplyCtx) -> Result<Reply, EngineError> {
        match self {
            BitOp::SetBit { key, offset, on } => {
                let byte = (offset >> 3) as usize;
                let mask = 0x80u8 >> (offset & 7);
                let (grew, mut buf) = grow_for(ks, ctx, &key, byte + 1)?;
                let old = buf[byte] & mask != 0;
                if on {
                    buf[byte] |= mask;
                } else {
                    buf[byte] &= !mask;
                }
                let changed = grew || old != on;
                finish(ks, ctx, &key, buf, changed);
                if changed {
                    ks.notify(EventClass::STRING, "setbit", &key);
                }
                Ok(Reply::Int(i64::from(old)))
            }
            BitOp::Combine { op, dst, keys } => {
                let result = combine(ks, ctx.now_ms, op, &keys)?;
                let len = result.len();
                if len == 0 {
                    ks.delete(&dst, ctx);
                } else {
                    // A new value: replaces whatever `dst` held, TTL included.
                    ks.insert(&dst, Value::Str(StrValue::from_mut(result)), ctx);
                    ks.notify(EventClass::STRING, "set", &dst);
                }
                Ok(Reply::Int(len as i64))
            }
            BitOp::Field { key, ops } => {
                let highest = ops
                    .iter()
                    .filter(|o| !matches!(o.kind, FieldKind::Get))
                    .map(|o| o.offset + u64::from(o.bits) - 1)
                    .max()
                    .unwrap_or(0);
                let (grew, mut buf) = grow_for(ks, ctx, &key, (highest >> 3) as usize + 1)?;
                let mut changed = grew;
                // Redis announces a BITFIELD whose SET or INCRBY changed bits or made
                // the string longer.
                let mut wrote_any = false;
                let replies = ops
                    .iter()
                    .map(|o| {
                        let (reply, wrote) = o.apply(&mut buf);
                        changed |= wrote;
                        wrote_any |= !matches!(o.kind, FieldKind::Get)
                            && reply != Reply::Nil
                            && (grew || wrote);
                        reply
                    })
                    .collect();
                finish(ks, ctx, &key, buf, changed);
                if wrote_any {
                    ks.notify(EventClass::STRING, "setbit", &key);
                }
                Ok(Reply::Array(replies))
            }
        }
    }
}

impl BitQuery {
    pub(crate) fn run(&self, ks: &mut Keyspace, ctx: &ReadCtx) -> Result<Reply, EngineError> {
        match self {
            BitQuery::GetBit { key, offset } => {
                let Some(value) = ks.read_as::<StrValue>(key, ctx.now_ms)? else {
                    return Ok(Reply::Int(0));
                };
                Ok(Reply::Int(
                    value.with_bytes(|b| i64::from(bit_at(b, *offset))),
                ))
            }
            BitQuery::Count { key, range } => {
                let Some(value) = ks.read_as::<StrValue>(key, ctx.now_ms)? else {
                    return Ok(Reply::Int(0));
                };
                value.with_bytes(|b| match bit_span(b.len(), range)? {
                    None => Ok(Reply::Int(0)),
                    Some(span) => Ok(Reply::Int(count_ones(b, span) as i64)),
                })
            }
            BitQuery::Pos { key, bit, range } => {
                let Some(value) = ks.read_as::<StrValue>(key, ctx.now_ms)? else {
                    // A missing key is an endless run of zeros.
                    return Ok(Reply::Int(if *bit { -1 } else { 0 }));
                };
                let end_given = matches!(range, BitRange::Span { end: Some(_), .. });
                value.with_bytes(|b| {
                    let Some((first, last)) = bit_span(b.len(), range)? else {
                        return Ok(Reply::Int(-1));
                    };
                    Ok(Reply::Int(match find_bit(b, first, last, *bit) {
                        Some(pos) => pos as i64,
                        // Without an explicit end, the string continues with zeros.
                        None if !*bit && !end_given => last as i64 + 1,
                        None => -1,
                    }))
                })
            }
            BitQuery::Field { key, ops } => {
                let value = ks.read_as::<StrValue>(key, ctx.now_ms)?;
                let read = |b: &[u8]| {
                    ops.iter()
                        .map(|o| Reply::Int(o.get_from(b)))
                        .collect::<Vec<_>>()
                };
                Ok(Reply::Array(match value {
                    None => read(&[]),
                    Some(v) => v.with_bytes(read),
                }))
            }
        }
    }
}

/// The bit at `offset` of `bytes`, zero past the end.
fn bit_at(bytes: &[u8], offset: u64) -> bool {
    bytes
        .get((offset >> 3) as usize)
        .is_some_and(|b| b & (0x80 >> (offset & 7)) != 0)
}

/// The inclusive bit interval a range selects in a string of `len` bytes, `None` when
/// empty, as Redis clamps it: negative offsets count from the end, start below 0 is 0,
/// end past the string is its last unit.
fn bit_span(len: usize, range: &BitRange) -> Result<Option<(u64, u64)>, EngineError> {
    let (start, end, unit) = match range {
        BitRange::Invalid(e) => return Err(e.clone()),
        BitRange::Empty => return Ok(None),
        BitRange::Whole => (0, -1, BitUnit::Byte),
        BitRange::Span { start, end, unit } => (*start, end.unwrap_or(-1), *unit),
    };
    let total = match unit {
        BitUnit::Byte => len as i64,
        BitUnit::Bit => len as i64 * 8,
    };
    let clamp = |v: i64| if v < 0 { (total + v).max(0) } else { v };
    let (start, end) = (clamp(start), clamp(end).min(total - 1));
    if start > end {
        return Ok(None);
    }
    Ok(Some(match unit {
        BitUnit::Byte => (start as u64 * 8, end as u64 * 8 + 7),
        BitUnit::Bit => (start as u64, end as u64),
    }))
}

/// Set bits in the inclusive bit interval.
fn count_ones(bytes: &[u8], (first, last): (u64, u64)) -> u64 {
    let (fb, lb) = ((first >> 3) as usize, (last >> 3) as usize);
    let head = 0xffu8 >> (first & 7);
    let tail = 0xffu8 << (7 - (last & 7));
    if fb == lb {
        return u64::from((bytes[fb] & head & tail).count_ones());
    }
    let middle = &bytes[fb + 1..lb];
    // Whole words first: the popcount instruction does 64 bits at a time.
    let (chunks, rest) = middle.as_chunks::<8>();
    let words: u64 = chunks
        .iter()
        .map(|c| u64::from(u64::from_ne_bytes(*c).count_ones()))
        .sum();
    let rest: u64 = rest.iter().map(|b| u64::from(b.count_ones())).sum();
    u64::from((bytes[fb] & head).count_ones())
        + words
        + rest
        + u64::from((bytes[lb] & tail).count_ones())
}

/// The first bit equal to `bit` in the inclusive bit interval.
fn find_bit(bytes: &[u8], first: u64, last: u64, bit: bool) -> Option<u64> {
    let (fb, lb) = ((first >> 3) as usize, (last >> 3) as usize);
    for (i, &raw) in bytes[fb..=lb].iter().enumerate() {
        let index = fb + i;
        // Look for ones: for a zero search, flip the byte.
        let mut b = if bit { raw } else { !raw };
        if index == fb {
            b &= 0xff >> (first & 7);
        }
        if index == lb {
            b &= 0xff << (7 - (last & 7));
        }
        if b != 0 {
            return Some(index as u64 * 8 + u64::from(b.leading_zeros()));
        }
    }
    None
}

/// BITOP's result: as long as the longest source, shorter sources padded with zeros.
fn combine(
    ks: &Keyspace,
    now_ms: u64,
    op: BitOperation,
    keys: &[Bytes],
) -> Result<BytesMut, EngineError> {
    let sources = keys
        .iter()
        .map(|k| Ok(ks.peek_as::<StrValue>(k, now_ms)?.map(StrValue::to_bytes)))
        .collect::<Result<Vec<_>, EngineError>>()?;
    let sources: Vec<Bytes> = sources.into_iter().map(Option::unwrap_or_default).collect();
    let len = sources.iter().map(Bytes::len).max().unwrap_or(0);
    let mut out = BytesMut::zeroed(len);
    let Some((first, rest)) = sources.split_first() else {
        return Ok(out);
    };
    out[..first.len()].copy_from_slice(first);
    match op {
        BitOperation::Not => fold(&mut out, &[], |a, _| !a),
        // Past a source's end it reads as zeros, which AND carries through.
        BitOperation::And => rest
            .iter()
            .for_each(|src| fold(&mut out, src, |a, b| a & b)),
        BitOperation::Or => rest
            .iter()
            .for_each(|src| fold(&mut out, src, |a, b| a | b)),
        BitOperation::Xor => rest
            .iter()
            .for_each(|src| fold(&mut out, src, |a, b| a ^ b)),
    }
    Ok(out)
}

/// `out[i] = f(out[i], src[i])` over `out`'s bytes (a missing `src` byte is 0),
/// eight bytes at a time.
fn fold(out: &mut [u8], src: &[u8], f: impl Fn(u64, u64) -> u64) {
    let word = |bytes: &[u8]| {
        let mut w = [0u8; 8];
        w[..bytes.len()].copy_from_slice(bytes);
        u64::from_ne_bytes(w)
    };
    for (i, chunk) in out.chunks_mut(8).enumerate() {
        let from = (i * 8).min(src.len());
        let to = (i * 8 + chunk.len()).min(src.len());
        let result = f(word(chunk), word(&src[from..to])).to_ne_bytes();
        chunk.copy_from_slice(&result[..chunk.len()]);
    }
}

/// The string at `key` taken out as a buffer of at least `len` bytes (created or
/// padded with zeros), and whether it grew; [`finish`] puts it back.
fn grow_for(
    ks: &mut Keyspace,
    ctx: &ApplyCtx,
    key: &Bytes,
    len: usize,
) -> Result<(bool, BytesMut), EngineError> {
    let mut buf = match ks.write_as::<StrValue>(key, ctx)? {
        Some(current) => current.take_mut(),
        None => BytesMut::new(),
    };
    let grew = buf.len() < len;
    if grew {
        buf.resize(len, 0);
    }
    Ok((grew, buf))
}

/// Stores the buffer [`grow_for`] took out back under `key` (keeping its TTL).
fn finish(ks: &mut Keyspace, ctx: &ApplyCtx, key: &[u8], buf: BytesMut, changed: bool) {
    store_string(ks, ctx, key, StrValue::from_mut(buf), changed);
}
