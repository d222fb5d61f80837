//! Generic key commands.

use bytes::Bytes;
use okapi_engine::keys::{ExpireCond, KeyOp, KeyQuery, TtlForm};
use okapi_engine::{OpKind, QueryKind};
use okapi_types::Namespace;
use okapi_types::num::parse_u64;

use crate::action::Action;
use crate::args::{Args, int, is};
use crate::error::CommandError;
use crate::spec::flags::*;
use crate::spec::{CommandSpec, Ctx, command, keys};
use crate::{read, write};

const G: &str = "generic";
const WK: &[&str] = &["@keyspace", "@write", "@slow"];
const WKF: &[&str] = &["@keyspace", "@write", "@fast"];
const RK: &[&str] = &["@keyspace", "@read", "@slow"];
const RKF: &[&str] = &["@keyspace", "@read", "@fast"];

/// Generic key commands.
pub const COMMANDS: &[CommandSpec] = &[
    command(
        "del",
        -2,
        WRITE,
        keys(1, -1, 1),
        WK,
        G,
        "Deletes one or more keys.",
        del,
    ),
    command(
        "unlink",
        -2,
        WRITE | FAST,
        keys(1, -1, 1),
        WKF,
        G,
        "Asynchronously deletes one or more keys.",
        del,
    ),
    command(
        "exists",
        -2,
        READONLY | FAST,
        keys(1, -1, 1),
        RKF,
        G,
        "Determines whether one or more keys exist.",
        exists,
    ),
    command(
        "touch",
        -2,
        READONLY | FAST,
        keys(1, -1, 1),
        RKF,
        G,
        "Returns the number of existing keys out of those specified after updating the time they were last accessed.",
        touch,
    ),
    command(
        "type",
        2,
        READONLY | FAST,
        keys(1, 1, 1),
        RKF,
        G,
        "Determines the type of value stored at a key.",
        type_,
    ),
    command(
        "rename",
        3,
        WRITE,
        keys(1, 2, 1),
        WK,
        G,
        "Renames a key and overwrites the destination.",
        rename,
    ),
    command(
        "renamenx",
        3,
        WRITE | FAST,
        keys(1, 2, 1),
        WKF,
        G,
        "Renames a key only when the target key name doesn't exist.",
        renamenx,
    ),
    command(
        "expire",
        -3,
        WRITE | FAST,
        keys(1, 1, 1),
        WKF,
        G,
        "Sets the expiration time of a key in seconds.",
        expire,
    ),
    command(
        "pexpire",
        -3,
        WRITE | FAST,
        keys(1, 1, 1),
        WKF,
        G,
        "Sets the expiration time of a key in milliseconds.",
        pexpire,
    ),
    command(
        "expireat",
        -3,
        WRITE | FAST,
        keys(1, 1, 1),
        WKF,
        G,
        "Sets the expiration time of a key to a Unix timestamp.",
        expireat,
    ),
    command(
        "pexpireat",
        -3,
        WRITE | FAST,
        keys(1, 1, 1),
        WKF,
        G,
        "Sets the expiration time of a key to a Unix milliseconds timestamp.",
        pexpireat,
    ),
    command(
        "persist",
        2,
        WRITE | FAST,
        keys(1, 1, 1),
        WKF,
        G,
        "Removes the expiration time of a key.",
        persist,
    ),
    command(
        "ttl",
        2,
        READONLY | FAST,
        keys(1, 1, 1),
        RKF,
        G,
        "Returns the expiration time in seconds of a key.",
        ttl,
    ),
    command(
        "pttl",
        2,
        READONLY | FAST,
        keys(1, 1, 1),
        RKF,
        G,
        "Returns the expiration time in milliseconds of a key.",
        pttl,
    ),
    command(
        "expiretime",
        2,
        READONLY | FAST,
        keys(1, 1, 1),
        RKF,
        G,
        "Returns the expiration time of a key as a Unix timestamp.",
        expiretime,
    ),
    command(
        "pexpiretime",
        2,
        READONLY | FAST,
        keys(1, 1, 1),
        RKF,
        G,
        "Returns the expiration time of a key as a Unix milliseconds timestamp.",
        pexpiretime,
    ),
    command(
        "keys",
        2,
        READONLY,
        crate::spec::Keys::None,
        &["@keyspace", "@read", "@slow", "@dangerous"],
        G,
        "Returns all key names that match a pattern.",
        keys_,
    ),
    command(
        "scan",
        -2,
        READONLY,
        crate::spec::Keys::None,
        RK,
        G,
        "Iterates over the key names in the database.",
        scan,
    ),
    command(
        "randomkey",
        1,
        READONLY,
        crate::spec::Keys::None,
        RK,
        G,
        "Returns a random key name from the database.",
        randomkey,
    ),
    command(
        "dbsize",
        1,
        READONLY | FAST,
        crate::spec::Keys::None,
        RKF,
        "server",
        "Returns the number of keys in the database.",
        dbsize,
    ),
    command(
        "flushdb",
        -1,
        WRITE,
        crate::spec::Keys::None,
        &["@keyspace", "@write", "@slow", "@dangerous"],
        "server",
        "Remove all keys from the current database.",
        flushdb,
    ),
    command(
        "flushall",
        -1,
        WRITE,
        crate::spec::Keys::None,
        &["@keyspace", "@write", "@slow", "@dangerous"],
        "server",
        "Removes all keys from all databases.",
        flushall,
    ),
    command(
        "object",
        -2,
        READONLY,
        keys(2, 2, 1),
        RK,
        G,
        "A container for object introspection commands.",
        object,
    ),
    command(
        "copy",
        -3,
        WRITE | DENYOOM,
        keys(1, 2, 1),
        WK,
        G,
        "Copies the value of a key to a new key.",
        copy,
    ),
    command(
        "move",
        3,
        WRITE | FAST,
        keys(1, 1, 1),
        WKF,
        G,
        "Moves a key to another database.",
        move_,
    ),
    command(
        "swapdb",
        3,
        WRITE | FAST,
        crate::spec::Keys::None,
        &["@keyspace", "@write", "@fast", "@dangerous"],
        G,
        "Swaps two Redis databases.",
        swapdb,
    ),
    command(
        "dump",
        2,
        READONLY,
        keys(1, 1, 1),
        RK,
        G,
        "Returns a serialized representation of the value stored at a key.",
        dump,
    ),
    command(
        "restore",
        -4,
        WRITE | DENYOOM,
        keys(1, 1, 1),
        &["@keyspace", "@write", "@slow", "@dangerous"],
        G,
        "Creates a key from the serialized representation of a value.",
        restore,
    ),
];

fn op(ctx: &Ctx, op: KeyOp) -> Result<Action, CommandError> {
    Ok(write(ctx, OpKind::Key(op)))
}

fn query(ctx: &Ctx, q: KeyQuery) -> Result<Action, CommandError> {
    Ok(read(ctx, QueryKind::Key(q)))
}

fn del(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    op(ctx, KeyOp::Del { keys: a.to_vec() })
}

fn exists(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    query(ctx, KeyQuery::Exists { keys: a.to_vec() })
}

fn touch(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    query(ctx, KeyQuery::Touch { keys: a.to_vec() })
}

fn type_(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    query(ctx, KeyQuery::Type { key: a[0].clone() })
}

fn rename(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    op(
        ctx,
        KeyOp::Rename {
            src: a[0].clone(),
            dst: a[1].clone(),
            nx: false,
        },
    )
}

fn renamenx(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    op(
        ctx,
        KeyOp::Rename {
            src: a[0].clone(),
            dst: a[1].clone(),
            nx: true,
        },
    )
}

fn expire_generic(
    ctx: &Ctx,
    a: &[Bytes],
    unit_ms: i64,
    absolute: bool,
    name: &str,
) -> Result<Action, CommandError> {
    let amount = int(&a[1])?;
    let mut cond = ExpireCond::default();
    for word in &a[2..] {
        if is(word, "NX") {
            cond.nx = true;
        } else if is(word, "XX") {
            cond.xx = true;
        } else if is(word, "GT") {
            cond.gt = true;
        } else if is(word, "LT") {
            cond.lt = true;
        } else {
            return Err(CommandError::other(format!(
                "ERR Unsupported option {}",
                String::from_utf8_lossy(word)
            )));
        }
    }
    if cond.nx && (cond.xx || cond.gt || cond.lt) {
        return Err(CommandError::other(
            "ERR NX and XX, GT or LT options at the same time are not compatible",
        ));
    }
    if cond.gt && cond.lt {
        return Err(CommandError::other(
            "ERR GT and LT options at the same time are not compatible",
        ));
    }
    let invalid = || CommandError::InvalidExpire(name.to_owned());
    let ms = amount.checked_mul(unit_ms).ok_or_else(invalid)?;
    let at = if absolute {
        ms
    } else {
        ms.checked_add(ctx.now_ms as i64).ok_or_else(invalid)?
    };
    // A time at or before now deletes the key; clamp so it stays a valid u64.
    let at = at.max(0) as u64;
    op(
        ctx,
        KeyOp::Expire {
            key: a[0].clone(),
            at,
            cond,
        },
    )
}

fn expire(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    expire_generic(ctx, a, 1000, false, "expire")
}

fn pexpire(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    expire_generic(ctx, a, 1, false, "pexpire")
}

fn expireat(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    expire_generic(ctx, a, 1000, true, "expireat")
}

fn pexpireat(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    expire_generic(ctx, a, 1, true, "pexpireat")
}

fn persist(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    op(ctx, KeyOp::Persist { key: a[0].clone() })
}

fn ttl_query(ctx: &Ctx, a: &[Bytes], form: TtlForm) -> Result<Action, CommandError> {
    query(
        ctx,
        KeyQuery::Ttl {
            key: a[0].clone(),
            form,
        },
    )
}

fn ttl(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    ttl_query(ctx, a, TtlForm::Seconds)
}

fn pttl(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    ttl_query(ctx, a, TtlForm::Millis)
}

fn expiretime(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    ttl_query(ctx, a, TtlForm::AtSeconds)
}

fn pexpiretime(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    ttl_query(ctx, a, TtlForm::AtMillis)
}

fn keys_(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    query(
        ctx,
        KeyQuery::Keys {
            pattern: a[0].clone(),
        },
    )
}

/// Parses a SCAN-family cursor.
pub(crate) fn cursor(arg: &[u8]) -> Result<u64, CommandError> {
    parse_u64(arg).ok_or_else(|| CommandError::other("ERR invalid cursor"))
}

/// Options shared by SCAN, HSCAN, SSCAN and ZSCAN.
pub(crate) struct ScanOptions {
    /// MATCH pattern.
    pub pattern: Option<Bytes>,
    /// COUNT hint.
    pub count: usize,
    /// TYPE filter (SCAN only).
    pub type_name: Option<Bytes>,
    /// NOVALUES (HSCAN only).
    pub no_values: bool,
}

/// Parses `[MATCH p] [COUNT n] [TYPE t] [NOVALUES]`; `allow_type`/`allow_novalues`
/// say which options the command knows.
pub(crate) fn scan_options(
    a: &[Bytes],
    allow_type: bool,
    allow_novalues: bool,
) -> Result<ScanOptions, CommandError> {
    let mut options = ScanOptions {
        pattern: None,
        count: 10,
        type_name: None,
        no_values: false,
    };
    let mut args = Args::new(a);
    while !args.is_empty() {
        if args.eat("MATCH") {
            let pattern = args.bytes()?;
            options.pattern = (pattern.as_ref() != b"*").then_some(pattern);
        } else if args.eat("COUNT") {
            let count = args.i64()?;
            if count < 1 {
                return Err(CommandError::Syntax);
            }
            options.count = count as usize;
        } else if allow_type && args.eat("TYPE") {
            options.type_name = Some(args.bytes()?);
        } else if allow_novalues && args.eat("NOVALUES") {
            options.no_values = true;
        } else {
            return Err(CommandError::Syntax);
        }
    }
    Ok(options)
}

fn scan(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    let cursor = cursor(&a[0])?;
    let options = scan_options(&a[1..], true, false)?;
    query(
        ctx,
        KeyQuery::Scan {
            cursor,
            pattern: options.pattern,
            count: options.count,
            type_name: options.type_name,
        },
    )
}

fn randomkey(ctx: &Ctx, _a: &[Bytes]) -> Result<Action, CommandError> {
    query(ctx, KeyQuery::RandomKey)
}

fn dbsize(ctx: &Ctx, _a: &[Bytes]) -> Result<Action, CommandError> {
    query(ctx, KeyQuery::DbSize)
}

fn flush_mode(a: &[Bytes]) -> Result<(), CommandError> {
    match a {
        [] => Ok(()),
        [mode] if is(mode, "ASYNC") || is(mode, "SYNC") => Ok(()),
        _ => Err(CommandError::Syntax),
    }
}

fn flushdb(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    flush_mode(a)?;
    op(ctx, KeyOp::FlushDb)
}

fn flushall(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    flush_mode(a)?;
    op(ctx, KeyOp::FlushAll)
}

fn object(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    let sub = &a[0];
    if is(sub, "HELP") {
        let lines = [
            "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "ENCODING <key>",
            "    Return the kind of internal representation used in order to store the value",
            "    associated with a <key>.",
            "FREQ <key>",
            "    Return the access frequency index of the <key>. (not tracked by okapi)",
            "IDLETIME <key>",
            "    Return the idle time of the <key>, that is the approximated number of",
            "    seconds elapsed since the last access to the key.",
            "REFCOUNT <key>",
            "    Return the number of references of the value associated with the specified",
            "    <key>.",
            "HELP",
            "    Print this help.",
        ];
        return Ok(Action::Reply(okapi_engine::Reply::Array(
            lines
                .iter()
                .map(|l| okapi_engine::Reply::Status(l))
                .collect(),
        )));
    }
    let [_, key] = a else {
        return Err(CommandError::UnknownSubcommand {
            command: "OBJECT".into(),
            sub: String::from_utf8_lossy(sub).into_owned(),
        });
    };
    let key = key.clone();
    let q = match sub.to_ascii_lowercase().as_slice() {
        b"encoding" => KeyQuery::ObjectEncoding { key },
        b"idletime" => KeyQuery::ObjectIdleTime { key },
        b"refcount" => KeyQuery::ObjectRefCount { key },
        b"freq" => KeyQuery::ObjectFreq { key },
        _ => {
            return Err(CommandError::UnknownSubcommand {
                command: "OBJECT".into(),
                sub: String::from_utf8_lossy(sub).into_owned(),
            });
        }
    };
    query(ctx, q)
}

/// Parses a database number argument against the configured count.
pub(crate) fn db_index(ctx: &Ctx, arg: &[u8]) -> Result<Namespace, CommandError> {
    let n =
        int(arg).map_err(|_| CommandError::other("ERR value is not an integer or out of range"))?;
    if n < 0 || n >= i64::from(ctx.databases) {
        return Err(okapi_engine::EngineError::DbIndexOutOfRange.into());
    }
    Ok(Namespace(n as u32))
}

fn copy(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    let mut args = Args::new(&a[2..]);
    let (mut dst_db, mut replace) = (ctx.db, false);
    while !args.is_empty() {
        if args.eat("REPLACE") {
            replace = true;
        } else if args.eat("DB") {
            dst_db = db_index(ctx, args.next_arg()?)?;
        } else {
            return Err(CommandError::Syntax);
        }
    }
    op(
        ctx,
        KeyOp::Copy {
            src: a[0].clone(),
            dst: a[1].clone(),
            dst_db,
            replace,
        },
    )
}

/// SWAPDB index1 index2: a C int each, then the range check, as Redis.
fn swapdb(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    let index = |arg: &[u8], which: &str| {
        int(arg)
            .ok()
            .filter(|n| i32::try_from(*n).is_ok())
            .ok_or_else(|| CommandError::other(format!("ERR invalid {which} DB index")))
    };
    let (first, second) = (index(&a[0], "first")?, index(&a[1], "second")?);
    let range = 0..i64::from(ctx.databases);
    if !range.contains(&first) || !range.contains(&second) {
        return Err(okapi_engine::EngineError::DbIndexOutOfRange.into());
    }
    Ok(Action::Write(okapi_engine::Op {
        db: Namespace(first as u32),
        kind: OpKind::Key(KeyOp::SwapDb {
            other: Namespace(second as u32),
        }),
    }))
}

fn dump(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    Ok(read(
        ctx,
        QueryKind::Key(KeyQuery::Dump { key: a[0].clone() }),
    ))
}

/// RESTORE key ttl payload [REPLACE] [ABSTTL] [IDLETIME seconds] [FREQ frequency]:
/// options first, then (at apply) BUSYKEY, the TTL, the payload — Redis's order.
/// FREQ is checked and then has no effect, as in Redis without an LFU policy.
fn restore(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    let (mut replace, mut absttl) = (false, false);
    let (mut idle_secs, mut freq) = (None, None);
    let mut j = 3;
    while j < a.len() {
        let more = a.len() - j - 1;
        if is(&a[j], "REPLACE") {
            replace = true;
        } else if is(&a[j], "ABSTTL") {
            absttl = true;
        } else if is(&a[j], "IDLETIME") && more >= 1 && freq.is_none() {
            let n = okapi_types::num::parse_i64(&a[j + 1]).ok_or(CommandError::NotInteger)?;
            if n < 0 {
                return Err(CommandError::other(
                    "ERR Invalid IDLETIME value, must be >= 0",
                ));
            }
            idle_secs = Some(n as u64);
            j += 1;
        } else if is(&a[j], "FREQ") && more >= 1 && idle_secs.is_none() {
            let n = okapi_types::num::parse_i64(&a[j + 1]).ok_or(CommandError::NotInteger)?;
            if !(0..=255).contains(&n) {
                return Err(CommandError::other(
                    "ERR Invalid FREQ value, must be >= 0 and <= 255",
                ));
            }
            freq = Some(n);
            j += 1;
        } else {
            return Err(CommandError::Syntax);
        }
        j += 1;
    }
    let (ttl, error) = match okapi_types::num::parse_i64(&a[1]) {
        None => (0, Some(okapi_engine::EngineError::NotInteger)),
        Some(t) if t < 0 => (
            0,
            Some(okapi_engine::EngineError::Other(
                "ERR Invalid TTL value, must be >= 0".into(),
            )),
        ),
        Some(t) => (t, None),
    };
    op(
        ctx,
        KeyOp::Restore {
            key: a[0].clone(),
            payload: a[2].clone(),
            ttl,
            absttl,
            replace,
            idle_secs,
            error,
        },
    )
}

fn move_(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    let dst_db = db_index(ctx, &a[1])?;
    op(
        ctx,
        KeyOp::Move {
            key: a[0].clone(),
            dst_db,
        },
    )
}
