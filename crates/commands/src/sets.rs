//! Set commands.

use bytes::Bytes;
use okapi_engine::sets::{SetAlgebra, SetOp, SetQuery};
use okapi_engine::{OpKind, QueryKind};
use okapi_types::num::parse_i64;

use crate::action::Action;
use crate::args::Args;
use crate::error::CommandError;
use crate::hashes::{deferred_scan_options, random_count};
use crate::keys::cursor;
use crate::spec::flags::*;
use crate::spec::{CommandSpec, Ctx, Keys, command, keys};
use crate::{read, write};

const G: &str = "set";
const WF: &[&str] = &["@write", "@set", "@fast"];
const WS: &[&str] = &["@write", "@set", "@slow"];
const RF: &[&str] = &["@read", "@set", "@fast"];
const RS: &[&str] = &["@read", "@set", "@slow"];

/// Set commands.
pub const COMMANDS: &[CommandSpec] = &[
    command(
        "sadd",
        -3,
        WRITE | DENYOOM | FAST,
        keys(1, 1, 1),
        WF,
        G,
        "Adds one or more members to a set. Creates the key if it doesn't exist.",
        sadd,
    ),
    command(
        "srem",
        -3,
        WRITE | FAST,
        keys(1, 1, 1),
        WF,
        G,
        "Removes one or more members from a set. Deletes the set if the last member was removed.",
        srem,
    ),
    command(
        "smembers",
        2,
        READONLY,
        keys(1, 1, 1),
        RS,
        G,
        "Returns all members of a set.",
        smembers,
    ),
    command(
        "sismember",
        3,
        READONLY | FAST,
        keys(1, 1, 1),
        RF,
        G,
        "Determines whether a member belongs to a set.",
        sismember,
    ),
    command(
        "smismember",
        -3,
        READONLY | FAST,
        keys(1, 1, 1),
        RF,
        G,
        "Determines whether multiple members belong to a set.",
        smismember,
    ),
    command(
        "scard",
        2,
        READONLY | FAST,
        keys(1, 1, 1),
        RF,
        G,
        "Returns the number of members in a set.",
        scard,
    ),
    command(
        "spop",
        -2,
        WRITE | FAST,
        keys(1, 1, 1),
        WF,
        G,
        "Returns one or more random members from a set after removing them. Deletes the set if the last member was popped.",
        spop,
    ),
    command(
        "srandmember",
        -2,
        READONLY,
        keys(1, 1, 1),
        RS,
        G,
        "Get one or multiple random members from a set",
        srandmember,
    ),
    command(
        "smove",
        4,
        WRITE | FAST,
        keys(1, 2, 1),
        WF,
        G,
        "Moves a member from one set to another.",
        smove,
    ),
    command(
        "sinter",
        -2,
        READONLY,
        keys(1, -1, 1),
        RS,
        G,
        "Returns the intersect of multiple sets.",
        sinter,
    ),
    command(
        "sintercard",
        -3,
        READONLY | MOVABLE_KEYS,
        Keys::Custom(sintercard_keys),
        RS,
        G,
        "Returns the number of members of the intersect of multiple sets.",
        sintercard,
    ),
    command(
        "sinterstore",
        -3,
        WRITE | DENYOOM,
        keys(1, -1, 1),
        WS,
        G,
        "Stores the intersect of multiple sets in a key.",
        sinterstore,
    ),
    command(
        "sunion",
        -2,
        READONLY,
        keys(1, -1, 1),
        RS,
        G,
        "Returns the union of multiple sets.",
        sunion,
    ),
    command(
        "sunionstore",
        -3,
        WRITE | DENYOOM,
        keys(1, -1, 1),
        WS,
        G,
        "Stores the union of multiple sets in a key.",
        sunionstore,
    ),
    command(
        "sdiff",
        -2,
        READONLY,
        keys(1, -1, 1),
        RS,
        G,
        "Returns the difference of multiple sets.",
        sdiff,
    ),
    command(
        "sdiffstore",
        -3,
        WRITE | DENYOOM,
        keys(1, -1, 1),
        WS,
        G,
        "Stores the difference of multiple sets in a key.",
        sdiffstore,
    ),
    command(
        "sscan",
        -3,
        READONLY,
        keys(1, 1, 1),
        RS,
        G,
        "Iterates over members of a set.",
        sscan,
    ),
];

fn op(ctx: &Ctx, op: SetOp) -> Result<Action, CommandError> {
    Ok(write(ctx, OpKind::Set(op)))
}

fn query(ctx: &Ctx, q: SetQuery) -> Result<Action, CommandError> {
    Ok(read(ctx, QueryKind::Set(q)))
}

fn sadd(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    op(
        ctx,
        SetOp::Add {
            key: a[0].clone(),
            members: a[1..].to_vec(),
        },
    )
}

fn srem(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    op(
        ctx,
        SetOp::Rem {
            key: a[0].clone(),
            members: a[1..].to_vec(),
        },
    )
}

fn smembers(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    query(ctx, SetQuery::Members { key: a[0].clone() })
}

fn sismember(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    query(
        ctx,
        SetQuery::IsMember {
            key: a[0].clone(),
            member: a[1].clone(),
        },
    )
}

fn smismember(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    query(
        ctx,
        SetQuery::MIsMember {
            key: a[0].clone(),
            members: a[1..].to_vec(),
        },
    )
}

fn scard(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    query(ctx, SetQuery::Card { key: a[0].clone() })
}

fn spop(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    let count = match &a[1..] {
        [] => None,
        // Redis gives the same error for a negative count and for no integer at all.
        [count] => Some(
            parse_i64(count)
                .filter(|&n| n >= 0)
                .ok_or_else(|| CommandError::other("ERR value is out of range, must be positive"))?
                as u64,
        ),
        _ => return Err(CommandError::Syntax),
    };
    op(
        ctx,
        SetOp::Pop {
            key: a[0].clone(),
            count,
            seed: ctx.random,
        },
    )
}

fn srandmember(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    let count = match &a[1..] {
        [] => None,
        [count] => Some(random_count(count)?),
        _ => return Err(CommandError::Syntax),
    };
    query(
        ctx,
        SetQuery::RandMember {
            key: a[0].clone(),
            count,
        },
    )
}

fn smove(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    op(
        ctx,
        SetOp::Move {
            src: a[0].clone(),
            dst: a[1].clone(),
            member: a[2].clone(),
        },
    )
}

fn combine(ctx: &Ctx, a: &[Bytes], algebra: SetAlgebra) -> Result<Action, CommandError> {
    query(
        ctx,
        SetQuery::Combine {
            keys: a.to_vec(),
            algebra,
        },
    )
}

fn store(ctx: &Ctx, a: &[Bytes], algebra: SetAlgebra) -> Result<Action, CommandError> {
    op(
        ctx,
        SetOp::Store {
            dst: a[0].clone(),
            keys: a[1..].to_vec(),
            algebra,
        },
    )
}

fn sinter(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    combine(ctx, a, SetAlgebra::Inter)
}

fn sunion(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    combine(ctx, a, SetAlgebra::Union)
}

fn sdiff(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    combine(ctx, a, SetAlgebra::Diff)
}

fn sinterstore(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    store(ctx, a, SetAlgebra::Inter)
}

fn sunionstore(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    store(ctx, a, SetAlgebra::Union)
}

fn sdiffstore(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    store(ctx, a, SetAlgebra::Diff)
}

/// SINTERCARD's numkeys: positive, and no more than the arguments after it.
fn numkeys(a: &[Bytes]) -> Result<usize, CommandError> {
    let n = a
        .first()
        .and_then(|n| parse_i64(n))
        .filter(|&n| n >= 1)
        .ok_or_else(|| CommandError::other("ERR numkeys should be greater than 0"))?;
    if n > (a.len() - 1) as i64 {
        return Err(CommandError::other(
            "ERR Number of keys can't be greater than number of args",
        ));
    }
    Ok(n as usize)
}

/// Key positions of SINTERCARD (`argv` includes the name): the `numkeys` arguments after
/// numkeys, none when numkeys is invalid.
fn sintercard_keys(argv: &[Bytes]) -> Vec<usize> {
    match argv.get(1..).map(numkeys) {
        Some(Ok(n)) => (2..2 + n).collect(),
        _ => Vec::new(),
    }
}

fn sintercard(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    let n = numkeys(a)?;
    let mut limit = 0;
    let mut args = Args::new(&a[1 + n..]);
    while !args.is_empty() {
        if args.remaining() >= 2 && args.eat("LIMIT") {
            limit = parse_i64(args.next_arg()?)
                .filter(|&l| l >= 0)
                .ok_or_else(|| CommandError::other("ERR LIMIT can't be negative"))?
                as u64;
        } else {
            return Err(CommandError::Syntax);
        }
    }
    query(
        ctx,
        SetQuery::InterCard {
            keys: a[1..1 + n].to_vec(),
            limit,
        },
    )
}

fn sscan(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    let cursor = cursor(&a[1])?;
    let (options, error) = deferred_scan_options(&a[2..], false);
    query(
        ctx,
        SetQuery::Scan {
            key: a[0].clone(),
            cursor,
            pattern: options.pattern,
            count: options.count,
            error,
        },
    )
}

#[cfg(test)]
mod tests {
    use okapi_types::Namespace;

    use super::*;

    fn args(words: &[&str]) -> Vec<Bytes> {
        words
            .iter()
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect()
    }

    fn ctx() -> Ctx {
        Ctx {
            db: Namespace(0),
            now_ms: 0,
            random: 42,
            databases: 16,
            sharded: false,
        }
    }

    fn error_text(result: Result<Action, CommandError>) -> String {
        match result {
            Ok(action) => panic!("parsed: {action:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn sintercard_keys_follow_numkeys() {
        let argv = args(&["SINTERCARD", "2", "a", "b", "LIMIT", "3"]);
        assert_eq!(sintercard_keys(&argv), vec![2, 3]);
        for bad in [
            &["SINTERCARD"][..],
            &["SINTERCARD", "0", "a"],
            &["SINTERCARD", "x", "a"],
            &["SINTERCARD", "3", "a", "b"],
        ] {
            assert!(sintercard_keys(&args(bad)).is_empty(), "{bad:?}");
        }
    }

    #[test]
    fn spop_carries_the_leader_seed() {
        let Ok(Action::Write(op)) = spop(&ctx(), &args(&["s", "3"])) else {
            panic!("a write");
        };
        assert_eq!(
            op.kind,
            OpKind::Set(SetOp::Pop {
                key: Bytes::from_static(b"s"),
                count: Some(3),
                seed: 42,
            })
        );
    }

    #[test]
    fn sscan_defers_option_errors_to_the_lookup_and_orders_novalues() {
        let Ok(Action::Read(query)) = sscan(&ctx(), &args(&["s", "0", "COUNT", "0"])) else {
            panic!("a read");
        };
        let QueryKind::Set(SetQuery::Scan { error, .. }) = query.kind else {
            panic!("an SSCAN");
        };
        assert_eq!(error, Some(okapi_engine::EngineError::Syntax));
        let scan_error = |words: &[&str]| {
            let Ok(Action::Read(query)) = sscan(&ctx(), &args(words)) else {
                panic!("a read");
            };
            match query.kind {
                QueryKind::Set(SetQuery::Scan { error, .. }) => error.map(|e| e.to_string()),
                other => panic!("not an SSCAN: {other:?}"),
            }
        };
        assert_eq!(
            scan_error(&["s", "0", "NOVALUES", "COUNT", "x"]).as_deref(),
            Some("ERR NOVALUES option can only be used in HSCAN")
        );
        assert_eq!(
            scan_error(&["s", "0", "COUNT", "x", "NOVALUES"]).as_deref(),
            Some("ERR value is not an integer or out of range")
        );
        assert_eq!(scan_error(&["s", "0", "MATCH", "NOVALUES"]), None);
        assert_eq!(
            error_text(sscan(&ctx(), &args(&["s", "x"]))),
            "ERR invalid cursor"
        );
    }

    #[test]
    fn counts_give_redis_errors() {
        assert_eq!(
            error_text(spop(&ctx(), &args(&["s", "x"]))),
            "ERR value is out of range, must be positive"
        );
        assert_eq!(
            error_text(srandmember(&ctx(), &args(&["s", "-9223372036854775808"]))),
            "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807"
        );
        assert_eq!(
            error_text(sintercard(&ctx(), &args(&["1", "a", "LIMIT", "-2"]))),
            "ERR LIMIT can't be negative"
        );
    }
}
