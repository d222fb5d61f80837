//! okapi's own `META key`: per-key metadata (type, encoding, size, created, updated and
//! last-read times, TTL, version, storage tier).

use bytes::Bytes;
use okapi_engine::QueryKind;
use okapi_engine::keys::KeyQuery;

use crate::action::Action;
use crate::error::CommandError;
use crate::read;
use crate::spec::flags::*;
use crate::spec::{CommandSpec, Ctx, command, keys};

/// okapi metadata commands.
pub const COMMANDS: &[CommandSpec] = &[command(
    "meta",
    2,
    READONLY | FAST,
    keys(1, 1, 1),
    &["@keyspace", "@read", "@fast"],
    "generic",
    "Returns a key's metadata: type, size, created/updated/last-read times, TTL, version.",
    meta,
)];

fn meta(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    Ok(read(
        ctx,
        QueryKind::Key(KeyQuery::Meta { key: a[0].clone() }),
    ))
}
