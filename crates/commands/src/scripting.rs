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
        "fcall",
        -3,
        NOSCRIPT | STALE | MOVABLE_KEYS,
        Keys::Custom(script_keys),
        SCRIPTING,
        G,
        "Invokes a function.",
        fcall,
    ),
    command(
        "fcall_ro",
        -3,
        NOSCRIPT | STALE | READONLY | MOVABLE_KEYS,
        Keys::Custom(script_keys),
        SCRIPTING,
        G,
        "Invokes a read-only function.",
        fcall_ro,
    ),
    command(
        "function",
        -2,
        NOSCRIPT,
        Keys::None,
        SCRIPTING,
        G,
        "A container for function commands.",
        function,
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
    crate::lists::numkeys_positions(argv, 2)
}

fn call(ctx: &Ctx, a: &[Bytes], body: ScriptBody, read_only: bool) -> Result<Action, CommandError> {
    let function = matches!(body, ScriptBody::Function(_));
    let keys = (|| {
        let n = match parse_i64(&a[1]) {
            Some(n) => n,
            None if function => return Err(CommandError::other("ERR Bad number of keys provided")),
            None => return Err(CommandError::NotInteger),
        };
        if n < 0 {
            return Err(CommandError::other("ERR Number of keys can't be negative"));
        }
        if n as u64 > (a.len() - 2) as u64 {
            return Err(CommandError::other(
                "ERR Number of keys can't be greater than number of args",
            ));
        }
        Ok(n as usize)
    })();
    let (n, invalid) = match keys {
        Ok(n) => (n, None),
        // FCALL looks the function up first, as Redis does.
        Err(e) if function => (0, Some(e.to_string())),
        Err(e) => return Err(e),
    };
    Ok(Action::Script(Box::new(ScriptCall {
        db: ctx.db,
        body,
        keys: a[2..2 + n].to_vec(),
        args: a[2 + n..].to_vec(),
        read_only,
        seed: ctx.random,
        invalid,
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

fn fcall(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    call(ctx, a, ScriptBody::Function(a[0].clone()), false)
}

fn fcall_ro(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    call(ctx, a, ScriptBody::Function(a[0].clone()), true)
}

const FUNCTION_HELP: &[&str] = &[
    "FUNCTION <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "LOAD [REPLACE] <FUNCTION CODE>",
    "    Create a new library with the given library name and code.",
    "DELETE <LIBRARY NAME>",
    "    Delete the given library.",
    "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
    "    Return general information on all the libraries:",
    "    * Library name",
    "    * The engine used to run the Library",
    "    * Library description",
    "    * Functions list",
    "    * Library code (if WITHCODE is given)",
    "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
    "STATS",
    "    Return information about the current function running:",
    "    * Function name",
    "    * Command used to run the function",
    "    * Duration in MS that the function is running",
    "    If no function is running, return nil",
    "    In addition, returns a list of available engines.",
    "KILL",
    "    Kill the current running function.",
    "FLUSH [ASYNC|SYNC]",
    "    Delete all the libraries.",
    "    When called without the optional mode argument, the behavior is determined by the",
    "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
    "    * ASYNC: Asynchronously flush the libraries.",
    "    * SYNC: Synchronously flush the libraries.",
    "DUMP",
    "    Return a serialized payload representing the current libraries, can be restored using FUNCTION RESTORE command",
    "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
    "    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
    "    control how to handle existing libraries (default APPEND):",
    "    * FLUSH: delete all existing libraries.",
    "    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
    "    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
    "      libraries with the new libraries (notice that even on this option there is a chance of failure",
    "      in case of functions name collision with another library).",
    "HELP",
    "    Prints this help.",
];

fn function(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    use okapi_engine::functions::{FunctionOp, FunctionQuery};
    let sub = a[0].to_ascii_lowercase();
    let write = |op: FunctionOp| {
        Ok(Action::Write(okapi_engine::Op {
            db: ctx.db,
            kind: okapi_engine::OpKind::Function(op),
        }))
    };
    let read =
        |query: FunctionQuery| Ok(crate::read(ctx, okapi_engine::QueryKind::Function(query)));
    let arity = |name: &str| Err(CommandError::WrongArity(format!("function|{name}")));
    match (sub.as_slice(), &a[1..]) {
        (b"load", [code]) => write(FunctionOp::Load {
            code: code.clone(),
            replace: false,
        }),
        (b"load", [flag, code]) if flag.eq_ignore_ascii_case(b"replace") => {
            write(FunctionOp::Load {
                code: code.clone(),
                replace: true,
            })
        }
        (b"load", [flag, _]) => Err(CommandError::other(format!(
            "ERR Unknown option given: {}",
            String::from_utf8_lossy(flag)
        ))),
        (b"delete", [name]) => write(FunctionOp::Delete { name: name.clone() }),
        (b"flush", []) => write(FunctionOp::Flush),
        (b"flush", [mode])
            if mode.eq_ignore_ascii_case(b"sync") || mode.eq_ignore_ascii_case(b"async") =>
        {
            write(FunctionOp::Flush)
        }
        (b"flush", [_]) => Err(CommandError::other(
            "ERR FUNCTION FLUSH only supports SYNC|ASYNC option",
        )),
        (b"list", rest) => {
            let mut pattern = None;
            let mut with_code = false;
            let mut i = 0;
            while i < rest.len() {
                if rest[i].eq_ignore_ascii_case(b"withcode") && !with_code {
                    with_code = true;
                    i += 1;
                } else if rest[i].eq_ignore_ascii_case(b"libraryname") && pattern.is_none() {
                    let Some(p) = rest.get(i + 1) else {
                        return Err(CommandError::other(
                            "ERR library name argument was not given",
                        ));
                    };
                    pattern = Some(p.clone());
                    i += 2;
                } else {
                    return Err(CommandError::other(format!(
                        "ERR Unknown argument {}",
                        String::from_utf8_lossy(&rest[i])
                    )));
                }
            }
            read(FunctionQuery::List { pattern, with_code })
        }
        (b"stats", []) => read(FunctionQuery::Stats),
        (b"kill", []) => Ok(Action::Conn(ConnCmd::Script(ScriptCmd::KillFunction))),
        (b"dump", []) => read(FunctionQuery::Dump),
        (b"restore", [payload]) => write(FunctionOp::Restore {
            payload: payload.clone(),
            policy: okapi_engine::functions::RestorePolicy::Append,
        }),
        (b"restore", [payload, policy]) => {
            use okapi_engine::functions::RestorePolicy;
            let policy = match policy.to_ascii_uppercase().as_slice() {
                b"APPEND" => RestorePolicy::Append,
                b"REPLACE" => RestorePolicy::Replace,
                b"FLUSH" => RestorePolicy::Flush,
                _ => {
                    return Err(CommandError::other(
                        "ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.",
                    ));
                }
            };
            write(FunctionOp::Restore {
                payload: payload.clone(),
                policy,
            })
        }
        (b"help", []) => Ok(Action::Reply(Reply::Array(
            FUNCTION_HELP.iter().map(|l| Reply::Status(l)).collect(),
        ))),
        (
            b"load" | b"delete" | b"flush" | b"stats" | b"kill" | b"dump" | b"restore" | b"help",
            _,
        ) => arity(std::str::from_utf8(&sub).unwrap_or("function")),
        _ => Err(CommandError::UnknownSubcommand {
            command: "FUNCTION".into(),
            sub: String::from_utf8_lossy(&a[0]).into_owned(),
        }),
    }
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
