//! HyperLogLog commands: PFADD, PFCOUNT, PFMERGE (Redis's value format, see
//! `okapi_engine::hyperloglog`).

use bytes::Bytes;
use okapi_engine::hyperloglog::{HllOp, HllQuery};
use okapi_engine::{OpKind, QueryKind};

use crate::action::Action;
use crate::error::CommandError;
use crate::spec::flags::*;
use crate::spec::{CommandSpec, Ctx, command, keys};
use crate::{read, write};

const G: &str = "hyperloglog";

/// HyperLogLog commands.
pub const COMMANDS: &[CommandSpec] = &[
    command(
        "pfadd",
        -2,
        WRITE | DENYOOM | FAST,
        keys(1, 1, 1),
        &["@write", "@hyperloglog", "@fast"],
        G,
        "Adds elements to a HyperLogLog key. Creates the key if it doesn't exist.",
        pfadd,
    ),
    // Redis flags PFCOUNT read-only though it writes the cached cardinality back
    // into the value; okapi flags it as the write it is, so it goes to the group's
    // leader and through the log like any change.
    command(
        "pfcount",
        -2,
        WRITE,
        keys(1, -1, 1),
        &["@read", "@hyperloglog", "@slow"],
        G,
        "Returns the approximated cardinality of the set(s) observed by the HyperLogLog key(s).",
        pfcount,
    ),
    command(
        "pfmerge",
        -2,
        WRITE | DENYOOM,
        keys(1, -1, 1),
        &["@write", "@hyperloglog", "@slow"],
        G,
        "Merges one or more HyperLogLog values into a single key.",
        pfmerge,
    ),
];

fn pfadd(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    Ok(write(
        ctx,
        OpKind::Hll(HllOp::Add {
            key: a[0].clone(),
            elements: a[1..].to_vec(),
        }),
    ))
}

fn pfcount(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    if a.len() == 1 {
        return Ok(write(ctx, OpKind::Hll(HllOp::Count { key: a[0].clone() })));
    }
    Ok(read(
        ctx,
        QueryKind::Hll(HllQuery::CountUnion { keys: a.to_vec() }),
    ))
}

fn pfmerge(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    Ok(write(
        ctx,
        OpKind::Hll(HllOp::Merge {
            dst: a[0].clone(),
            keys: a[1..].to_vec(),
        }),
    ))
}
