//! Stream commands: XADD, XTRIM, XDEL, XSETID, XRANGE, XREVRANGE, XLEN and XREAD
//! (blocking too), with Redis 7.0's ID grammar and errors; the consumer-group commands
//! and XINFO are in [`groups`].

mod groups;

pub use groups::COMMANDS as GROUP_COMMANDS;

use bytes::Bytes;
use okapi_engine::stream::{StreamId, TrimBound};
use okapi_engine::streams::{IdSpec, ReadFrom, StreamOp, StreamQuery, Trim};
use okapi_engine::{OpKind, QueryKind};
use okapi_types::num::parse_i64;

use crate::action::{Action, Attempt, Blocking};
use crate::args::is;
use crate::error::CommandError;
use crate::spec::flags::*;
use crate::spec::{CommandSpec, Ctx, Keys, command, keys};
use crate::{read, write};

const G: &str = "stream";

/// Stream commands.
pub const COMMANDS: &[CommandSpec] = &[
    command(
        "xadd",
        -5,
        WRITE | DENYOOM | FAST,
        keys(1, 1, 1),
        &["@write", "@stream", "@fast"],
        G,
        "Appends a new message to a stream. Creates the key if it doesn't exist.",
        xadd,
    ),
    command(
        "xtrim",
        -4,
        WRITE,
        keys(1, 1, 1),
        &["@write", "@stream", "@slow"],
        G,
        "Deletes messages from the beginning of a stream.",
        xtrim,
    ),
    command(
        "xdel",
        -3,
        WRITE | FAST,
        keys(1, 1, 1),
        &["@write", "@stream", "@fast"],
        G,
        "Returns the number of messages after removing them from a stream.",
        xdel,
    ),
    command(
        "xsetid",
        -3,
        WRITE | DENYOOM | FAST,
        keys(1, 1, 1),
        &["@write", "@stream", "@fast"],
        G,
        "An internal command for replicating stream values.",
        xsetid,
    ),
    command(
        "xrange",
        -4,
        READONLY,
        keys(1, 1, 1),
        &["@read", "@stream", "@slow"],
        G,
        "Returns the messages from a stream within a range of IDs.",
        xrange,
    ),
    command(
        "xrevrange",
        -4,
        READONLY,
        keys(1, 1, 1),
        &["@read", "@stream", "@slow"],
        G,
        "Returns the messages from a stream within a range of IDs in reverse order.",
        xrevrange,
    ),
    command(
        "xlen",
        2,
        READONLY | FAST,
        keys(1, 1, 1),
        &["@read", "@stream", "@fast"],
        G,
        "Return the number of messages in a stream.",
        xlen,
    ),
    command(
        "xread",
        -4,
        READONLY | BLOCKING | MOVABLE_KEYS,
        Keys::Custom(xread_keys),
        &["@read", "@stream", "@slow", "@blocking"],
        G,
        "Returns messages from multiple streams with IDs greater than the ones requested.",
        xread,
    ),
];

const INVALID_ID: &str = "ERR Invalid stream ID specified as stream command argument";

fn invalid_id() -> CommandError {
    CommandError::other(INVALID_ID)
}

/// C's `strtoull` as Redis's `string2ull` falls back to it: leading blanks, a sign
/// (a `-` negates modulo 2^64), decimal digits to the end, no overflow.
fn strtoull(text: &[u8]) -> Option<u64> {
    if let Some(n) = parse_i64(text) {
        return u64::try_from(n).ok();
    }
    let start = text
        .iter()
        .position(|&b| !matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r'))?;
    let mut rest = &text[start..];
    let negative = match rest.first() {
        Some(b'-') => {
            rest = &rest[1..];
            true
        }
        Some(b'+') => {
            rest = &rest[1..];
            false
        }
        _ => false,
    };
    if rest.is_empty() || !rest.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut value: u64 = 0;
    for &d in rest {
        value = value.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    Some(if negative {
        value.wrapping_neg()
    } else {
        value
    })
}

/// A parsed ID: the ID, and whether its sequence was given (`ms-*` says no).
struct ParsedId {
    id: StreamId,
    seq_given: bool,
}

/// `streamGenericParseIDOrReply`: `-`/`+` (unless `strict`), `ms`, `ms-seq`, and with
/// `star_ok` also `ms-*`; a missing sequence is `missing_seq`.
fn parse_id(
    arg: &[u8],
    missing_seq: u64,
    strict: bool,
    star_ok: bool,
) -> Result<ParsedId, CommandError> {
    if arg.len() > 127 {
        return Err(invalid_id());
    }
    // The C code works on a C string: a NUL ends it.
    let text = arg.split(|&b| b == 0).next().unwrap_or_default();
    match text {
        b"-" | b"+" if strict => return Err(invalid_id()),
        b"-" => {
            return Ok(ParsedId {
                id: StreamId::MIN,
                seq_given: true,
            });
        }
        b"+" => {
            return Ok(ParsedId {
                id: StreamId::MAX,
                seq_given: true,
            });
        }
        _ => {}
    }
    let (ms_text, seq_text) = match text.iter().position(|&b| b == b'-') {
        Some(dash) => (&text[..dash], Some(&text[dash + 1..])),
        None => (text, None),
    };
    let ms = strtoull(ms_text).ok_or_else(invalid_id)?;
    let (seq, seq_given) = match seq_text {
        Some(b"*") if star_ok => (0, false),
        Some(seq) => (strtoull(seq).ok_or_else(invalid_id)?, true),
        None => (missing_seq, true),
    };
    Ok(ParsedId {
        id: StreamId { ms, seq },
        seq_given,
    })
}

fn strict_id(arg: &[u8]) -> Result<StreamId, CommandError> {
    Ok(parse_id(arg, 0, true, false)?.id)
}

/// XADD/XTRIM options (`streamParseAddOrTrimArgsOrReply`). Returns the trim, the
/// NOMKSTREAM flag and, for XADD, the position of the ID argument.
fn parse_trim(a: &[Bytes], xadd: bool) -> Result<(Option<Trim>, bool, usize), CommandError> {
    let mut bound = None;
    let mut approx = false;
    let mut limit: Option<u64> = None;
    let mut nomkstream = false;
    let mut i = 1;
    while i < a.len() {
        let more = a.len() - 1 - i;
        let opt = &a[i];
        if xadd && opt.as_ref() == b"*" {
            break;
        } else if (is(opt, "MAXLEN") || is(opt, "MINID")) && more > 0 {
            if bound.is_some() {
                return Err(CommandError::other(
                    "ERR syntax error, MAXLEN and MINID options at the same time are not compatible",
                ));
            }
            approx = false;
            let next = a[i + 1].as_ref();
            if more >= 2 && next == b"~" {
                approx = true;
                i += 1;
            } else if more >= 2 && next == b"=" {
                i += 1;
            }
            let arg = &a[i + 1];
            bound = Some(if is(opt, "MAXLEN") {
                let n = parse_i64(arg).ok_or(CommandError::NotInteger)?;
                if n < 0 {
                    return Err(CommandError::other("ERR The MAXLEN argument must be >= 0."));
                }
                TrimBound::MaxLen(n as u64)
            } else {
                TrimBound::MinId(strict_id(arg)?)
            });
            i += 1;
        } else if is(opt, "LIMIT") && more > 0 {
            let n = parse_i64(&a[i + 1]).ok_or(CommandError::NotInteger)?;
            if n < 0 {
                return Err(CommandError::other("ERR The LIMIT argument must be >= 0."));
            }
            limit = Some(n as u64);
            i += 1;
        } else if xadd && is(opt, "NOMKSTREAM") {
            nomkstream = true;
        } else if xadd {
            // The ID: Redis reads it here, before the checks after the loop.
            parse_id(opt, 0, true, true)?;
            break;
        } else {
            return Err(CommandError::Syntax);
        }
        i += 1;
    }
    if limit.is_some_and(|l| l > 0) && bound.is_none() {
        return Err(CommandError::other(
            "ERR syntax error, LIMIT cannot be used without specifying a trimming strategy",
        ));
    }
    if !xadd && bound.is_none() {
        return Err(CommandError::other(
            "ERR syntax error, XTRIM must be called with a trimming strategy",
        ));
    }
    let limit = match limit {
        Some(_) if !approx => {
            return Err(CommandError::other(
                "ERR syntax error, LIMIT cannot be used without the special ~ option",
            ));
        }
        Some(l) => l,
        // Redis caps an approximate trim at 100 nodes' worth of entries.
        None if approx => 100 * okapi_engine::stream::NODE_MAX_ENTRIES,
        None => 0,
    };
    Ok((
        bound.map(|bound| Trim {
            bound,
            approx,
            limit,
        }),
        nomkstream,
        i,
    ))
}

fn xadd(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    let (trim, nomkstream, at) = parse_trim(a, true)?;
    let Some(id_arg) = a.get(at) else {
        return Err(CommandError::WrongArity("xadd".to_owned()));
    };
    let id = if id_arg.as_ref() == b"*" {
        IdSpec::Auto
    } else {
        let parsed = parse_id(id_arg, 0, true, true)?;
        if parsed.seq_given {
            IdSpec::Explicit(parsed.id)
        } else {
            IdSpec::AutoSeq(parsed.id.ms)
        }
    };
    let fields = &a[at + 1..];
    if fields.len() < 2 || fields.len() % 2 == 1 {
        return Err(CommandError::WrongArity("xadd".to_owned()));
    }
    if id == IdSpec::Explicit(StreamId::MIN) {
        return Err(CommandError::other(
            "ERR The ID specified in XADD must be greater than 0-0",
        ));
    }
    Ok(write(
        ctx,
        OpKind::Stream(StreamOp::Add {
            key: a[0].clone(),
            id,
            fields: fields.to_vec(),
            nomkstream,
            trim,
        }),
    ))
}

fn xtrim(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    let (trim, _, _) = parse_trim(a, false)?;
    let trim = trim.ok_or(CommandError::Syntax)?;
    Ok(write(
        ctx,
        OpKind::Stream(StreamOp::Trim {
            key: a[0].clone(),
            trim,
        }),
    ))
}

fn xdel(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    let ids = match a[1..].iter().map(|arg| strict_id(arg)).collect() {
        Ok(ids) => ids,
        Err(e) => {
            return Ok(read(
                ctx,
                QueryKind::Stream(StreamQuery::DelInvalid {
                    key: a[0].clone(),
                    error: e.into_engine(),
                }),
            ));
        }
    };
    Ok(write(
        ctx,
        OpKind::Stream(StreamOp::Del {
            key: a[0].clone(),
            ids,
        }),
    ))
}

fn xsetid(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    let id = strict_id(&a[1])?;
    let (mut entries_added, mut max_deleted) = (None, None);
    let mut i = 2;
    while i < a.len() {
        let more = a.len() - 1 - i;
        if is(&a[i], "ENTRIESADDED") && more > 0 {
            let n = parse_i64(&a[i + 1]).ok_or(CommandError::NotInteger)?;
            if n < 0 {
                return Err(CommandError::other("ERR entries_added must be positive"));
            }
            entries_added = Some(n as u64);
        } else if is(&a[i], "MAXDELETEDID") && more > 0 {
            let m = strict_id(&a[i + 1])?;
            if id < m {
                return Err(CommandError::other(
                    "ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id",
                ));
            }
            max_deleted = Some(m);
        } else {
            return Err(CommandError::Syntax);
        }
        i += 2;
    }
    Ok(write(
        ctx,
        OpKind::Stream(StreamOp::SetId {
            key: a[0].clone(),
            id,
            entries_added,
            max_deleted,
        }),
    ))
}

/// One end of an XRANGE interval (`streamParseIntervalIDOrReply`): `(` makes it
/// exclusive; a missing sequence is `missing_seq`.
fn interval(arg: &[u8], missing_seq: u64) -> Result<(StreamId, bool), CommandError> {
    if arg.len() > 1 && arg[0] == b'(' {
        Ok((parse_id(&arg[1..], missing_seq, true, false)?.id, true))
    } else {
        Ok((parse_id(arg, missing_seq, false, false)?.id, false))
    }
}

fn range(ctx: &Ctx, a: &[Bytes], rev: bool) -> Result<Action, CommandError> {
    let (start_arg, end_arg) = if rev { (&a[2], &a[1]) } else { (&a[1], &a[2]) };
    let (mut start, start_ex) = interval(start_arg, 0)?;
    if start_ex {
        start = start
            .next()
            .ok_or_else(|| CommandError::other("ERR invalid start ID for the interval"))?;
    }
    let (mut end, end_ex) = interval(end_arg, u64::MAX)?;
    if end_ex {
        end = end
            .prev()
            .ok_or_else(|| CommandError::other("ERR invalid end ID for the interval"))?;
    }
    let mut count = None;
    let mut i = 3;
    while i < a.len() {
        if is(&a[i], "COUNT") && i + 1 < a.len() {
            let n = parse_i64(&a[i + 1]).ok_or(CommandError::NotInteger)?;
            count = Some(n.max(0) as u64);
            i += 2;
        } else {
            return Err(CommandError::Syntax);
        }
    }
    Ok(read(
        ctx,
        QueryKind::Stream(StreamQuery::Range {
            key: a[0].clone(),
            start,
            end,
            count,
            rev,
        }),
    ))
}

fn xrange(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    range(ctx, a, false)
}

fn xrevrange(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    range(ctx, a, true)
}

fn xlen(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    Ok(read(
        ctx,
        QueryKind::Stream(StreamQuery::Len { key: a[0].clone() }),
    ))
}

/// Where XREAD's STREAMS list starts in `argv` (name at 0), if anywhere.
fn streams_at(argv: &[Bytes]) -> Option<usize> {
    let mut i = 1;
    while i < argv.len() {
        let more = argv.len() - i - 1;
        if (is(&argv[i], "BLOCK") || is(&argv[i], "COUNT")) && more > 0 {
            i += 2;
        } else if is(&argv[i], "STREAMS") && more > 0 {
            return Some(i + 1);
        } else {
            return None;
        }
    }
    None
}

/// XREAD's keys: the first half of what follows STREAMS.
fn xread_keys(argv: &[Bytes]) -> Vec<usize> {
    match streams_at(argv) {
        Some(at) if (argv.len() - at).is_multiple_of(2) => {
            (at..at + (argv.len() - at) / 2).collect()
        }
        _ => Vec::new(),
    }
}

fn xread(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    let mut count = 0u64;
    let mut block = None;
    let mut streams = None;
    let mut i = 0;
    while i < a.len() {
        let more = a.len() - i - 1;
        let o = &a[i];
        if is(o, "BLOCK") && more > 0 {
            let ms = parse_i64(&a[i + 1]).ok_or_else(|| {
                CommandError::other("ERR timeout is not an integer or out of range")
            })?;
            if ms < 0 {
                return Err(CommandError::NegativeTimeout);
            }
            block = Some(ms as u64);
            i += 2;
        } else if is(o, "COUNT") && more > 0 {
            count = parse_i64(&a[i + 1]).ok_or(CommandError::NotInteger)?.max(0) as u64;
            i += 2;
        } else if is(o, "STREAMS") && more > 0 {
            let rest = &a[i + 1..];
            if !rest.len().is_multiple_of(2) {
                return Err(CommandError::other(
                    "ERR Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified.",
                ));
            }
            streams = Some(rest);
            break;
        } else if is(o, "GROUP") && more >= 2 {
            return Err(CommandError::other(
                "ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead.",
            ));
        } else if is(o, "NOACK") {
            return Err(CommandError::other(
                "ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead.",
            ));
        } else {
            return Err(CommandError::Syntax);
        }
    }
    let Some(rest) = streams else {
        return Err(CommandError::Syntax);
    };
    let (names, ids) = rest.split_at(rest.len() / 2);
    let streams = names
        .iter()
        .zip(ids)
        .map(|(key, id)| {
            let from = if id.as_ref() == b"$" {
                ReadFrom::Last
            } else if id.as_ref() == b">" {
                ReadFrom::Invalid(okapi_engine::EngineError::Other(
                    "ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option."
                        .to_owned(),
                ))
            } else {
                match strict_id(id) {
                    Ok(id) => ReadFrom::After(id),
                    Err(e) => ReadFrom::Invalid(e.into_engine()),
                }
            };
            (key.clone(), from)
        })
        .collect::<Vec<_>>();
    let query = QueryKind::Stream(StreamQuery::Read {
        streams: streams.clone(),
        count,
        wait: block.is_some(),
    });
    let Some(ms) = block else {
        return Ok(read(ctx, query));
    };
    Ok(Action::Block(Box::new(Blocking {
        db: ctx.db,
        keys: unique_keys(names),
        timeout_ms: (ms > 0).then_some(ms),
        attempt: Attempt::Read(okapi_engine::Query {
            db: ctx.db,
            kind: query,
        }),
        wait: okapi_engine::Wait::Entries {
            db: ctx.db,
            streams,
            count: blocked_count(count),
        },
    })))
}

/// Redis serves a blocked reader at most 1000 entries per stream unless COUNT says
/// otherwise.
fn blocked_count(count: u64) -> u64 {
    if count == 0 { 1000 } else { count }
}

/// Each key once, in order (a key named twice is waited on once).
fn unique_keys(keys: &[Bytes]) -> Vec<Bytes> {
    let mut unique: Vec<Bytes> = Vec::with_capacity(keys.len());
    for key in keys {
        if !unique.contains(key) {
            unique.push(key.clone());
        }
    }
    unique
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_as_redis_parses_them() {
        let id = |t: &str| {
            parse_id(t.as_bytes(), 0, true, true)
                .map(|p| (p.id.ms, p.id.seq, p.seq_given))
                .ok()
        };
        assert_eq!(id("5"), Some((5, 0, true)));
        assert_eq!(id("5-3"), Some((5, 3, true)));
        assert_eq!(id("5-*"), Some((5, 0, false)));
        assert_eq!(id("007-1"), Some((7, 1, true)));
        assert_eq!(id(" 5-1"), Some((5, 1, true)));
        assert_eq!(id("18446744073709551615-0"), Some((u64::MAX, 0, true)));
        for bad in [
            "-",
            "+",
            "-1",
            "5-",
            "x",
            "18446744073709551616",
            "5-x",
            "",
            "1-2-3",
        ] {
            assert_eq!(id(bad), None, "{bad}");
        }
        assert_eq!(strtoull(b"-0"), Some(0));
        assert_eq!(strtoull(b"-18446744073709551615"), Some(1));
    }

    #[test]
    fn xread_keys_are_the_first_half_after_streams() {
        let argv: Vec<Bytes> = ["xread", "COUNT", "2", "STREAMS", "a", "b", "0", "0"]
            .iter()
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect();
        assert_eq!(xread_keys(&argv), vec![4, 5]);
    }
}
