//! Parsers of the single-key sorted-set commands.

use bytes::Bytes;
use okapi_engine::zsets::{AddFlags, PopEnd, PopShape, RangeBy, ZSetOp, ZSetQuery};

use super::bounds::{By, lex_range, range_args, score_range};
use super::{op, query};
use crate::action::Action;
use crate::args::{float, int, is};
use crate::error::CommandError;
use crate::keys::{cursor, scan_options};
use crate::spec::Ctx;

/// Negative ZRANDMEMBER counts repeat members; past this the reply would be a
/// memory hazard for the server, so it is refused like Redis's other range checks.
const MAX_RANDOM_REPEATS: u64 = 1 << 22;

pub(super) fn zadd(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    let mut flags = AddFlags::default();
    let mut at = 1;
    while let Some(word) = a.get(at) {
        if is(word, "NX") {
            flags.nx = true;
        } else if is(word, "XX") {
            flags.xx = true;
        } else if is(word, "CH") {
            flags.ch = true;
        } else if is(word, "INCR") {
            flags.incr = true;
        } else if is(word, "GT") {
            flags.gt = true;
        } else if is(word, "LT") {
            flags.lt = true;
        } else {
            break;
        }
        at += 1;
    }
    let rest = &a[at..];
    if rest.is_empty() || !rest.len().is_multiple_of(2) {
        return Err(CommandError::Syntax);
    }
    if flags.nx && flags.xx {
        return Err(CommandError::other(
            "ERR XX and NX options at the same time are not compatible",
        ));
    }
    if (flags.nx && (flags.gt || flags.lt)) || (flags.gt && flags.lt) {
        return Err(CommandError::other(
            "ERR GT, LT, and/or NX options at the same time are not compatible",
        ));
    }
    if flags.incr && rest.len() > 2 {
        return Err(CommandError::other(
            "ERR INCR option supports a single increment-element pair",
        ));
    }
    let pairs = rest
        .chunks_exact(2)
        .map(|p| Ok((float(&p[0])?, p[1].clone())))
        .collect::<Result<Vec<_>, CommandError>>()?;
    op(
        ctx,
        ZSetOp::Add {
            key: a[0].clone(),
            flags,
            pairs,
        },
    )
}

pub(super) fn zincrby(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    op(
        ctx,
        ZSetOp::Add {
            key: a[0].clone(),
            flags: AddFlags {
                incr: true,
                ..AddFlags::default()
            },
            pairs: vec![(float(&a[1])?, a[2].clone())],
        },
    )
}

pub(super) fn zrem(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    op(
        ctx,
        ZSetOp::Rem {
            key: a[0].clone(),
            members: a[1..].to_vec(),
        },
    )
}

pub(super) fn zcard(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    query(ctx, ZSetQuery::Card { key: a[0].clone() })
}

pub(super) fn zscore(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    query(
        ctx,
        ZSetQuery::Score {
            key: a[0].clone(),
            member: a[1].clone(),
        },
    )
}

pub(super) fn zmscore(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    query(
        ctx,
        ZSetQuery::MScore {
            key: a[0].clone(),
            members: a[1..].to_vec(),
        },
    )
}

pub(super) fn zcount(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    let by = RangeBy::Score(score_range(&a[1], &a[2])?);
    query(
        ctx,
        ZSetQuery::Count {
            key: a[0].clone(),
            by,
        },
    )
}

pub(super) fn zlexcount(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    let by = RangeBy::Lex(lex_range(&a[1], &a[2])?);
    query(
        ctx,
        ZSetQuery::Count {
            key: a[0].clone(),
            by,
        },
    )
}

fn range_query(
    ctx: &Ctx,
    a: &[Bytes],
    by: Option<By>,
    rev: Option<bool>,
) -> Result<Action, CommandError> {
    let r = range_args(a, false, by, rev)?;
    query(
        ctx,
        ZSetQuery::Range {
            key: r.key,
            spec: r.spec,
            withscores: r.withscores,
        },
    )
}

pub(super) fn zrange(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    range_query(ctx, a, None, None)
}

pub(super) fn zrevrange(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    range_query(ctx, a, Some(By::Rank), Some(true))
}

pub(super) fn zrangebyscore(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    range_query(ctx, a, Some(By::Score), Some(false))
}

pub(super) fn zrevrangebyscore(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    range_query(ctx, a, Some(By::Score), Some(true))
}

pub(super) fn zrangebylex(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    range_query(ctx, a, Some(By::Lex), Some(false))
}

pub(super) fn zrevrangebylex(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    range_query(ctx, a, Some(By::Lex), Some(true))
}

pub(super) fn zrangestore(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    let r = range_args(&a[1..], true, None, None)?;
    op(
        ctx,
        ZSetOp::RangeStore {
            dst: a[0].clone(),
            src: r.key,
            spec: Box::new(r.spec),
        },
    )
}

fn rank(ctx: &Ctx, a: &[Bytes], rev: bool) -> Result<Action, CommandError> {
    let name = if rev { "zrevrank" } else { "zrank" };
    if a.len() > 3 {
        return Err(CommandError::WrongArity(name.to_owned()));
    }
    let withscore = match a.get(2) {
        None => false,
        Some(word) if is(word, "WITHSCORE") => true,
        Some(_) => return Err(CommandError::Syntax),
    };
    query(
        ctx,
        ZSetQuery::Rank {
            key: a[0].clone(),
            member: a[1].clone(),
            rev,
            withscore,
        },
    )
}

pub(super) fn zrank(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    rank(ctx, a, false)
}

pub(super) fn zrevrank(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    rank(ctx, a, true)
}

fn rem_range(ctx: &Ctx, a: &[Bytes], by: RangeBy) -> Result<Action, CommandError> {
    op(
        ctx,
        ZSetOp::RemRange {
            key: a[0].clone(),
            by,
        },
    )
}

pub(super) fn zremrangebyrank(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    let by = RangeBy::Rank {
        start: int(&a[1])?,
        stop: int(&a[2])?,
    };
    rem_range(ctx, a, by)
}

pub(super) fn zremrangebyscore(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    let by = RangeBy::Score(score_range(&a[1], &a[2])?);
    rem_range(ctx, a, by)
}

pub(super) fn zremrangebylex(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    let by = RangeBy::Lex(lex_range(&a[1], &a[2])?);
    rem_range(ctx, a, by)
}

fn pop(ctx: &Ctx, a: &[Bytes], end: PopEnd) -> Result<Action, CommandError> {
    if a.len() > 2 {
        return Err(CommandError::Syntax);
    }
    let count = match a.get(1) {
        None => None,
        // As `getRangeLongFromObjectOrReply`: not an integer is out of range too.
        Some(arg) => match int(arg) {
            Ok(n) if n >= 0 => Some(n as usize),
            _ => {
                return Err(CommandError::other(
                    "ERR value is out of range, must be positive",
                ));
            }
        },
    };
    op(
        ctx,
        ZSetOp::Pop {
            keys: vec![a[0].clone()],
            end,
            count,
            shape: PopShape::Plain,
        },
    )
}

pub(super) fn zpopmin(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    pop(ctx, a, PopEnd::Min)
}

pub(super) fn zpopmax(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    pop(ctx, a, PopEnd::Max)
}

pub(super) fn zrandmember(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    let mut withscores = false;
    let count = match a.get(1) {
        None => None,
        Some(arg) => {
            let n = int(arg)?;
            if n == i64::MIN {
                return Err(CommandError::other(
                    "ERR value is out of range, must be between -9223372036854775807 and \
                     9223372036854775807",
                ));
            }
            match a.get(2) {
                None => {}
                Some(word) if a.len() == 3 && is(word, "WITHSCORES") => {
                    withscores = true;
                    if !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&n) {
                        return Err(CommandError::other("ERR value is out of range"));
                    }
                }
                Some(_) => return Err(CommandError::Syntax),
            }
            if n < 0 && n.unsigned_abs() > MAX_RANDOM_REPEATS {
                return Err(CommandError::other("ERR value is out of range"));
            }
            Some(n)
        }
    };
    query(
        ctx,
        ZSetQuery::RandMember {
            key: a[0].clone(),
            count,
            withscores,
        },
    )
}

pub(super) fn zscan(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    let cursor = cursor(&a[1])?;
    let options = scan_options(&a[2..], false, false)?;
    query(
        ctx,
        ZSetQuery::Scan {
            key: a[0].clone(),
            cursor,
            pattern: options.pattern,
            count: options.count,
        },
    )
}
