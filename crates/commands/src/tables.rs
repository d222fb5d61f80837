//! okapi's table commands (`TABLE.*`): an ordered map of byte fields to byte values
//! inside one key. Ranges are half-open, `[start, end)`, compared bytewise; `-` as
//! either end means before every field and `+` after every field.

use bytes::Bytes;
use okapi_engine::tables::{FieldRange, RangeEnd, TableOp, TableQuery, parse_scan_cursor};
use okapi_engine::{OpKind, QueryKind};

use crate::action::Action;
use crate::args::Args;
use crate::error::CommandError;
use crate::spec::flags::*;
use crate::spec::{CommandSpec, Ctx, command, keys};
use crate::{read, write};

const G: &str = "table";
const WF: &[&str] = &["@write", "@fast"];
const WS: &[&str] = &["@write", "@slow"];
const RF: &[&str] = &["@read", "@fast"];
const RS: &[&str] = &["@read", "@slow"];

/// Most pairs TABLE.SCAN returns per call, whatever COUNT asks: a page is one reply.
const MAX_SCAN_COUNT: u64 = 100_000;

/// Table commands.
pub const COMMANDS: &[CommandSpec] = &[
    command(
        "table.set",
        -4,
        WRITE | DENYOOM | FAST,
        keys(1, 1, 1),
        WF,
        G,
        "Sets fields of a table to values; replies how many fields were new.",
        table_set,
    ),
    command(
        "table.get",
        3,
        READONLY | FAST,
        keys(1, 1, 1),
        RF,
        G,
        "Returns the value of a field of a table.",
        table_get,
    ),
    command(
        "table.mget",
        -3,
        READONLY | FAST,
        keys(1, 1, 1),
        RF,
        G,
        "Returns the values of fields of a table.",
        table_mget,
    ),
    command(
        "table.del",
        -3,
        WRITE | FAST,
        keys(1, 1, 1),
        WF,
        G,
        "Deletes fields of a table; replies how many existed.",
        table_del,
    ),
    command(
        "table.range",
        -4,
        READONLY,
        keys(1, 1, 1),
        RS,
        G,
        "Returns the fields and values of a table in [start, end), in order or reversed.",
        table_range,
    ),
    command(
        "table.delrange",
        4,
        WRITE,
        keys(1, 1, 1),
        WS,
        G,
        "Deletes the fields of a table in [start, end); replies how many.",
        table_delrange,
    ),
    command(
        "table.count",
        -2,
        READONLY,
        keys(1, 1, 1),
        RS,
        G,
        "Counts the fields of a table, all or in [start, end).",
        table_count,
    ),
    command(
        "table.scan",
        -3,
        READONLY,
        keys(1, 1, 1),
        RS,
        G,
        "Pages through a table in field order with a cursor.",
        table_scan,
    ),
];

fn op(ctx: &Ctx, op: TableOp) -> Result<Action, CommandError> {
    Ok(write(ctx, OpKind::Table(op)))
}

fn query(ctx: &Ctx, q: TableQuery) -> Result<Action, CommandError> {
    Ok(read(ctx, QueryKind::Table(q)))
}

/// A range end: `-` and `+` are the open ends, anything else a field.
fn range_end(arg: &Bytes) -> RangeEnd {
    match arg.as_ref() {
        b"-" => RangeEnd::Min,
        b"+" => RangeEnd::Max,
        _ => RangeEnd::Field(arg.clone()),
    }
}

fn range(start: &Bytes, end: &Bytes) -> FieldRange {
    FieldRange {
        start: range_end(start),
        end: range_end(end),
    }
}

fn table_set(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    let fields = &a[1..];
    if !fields.len().is_multiple_of(2) {
        return Err(CommandError::WrongArity("table.set".to_owned()));
    }
    op(
        ctx,
        TableOp::Set {
            key: a[0].clone(),
            pairs: fields
                .chunks_exact(2)
                .map(|p| (p[0].clone(), p[1].clone()))
                .collect(),
        },
    )
}

fn table_get(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    query(
        ctx,
        TableQuery::Get {
            key: a[0].clone(),
            field: a[1].clone(),
        },
    )
}

fn table_mget(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    query(
        ctx,
        TableQuery::MGet {
            key: a[0].clone(),
            fields: a[1..].to_vec(),
        },
    )
}

fn table_del(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    op(
        ctx,
        TableOp::Del {
            key: a[0].clone(),
            fields: a[1..].to_vec(),
        },
    )
}

fn table_range(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    let mut args = Args::new(&a[3..]);
    let mut limit = None;
    let mut rev = false;
    while !args.is_empty() {
        if args.eat("LIMIT") {
            let n = args.i64()?;
            if n < 0 {
                return Err(CommandError::other("ERR LIMIT must not be negative"));
            }
            limit = Some(n as u64);
        } else if args.eat("REV") {
            rev = true;
        } else {
            return Err(CommandError::Syntax);
        }
    }
    query(
        ctx,
        TableQuery::Range {
            key: a[0].clone(),
            range: range(&a[1], &a[2]),
            limit,
            rev,
        },
    )
}

fn table_delrange(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    op(
        ctx,
        TableOp::DelRange {
            key: a[0].clone(),
            range: range(&a[1], &a[2]),
        },
    )
}

fn table_count(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    let range = match &a[1..] {
        [] => FieldRange::all(),
        [start, end] => range(start, end),
        _ => return Err(CommandError::Syntax),
    };
    query(
        ctx,
        TableQuery::Count {
            key: a[0].clone(),
            range,
        },
    )
}

fn table_scan(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    let from = parse_scan_cursor(&a[1]).map_err(|e| CommandError::other(e.to_string()))?;
    let mut args = Args::new(&a[2..]);
    let mut count = 10;
    while !args.is_empty() {
        if args.eat("COUNT") {
            let n = args.i64()?;
            if n < 1 {
                return Err(CommandError::Syntax);
            }
            count = (n as u64).min(MAX_SCAN_COUNT);
        } else {
            return Err(CommandError::Syntax);
        }
    }
    query(
        ctx,
        TableQuery::Scan {
            key: a[0].clone(),
            from,
            count: count as usize,
        },
    )
}
