//! Hash commands.

use bytes::Bytes;
use okapi_engine::hashes::{HashOp, HashQuery};
use okapi_engine::{EngineError, OpKind, QueryKind};
use okapi_types::long_double::LongDouble;

use crate::action::Action;
use crate::args::{int, is};
use crate::error::CommandError;
use crate::keys::{ScanOptions, cursor, scan_options};
use crate::spec::flags::*;
use crate::spec::{CommandSpec, Ctx, command, keys};
use crate::{read, write};

const G: &str = "hash";
const WF: &[&str] = &["@write", "@hash", "@fast"];
const RF: &[&str] = &["@read", "@hash", "@fast"];
const RS: &[&str] = &["@read", "@hash", "@slow"];

/// Hash commands.
pub const COMMANDS: &[CommandSpec] = &[
    command(
        "hset",
        -4,
        WRITE | DENYOOM | FAST,
        keys(1, 1, 1),
        WF,
        G,
        "Creates or modifies the value of a field in a hash.",
        hset,
    ),
    command(
        "hsetnx",
        4,
        WRITE | DENYOOM | FAST,
        keys(1, 1, 1),
        WF,
        G,
        "Sets the value of a field in a hash only when the field doesn't exist.",
        hsetnx,
    ),
    command(
        "hmset",
        -4,
        WRITE | DENYOOM | FAST,
        keys(1, 1, 1),
        WF,
        G,
        "Sets the values of multiple fields.",
        hmset,
    ),
    command(
        "hget",
        3,
        READONLY | FAST,
        keys(1, 1, 1),
        RF,
        G,
        "Returns the value of a field in a hash.",
        hget,
    ),
    command(
        "hmget",
        -3,
        READONLY | FAST,
        keys(1, 1, 1),
        RF,
        G,
        "Returns the values of all fields in a hash.",
        hmget,
    ),
    command(
        "hgetall",
        2,
        READONLY,
        keys(1, 1, 1),
        RS,
        G,
        "Returns all fields and values in a hash.",
        hgetall,
    ),
    command(
        "hdel",
        -3,
        WRITE | FAST,
        keys(1, 1, 1),
        WF,
        G,
        "Deletes one or more fields and their values from a hash. Deletes the hash if no fields remain.",
        hdel,
    ),
    command(
        "hlen",
        2,
        READONLY | FAST,
        keys(1, 1, 1),
        RF,
        G,
        "Returns the number of fields in a hash.",
        hlen,
    ),
    command(
        "hexists",
        3,
        READONLY | FAST,
        keys(1, 1, 1),
        RF,
        G,
        "Determines whether a field exists in a hash.",
        hexists,
    ),
    command(
        "hkeys",
        2,
        READONLY,
        keys(1, 1, 1),
        RS,
        G,
        "Returns all fields in a hash.",
        hkeys,
    ),
    command(
        "hvals",
        2,
        READONLY,
        keys(1, 1, 1),
        RS,
        G,
        "Returns all values in a hash.",
        hvals,
    ),
    command(
        "hincrby",
        4,
        WRITE | DENYOOM | FAST,
        keys(1, 1, 1),
        WF,
        G,
        "Increments the integer value of a field in a hash by a number. Uses 0 as initial value if the field doesn't exist.",
        hincrby,
    ),
    command(
        "hincrbyfloat",
        4,
        WRITE | DENYOOM | FAST,
        keys(1, 1, 1),
        WF,
        G,
        "Increments the floating point value of a field by a number. Uses 0 as initial value if the field doesn't exist.",
        hincrbyfloat,
    ),
    command(
        "hstrlen",
        3,
        READONLY | FAST,
        keys(1, 1, 1),
        RF,
        G,
        "Returns the length of the value of a field.",
        hstrlen,
    ),
    command(
        "hrandfield",
        -2,
        READONLY,
        keys(1, 1, 1),
        RS,
        G,
        "Returns one or more random fields from a hash.",
        hrandfield,
    ),
    command(
        "hscan",
        -3,
        READONLY,
        keys(1, 1, 1),
        RS,
        G,
        "Iterates over fields and values of a hash.",
        hscan,
    ),
];

fn op(ctx: &Ctx, op: HashOp) -> Result<Action, CommandError> {
    Ok(write(ctx, OpKind::Hash(op)))
}

fn query(ctx: &Ctx, q: HashQuery) -> Result<Action, CommandError> {
    Ok(read(ctx, QueryKind::Hash(q)))
}

fn set_pairs(ctx: &Ctx, a: &[Bytes], name: &str, reply_ok: bool) -> Result<Action, CommandError> {
    let fields = &a[1..];
    if !fields.len().is_multiple_of(2) {
        return Err(CommandError::WrongArity(name.to_owned()));
    }
    op(
        ctx,
        HashOp::Set {
            key: a[0].clone(),
            pairs: fields
                .chunks_exact(2)
                .map(|p| (p[0].clone(), p[1].clone()))
                .collect(),
            reply_ok,
        },
    )
}

fn hset(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    set_pairs(ctx, a, "hset", false)
}

fn hmset(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    set_pairs(ctx, a, "hmset", true)
}

fn hsetnx(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    op(
        ctx,
        HashOp::SetNx {
            key: a[0].clone(),
            field: a[1].clone(),
            value: a[2].clone(),
        },
    )
}

fn hget(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    query(
        ctx,
        HashQuery::Get {
            key: a[0].clone(),
            field: a[1].clone(),
        },
    )
}

fn hmget(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    query(
        ctx,
        HashQuery::MGet {
            key: a[0].clone(),
            fields: a[1..].to_vec(),
        },
    )
}

fn hgetall(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    query(ctx, HashQuery::GetAll { key: a[0].clone() })
}

fn hdel(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    op(
        ctx,
        HashOp::Del {
            key: a[0].clone(),
            fields: a[1..].to_vec(),
        },
    )
}

fn hlen(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    query(ctx, HashQuery::Len { key: a[0].clone() })
}

fn hexists(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    query(
        ctx,
        HashQuery::Exists {
            key: a[0].clone(),
            field: a[1].clone(),
        },
    )
}

fn hkeys(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    query(ctx, HashQuery::Keys { key: a[0].clone() })
}

fn hvals(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    query(ctx, HashQuery::Vals { key: a[0].clone() })
}

fn hincrby(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    op(
        ctx,
        HashOp::IncrBy {
            key: a[0].clone(),
            field: a[1].clone(),
            delta: int(&a[2])?,
        },
    )
}

fn hincrbyfloat(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    // Redis checks the increment before the key's type, so it is checked here.
    let increment = LongDouble::parse(&a[2]).ok_or(CommandError::Engine(EngineError::NotFloat))?;
    if !increment.is_finite() {
        return Err(CommandError::other("ERR value is NaN or Infinity"));
    }
    op(
        ctx,
        HashOp::IncrByFloatText {
            key: a[0].clone(),
            field: a[1].clone(),
            increment: a[2].clone(),
        },
    )
}

fn hstrlen(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    query(
        ctx,
        HashQuery::StrLen {
            key: a[0].clone(),
            field: a[1].clone(),
        },
    )
}

fn hrandfield(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    let key = a[0].clone();
    let Some(count) = a.get(1) else {
        return query(
            ctx,
            HashQuery::RandField {
                key,
                count: None,
                with_values: false,
            },
        );
    };
    let count = random_count(count)?;
    let with_values = match &a[2..] {
        [] => false,
        [word] if is(word, "WITHVALUES") => true,
        _ => return Err(CommandError::Syntax),
    };
    // Redis bounds the count so that twice it (one field, one value) cannot overflow.
    if with_values && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&count) {
        return Err(CommandError::other("ERR value is out of range"));
    }
    query(
        ctx,
        HashQuery::RandField {
            key,
            count: Some(count),
            with_values,
        },
    )
}

/// The count of SRANDMEMBER / HRANDFIELD: any `i64` but `i64::MIN`, as Redis's
/// `-LONG_MAX..=LONG_MAX`.
pub(crate) fn random_count(arg: &[u8]) -> Result<i64, CommandError> {
    let count = int(arg)?;
    if count == i64::MIN {
        return Err(CommandError::other(format!(
            "ERR value is out of range, value must between {} and {}",
            -i64::MAX,
            i64::MAX
        )));
    }
    Ok(count)
}

/// SCAN-family options, or the error they hold: Redis reads a collection's options only
/// after finding it, so a missing key or WRONGTYPE take precedence over a bad option and
/// the engine reports the error at that point.
pub(crate) fn deferred_scan_options(
    a: &[Bytes],
    allow_novalues: bool,
) -> (ScanOptions, Option<EngineError>) {
    let options = if allow_novalues {
        scan_options(a, false, true)
    } else {
        set_scan_options(a)
    };
    match options {
        Ok(options) => (options, None),
        Err(e) => (
            ScanOptions {
                pattern: None,
                count: 10,
                type_name: None,
                no_values: false,
            },
            Some(e.into_engine()),
        ),
    }
}

/// SSCAN's options: like HSCAN's, but NOVALUES is refused with its own error where it
/// stands, after the options before it were checked.
fn set_scan_options(a: &[Bytes]) -> Result<ScanOptions, CommandError> {
    let mut i = 0;
    while i < a.len() {
        if is(&a[i], "NOVALUES") {
            scan_options(&a[..i], false, false)?;
            return Err(CommandError::other(
                "ERR NOVALUES option can only be used in HSCAN",
            ));
        }
        if (is(&a[i], "MATCH") || is(&a[i], "COUNT")) && i + 1 < a.len() {
            i += 2;
        } else {
            break;
        }
    }
    scan_options(a, false, false)
}

fn hscan(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    let cursor = cursor(&a[1])?;
    let (options, error) = deferred_scan_options(&a[2..], true);
    query(
        ctx,
        HashQuery::Scan {
            key: a[0].clone(),
            cursor,
            pattern: options.pattern,
            count: options.count,
            no_values: options.no_values,
            error,
        },
    )
}
