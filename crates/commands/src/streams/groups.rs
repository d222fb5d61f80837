//! Consumer groups and introspection: XGROUP, XREADGROUP, XACK, XPENDING, XCLAIM,
//! XAUTOCLAIM and XINFO, parsed as Redis 7.0 parses them. Errors Redis reports only
//! after it has looked the key (and group) up travel inside the op or query, so the
//! reply is the one Redis gives.

use bytes::Bytes;
use okapi_engine::stream::StreamId;
use okapi_engine::streams::{
    Claim, ClaimTime, GroupFrom, GroupStart, PendingRange, ReadGroup, StreamOp, StreamQuery,
};
use okapi_engine::{EngineError, Op, OpKind, QueryKind, Reply, Wait};
use okapi_types::num::parse_i64;

use super::{blocked_count, interval, parse_id, strict_id, unique_keys};
use crate::action::{Action, Attempt, Blocking};
use crate::args::is;
use crate::error::CommandError;
use crate::spec::flags::*;
use crate::spec::{CommandSpec, Ctx, Keys, command};
use crate::{read, write};

const G: &str = "stream";

/// Consumer-group and XINFO commands.
pub const COMMANDS: &[CommandSpec] = &[
    command(
        "xgroup",
        -2,
        WRITE | DENYOOM,
        Keys::Custom(second_arg_key),
        &["@write", "@stream", "@slow"],
        G,
        "A container for consumer groups commands.",
        xgroup,
    ),
    command(
        "xreadgroup",
        -7,
        WRITE | BLOCKING | MOVABLE_KEYS,
        Keys::Custom(xreadgroup_keys),
        &["@write", "@stream", "@slow", "@blocking"],
        G,
        "Returns new or historical messages from a stream for a consumer in a group. \
         Blocks until a message is available otherwise.",
        xreadgroup,
    ),
    command(
        "xack",
        -4,
        WRITE | FAST,
        crate::spec::keys(1, 1, 1),
        &["@write", "@stream", "@fast"],
        G,
        "Returns the number of messages that were successfully acknowledged by the \
         consumer group member of a stream.",
        xack,
    ),
    command(
        "xpending",
        -3,
        READONLY,
        crate::spec::keys(1, 1, 1),
        &["@read", "@stream", "@slow"],
        G,
        "Returns the information and entries from a stream consumer group's pending \
         entries list.",
        xpending,
    ),
    command(
        "xclaim",
        -6,
        WRITE | FAST,
        crate::spec::keys(1, 1, 1),
        &["@write", "@stream", "@fast"],
        G,
        "Changes, or acquires, ownership of a message in a consumer group, as if the \
         message was delivered a consumer group member.",
        xclaim,
    ),
    command(
        "xautoclaim",
        -6,
        WRITE | FAST,
        crate::spec::keys(1, 1, 1),
        &["@write", "@stream", "@fast"],
        G,
        "Changes, or acquires, ownership of messages in a consumer group, as if the \
         messages were delivered to as consumer group member.",
        xautoclaim,
    ),
    command(
        "xinfo",
        -2,
        READONLY,
        Keys::Custom(second_arg_key),
        &["@read", "@stream", "@slow"],
        G,
        "A container for stream introspection commands.",
        xinfo,
    ),
];

/// XGROUP and XINFO subcommands name their key right after the subcommand.
fn second_arg_key(argv: &[Bytes]) -> Vec<usize> {
    if argv.len() > 2 && !is(&argv[1], "HELP") {
        vec![2]
    } else {
        Vec::new()
    }
}

fn other(text: impl Into<String>) -> CommandError {
    CommandError::Engine(EngineError::Other(text.into()))
}

/// `addReplySubcommandSyntaxError`: names the subcommand as the client spelled it.
fn subcommand_syntax(command: &str, sub: &[u8]) -> EngineError {
    EngineError::Other(format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try {command} HELP.",
        String::from_utf8_lossy(sub)
    ))
}

fn unknown_subcommand(command: &str, sub: &[u8]) -> CommandError {
    CommandError::UnknownSubcommand {
        command: command.into(),
        sub: String::from_utf8_lossy(sub).into_owned(),
    }
}

fn help(header: &'static str, lines: &[&'static str]) -> Action {
    let mut out = vec![Reply::Status(header)];
    out.extend(lines.iter().map(|l| Reply::Status(l)));
    out.push(Reply::Status("HELP"));
    out.push(Reply::Status("    Prints this help."));
    Action::Reply(Reply::Array(out))
}

/// Checks a subcommand's arity as Redis's command table does (`n` counts the command
/// and subcommand names; negative means at least).
fn arity(command: &str, sub: &str, a: &[Bytes], n: i32) -> Result<(), CommandError> {
    let argc = a.len() as i32 + 1;
    let ok = if n < 0 { argc >= -n } else { argc == n };
    if ok {
        Ok(())
    } else {
        Err(CommandError::WrongArity(format!("{command}|{sub}")))
    }
}

fn xgroup(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    let sub = &a[0];
    let lower = sub.to_ascii_lowercase();
    let (name, n) = match lower.as_slice() {
        b"create" => ("create", -5),
        b"setid" => ("setid", -5),
        b"destroy" => ("destroy", 4),
        b"createconsumer" => ("createconsumer", 5),
        b"delconsumer" => ("delconsumer", 5),
        b"help" => ("help", 2),
        _ => return Err(unknown_subcommand("XGROUP", sub)),
    };
    arity("xgroup", name, a, n)?;
    if name == "help" {
        return Ok(help(
            "XGROUP <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            &[
                "CREATE <key> <groupname> <id|$> [option]",
                "    Create a new consumer group. Options are:",
                "    * MKSTREAM",
                "      Create the empty stream if it does not exist.",
                "    * ENTRIESREAD entries_read",
                "      Set the group's entries_read counter (internal use).",
                "CREATECONSUMER <key> <groupname> <consumer>",
                "    Create a new consumer in the specified group.",
                "DELCONSUMER <key> <groupname> <consumer>",
                "    Remove the specified consumer.",
                "DESTROY <key> <groupname>",
                "    Remove the specified group.",
                "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
                "    Set the current group ID and entries_read counter.",
            ],
        ));
    }
    let argc = a.len() + 1;
    let (key, group) = (a[1].clone(), a[2].clone());
    // Options come first, before the key is looked up.
    let mut mkstream = false;
    let mut entries_read = okapi_engine::stream::group::INVALID_ENTRIES_READ;
    let mut i = 4;
    while i < a.len() {
        if name == "create" && is(&a[i], "MKSTREAM") {
            mkstream = true;
            i += 1;
        } else if matches!(name, "create" | "setid") && is(&a[i], "ENTRIESREAD") && i + 1 < a.len()
        {
            let n = parse_i64(&a[i + 1]).ok_or(CommandError::NotInteger)?;
            if n < 0 && n != okapi_engine::stream::group::INVALID_ENTRIES_READ {
                return Err(other("ERR value for ENTRIESREAD must be positive or -1"));
            }
            entries_read = n;
            i += 2;
        } else {
            return Err(CommandError::Engine(subcommand_syntax("XGROUP", sub)));
        }
    }
    let start = |arg: &[u8], strict: bool| {
        if arg == b"$" {
            return GroupStart::Last;
        }
        let parsed = if strict {
            strict_id(arg)
        } else {
            parse_id(arg, 0, false, false).map(|p| p.id)
        };
        match parsed {
            Ok(id) => GroupStart::Id(id),
            Err(e) => GroupStart::Invalid(e.into_engine()),
        }
    };
    let op = match name {
        "create" => StreamOp::GroupCreate {
            key,
            group,
            start: if argc > 8 {
                GroupStart::Invalid(subcommand_syntax("XGROUP", sub))
            } else {
                start(&a[3], true)
            },
            mkstream,
            entries_read,
        },
        "setid" => StreamOp::GroupSetId {
            key,
            group,
            start: if argc != 5 && argc != 7 {
                GroupStart::Invalid(subcommand_syntax("XGROUP", sub))
            } else {
                start(&a[3], false)
            },
            entries_read,
        },
        "destroy" => StreamOp::GroupDestroy { key, group },
        "createconsumer" => StreamOp::ConsumerCreate {
            key,
            group,
            consumer: a[3].clone(),
        },
        _ => StreamOp::ConsumerDelete {
            key,
            group,
            consumer: a[3].clone(),
        },
    };
    Ok(write(ctx, OpKind::Stream(op)))
}

/// Where XREADGROUP's STREAMS list starts in `argv` (name at 0), if anywhere.
fn group_streams_at(argv: &[Bytes]) -> Option<usize> {
    let mut i = 1;
    while i < argv.len() {
        let more = argv.len() - i - 1;
        if (is(&argv[i], "BLOCK") || is(&argv[i], "COUNT")) && more > 0 {
            i += 2;
        } else if is(&argv[i], "GROUP") && more >= 2 {
            i += 3;
        } else if is(&argv[i], "NOACK") {
            i += 1;
        } else if is(&argv[i], "STREAMS") && more > 0 {
            return Some(i + 1);
        } else {
            return None;
        }
    }
    None
}

fn xreadgroup_keys(argv: &[Bytes]) -> Vec<usize> {
    match group_streams_at(argv) {
        Some(at) if (argv.len() - at).is_multiple_of(2) => {
            (at..at + (argv.len() - at) / 2).collect()
        }
        _ => Vec::new(),
    }
}

fn xreadgroup(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    let mut count = 0u64;
    let mut block = None;
    let mut noack = false;
    let mut names = None;
    let mut streams = None;
    let mut i = 0;
    while i < a.len() {
        let more = a.len() - i - 1;
        let o = &a[i];
        if is(o, "BLOCK") && more > 0 {
            let ms = parse_i64(&a[i + 1])
                .ok_or_else(|| other("ERR timeout is not an integer or out of range"))?;
            if ms < 0 {
                return Err(CommandError::NegativeTimeout);
            }
            block = Some(ms as u64);
            i += 2;
        } else if is(o, "COUNT") && more > 0 {
            count = parse_i64(&a[i + 1]).ok_or(CommandError::NotInteger)?.max(0) as u64;
            i += 2;
        } else if is(o, "STREAMS") && more > 0 {
            let rest = &a[i + 1..];
            if !rest.len().is_multiple_of(2) {
                return Err(other(
                    "ERR Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified.",
                ));
            }
            streams = Some(rest);
            break;
        } else if is(o, "GROUP") && more >= 2 {
            names = Some((a[i + 1].clone(), a[i + 2].clone()));
            i += 3;
        } else if is(o, "NOACK") {
            noack = true;
            i += 1;
        } else {
            return Err(CommandError::Syntax);
        }
    }
    let Some(rest) = streams else {
        return Err(CommandError::Syntax);
    };
    let Some((group, consumer)) = names else {
        return Err(other("ERR Missing GROUP option for XREADGROUP"));
    };
    let (keys, ids) = rest.split_at(rest.len() / 2);
    let streams: Vec<(Bytes, GroupFrom)> = keys
        .iter()
        .zip(ids)
        .map(|(key, id)| {
            let from = match id.as_ref() {
                b"$" => GroupFrom::Invalid(EngineError::Other(
                    "ERR The $ ID is meaningless in the context of XREADGROUP: you want to read \
                     the history of this consumer by specifying a proper ID, or use the > ID to \
                     get new messages. The $ ID would just return an empty result set."
                        .to_owned(),
                )),
                b">" => GroupFrom::New,
                _ => match strict_id(id) {
                    // Redis keeps `>` as the largest ID, so spelling that ID out reads
                    // new entries too.
                    Ok(id) if id == okapi_engine::stream::StreamId::MAX => GroupFrom::New,
                    Ok(id) => GroupFrom::History(id),
                    Err(e) => GroupFrom::Invalid(e.into_engine()),
                },
            };
            (key.clone(), from)
        })
        .collect();
    let only_new = streams.iter().all(|(_, from)| *from == GroupFrom::New);
    let op = Op {
        db: ctx.db,
        kind: OpKind::Stream(StreamOp::ReadGroup(Box::new(ReadGroup {
            group: group.clone(),
            consumer: consumer.clone(),
            streams,
            count,
            noack,
            woken: false,
        }))),
    };
    // History is always answered at once, so only `>` everywhere can block.
    match block {
        Some(ms) if only_new => Ok(Action::Block(Box::new(Blocking {
            db: ctx.db,
            keys: unique_keys(keys),
            timeout_ms: (ms > 0).then_some(ms),
            attempt: Attempt::Write(op),
            wait: Wait::Group {
                db: ctx.db,
                streams: unique_keys(keys),
                group,
                consumer,
                noack,
                count: blocked_count(count),
            },
        }))),
        _ => Ok(Action::Write(op)),
    }
}

fn xack(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    let mut ids = Vec::with_capacity(a.len() - 2);
    let mut error = None;
    for arg in &a[2..] {
        match strict_id(arg) {
            Ok(id) => ids.push(id),
            Err(e) => {
                error = Some(e.into_engine());
                break;
            }
        }
    }
    Ok(write(
        ctx,
        OpKind::Stream(StreamOp::Ack {
            key: a[0].clone(),
            group: a[1].clone(),
            ids,
            error,
        }),
    ))
}

fn xpending(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    let argc = a.len() + 1;
    if argc != 3 && !(6..=9).contains(&argc) {
        return Err(CommandError::Syntax);
    }
    let mut range = None;
    if argc >= 6 {
        let mut at = 2;
        let mut min_idle = 0;
        if is(&a[2], "IDLE") {
            min_idle = parse_i64(&a[3]).ok_or(CommandError::NotInteger)?;
            if argc < 8 {
                return Err(CommandError::Syntax);
            }
            at += 2;
        }
        let count = parse_i64(&a[at + 2])
            .ok_or(CommandError::NotInteger)?
            .max(0) as u64;
        let (mut start, start_ex) = interval(&a[at], 0)?;
        if start_ex {
            start = start
                .next()
                .ok_or_else(|| other("ERR invalid start ID for the interval"))?;
        }
        let (mut end, end_ex) = interval(&a[at + 1], u64::MAX)?;
        if end_ex {
            end = end
                .prev()
                .ok_or_else(|| other("ERR invalid end ID for the interval"))?;
        }
        range = Some(PendingRange {
            min_idle,
            start,
            end,
            count,
            consumer: a.get(at + 3).cloned(),
        });
    }
    Ok(read(
        ctx,
        QueryKind::Stream(StreamQuery::Pending {
            key: a[0].clone(),
            group: a[1].clone(),
            range,
        }),
    ))
}

fn xclaim(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    let mut claim = Claim {
        key: a[0].clone(),
        group: a[1].clone(),
        consumer: a[2].clone(),
        min_idle: 0,
        ids: Vec::new(),
        time: ClaimTime::Now,
        retry_count: -1,
        force: false,
        justid: false,
        last_id: StreamId::MIN,
        error: None,
    };
    // Every argument error waits until the key and group are found, as in Redis.
    claim.error = parse_claim(&mut claim, a)
        .err()
        .map(CommandError::into_engine);
    Ok(write(ctx, OpKind::Stream(StreamOp::Claim(Box::new(claim)))))
}

fn parse_claim(claim: &mut Claim, a: &[Bytes]) -> Result<(), CommandError> {
    claim.min_idle = parse_i64(&a[3])
        .ok_or_else(|| other("ERR Invalid min-idle-time argument for XCLAIM"))?
        .max(0);
    let mut j = 4;
    while j < a.len() {
        match strict_id(&a[j]) {
            Ok(id) => claim.ids.push(id),
            Err(_) => break,
        }
        j += 1;
    }
    // What does not parse as an ID may be the options.
    while j < a.len() {
        let more = a.len() - 1 - j;
        let opt = &a[j];
        let number = |arg: &[u8], what: &str| {
            parse_i64(arg)
                .ok_or_else(|| other(format!("ERR Invalid {what} option argument for XCLAIM")))
        };
        if is(opt, "FORCE") {
            claim.force = true;
        } else if is(opt, "JUSTID") {
            claim.justid = true;
        } else if is(opt, "IDLE") && more > 0 {
            j += 1;
            claim.time = ClaimTime::Idle(number(&a[j], "IDLE")?);
        } else if is(opt, "TIME") && more > 0 {
            j += 1;
            claim.time = ClaimTime::At(number(&a[j], "TIME")?);
        } else if is(opt, "RETRYCOUNT") && more > 0 {
            j += 1;
            claim.retry_count = number(&a[j], "RETRYCOUNT")?;
        } else if is(opt, "LASTID") && more > 0 {
            j += 1;
            claim.last_id = strict_id(&a[j])?;
        } else {
            return Err(other(format!(
                "ERR Unrecognized XCLAIM option '{}'",
                String::from_utf8_lossy(opt.split(|&b| b == 0).next().unwrap_or_default())
            )));
        }
        j += 1;
    }
    Ok(())
}

fn xautoclaim(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    let min_idle = parse_i64(&a[3])
        .ok_or_else(|| other("ERR Invalid min-idle-time argument for XAUTOCLAIM"))?
        .max(0);
    let (mut start, start_ex) = interval(&a[4], 0)?;
    if start_ex {
        start = start
            .next()
            .ok_or_else(|| other("ERR invalid start ID for the interval"))?;
    }
    // Redis bounds COUNT so that its ten tries per entry cannot overflow.
    const MAX_COUNT: i64 = i64::MAX / 16;
    let mut count = 100u64;
    let mut justid = false;
    let mut j = 5;
    while j < a.len() {
        let more = a.len() - 1 - j;
        if is(&a[j], "COUNT") && more > 0 {
            count = parse_i64(&a[j + 1])
                .filter(|n| (1..=MAX_COUNT).contains(n))
                .ok_or_else(|| other("ERR COUNT must be > 0"))? as u64;
            j += 1;
        } else if is(&a[j], "JUSTID") {
            justid = true;
        } else {
            return Err(CommandError::Syntax);
        }
        j += 1;
    }
    Ok(write(
        ctx,
        OpKind::Stream(StreamOp::AutoClaim {
            key: a[0].clone(),
            group: a[1].clone(),
            consumer: a[2].clone(),
            min_idle,
            start,
            count,
            justid,
        }),
    ))
}

fn xinfo(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    let sub = &a[0];
    let lower = sub.to_ascii_lowercase();
    let (name, n) = match lower.as_slice() {
        b"stream" => ("stream", -3),
        b"groups" => ("groups", 3),
        b"consumers" => ("consumers", 4),
        b"help" => ("help", 2),
        _ => return Err(unknown_subcommand("XINFO", sub)),
    };
    arity("xinfo", name, a, n)?;
    let query = match name {
        "help" => {
            return Ok(help(
                "XINFO <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                &[
                    "CONSUMERS <key> <groupname>",
                    "    Show consumers of <groupname>.",
                    "GROUPS <key>",
                    "    Show the stream consumer groups.",
                    "STREAM <key> [FULL [COUNT <count>]",
                    "    Show information about the stream.",
                ],
            ));
        }
        "groups" => StreamQuery::InfoGroups { key: a[1].clone() },
        "consumers" => StreamQuery::InfoConsumers {
            key: a[1].clone(),
            group: a[2].clone(),
        },
        _ => {
            let (full, error) = match info_stream_options(sub, &a[2..]) {
                Ok(full) => (full, None),
                Err(e) => (None, Some(e)),
            };
            StreamQuery::InfoStream {
                key: a[1].clone(),
                full,
                error,
            }
        }
    };
    Ok(read(ctx, QueryKind::Stream(query)))
}

/// XINFO STREAM's `[FULL [COUNT n]]` (a negative COUNT means the default 10).
fn info_stream_options(sub: &[u8], opts: &[Bytes]) -> Result<Option<u64>, EngineError> {
    match opts {
        [] => Ok(None),
        [full] if is(full, "FULL") => Ok(Some(10)),
        [full, count, n] if is(full, "FULL") && is(count, "COUNT") => {
            let n = parse_i64(n).ok_or(EngineError::NotInteger)?;
            Ok(Some(if n < 0 { 10 } else { n as u64 }))
        }
        _ => Err(subcommand_syntax("XINFO", sub)),
    }
}
