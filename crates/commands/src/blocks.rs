//! okapi's block commands (`BLOCK.*`): large fixed-length byte values read and
//! written at offsets, stored sparsely and cloned copy-on-write. Offsets and lengths
//! are non-negative integers; writes past the end are cut and reply how many bytes
//! landed, reads past the end come back short.

use bytes::Bytes;
use okapi_engine::blocks::{
    BlockOp, BlockQuery, MAX_BLOCK_LEN, MAX_OP_BYTES, ReadPiece, WritePiece,
};
use okapi_engine::{OpKind, QueryKind};

use crate::action::Action;
use crate::args::{Args, int};
use crate::error::CommandError;
use crate::spec::flags::*;
use crate::spec::{CommandSpec, Ctx, command, keys};
use crate::{read, write};

const G: &str = "block";
const WS: &[&str] = &["@write", "@slow"];
const WF: &[&str] = &["@write", "@fast"];
const RS: &[&str] = &["@read", "@slow"];
const RF: &[&str] = &["@read", "@fast"];

/// Most bytes one BLOCK.READ or one BLOCK.GATHER returns: a reply is built in memory
/// before it leaves (its pages are shared, but the list of them is not).
pub const MAX_READ_BYTES: u64 = 1 << 30;

/// Block commands.
pub const COMMANDS: &[CommandSpec] = &[
    command(
        "block.create",
        -3,
        WRITE | DENYOOM,
        keys(1, 1, 1),
        WS,
        G,
        "Creates a block of a fixed length, zero-filled or starting with the given bytes.",
        block_create,
    ),
    command(
        "block.write",
        4,
        WRITE | DENYOOM,
        keys(1, 1, 1),
        WS,
        G,
        "Writes bytes into a block at an offset; replies how many bytes landed.",
        block_write,
    ),
    command(
        "block.put",
        -3,
        WRITE | DENYOOM,
        keys(1, 1, 1),
        WS,
        G,
        "Writes bytes at an offset; with an empty payload, clears a range back to zeros.",
        block_put,
    ),
    command(
        "block.read",
        4,
        READONLY,
        keys(1, 1, 1),
        RS,
        G,
        "Returns bytes of a block from an offset, short at the end.",
        block_read,
    ),
    command(
        "block.scatter",
        -4,
        WRITE | DENYOOM,
        keys(1, -1, 3),
        WS,
        G,
        "Writes several pieces into blocks at once; replies the bytes landed per piece.",
        block_scatter,
    ),
    command(
        "block.gather",
        -4,
        READONLY,
        keys(1, -1, 3),
        RS,
        G,
        "Reads several pieces of blocks; replies each piece's length and bytes.",
        block_gather,
    ),
    command(
        "block.clone",
        -3,
        WRITE | FAST,
        keys(1, 2, 1),
        WF,
        G,
        "Clones a block copy-on-write: pages stay shared until either side writes them.",
        block_clone,
    ),
    command(
        "block.truncate",
        3,
        WRITE,
        keys(1, 1, 1),
        WS,
        G,
        "Changes a block's length; bytes past a shorter length are dropped.",
        block_truncate,
    ),
    command(
        "block.info",
        2,
        READONLY,
        keys(1, 1, 1),
        RF,
        G,
        "Returns a block's length, pages in use, shared pages, memory and CRC-32C.",
        block_info,
    ),
];

fn op(ctx: &Ctx, op: BlockOp) -> Result<Action, CommandError> {
    Ok(write(ctx, OpKind::Block(op)))
}

fn query(ctx: &Ctx, q: BlockQuery) -> Result<Action, CommandError> {
    Ok(read(ctx, QueryKind::Block(q)))
}

/// A non-negative integer argument named `what`.
fn offset(arg: &[u8], what: &str) -> Result<u64, CommandError> {
    let n = int(arg)?;
    u64::try_from(n).map_err(|_| CommandError::other(format!("ERR {what} must not be negative")))
}

fn length(arg: &[u8]) -> Result<u64, CommandError> {
    let len = offset(arg, "length")?;
    if len > MAX_BLOCK_LEN {
        return Err(CommandError::other(format!(
            "ERR block length exceeds the maximum of {MAX_BLOCK_LEN} bytes"
        )));
    }
    Ok(len)
}

fn read_length(arg: &[u8]) -> Result<u64, CommandError> {
    let len = offset(arg, "length")?;
    if len > MAX_READ_BYTES {
        return Err(CommandError::other(format!(
            "ERR a read returns at most {MAX_READ_BYTES} bytes; read in pieces"
        )));
    }
    Ok(len)
}

fn block_create(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    let len = length(&a[1])?;
    let mut args = Args::new(&a[2..]);
    let mut init = Bytes::new();
    let mut nx = false;
    if let Some(first) = args.peek()
        && !crate::args::is(first, "NX")
    {
        init = args.bytes()?;
    }
    while !args.is_empty() {
        if args.eat("NX") {
            nx = true;
        } else {
            return Err(CommandError::Syntax);
        }
    }
    if init.len() as u64 > len {
        return Err(CommandError::other(
            "ERR initial bytes are longer than the block",
        ));
    }
    if nx && init.len() > MAX_OP_BYTES {
        // An NX create that found the key must not write; split into several log
        // entries, the writes after it could not know.
        return Err(CommandError::other(format!(
            "ERR NX takes at most {MAX_OP_BYTES} initial bytes; create, then BLOCK.WRITE"
        )));
    }
    op(
        ctx,
        BlockOp::Create {
            key: a[0].clone(),
            len,
            init,
            nx,
        },
    )
}

fn block_write(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    op(
        ctx,
        BlockOp::Write {
            key: a[0].clone(),
            offset: offset(&a[1], "offset")?,
            data: a[2].clone(),
        },
    )
}

fn block_put(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    let key = a[0].clone();
    let at = offset(&a[1], "offset")?;
    match &a[2..] {
        [data] if !data.is_empty() => op(
            ctx,
            BlockOp::Write {
                key,
                offset: at,
                data: data.clone(),
            },
        ),
        // No payload: clear to the end of the block, or `length` bytes.
        [] | [_] => op(
            ctx,
            BlockOp::Zero {
                key,
                offset: at,
                len: u64::MAX,
            },
        ),
        [data, len] if data.is_empty() => op(
            ctx,
            BlockOp::Zero {
                key,
                offset: at,
                len: offset(len, "length")?,
            },
        ),
        [_, _] => Err(CommandError::other(
            "ERR a length goes only with an empty payload (clearing a range)",
        )),
        _ => Err(CommandError::Syntax),
    }
}

fn block_read(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    query(
        ctx,
        BlockQuery::Read {
            key: a[0].clone(),
            offset: offset(&a[1], "offset")?,
            len: read_length(&a[2])?,
        },
    )
}

fn block_scatter(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    if !a.len().is_multiple_of(3) {
        return Err(CommandError::WrongArity("block.scatter".to_owned()));
    }
    let pieces = a
        .chunks_exact(3)
        .map(|p| {
            Ok(WritePiece {
                key: p[0].clone(),
                offset: offset(&p[1], "offset")?,
                data: p[2].clone(),
            })
        })
        .collect::<Result<_, CommandError>>()?;
    op(ctx, BlockOp::Scatter { pieces })
}

fn block_gather(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    if !a.len().is_multiple_of(3) {
        return Err(CommandError::WrongArity("block.gather".to_owned()));
    }
    let pieces: Vec<ReadPiece> = a
        .chunks_exact(3)
        .map(|p| {
            Ok(ReadPiece {
                key: p[0].clone(),
                offset: offset(&p[1], "offset")?,
                len: read_length(&p[2])?,
            })
        })
        .collect::<Result<_, CommandError>>()?;
    let total: u64 = pieces.iter().map(|p| p.len).sum();
    if total > MAX_READ_BYTES {
        return Err(CommandError::other(format!(
            "ERR a gather returns at most {MAX_READ_BYTES} bytes; gather in several calls"
        )));
    }
    query(ctx, BlockQuery::Gather { pieces })
}

fn block_clone(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    let mut args = Args::new(&a[2..]);
    let mut replace = false;
    while !args.is_empty() {
        if args.eat("REPLACE") {
            replace = true;
        } else {
            return Err(CommandError::Syntax);
        }
    }
    op(
        ctx,
        BlockOp::Clone {
            src: a[0].clone(),
            dst: a[1].clone(),
            replace,
        },
    )
}

fn block_truncate(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    op(
        ctx,
        BlockOp::Truncate {
            key: a[0].clone(),
            len: length(&a[1])?,
        },
    )
}

fn block_info(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    query(ctx, BlockQuery::Info { key: a[0].clone() })
}
