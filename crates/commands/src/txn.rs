//! Transaction commands: MULTI, EXEC, DISCARD, WATCH, UNWATCH. The server keeps the
//! queue and builds the engine transaction at EXEC.

use bytes::Bytes;

use crate::action::{Action, ConnCmd};
use crate::error::CommandError;
use crate::spec::flags::*;
use crate::spec::{CommandSpec, Ctx, Keys, command, keys};

const G: &str = "transactions";
const T: &[&str] = &["@fast", "@transaction"];

/// Transaction commands.
pub const COMMANDS: &[CommandSpec] = &[
    command(
        "multi",
        1,
        FAST | LOADING | STALE | NO_MULTI,
        Keys::None,
        T,
        G,
        "Starts a transaction.",
        multi,
    ),
    command(
        "exec",
        1,
        LOADING | STALE | NOSCRIPT,
        Keys::None,
        &["@slow", "@transaction"],
        G,
        "Executes all commands in a transaction.",
        exec,
    ),
    command(
        "discard",
        1,
        FAST | LOADING | STALE | NOSCRIPT,
        Keys::None,
        T,
        G,
        "Discards a transaction.",
        discard,
    ),
    command(
        "watch",
        -2,
        FAST | LOADING | STALE | NO_MULTI,
        keys(1, -1, 1),
        T,
        G,
        "Monitors changes to keys to determine the execution of a transaction.",
        watch,
    ),
    command(
        "unwatch",
        1,
        FAST | LOADING | STALE,
        Keys::None,
        T,
        G,
        "Forgets about watched keys of a transaction.",
        unwatch,
    ),
];

fn multi(_ctx: &Ctx, _a: &[Bytes]) -> Result<Action, CommandError> {
    Ok(Action::Conn(ConnCmd::Multi))
}

fn exec(_ctx: &Ctx, _a: &[Bytes]) -> Result<Action, CommandError> {
    Ok(Action::Conn(ConnCmd::Exec))
}

fn discard(_ctx: &Ctx, _a: &[Bytes]) -> Result<Action, CommandError> {
    Ok(Action::Conn(ConnCmd::Discard))
}

fn watch(_ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    Ok(Action::Conn(ConnCmd::Watch(a.to_vec())))
}

fn unwatch(_ctx: &Ctx, _a: &[Bytes]) -> Result<Action, CommandError> {
    Ok(Action::Conn(ConnCmd::Unwatch))
}
