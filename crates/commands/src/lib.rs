//! okapi's commands: the table of every command (`CommandSpec`, one table per family),
//! parsers that turn arguments into engine reads, log ops or server actions, and the
//! writer that turns engine replies into RESP.
//!
//! Layout:
//! - [`spec`] — `CommandSpec`, flags, lookup, arity/key checks, [`spec::parse`]
//! - [`action`] — what a parsed command asks for (`Action`, `ConnCmd`, `Blocking`)
//! - [`args`] — argument cursor with Redis's error texts
//! - [`reply`] — engine `Reply` → RESP2/RESP3
//! - one module per family: [`strings`], [`bitmaps`], [`hyperloglog`], [`keys`], [`sort`], [`hashes`], [`lists`], [`sets`],
//!   [`zsets`], [`geo`], [`streams`], [`connection`], [`server`], [`txn`], [`pubsub`], [`meta`], [`tables`],
//!   [`blocks`], [`scripting`]
//! - [`introspection`] — `COMMAND` replies built from the table
//! - [`docs`] — `COMMAND DOCS` data: since, complexity and argument syntax per command

pub mod action;
pub mod args;
pub mod bitmaps;
pub mod blocks;
pub mod connection;
pub mod docs;
pub mod error;
pub mod geo;
pub mod hashes;
pub mod hyperloglog;
pub mod introspection;
pub mod keys;
pub mod lists;
pub mod meta;
pub mod pubsub;
pub mod redis_meta;
pub mod reply;
pub mod scripting;
pub mod server;
pub mod sets;
pub mod sort;
pub mod spec;
pub mod streams;
pub mod strings;
pub mod tables;
pub mod txn;
pub mod zsets;

pub use action::{
    Action, Attempt, Blocking, ClientCmd, ClusterCmd, ConnCmd, KillFilter, MapChangeCmd, ReplyMode,
    ScriptBody, ScriptCall, ScriptCmd,
};
pub use error::CommandError;
pub use spec::{CommandSpec, Ctx, lookup, parse, resolve};

/// Every family's table.
pub(crate) const FAMILIES: &[&[spec::CommandSpec]] = &[
    strings::COMMANDS,
    bitmaps::COMMANDS,
    hyperloglog::COMMANDS,
    keys::COMMANDS,
    sort::COMMANDS,
    hashes::COMMANDS,
    lists::COMMANDS,
    sets::COMMANDS,
    zsets::COMMANDS,
    geo::COMMANDS,
    streams::COMMANDS,
    scripting::COMMANDS,
    streams::GROUP_COMMANDS,
    connection::COMMANDS,
    server::COMMANDS,
    txn::COMMANDS,
    pubsub::COMMANDS,
    meta::COMMANDS,
    tables::COMMANDS,
    blocks::COMMANDS,
];

/// Builds a read of `kind` in the context's namespace.
pub(crate) fn read(ctx: &Ctx, kind: okapi_engine::QueryKind) -> Action {
    Action::Read(okapi_engine::Query { db: ctx.db, kind })
}

/// Builds a write of `kind` in the context's namespace.
pub(crate) fn write(ctx: &Ctx, kind: okapi_engine::OpKind) -> Action {
    Action::Write(okapi_engine::Op { db: ctx.db, kind })
}
