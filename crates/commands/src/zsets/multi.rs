//! Parsers of the multi-key sorted-set commands: set operations, ZMPOP and the
//! blocking pops.

use bytes::Bytes;
use okapi_engine::zsets::{Aggregate, Combine, PopEnd, PopShape, SetOpKind, ZSetOp, ZSetQuery};
use okapi_engine::{Op, OpKind};

use super::{op, query};
use crate::action::{Action, Attempt, Blocking};
use crate::args::{float, int, is, timeout_secs};
use crate::error::CommandError;
use crate::spec::Ctx;

/// What follows `numkeys key...` in a set-operation command.
struct SetOpArgs {
    keys: Vec<Bytes>,
    weights: Vec<f64>,
    aggregate: Aggregate,
    withscores: bool,
    limit: usize,
}

/// Which options a set-operation command accepts.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Form {
    /// ZUNION/ZINTER (WITHSCORES) or their STORE forms (no WITHSCORES).
    Weighted { store: bool },
    /// ZDIFF (WITHSCORES) or ZDIFFSTORE.
    Diff { store: bool },
    /// ZINTERCARD (LIMIT).
    Card,
}

/// Parses `numkeys key [key ...]` and the options, as `zunionInterDiffGenericCommand`:
/// `Ok(Err(read))` when only the options are bad, where `read` replies WRONGTYPE if an
/// input has the wrong type and the options' error otherwise, Redis's order of checks.
fn set_op_args(
    ctx: &Ctx,
    a: &[Bytes],
    name: &str,
    form: Form,
) -> Result<Result<SetOpArgs, Action>, CommandError> {
    let n = set_op_keys(a, name)?;
    match set_op_options(a, n, form) {
        Ok(args) => Ok(Ok(args)),
        Err(error) => query(
            ctx,
            ZSetQuery::FailAfterInputs {
                keys: a[1..=n].to_vec(),
                error: error.into_engine(),
            },
        )
        .map(Err),
    }
}

/// Checks `numkeys` against the arguments and returns it.
fn set_op_keys(a: &[Bytes], name: &str) -> Result<usize, CommandError> {
    let numkeys = int(&a[0])?;
    if numkeys < 1 {
        return Err(CommandError::other(format!(
            "ERR at least 1 input key is needed for '{name}' command"
        )));
    }
    if numkeys as u64 > (a.len() - 1) as u64 {
        return Err(CommandError::Syntax);
    }
    Ok(numkeys as usize)
}

/// The options after `n` keys.
fn set_op_options(a: &[Bytes], n: usize, form: Form) -> Result<SetOpArgs, CommandError> {
    let mut parsed = SetOpArgs {
        keys: a[1..=n].to_vec(),
        weights: Vec::new(),
        aggregate: Aggregate::Sum,
        withscores: false,
        limit: 0,
    };
    let weighted = matches!(form, Form::Weighted { .. });
    let store = matches!(
        form,
        Form::Weighted { store: true } | Form::Diff { store: true }
    );
    let mut j = n + 1;
    while j < a.len() {
        let remaining = a.len() - j;
        let word = &a[j];
        if weighted && remaining > n && is(word, "WEIGHTS") {
            parsed.weights = a[j + 1..=j + n]
                .iter()
                .map(|w| {
                    float(w).map_err(|_| CommandError::other("ERR weight value is not a float"))
                })
                .collect::<Result<_, _>>()?;
            j += n + 1;
        } else if weighted && remaining >= 2 && is(word, "AGGREGATE") {
            let how = &a[j + 1];
            parsed.aggregate = if is(how, "SUM") {
                Aggregate::Sum
            } else if is(how, "MIN") {
                Aggregate::Min
            } else if is(how, "MAX") {
                Aggregate::Max
            } else {
                return Err(CommandError::Syntax);
            };
            j += 2;
        } else if !store && form != Form::Card && is(word, "WITHSCORES") {
            parsed.withscores = true;
            j += 1;
        } else if form == Form::Card && remaining >= 2 && is(word, "LIMIT") {
            let limit = int(&a[j + 1])
                .ok()
                .filter(|&l| l >= 0)
                .ok_or_else(|| CommandError::other("ERR LIMIT can't be negative"))?;
            parsed.limit = limit as usize;
            j += 2;
        } else {
            return Err(CommandError::Syntax);
        }
    }
    Ok(parsed)
}

fn combine_of(kind: SetOpKind, args: &SetOpArgs) -> Combine {
    Combine {
        kind,
        keys: args.keys.clone(),
        weights: args.weights.clone(),
        aggregate: args.aggregate,
    }
}

fn store(ctx: &Ctx, a: &[Bytes], kind: SetOpKind, name: &str) -> Result<Action, CommandError> {
    let form = match kind {
        SetOpKind::Diff => Form::Diff { store: true },
        _ => Form::Weighted { store: true },
    };
    let args = match set_op_args(ctx, &a[1..], name, form)? {
        Ok(args) => args,
        Err(fail) => return Ok(fail),
    };
    op(
        ctx,
        ZSetOp::CombineStore {
            dst: a[0].clone(),
            combine: combine_of(kind, &args),
        },
    )
}

fn combine(ctx: &Ctx, a: &[Bytes], kind: SetOpKind, name: &str) -> Result<Action, CommandError> {
    let form = match kind {
        SetOpKind::Diff => Form::Diff { store: false },
        _ => Form::Weighted { store: false },
    };
    let args = match set_op_args(ctx, a, name, form)? {
        Ok(args) => args,
        Err(fail) => return Ok(fail),
    };
    query(
        ctx,
        ZSetQuery::Combine {
            combine: combine_of(kind, &args),
            withscores: args.withscores,
        },
    )
}

pub(super) fn zunionstore(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    store(ctx, a, SetOpKind::Union, "zunionstore")
}

pub(super) fn zinterstore(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    store(ctx, a, SetOpKind::Inter, "zinterstore")
}

pub(super) fn zdiffstore(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    store(ctx, a, SetOpKind::Diff, "zdiffstore")
}

pub(super) fn zunion(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    combine(ctx, a, SetOpKind::Union, "zunion")
}

pub(super) fn zinter(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    combine(ctx, a, SetOpKind::Inter, "zinter")
}

pub(super) fn zdiff(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    combine(ctx, a, SetOpKind::Diff, "zdiff")
}

pub(super) fn zintercard(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    let args = match set_op_args(ctx, a, "zintercard", Form::Card)? {
        Ok(args) => args,
        Err(fail) => return Ok(fail),
    };
    query(
        ctx,
        ZSetQuery::InterCard {
            keys: args.keys,
            limit: args.limit,
        },
    )
}

/// `numkeys key [key ...] MIN|MAX [COUNT count]` of ZMPOP and BZMPOP.
fn mpop_args(a: &[Bytes]) -> Result<(Vec<Bytes>, PopEnd, usize), CommandError> {
    let numkeys = int(&a[0])
        .ok()
        .filter(|&n| n >= 1)
        .ok_or_else(|| CommandError::other("ERR numkeys should be greater than 0"))?;
    let where_at = usize::try_from(numkeys)
        .ok()
        .and_then(|n| n.checked_add(1))
        .filter(|&at| at < a.len())
        .ok_or(CommandError::Syntax)?;
    let end = if is(&a[where_at], "MIN") {
        PopEnd::Min
    } else if is(&a[where_at], "MAX") {
        PopEnd::Max
    } else {
        return Err(CommandError::Syntax);
    };
    let mut count = None;
    let mut j = where_at + 1;
    while j < a.len() {
        if count.is_none() && is(&a[j], "COUNT") && j + 1 < a.len() {
            let n = int(&a[j + 1])
                .ok()
                .filter(|&n| n >= 1)
                .ok_or_else(|| CommandError::other("ERR count should be greater than 0"))?;
            count = Some(n as usize);
            j += 2;
        } else {
            return Err(CommandError::Syntax);
        }
    }
    Ok((a[1..where_at].to_vec(), end, count.unwrap_or(1)))
}

pub(super) fn zmpop(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    let (keys, end, count) = mpop_args(a)?;
    op(
        ctx,
        ZSetOp::Pop {
            keys,
            end,
            count: Some(count),
            shape: PopShape::Multi,
        },
    )
}

fn block(ctx: &Ctx, keys: Vec<Bytes>, timeout_ms: Option<u64>, pop: ZSetOp) -> Action {
    Action::Block(Box::new(Blocking {
        db: ctx.db,
        keys,
        timeout_ms,
        attempt: Attempt::Write(Op {
            db: ctx.db,
            kind: OpKind::ZSet(pop.clone()),
        }),
        wait: okapi_engine::Wait::Data(Op {
            db: ctx.db,
            kind: OpKind::ZSet(pop),
        }),
    }))
}

fn bzpop(ctx: &Ctx, a: &[Bytes], end: PopEnd) -> Result<Action, CommandError> {
    let (timeout, keys) = a.split_last().ok_or(CommandError::Syntax)?;
    let timeout_ms = timeout_secs(timeout)?;
    let keys = keys.to_vec();
    let pop = ZSetOp::Pop {
        keys: keys.clone(),
        end,
        count: None,
        shape: PopShape::Keyed,
    };
    Ok(block(ctx, keys, timeout_ms, pop))
}

pub(super) fn bzpopmin(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    bzpop(ctx, a, PopEnd::Min)
}

pub(super) fn bzpopmax(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    bzpop(ctx, a, PopEnd::Max)
}

pub(super) fn bzmpop(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    // Redis reads numkeys, MIN|MAX and COUNT before the timeout.
    let (keys, end, count) = mpop_args(&a[1..])?;
    let timeout_ms = timeout_secs(&a[0])?;
    let pop = ZSetOp::Pop {
        keys: keys.clone(),
        end,
        count: Some(count),
        shape: PopShape::Multi,
    };
    Ok(block(ctx, keys, timeout_ms, pop))
}
