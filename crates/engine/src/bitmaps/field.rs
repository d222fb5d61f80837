//! BITFIELD's integers: signed and unsigned fields of 1 to 64 bits at any bit offset,
//! with Redis's overflow rules (WRAP, SAT, FAIL), including how Redis classifies an
//! out-of-range SET value (its bounds arithmetic wraps in 64 bits).

use crate::reply::Reply;

/// What BITFIELD does when a value leaves the field's range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Overflow {
    /// Keep the low bits (two's complement wrap-around).
    Wrap,
    /// Clamp to the field's minimum or maximum.
    Sat,
    /// Leave the field alone and reply nil.
    Fail,
}

/// One BITFIELD subcommand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum FieldKind {
    /// GET: reply with the field.
    Get,
    /// SET value: reply with the previous value.
    Set(i64),
    /// INCRBY increment: reply with the new value.
    IncrBy(i64),
}

/// A BITFIELD subcommand on one field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FieldOp {
    /// The subcommand.
    pub kind: FieldKind,
    /// `i` (signed) or `u` types.
    pub signed: bool,
    /// Width: 1..=64 signed, 1..=63 unsigned.
    pub bits: u32,
    /// Bit offset of the field's most significant bit.
    pub offset: u64,
    /// The OVERFLOW mode in force for this subcommand.
    pub overflow: Overflow,
}

impl FieldOp {
    /// The field's value read from `bytes` (zeros past the end).
    pub(crate) fn get_from(&self, bytes: &[u8]) -> i64 {
        let raw = read_bits(bytes, self.offset, self.bits);
        if self.signed {
            sign_extend(raw, self.bits)
        } else {
            raw as i64
        }
    }

    /// Runs a subcommand on a buffer long enough for every write; the reply and
    /// whether the buffer changed.
    pub(crate) fn apply(&self, buf: &mut [u8]) -> (Reply, bool) {
        let old = read_bits(buf, self.offset, self.bits);
        let (value, increment, reply_new) = match self.kind {
            FieldKind::Get => return (Reply::Int(self.get_from(buf)), false),
            FieldKind::Set(v) => (v, 0, false),
            FieldKind::IncrBy(by) => (
                if self.signed {
                    sign_extend(old, self.bits)
                } else {
                    old as i64
                },
                by,
                true,
            ),
        };
        let outcome = if self.signed {
            signed_overflow(value, increment, self.bits, self.overflow)
        } else {
            unsigned_overflow(value as u64, increment, self.bits, self.overflow)
        };
        let new = match outcome {
            None => value.wrapping_add(increment) as u64,
            Some(Some(limited)) => limited,
            Some(None) => return (Reply::Nil, false),
        };
        write_bits(buf, self.offset, self.bits, new);
        let stored = read_bits(buf, self.offset, self.bits);
        let shown = if reply_new { stored } else { old };
        let reply = if self.signed {
            sign_extend(shown, self.bits)
        } else {
            shown as i64
        };
        (Reply::Int(reply), stored != old)
    }
}

/// `None` when `value + incr` fits; `Some(Some(v))` with the value to store when it
/// does not and the mode allows a write; `Some(None)` when FAIL forbids it. Mirrors
/// `checkUnsignedBitfieldOverflow`.
fn unsigned_overflow(value: u64, incr: i64, bits: u32, mode: Overflow) -> Option<Option<u64>> {
    let max = if bits == 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    };
    // Redis keeps both bounds in signed 64 bits.
    let max_incr = max.wrapping_sub(value) as i64;
    let min_incr = (value as i64).wrapping_neg();
    let wrapped = value.wrapping_add(incr as u64) & max;
    let limit = |sat: u64| match mode {
        Overflow::Wrap => Some(Some(wrapped)),
        Overflow::Sat => Some(Some(sat)),
        Overflow::Fail => Some(None),
    };
    if value > max || (incr > 0 && incr > max_incr) {
        return limit(max);
    }
    if incr < 0 && incr < min_incr {
        return limit(0);
    }
    None
}

/// The signed counterpart, mirroring `checkSignedBitfieldOverflow`: its bounds
/// (`max - value`, `min - value`) wrap in 64 bits as the C does.
fn signed_overflow(value: i64, incr: i64, bits: u32, mode: Overflow) -> Option<Option<u64>> {
    let max = if bits == 64 {
        i64::MAX
    } else {
        (1i64 << (bits - 1)) - 1
    };
    let min = -max - 1;
    let max_incr = max.wrapping_sub(value);
    let min_incr = min.wrapping_sub(value);
    let limit = |sat: i64| match mode {
        Overflow::Wrap => Some(Some(wrap_signed(value, incr, bits))),
        Overflow::Sat => Some(Some(sat as u64)),
        Overflow::Fail => Some(None),
    };
    if value > max || (bits != 64 && incr > max_incr) || (value >= 0 && incr > 0 && incr > max_incr)
    {
        return limit(max);
    }
    if value < min || (bits != 64 && incr < min_incr) || (value < 0 && incr < 0 && incr < min_incr)
    {
        return limit(min);
    }
    None
}

/// `value + incr` wrapped into a signed field of `bits` bits.
fn wrap_signed(value: i64, incr: i64, bits: u32) -> u64 {
    let sum = (value as u64).wrapping_add(incr as u64);
    if bits == 64 {
        return sum;
    }
    let mask = u64::MAX << bits;
    if sum & (1 << (bits - 1)) != 0 {
        sum | mask
    } else {
        sum & !mask
    }
}

fn sign_extend(raw: u64, bits: u32) -> i64 {
    if bits < 64 && raw & (1 << (bits - 1)) != 0 {
        (raw | (u64::MAX << bits)) as i64
    } else {
        raw as i64
    }
}

/// `bits` bits from `offset`, most significant first; zeros past the end.
fn read_bits(bytes: &[u8], offset: u64, bits: u32) -> u64 {
    (0..u64::from(bits)).fold(0u64, |acc, i| {
        let pos = offset + i;
        let bit = bytes
            .get((pos >> 3) as usize)
            .is_some_and(|b| b & (0x80 >> (pos & 7)) != 0);
        acc << 1 | u64::from(bit)
    })
}

/// Writes the low `bits` bits of `value` at `offset`; the buffer is long enough.
fn write_bits(buf: &mut [u8], offset: u64, bits: u32, value: u64) {
    for i in 0..u64::from(bits) {
        let pos = offset + i;
        let mask = 0x80u8 >> (pos & 7);
        let byte = &mut buf[(pos >> 3) as usize];
        if value >> (u64::from(bits) - 1 - i) & 1 == 1 {
            *byte |= mask;
        } else {
            *byte &= !mask;
        }
    }
}
