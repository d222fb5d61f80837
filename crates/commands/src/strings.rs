//! String commands.

use bytes::Bytes;
use okapi_engine::OpKind;
use okapi_engine::QueryKind;
use okapi_engine::strings::{LcsOptions, SetCond, SetExpire, StringOp, StringQuery};

use crate::action::Action;
use crate::args::{Args, int, is};
use crate::error::CommandError;
use crate::spec::flags::*;
use crate::spec::{CommandSpec, Ctx, command, keys};
use crate::{read, write};

const W: &[&str] = &["@write", "@string"];
const WF: &[&str] = &["@write", "@string", "@fast"];
const RF: &[&str] = &["@read", "@string", "@fast"];
const G: &str = "string";

/// String commands.
pub const COMMANDS: &[CommandSpec] = &[
    command(
        "get",
        2,
        READONLY | FAST,
        keys(1, 1, 1),
        RF,
        G,
        "Returns the string value of a key.",
        get,
    ),
    command(
        "set",
        -3,
        WRITE | DENYOOM,
        keys(1, 1, 1),
        W,
        G,
        "Sets the string value of a key, ignoring its type.",
        set,
    ),
    command(
        "setnx",
        3,
        WRITE | DENYOOM | FAST,
        keys(1, 1, 1),
        WF,
        G,
        "Set the string value of a key only when the key doesn't exist.",
        setnx,
    ),
    command(
        "setex",
        4,
        WRITE | DENYOOM,
        keys(1, 1, 1),
        W,
        G,
        "Sets the string value and expiration time of a key.",
        setex,
    ),
    command(
        "psetex",
        4,
        WRITE | DENYOOM,
        keys(1, 1, 1),
        W,
        G,
        "Sets the string value and expiration time in milliseconds of a key.",
        psetex,
    ),
    command(
        "getset",
        3,
        WRITE | DENYOOM | FAST,
        keys(1, 1, 1),
        WF,
        G,
        "Returns the previous string value of a key after setting it to a new value.",
        getset,
    ),
    command(
        "getdel",
        2,
        WRITE | FAST,
        keys(1, 1, 1),
        WF,
        G,
        "Returns the string value of a key after deleting the key.",
        getdel,
    ),
    command(
        "getex",
        -2,
        WRITE | FAST,
        keys(1, 1, 1),
        WF,
        G,
        "Returns the string value of a key after setting its expiration time.",
        getex,
    ),
    command(
        "mget",
        -2,
        READONLY | FAST,
        keys(1, -1, 1),
        RF,
        G,
        "Atomically returns the string values of one or more keys.",
        mget,
    ),
    command(
        "mset",
        -3,
        WRITE | DENYOOM,
        keys(1, -1, 2),
        W,
        G,
        "Atomically creates or modifies the string values of one or more keys.",
        mset,
    ),
    command(
        "msetnx",
        -3,
        WRITE | DENYOOM,
        keys(1, -1, 2),
        W,
        G,
        "Atomically modifies the string values of one or more keys only when all keys don't exist.",
        msetnx,
    ),
    command(
        "append",
        3,
        WRITE | DENYOOM | FAST,
        keys(1, 1, 1),
        WF,
        G,
        "Appends a string to the value of a key. Creates the key if it doesn't exist.",
        append,
    ),
    command(
        "strlen",
        2,
        READONLY | FAST,
        keys(1, 1, 1),
        RF,
        G,
        "Returns the length of a string value.",
        strlen,
    ),
    command(
        "getrange",
        4,
        READONLY,
        keys(1, 1, 1),
        &["@read", "@string", "@slow"],
        G,
        "Returns a substring of the string stored at a key.",
        getrange,
    ),
    command(
        "lcs",
        -3,
        READONLY,
        keys(1, 2, 1),
        &["@read", "@string", "@slow"],
        G,
        "Finds the longest common substring.",
        lcs,
    ),
    command(
        "substr",
        4,
        READONLY,
        keys(1, 1, 1),
        &["@read", "@string", "@slow"],
        G,
        "Returns a substring from a string value.",
        getrange,
    ),
    command(
        "setrange",
        4,
        WRITE | DENYOOM,
        keys(1, 1, 1),
        W,
        G,
        "Overwrites a part of a string value with another by an offset.",
        setrange,
    ),
    command(
        "incr",
        2,
        WRITE | DENYOOM | FAST,
        keys(1, 1, 1),
        WF,
        G,
        "Increments the integer value of a key by one.",
        incr,
    ),
    command(
        "decr",
        2,
        WRITE | DENYOOM | FAST,
        keys(1, 1, 1),
        WF,
        G,
        "Decrements the integer value of a key by one.",
        decr,
    ),
    command(
        "incrby",
        3,
        WRITE | DENYOOM | FAST,
        keys(1, 1, 1),
        WF,
        G,
        "Increments the integer value of a key by a number.",
        incrby,
    ),
    command(
        "decrby",
        3,
        WRITE | DENYOOM | FAST,
        keys(1, 1, 1),
        WF,
        G,
        "Decrements a number from the integer value of a key.",
        decrby,
    ),
    command(
        "incrbyfloat",
        3,
        WRITE | DENYOOM | FAST,
        keys(1, 1, 1),
        WF,
        G,
        "Increment the floating point value of a key by a number.",
        incrbyfloat,
    ),
];

fn op(ctx: &Ctx, op: StringOp) -> Result<Action, CommandError> {
    Ok(write(ctx, OpKind::Str(op)))
}

fn query(ctx: &Ctx, q: StringQuery) -> Result<Action, CommandError> {
    Ok(read(ctx, QueryKind::Str(q)))
}

/// `key1 key2 [LEN] [IDX] [MINMATCHLEN len] [WITHMATCHLEN]`; the options' errors are
/// reported after the keys' types, as Redis does.
fn lcs(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    let parse = || -> Result<LcsOptions, CommandError> {
        let (mut len, mut idx, mut min_match_len, mut with_match_len) = (false, false, 0, false);
        let mut j = 2;
        while j < a.len() {
            let opt = &a[j];
            if is(opt, "IDX") {
                idx = true;
            } else if is(opt, "LEN") {
                len = true;
            } else if is(opt, "WITHMATCHLEN") {
                with_match_len = true;
            } else if is(opt, "MINMATCHLEN") && j + 1 < a.len() {
                min_match_len = int(&a[j + 1])?.max(0) as u64;
                j += 1;
            } else {
                return Err(CommandError::Syntax);
            }
            j += 1;
        }
        Ok(LcsOptions::Valid {
            len,
            idx,
            min_match_len,
            with_match_len,
        })
    };
    let options = parse().unwrap_or_else(|e| LcsOptions::Invalid(e.into_engine()));
    query(
        ctx,
        StringQuery::Lcs {
            a: a[0].clone(),
            b: a[1].clone(),
            options,
        },
    )
}

fn get(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    query(ctx, StringQuery::Get { key: a[0].clone() })
}

fn mget(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    query(ctx, StringQuery::MGet { keys: a.to_vec() })
}

fn strlen(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    query(ctx, StringQuery::StrLen { key: a[0].clone() })
}

fn getrange(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    query(
        ctx,
        StringQuery::GetRange {
            key: a[0].clone(),
            start: int(&a[1])?,
            end: int(&a[2])?,
        },
    )
}

/// An absolute expiry in Unix ms from a relative or absolute amount, as Redis checks
/// it: positive, and no overflow.
pub(crate) fn expire_at(
    ctx: &Ctx,
    amount: i64,
    unit_ms: i64,
    absolute: bool,
    cmd: &str,
) -> Result<u64, CommandError> {
    let invalid = || CommandError::InvalidExpire(cmd.to_owned());
    if amount <= 0 {
        return Err(invalid());
    }
    let ms = amount.checked_mul(unit_ms).ok_or_else(invalid)?;
    let at = if absolute {
        ms
    } else {
        ms.checked_add(ctx.now_ms as i64).ok_or_else(invalid)?
    };
    Ok(at as u64)
}

fn set(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    let mut args = Args::new(&a[2..]);
    let (mut cond, mut get, mut expire) = (SetCond::Always, false, SetExpire::Clear);
    let mut expire_given = false;
    while let Ok(word) = args.next_arg() {
        if is(word, "NX") && cond == SetCond::Always {
            cond = SetCond::IfAbsent;
        } else if is(word, "XX") && cond == SetCond::Always {
            cond = SetCond::IfPresent;
        } else if is(word, "GET") {
            get = true;
        } else if is(word, "KEEPTTL") && !expire_given {
            expire = SetExpire::Keep;
            expire_given = true;
        } else if !expire_given && ["EX", "PX", "EXAT", "PXAT"].iter().any(|w| is(word, w)) {
            let amount = args.i64()?;
            let (unit, absolute) = match word.to_ascii_uppercase().as_slice() {
                b"EX" => (1000, false),
                b"PX" => (1, false),
                b"EXAT" => (1000, true),
                _ => (1, true),
            };
            expire = SetExpire::At(expire_at(ctx, amount, unit, absolute, "set")?);
            expire_given = true;
        } else {
            return Err(CommandError::Syntax);
        }
    }
    op(
        ctx,
        StringOp::Set {
            key: a[0].clone(),
            value: a[1].clone(),
            cond,
            get,
            expire,
        },
    )
}

fn setnx(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    op(
        ctx,
        StringOp::SetNx {
            key: a[0].clone(),
            value: a[1].clone(),
        },
    )
}

fn setex_with(ctx: &Ctx, a: &[Bytes], unit: i64, name: &str) -> Result<Action, CommandError> {
    let at = expire_at(ctx, int(&a[1])?, unit, false, name)?;
    op(
        ctx,
        StringOp::Set {
            key: a[0].clone(),
            value: a[2].clone(),
            cond: SetCond::Always,
            get: false,
            expire: SetExpire::At(at),
        },
    )
}

fn setex(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    setex_with(ctx, a, 1000, "setex")
}

fn psetex(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    setex_with(ctx, a, 1, "psetex")
}

fn getset(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    op(
        ctx,
        StringOp::Set {
            key: a[0].clone(),
            value: a[1].clone(),
            cond: SetCond::Always,
            get: true,
            expire: SetExpire::Clear,
        },
    )
}

fn getdel(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    op(ctx, StringOp::GetDel { key: a[0].clone() })
}

fn getex(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    let key = a[0].clone();
    let mut args = Args::new(&a[1..]);
    let Ok(word) = args.next_arg() else {
        return query(ctx, StringQuery::Get { key });
    };
    let expire_at = if is(word, "PERSIST") {
        None
    } else {
        let (unit, absolute) = match word.to_ascii_uppercase().as_slice() {
            b"EX" => (1000, false),
            b"PX" => (1, false),
            b"EXAT" => (1000, true),
            b"PXAT" => (1, true),
            _ => return Err(CommandError::Syntax),
        };
        Some(expire_at(ctx, args.i64()?, unit, absolute, "getex")?)
    };
    args.finish()?;
    op(ctx, StringOp::GetEx { key, expire_at })
}

fn pairs(a: &[Bytes], name: &str) -> Result<Vec<(Bytes, Bytes)>, CommandError> {
    if !a.len().is_multiple_of(2) {
        return Err(CommandError::WrongArity(name.to_owned()));
    }
    Ok(a.chunks_exact(2)
        .map(|p| (p[0].clone(), p[1].clone()))
        .collect())
}

fn mset(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    op(
        ctx,
        StringOp::MSet {
            pairs: pairs(a, "mset")?,
            nx: false,
        },
    )
}

fn msetnx(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    op(
        ctx,
        StringOp::MSet {
            pairs: pairs(a, "msetnx")?,
            nx: true,
        },
    )
}

fn append(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    op(
        ctx,
        StringOp::Append {
            key: a[0].clone(),
            value: a[1].clone(),
        },
    )
}

fn setrange(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    let offset = int(&a[1])?;
    if offset < 0 {
        return Err(CommandError::other("ERR offset is out of range"));
    }
    // The length limit is checked at apply time: Redis checks the key's type first,
    // and an empty value never grows the string, whatever the offset.
    op(
        ctx,
        StringOp::SetRange {
            key: a[0].clone(),
            offset: offset as usize,
            value: a[2].clone(),
        },
    )
}

fn incr_by(ctx: &Ctx, key: &Bytes, delta: i64) -> Result<Action, CommandError> {
    op(
        ctx,
        StringOp::IncrBy {
            key: key.clone(),
            delta,
        },
    )
}

fn incr(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    incr_by(ctx, &a[0], 1)
}

fn decr(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    incr_by(ctx, &a[0], -1)
}

fn incrby(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    incr_by(ctx, &a[0], int(&a[1])?)
}

fn decrby(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    let delta = int(&a[1])?
        .checked_neg()
        .ok_or_else(|| CommandError::other("ERR decrement would overflow"))?;
    incr_by(ctx, &a[0], delta)
}

fn incrbyfloat(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    // Both numbers are read at apply time: Redis reports a bad stored value (and a
    // wrong type) before a bad increment.
    op(
        ctx,
        StringOp::IncrByFloatText {
            key: a[0].clone(),
            increment: a[1].clone(),
        },
    )
}
