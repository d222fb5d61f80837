//! Scripting commands: EVAL, EVALSHA, EVAL_RO, EVALSHA_RO and SCRIPT. The server
//! finds the script, runs it and sends it through the log when it writes
//! (`okapi_scripting`).

use bytes::Bytes;
use okapi_engine::Reply;
use okapi_types::num::parse_i64;

use crate::action::{Action, ConnCmd, ScriptBody, ScriptCall, ScriptCmd};
use crate::error::CommandError;
use crate::spec::flags::*;
use crate::spec::{CommandSpec, Ctx, Keys, command};

const G: &str = "scripting";
const SCRIPTING: &[&str] = &["@slow", "@scripting"];

/// Scripting commands.
pub const COMMANDS: &[CommandSpec] = &[
    command(
        "eval",
        -3,
        NOSCRIPT | STALE | MOVABLE_KEYS,
        Keys::Custom(script_keys),
        SCRIPTING,
        G,
        "Executes a server-side Lua script.",
        eval,
    ),
    command(
        "evalsha",
        -3,
        NOSCRIPT | STALE | MOVABLE_KEYS,
        Keys::Custom(script_keys),
        SCRIPTING,
        G,
        "Executes a server-side Lua script by SHA1 digest.",
        evalsha,
    ),
    command(
        "eval_ro",
        -3,
        NOSCRIPT | STALE | READONLY | MOVABLE_KEYS,
        Keys::Custom(script_keys),
        SCRIPTING,
        G,
        "Executes a read-only server-side Lua script.",
        eval_ro,
    ),
    command(
        "evalsha_ro",
        -3,
        NOSCRIPT | STALE | READONLY | MOVABLE_KEYS,
        Keys::Custom(script_keys),
        SCRIPTING,
        G,
        "Executes a read-only server-side Lua script by SHA1 digest.",
        evalsha_ro,
    ),
    command(
        "script",
        -2,
        NOSCRIPT,
        Keys::None,
        SCRIPTING,
        G,
        "A container for Lua scripts management commands.",
        script,
    ),
];

/// `script numkeys key ... arg ...`: the keys' positions (none when numkeys is bad;
/// the parser reports that).
fn script_keys(argv: &[Bytes]) -> Vec<usize> {
    let Some(n) = argv
        .get(2)
        .and_then(|n| parse_i64(n))
        .and_then(|n| usize::try_from(n).ok())
    else {
        return Vec::new();
    };
    if n > argv.len().saturating_sub(3) {
        return Vec::new();
    }
    (3..3 + n).collect()
}

fn call(ctx: &Ctx, a: &[Bytes], body: ScriptBody, read_only: bool) -> Result<Action, CommandError> {
    let n = parse_i64(&a[1]).ok_or(CommandError::NotInteger)?;
    if n < 0 {
        return Err(CommandError::other("ERR Number of keys can't be negative"));
    }
    let n = n as u64;
    if n > (a.len() - 2) as u64 {
        return Err(CommandError::other(
            "ERR Number of keys can't be greater than number of args",
        ));
    }
    let n = n as usize;
    Ok(Action::Script(Box::new(ScriptCall {
        db: ctx.db,
        body,
        keys: a[2..2 + n].to_vec(),
        args: a[2 + n..].to_vec(),
        read_only,
        seed: ctx.random,
    })))
}

fn eval(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    call(ctx, a, ScriptBody::Source(a[0].clone()), false)
}

fn eval_ro(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    call(ctx, a, ScriptBody::Source(a[0].clone()), true)
}

fn sha(a: &[Bytes]) -> ScriptBody {
    ScriptBody::Sha(Bytes::from(a[0].to_ascii_lowercase()))
}

fn evalsha(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    call(ctx, a, sha(a), false)
}

fn evalsha_ro(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    call(ctx, a, sha(a), true)
}

const SCRIPT_HELP: &[&str] = &[
    "SCRIPT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "EXISTS <sha1> [<sha1> ...]",
    "    Return information about the existence of the scripts in the script cache.",
    "FLUSH [ASYNC|SYNC]",
    "    Flush the Lua scripts cache. Very dangerous on replicas.",
    "    When called without the optional mode argument, the behavior is determined by the",
    "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
    "    * ASYNC: Asynchronously flush the scripts cache.",
    "    * SYNC: Synchronously flush the scripts cache.",
    "KILL",
    "    Kill the currently executing Lua script.",
    "LOAD <script>",
    "    Load a script into the scripts cache without executing it.",
    "HELP",
    "    Prints this help.",
];

fn script(_ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    let sub = a[0].to_ascii_lowercase();
    let conn = |cmd| Ok(Action::Conn(ConnCmd::Script(cmd)));
    let arity = |name: &str| Err(CommandError::WrongArity(format!("script|{name}")));
    match (sub.as_slice(), &a[1..]) {
        (b"load", [body]) => conn(ScriptCmd::Load(body.clone())),
        (b"exists", shas) if !shas.is_empty() => conn(ScriptCmd::Exists(shas.to_vec())),
        (b"flush", []) => conn(ScriptCmd::Flush),
        (b"flush", [mode])
            if mode.eq_ignore_ascii_case(b"sync") || mode.eq_ignore_ascii_case(b"async") =>
        {
            conn(ScriptCmd::Flush)
        }
        (b"flush", [_]) => Err(CommandError::other(
            "ERR SCRIPT FLUSH only support SYNC|ASYNC option",
        )),
        (b"kill", []) => conn(ScriptCmd::Kill),
        (b"debug", [_]) => Err(CommandError::other(
            "ERR SCRIPT DEBUG is not supported: okapi has no Lua debugger",
        )),
        (b"help", []) => Ok(Action::Reply(Reply::Array(
            SCRIPT_HELP.iter().map(|l| Reply::Status(l)).collect(),
        ))),
        (b"load" | b"exists" | b"flush" | b"kill" | b"debug" | b"help", _) => {
            arity(std::str::from_utf8(&sub).unwrap_or("script"))
        }
        _ => Err(CommandError::UnknownSubcommand {
            command: "SCRIPT".into(),
            sub: String::from_utf8_lossy(&a[0]).into_owned(),
        }),
    }
}
