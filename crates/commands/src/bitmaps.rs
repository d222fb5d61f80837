//! Bitmap commands: SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP, BITFIELD, BITFIELD_RO.
//! Errors come in Redis 7.0's order: what Redis checks before it looks the key up is
//! checked here; what it checks after (BITCOUNT's and BITPOS's ranges) travels to the
//! engine as a [`BitRange::Invalid`].

use bytes::Bytes;
use okapi_engine::bitmaps::{
    BitOp, BitOperation, BitQuery, BitRange, BitUnit, FieldKind, FieldOp, Overflow,
};
use okapi_engine::{EngineError, OpKind, QueryKind};
use okapi_types::num::parse_i64;

use crate::action::Action;
use crate::args::{int, is};
use crate::error::CommandError;
use crate::spec::flags::*;
use crate::spec::{CommandSpec, Ctx, command, keys};
use crate::{read, write};

const G: &str = "bitmap";
const W: &[&str] = &["@write", "@bitmap", "@slow"];
const R: &[&str] = &["@read", "@bitmap", "@slow"];
const RF: &[&str] = &["@read", "@bitmap", "@fast"];

/// Largest bit offset + 1: offsets address at most 512 MB (`proto-max-bulk-len`).
const MAX_BITS: u64 = 512 * 1024 * 1024 * 8;

const BAD_OFFSET: &str = "ERR bit offset is not an integer or out of range";
const BAD_TYPE: &str = "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.";

/// Bitmap commands.
pub const COMMANDS: &[CommandSpec] = &[
    command(
        "setbit",
        4,
        WRITE | DENYOOM,
        keys(1, 1, 1),
        W,
        G,
        "Sets or clears the bit at offset of the string value. Creates the key if it doesn't exist.",
        setbit,
    ),
    command(
        "getbit",
        3,
        READONLY | FAST,
        keys(1, 1, 1),
        RF,
        G,
        "Returns a bit value by offset.",
        getbit,
    ),
    command(
        "bitcount",
        -2,
        READONLY,
        keys(1, 1, 1),
        R,
        G,
        "Counts the number of set bits (population counting) in a string.",
        bitcount,
    ),
    command(
        "bitpos",
        -3,
        READONLY,
        keys(1, 1, 1),
        R,
        G,
        "Finds the first set (1) or clear (0) bit in a string.",
        bitpos,
    ),
    command(
        "bitop",
        -4,
        WRITE | DENYOOM,
        keys(2, -1, 1),
        W,
        G,
        "Performs bitwise operations on multiple strings, and stores the result.",
        bitop,
    ),
    command(
        "bitfield",
        -2,
        WRITE | DENYOOM,
        keys(1, 1, 1),
        W,
        G,
        "Performs arbitrary bitfield integer operations on strings.",
        bitfield,
    ),
    command(
        "bitfield_ro",
        -2,
        READONLY | FAST,
        keys(1, 1, 1),
        RF,
        G,
        "Performs arbitrary read-only bitfield integer operations on strings.",
        bitfield_ro,
    ),
];

fn op(ctx: &Ctx, op: BitOp) -> Result<Action, CommandError> {
    Ok(write(ctx, OpKind::Bit(op)))
}

fn query(ctx: &Ctx, q: BitQuery) -> Result<Action, CommandError> {
    Ok(read(ctx, QueryKind::Bit(q)))
}

/// A bit offset as `getBitOffsetFromArgument`: `#n` counts fields of `field_bits`
/// (BITFIELD only), the result below 2^32.
fn bit_offset(arg: &[u8], field_bits: Option<u32>) -> Result<u64, CommandError> {
    let (digits, scale) = match (arg.first(), field_bits) {
        (Some(b'#'), Some(bits)) => (&arg[1..], i64::from(bits)),
        _ => (arg, 1),
    };
    parse_i64(digits)
        .map(|n| n.wrapping_mul(scale))
        .filter(|&n| n >= 0 && (n as u64) < MAX_BITS)
        .map(|n| n as u64)
        .ok_or_else(|| CommandError::other(BAD_OFFSET))
}

fn setbit(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    let offset = bit_offset(&a[1], None)?;
    let bad_bit = || CommandError::other("ERR bit is not an integer or out of range");
    let on = match parse_i64(&a[2]).ok_or_else(bad_bit)? {
        0 => false,
        1 => true,
        _ => return Err(bad_bit()),
    };
    op(
        ctx,
        BitOp::SetBit {
            key: a[0].clone(),
            offset,
            on,
        },
    )
}

fn getbit(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    let offset = bit_offset(&a[1], None)?;
    query(
        ctx,
        BitQuery::GetBit {
            key: a[0].clone(),
            offset,
        },
    )
}

fn unit(arg: &[u8]) -> Option<BitUnit> {
    if is(arg, "BYTE") {
        Some(BitUnit::Byte)
    } else if is(arg, "BIT") {
        Some(BitUnit::Bit)
    } else {
        None
    }
}

/// `[start end [BYTE|BIT]]`, in `bitcountCommand`'s order.
fn count_range(args: &[Bytes]) -> BitRange {
    let invalid = |e: CommandError| BitRange::Invalid(e.into_engine());
    match args.len() {
        0 => BitRange::Whole,
        2 | 3 => {
            let (start, end) = match (int(&args[0]), int(&args[1])) {
                (Ok(s), Ok(e)) => (s, e),
                (Err(e), _) | (_, Err(e)) => return invalid(e),
            };
            if start < 0 && end < 0 && start > end {
                return BitRange::Empty;
            }
            match args.get(2).map(|u| unit(u)) {
                None => BitRange::Span {
                    start,
                    end: Some(end),
                    unit: BitUnit::Byte,
                },
                Some(Some(unit)) => BitRange::Span {
                    start,
                    end: Some(end),
                    unit,
                },
                Some(None) => BitRange::Invalid(EngineError::Syntax),
            }
        }
        _ => BitRange::Invalid(EngineError::Syntax),
    }
}

fn bitcount(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    query(
        ctx,
        BitQuery::Count {
            key: a[0].clone(),
            range: count_range(&a[1..]),
        },
    )
}

/// `[start [end [BYTE|BIT]]]`, in `bitposCommand`'s order: start, unit, end.
fn pos_range(args: &[Bytes]) -> BitRange {
    let invalid = |e: CommandError| BitRange::Invalid(e.into_engine());
    if args.is_empty() {
        return BitRange::Whole;
    }
    if args.len() > 3 {
        return BitRange::Invalid(EngineError::Syntax);
    }
    let start = match int(&args[0]) {
        Ok(s) => s,
        Err(e) => return invalid(e),
    };
    let unit = match args.get(2) {
        None => BitUnit::Byte,
        Some(u) => match unit(u) {
            Some(unit) => unit,
            None => return BitRange::Invalid(EngineError::Syntax),
        },
    };
    let end = match args.get(1).map(|e| int(e)) {
        None => None,
        Some(Ok(e)) => Some(e),
        Some(Err(e)) => return invalid(e),
    };
    BitRange::Span { start, end, unit }
}

fn bitpos(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    let bit = match int(&a[1])? {
        0 => false,
        1 => true,
        _ => return Err(CommandError::other("ERR The bit argument must be 1 or 0.")),
    };
    query(
        ctx,
        BitQuery::Pos {
            key: a[0].clone(),
            bit,
            range: pos_range(&a[2..]),
        },
    )
}

fn bitop(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    let name = &a[0];
    let operation = if is(name, "AND") {
        BitOperation::And
    } else if is(name, "OR") {
        BitOperation::Or
    } else if is(name, "XOR") {
        BitOperation::Xor
    } else if is(name, "NOT") {
        BitOperation::Not
    } else {
        return Err(CommandError::Syntax);
    };
    if operation == BitOperation::Not && a.len() != 3 {
        return Err(CommandError::other(
            "ERR BITOP NOT must be called with a single source key.",
        ));
    }
    op(
        ctx,
        BitOp::Combine {
            op: operation,
            dst: a[1].clone(),
            keys: a[2..].to_vec(),
        },
    )
}

/// `i1`..`i64` or `u1`..`u63`: (signed, bits).
fn field_type(arg: &[u8]) -> Result<(bool, u32), CommandError> {
    let bad = || CommandError::other(BAD_TYPE);
    let signed = match arg.first() {
        Some(b'i') => true,
        Some(b'u') => false,
        _ => return Err(bad()),
    };
    // Redis reads the width as a C string: a NUL byte ends it.
    let digits = arg[1..].split(|&b| b == 0).next().unwrap_or_default();
    let bits = parse_i64(digits).ok_or_else(bad)?;
    let max = if signed { 64 } else { 63 };
    if !(1..=max).contains(&bits) {
        return Err(bad());
    }
    Ok((signed, bits as u32))
}

/// The subcommands of BITFIELD, as `bitfieldGeneric` parses them.
fn field_ops(args: &[Bytes]) -> Result<Vec<FieldOp>, CommandError> {
    let mut ops = Vec::new();
    let mut overflow = Overflow::Wrap;
    let mut j = 0;
    while j < args.len() {
        let remaining = args.len() - j - 1;
        let sub = &args[j];
        let kind = if is(sub, "GET") && remaining >= 2 {
            FieldKind::Get
        } else if is(sub, "SET") && remaining >= 3 {
            FieldKind::Set(0)
        } else if is(sub, "INCRBY") && remaining >= 3 {
            FieldKind::IncrBy(0)
        } else if is(sub, "OVERFLOW") && remaining >= 1 {
            let mode = &args[j + 1];
            overflow = if is(mode, "WRAP") {
                Overflow::Wrap
            } else if is(mode, "SAT") {
                Overflow::Sat
            } else if is(mode, "FAIL") {
                Overflow::Fail
            } else {
                return Err(CommandError::other("ERR Invalid OVERFLOW type specified"));
            };
            j += 2;
            continue;
        } else {
            return Err(CommandError::Syntax);
        };
        let (signed, bits) = field_type(&args[j + 1])?;
        let offset = bit_offset(&args[j + 2], Some(bits))?;
        let kind = match kind {
            FieldKind::Get => FieldKind::Get,
            FieldKind::Set(_) => FieldKind::Set(int(&args[j + 3])?),
            FieldKind::IncrBy(_) => FieldKind::IncrBy(int(&args[j + 3])?),
        };
        j += if kind == FieldKind::Get { 3 } else { 4 };
        ops.push(FieldOp {
            kind,
            signed,
            bits,
            offset,
            overflow,
        });
    }
    Ok(ops)
}

fn field(ctx: &Ctx, a: &[Bytes], read_only: bool) -> Result<Action, CommandError> {
    let ops = field_ops(&a[1..])?;
    let key = a[0].clone();
    if ops.iter().all(|o| o.kind == FieldKind::Get) {
        return query(ctx, BitQuery::Field { key, ops });
    }
    if read_only {
        return Err(CommandError::other(
            "ERR BITFIELD_RO only supports the GET subcommand",
        ));
    }
    op(ctx, BitOp::Field { key, ops })
}

fn bitfield(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    field(ctx, a, false)
}

fn bitfield_ro(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    field(ctx, a, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    #[test]
    fn offsets_and_types_follow_redis() {
        assert_eq!(bit_offset(b"4294967295", None).ok(), Some(4_294_967_295));
        assert!(bit_offset(b"4294967296", None).is_err());
        assert!(bit_offset(b"-1", None).is_err());
        assert!(bit_offset(b"#2", None).is_err());
        assert_eq!(bit_offset(b"#2", Some(8)).ok(), Some(16));
        assert_eq!(field_type(b"i64").ok(), Some((true, 64)));
        assert_eq!(field_type(b"u63").ok(), Some((false, 63)));
        for bad in [&b"u64"[..], b"i0", b"x8", b"i", b"i65", b"u-1"] {
            assert!(field_type(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn ranges_keep_redis_check_order() {
        assert_eq!(count_range(&[b("-1"), b("-2"), b("junk")]), BitRange::Empty);
        assert_eq!(
            count_range(&[b("0")]),
            BitRange::Invalid(EngineError::Syntax)
        );
        assert_eq!(
            count_range(&[b("x"), b("1")]),
            BitRange::Invalid(EngineError::NotInteger)
        );
        assert_eq!(
            pos_range(&[b("0"), b("x"), b("junk")]),
            BitRange::Invalid(EngineError::Syntax)
        );
        assert_eq!(
            pos_range(&[b("0"), b("bit")]),
            BitRange::Invalid(EngineError::NotInteger)
        );
    }

    #[test]
    fn bitfield_parses_subcommands_with_the_overflow_in_force() {
        let ops = field_ops(&[
            b("get"),
            b("u8"),
            b("0"),
            b("overflow"),
            b("sat"),
            b("incrby"),
            b("i4"),
            b("#1"),
            b("3"),
        ])
        .expect("parses");
        assert_eq!(ops.len(), 2);
        assert_eq!(ops[1].offset, 4);
        assert_eq!(ops[1].overflow, Overflow::Sat);
        assert_eq!(ops[1].kind, FieldKind::IncrBy(3));
        assert!(field_ops(&[b("get"), b("u8")]).is_err());
        assert!(field_ops(&[b("overflow"), b("x")]).is_err());
    }
}
