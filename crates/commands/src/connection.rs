//! Connection commands: PING, ECHO, HELLO, AUTH, SELECT, CLIENT, QUIT, RESET.

use bytes::Bytes;
use okapi_types::num::parse_u64;

use crate::action::{Action, ClientCmd, ConnCmd, KillFilter, ReplyMode};
use crate::args::{Args, int, is};
use crate::error::CommandError;
use crate::spec::flags::*;
use crate::spec::{CommandSpec, Ctx, Keys, command};

const G: &str = "connection";
const CF: &[&str] = &["@fast", "@connection"];
const CS: &[&str] = &["@slow", "@connection"];

/// Connection commands.
pub const COMMANDS: &[CommandSpec] = &[
    command(
        "ping",
        -1,
        // As Redis 7: PING answers -LOADING while the dataset loads.
        FAST | STALE | SUBSCRIBED_OK,
        Keys::None,
        CF,
        G,
        "Returns the server's liveliness response.",
        ping,
    ),
    command(
        "echo",
        2,
        FAST | STALE | LOADING,
        Keys::None,
        CF,
        G,
        "Returns the given string.",
        echo,
    ),
    command(
        "quit",
        -1,
        FAST | STALE | LOADING | NO_AUTH | SUBSCRIBED_OK,
        Keys::None,
        CF,
        G,
        "Closes the connection.",
        quit,
    ),
    command(
        "reset",
        1,
        FAST | STALE | LOADING | NO_AUTH | SUBSCRIBED_OK,
        Keys::None,
        CF,
        G,
        "Resets the connection.",
        reset,
    ),
    command(
        "hello",
        -1,
        FAST | STALE | LOADING | NO_AUTH | SUBSCRIBED_OK,
        Keys::None,
        CF,
        G,
        "Handshakes with the Redis server.",
        hello,
    ),
    command(
        "auth",
        -2,
        FAST | STALE | LOADING | NO_AUTH | NOSCRIPT,
        Keys::None,
        CF,
        G,
        "Authenticates the connection.",
        auth,
    ),
    command(
        "select",
        2,
        FAST | STALE | LOADING,
        Keys::None,
        CF,
        G,
        "Changes the selected database.",
        select,
    ),
    command(
        "client",
        -2,
        STALE | LOADING | NOSCRIPT,
        Keys::None,
        CS,
        G,
        "A container for client connection commands.",
        client,
    ),
];

fn conn(cmd: ConnCmd) -> Result<Action, CommandError> {
    Ok(Action::Conn(cmd))
}

fn ping(_ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    match a {
        [] => conn(ConnCmd::Ping(None)),
        [message] => conn(ConnCmd::Ping(Some(message.clone()))),
        _ => Err(CommandError::WrongArity("ping".into())),
    }
}

fn echo(_ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    conn(ConnCmd::Echo(a[0].clone()))
}

fn quit(_ctx: &Ctx, _a: &[Bytes]) -> Result<Action, CommandError> {
    conn(ConnCmd::Quit)
}

fn reset(_ctx: &Ctx, _a: &[Bytes]) -> Result<Action, CommandError> {
    conn(ConnCmd::Reset)
}

fn hello(_ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    let mut args = Args::new(a);
    let protocol = match args.peek() {
        None => None,
        Some(v) => {
            args.next_arg()?;
            Some(int(v).map_err(|_| {
                CommandError::other("ERR Protocol version is not an integer or out of range")
            })?)
        }
    };
    let (mut auth, mut setname) = (None, None);
    while !args.is_empty() {
        if args.remaining() >= 3 && args.eat("AUTH") {
            auth = Some((args.bytes()?, args.bytes()?));
        } else if args.remaining() >= 2 && args.eat("SETNAME") {
            setname = Some(args.bytes()?);
        } else {
            let option = String::from_utf8_lossy(args.next_arg()?).into_owned();
            return Err(CommandError::other(format!(
                "ERR Syntax error in HELLO option '{option}'"
            )));
        }
    }
    conn(ConnCmd::Hello {
        protocol,
        auth,
        setname,
    })
}

fn auth(_ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    match a {
        [password] => conn(ConnCmd::Auth {
            user: None,
            password: password.clone(),
        }),
        [user, password] => conn(ConnCmd::Auth {
            user: Some(user.clone()),
            password: password.clone(),
        }),
        _ => Err(CommandError::Syntax),
    }
}

fn select(_ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    conn(ConnCmd::Select(int(&a[0])?))
}

fn client_cmd(cmd: ClientCmd) -> Result<Action, CommandError> {
    conn(ConnCmd::Client(cmd))
}

/// True for names CLIENT SETNAME accepts: printable ASCII without spaces.
pub fn valid_client_name(name: &[u8]) -> bool {
    name.iter().all(|&c| (b'!'..=b'~').contains(&c))
}

/// CLIENT TRACKING's options, in Redis's order of checks: a bad option is a syntax
/// error whatever the mode, then ON or OFF.
fn tracking(mode: &Bytes, options: &[Bytes]) -> Result<Action, CommandError> {
    let (mut redirect, mut prefixes) = (None, Vec::new());
    let (mut bcast, mut optin, mut optout, mut noloop) = (false, false, false, false);
    let mut i = 0;
    while i < options.len() {
        let option = &options[i];
        let more = i + 1 < options.len();
        if is(option, "REDIRECT") && more {
            i += 1;
            if redirect.is_some() {
                return Err(CommandError::other(
                    "ERR A client can only redirect to a single other client",
                ));
            }
            redirect =
                Some(okapi_types::num::parse_i64(&options[i]).ok_or(CommandError::NotInteger)?);
        } else if is(option, "BCAST") {
            bcast = true;
        } else if is(option, "OPTIN") {
            optin = true;
        } else if is(option, "OPTOUT") {
            optout = true;
        } else if is(option, "NOLOOP") {
            noloop = true;
        } else if is(option, "PREFIX") && more {
            i += 1;
            prefixes.push(options[i].clone());
        } else {
            return Err(CommandError::Syntax);
        }
        i += 1;
    }
    let on = if is(mode, "ON") {
        true
    } else if is(mode, "OFF") {
        false
    } else {
        return Err(CommandError::Syntax);
    };
    client_cmd(ClientCmd::Tracking {
        on,
        redirect,
        bcast,
        prefixes,
        optin,
        optout,
        noloop,
    })
}

fn client(_ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    let sub = a[0].to_ascii_lowercase();
    let rest = &a[1..];
    let arity = || CommandError::WrongArity(format!("client|{}", String::from_utf8_lossy(&sub)));
    match (sub.as_slice(), rest) {
        (b"id", []) => client_cmd(ClientCmd::Id),
        (b"getname", []) => client_cmd(ClientCmd::GetName),
        (b"info", []) => client_cmd(ClientCmd::Info),
        (b"setname", [name]) => {
            if !valid_client_name(name) {
                return Err(CommandError::other(
                    "ERR Client names cannot contain spaces, newlines or special characters.",
                ));
            }
            client_cmd(ClientCmd::SetName(name.clone()))
        }
        (b"setinfo", [attr, value]) => {
            if !is(attr, "LIB-NAME") && !is(attr, "LIB-VER") {
                return Err(CommandError::other(format!(
                    "ERR Unrecognized option '{}'",
                    String::from_utf8_lossy(attr)
                )));
            }
            if !valid_client_name(value) && !value.is_empty() {
                return Err(CommandError::other(format!(
                    "ERR {} cannot contain spaces, newlines or special characters.",
                    String::from_utf8_lossy(attr).to_ascii_lowercase()
                )));
            }
            client_cmd(ClientCmd::SetInfo {
                attr: attr.clone(),
                value: value.clone(),
            })
        }
        (b"pause", [timeout, mode @ ..]) if mode.len() <= 1 => {
            let writes_only = match mode {
                [] => false,
                [m] if is(m, "WRITE") => true,
                [m] if is(m, "ALL") => false,
                _ => {
                    return Err(CommandError::other(
                        "ERR CLIENT PAUSE mode must be WRITE or ALL",
                    ));
                }
            };
            let ms = okapi_types::num::parse_i64(timeout).ok_or_else(|| {
                CommandError::other("ERR timeout is not an integer or out of range")
            })?;
            if ms < 0 {
                return Err(CommandError::NegativeTimeout);
            }
            client_cmd(ClientCmd::Pause {
                timeout_ms: ms as u64,
                writes_only,
            })
        }
        (b"unpause", []) => client_cmd(ClientCmd::Unpause),
        (b"tracking", [mode, options @ ..]) => tracking(mode, options),
        (b"caching", [mode]) => {
            if is(mode, "YES") {
                client_cmd(ClientCmd::Caching(true))
            } else if is(mode, "NO") {
                client_cmd(ClientCmd::Caching(false))
            } else {
                Err(CommandError::Syntax)
            }
        }
        (b"getredir", []) => client_cmd(ClientCmd::GetRedir),
        (b"trackinginfo", []) => client_cmd(ClientCmd::TrackingInfo),
        (b"no-evict" | b"no-touch", [mode]) if is(mode, "ON") || is(mode, "OFF") => {
            client_cmd(ClientCmd::Flag)
        }
        (b"reply", [mode]) => {
            let mode = if is(mode, "ON") {
                ReplyMode::On
            } else if is(mode, "OFF") {
                ReplyMode::Off
            } else if is(mode, "SKIP") {
                ReplyMode::Skip
            } else {
                return Err(CommandError::Syntax);
            };
            client_cmd(ClientCmd::Reply(mode))
        }
        (b"unblock", [id, mode @ ..]) if mode.len() <= 1 => {
            let id = parse_u64(id).ok_or(CommandError::NotInteger)?;
            let error = match mode {
                [] => false,
                [m] if is(m, "TIMEOUT") => false,
                [m] if is(m, "ERROR") => true,
                _ => {
                    return Err(CommandError::other(
                        "ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR",
                    ));
                }
            };
            client_cmd(ClientCmd::Unblock { id, error })
        }
        (b"list", _) => {
            let mut args = Args::new(rest);
            let (mut ids, mut kind) = (None, None);
            while !args.is_empty() {
                if args.eat("TYPE") {
                    kind = Some(args.bytes()?);
                } else if args.eat("ID") {
                    let mut list = Vec::new();
                    while let Some(id) = args.peek() {
                        list.push(
                            parse_u64(id)
                                .filter(|&n| n > 0)
                                .ok_or_else(|| CommandError::other("ERR Invalid client ID"))?,
                        );
                        args.next_arg()?;
                    }
                    if list.is_empty() {
                        return Err(CommandError::Syntax);
                    }
                    ids = Some(list);
                } else {
                    return Err(CommandError::Syntax);
                }
            }
            client_cmd(ClientCmd::List { ids, kind })
        }
        (b"kill", [addr]) => client_cmd(ClientCmd::Kill(KillFilter {
            addr: Some(addr.clone()),
            skip_me: false,
            legacy: true,
            ..KillFilter::default()
        })),
        (b"kill", _) if !rest.is_empty() && rest.len().is_multiple_of(2) => {
            let mut filter = KillFilter {
                skip_me: true,
                ..KillFilter::default()
            };
            for pair in rest.chunks_exact(2) {
                let (name, value) = (&pair[0], &pair[1]);
                if is(name, "ID") {
                    filter.id = Some(parse_u64(value).filter(|&n| n > 0).ok_or_else(|| {
                        CommandError::other("ERR client-id should be greater than 0")
                    })?);
                } else if is(name, "TYPE") {
                    filter.kind = Some(value.clone());
                } else if is(name, "ADDR") {
                    filter.addr = Some(value.clone());
                } else if is(name, "LADDR") {
                    filter.laddr = Some(value.clone());
                } else if is(name, "USER") {
                    filter.user = Some(value.clone());
                } else if is(name, "SKIPME") {
                    filter.skip_me = if is(value, "YES") {
                        true
                    } else if is(value, "NO") {
                        false
                    } else {
                        return Err(CommandError::Syntax);
                    };
                } else {
                    return Err(CommandError::Syntax);
                }
            }
            client_cmd(ClientCmd::Kill(filter))
        }
        (b"help", []) => Ok(Action::Reply(okapi_engine::Reply::Array(
            [
                "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "CACHING (YES|NO)",
                "GETREDIR",
                "GETNAME",
                "ID",
                "INFO",
                "KILL <ip:port> | <option> <value> [<option> <value> ...]",
                "LIST [TYPE <type>] [ID <id> [<id> ...]]",
                "NO-EVICT (ON|OFF)",
                "PAUSE <timeout> [WRITE|ALL]",
                "NO-TOUCH (ON|OFF)",
                "REPLY (ON|OFF|SKIP)",
                "SETINFO <LIB-NAME|LIB-VER> <value>",
                "SETNAME <name>",
                "TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]] [OPTIN] [OPTOUT] [NOLOOP]",
                "TRACKINGINFO",
                "UNBLOCK <clientid> [TIMEOUT|ERROR]",
                "UNPAUSE",
                "HELP",
            ]
            .iter()
            .map(|l| okapi_engine::Reply::Status(l))
            .collect(),
        ))),
        (
            b"id" | b"getname" | b"info" | b"setname" | b"setinfo" | b"no-evict" | b"no-touch"
            | b"reply" | b"unblock" | b"kill" | b"help" | b"pause" | b"unpause" | b"tracking"
            | b"caching" | b"getredir" | b"trackinginfo",
            _,
        ) => Err(arity()),
        _ => Err(CommandError::UnknownSubcommand {
            command: "CLIENT".into(),
            sub: String::from_utf8_lossy(&a[0]).into_owned(),
        }),
    }
}
