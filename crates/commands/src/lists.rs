//! List commands, blocking ones included. Argument checks follow Redis 7's order and
//! texts: some errors (LINDEX and LSET's index) only show once the key was found, so
//! those parsers hand the engine an index it may still reject.

use bytes::Bytes;
use okapi_engine::lists::{End, ListOp, ListQuery};
use okapi_engine::{Op, OpKind, QueryKind};
use okapi_types::num::parse_i64;

use crate::action::{Action, Attempt, Blocking};
use crate::args::{Args, int, is, timeout_secs};
use crate::error::CommandError;
use crate::spec::flags::*;
use crate::spec::{CommandSpec, Ctx, Keys, command, keys};
use crate::{read, write};

const G: &str = "list";
const WF: &[&str] = &["@write", "@list", "@fast"];
const WS: &[&str] = &["@write", "@list", "@slow"];
const RF: &[&str] = &["@read", "@list", "@fast"];
const RS: &[&str] = &["@read", "@list", "@slow"];
const WB: &[&str] = &["@write", "@list", "@slow", "@blocking"];

/// List commands.
pub const COMMANDS: &[CommandSpec] = &[
    command(
        "lpush",
        -3,
        WRITE | DENYOOM | FAST,
        keys(1, 1, 1),
        WF,
        G,
        "Prepends one or more elements to a list. Creates the key if it doesn't exist.",
        lpush,
    ),
    command(
        "rpush",
        -3,
        WRITE | DENYOOM | FAST,
        keys(1, 1, 1),
        WF,
        G,
        "Appends one or more elements to a list. Creates the key if it doesn't exist.",
        rpush,
    ),
    command(
        "lpushx",
        -3,
        WRITE | DENYOOM | FAST,
        keys(1, 1, 1),
        WF,
        G,
        "Prepends one or more elements to a list only when the list exists.",
        lpushx,
    ),
    command(
        "rpushx",
        -3,
        WRITE | DENYOOM | FAST,
        keys(1, 1, 1),
        WF,
        G,
        "Appends an element to a list only when the list exists.",
        rpushx,
    ),
    command(
        "lpop",
        -2,
        WRITE | FAST,
        keys(1, 1, 1),
        WF,
        G,
        "Returns the first elements in a list after removing it. Deletes the list if the last element was popped.",
        lpop,
    ),
    command(
        "rpop",
        -2,
        WRITE | FAST,
        keys(1, 1, 1),
        WF,
        G,
        "Returns and removes the last elements of the list. Deletes the list if the last element was popped.",
        rpop,
    ),
    command(
        "llen",
        2,
        READONLY | FAST,
        keys(1, 1, 1),
        RF,
        G,
        "Returns the length of a list.",
        llen,
    ),
    command(
        "lrange",
        4,
        READONLY,
        keys(1, 1, 1),
        RS,
        G,
        "Returns a range of elements from a list.",
        lrange,
    ),
    command(
        "lindex",
        3,
        READONLY,
        keys(1, 1, 1),
        RS,
        G,
        "Returns an element from a list by its index.",
        lindex,
    ),
    command(
        "lset",
        4,
        WRITE | DENYOOM,
        keys(1, 1, 1),
        WS,
        G,
        "Sets the value of an element in a list by its index.",
        lset,
    ),
    command(
        "linsert",
        5,
        WRITE | DENYOOM,
        keys(1, 1, 1),
        WS,
        G,
        "Inserts an element before or after another element in a list.",
        linsert,
    ),
    command(
        "lrem",
        4,
        WRITE,
        keys(1, 1, 1),
        WS,
        G,
        "Removes elements from a list. Deletes the list if the last element was removed.",
        lrem,
    ),
    command(
        "ltrim",
        4,
        WRITE,
        keys(1, 1, 1),
        WS,
        G,
        "Removes elements from both ends a list. Deletes the list if all elements were trimmed.",
        ltrim,
    ),
    command(
        "lpos",
        -3,
        READONLY,
        keys(1, 1, 1),
        RS,
        G,
        "Returns the index of matching elements in a list.",
        lpos,
    ),
    command(
        "lmove",
        5,
        WRITE | DENYOOM,
        keys(1, 2, 1),
        WS,
        G,
        "Returns an element after popping it from one list and pushing it to another. Deletes the list if the last element was moved.",
        lmove,
    ),
    command(
        "rpoplpush",
        3,
        WRITE | DENYOOM,
        keys(1, 2, 1),
        WS,
        G,
        "Returns the last element of a list after removing and pushing it to another list. Deletes the list if the last element was popped.",
        rpoplpush,
    ),
    command(
        "lmpop",
        -4,
        WRITE | MOVABLE_KEYS,
        Keys::Custom(lmpop_keys),
        WS,
        G,
        "Returns multiple elements from a list after removing them. Deletes the list if the last element was popped.",
        lmpop,
    ),
    command(
        "blpop",
        -3,
        WRITE | NOSCRIPT | BLOCKING,
        keys(1, -2, 1),
        WB,
        G,
        "Removes and returns the first element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped.",
        blpop,
    ),
    command(
        "brpop",
        -3,
        WRITE | NOSCRIPT | BLOCKING,
        keys(1, -2, 1),
        WB,
        G,
        "Removes and returns the last element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped.",
        brpop,
    ),
    command(
        "blmove",
        6,
        WRITE | DENYOOM | NOSCRIPT | BLOCKING,
        keys(1, 2, 1),
        WB,
        G,
        "Pops an element from a list, pushes it to another list and returns it. Blocks until an element is available otherwise. Deletes the list if the last element was moved.",
        blmove,
    ),
    command(
        "brpoplpush",
        4,
        WRITE | DENYOOM | NOSCRIPT | BLOCKING,
        keys(1, 2, 1),
        WB,
        G,
        "Pops an element from a list, pushes it to another list and returns it. Block until an element is available otherwise. Deletes the list if the last element was popped.",
        brpoplpush,
    ),
    command(
        "blmpop",
        -5,
        WRITE | BLOCKING | MOVABLE_KEYS,
        Keys::Custom(blmpop_keys),
        WB,
        G,
        "Pops the first element from one of multiple lists. Blocks until an element is available otherwise. Deletes the list if the last element was popped.",
        blmpop,
    ),
];

fn op(ctx: &Ctx, op: ListOp) -> Result<Action, CommandError> {
    Ok(write(ctx, OpKind::List(op)))
}

fn query(ctx: &Ctx, q: ListQuery) -> Result<Action, CommandError> {
    Ok(read(ctx, QueryKind::List(q)))
}

/// A blocking command: `op` is tried at once and again whenever one of `keys` gains
/// data.
fn block(
    ctx: &Ctx,
    keys: &[Bytes],
    timeout_ms: Option<u64>,
    op: ListOp,
) -> Result<Action, CommandError> {
    // A key named twice (BLPOP k k 0) is waited on once, as Redis does.
    let mut unique: Vec<Bytes> = Vec::with_capacity(keys.len());
    for key in keys {
        if !unique.contains(key) {
            unique.push(key.clone());
        }
    }
    Ok(Action::Block(Box::new(Blocking {
        db: ctx.db,
        keys: unique,
        timeout_ms,
        attempt: Attempt::Write(Op {
            db: ctx.db,
            kind: OpKind::List(op.clone()),
        }),
        wait: okapi_engine::Wait::Data(Op {
            db: ctx.db,
            kind: OpKind::List(op),
        }),
    })))
}

/// LEFT or RIGHT.
fn end_arg(arg: &[u8]) -> Result<End, CommandError> {
    if is(arg, "LEFT") {
        Ok(End::Left)
    } else if is(arg, "RIGHT") {
        Ok(End::Right)
    } else {
        Err(CommandError::Syntax)
    }
}

/// A non-negative count; Redis gives one message for both a non-number and a
/// negative number.
fn positive(arg: &[u8], message: &str) -> Result<u64, CommandError> {
    parse_i64(arg)
        .and_then(|n| u64::try_from(n).ok())
        .ok_or_else(|| CommandError::other(message))
}

/// A count of at least 1 (LMPOP's numkeys and COUNT).
fn at_least_one(arg: &[u8], message: &str) -> Result<u64, CommandError> {
    Some(positive(arg, message)?)
        .filter(|&n| n >= 1)
        .ok_or_else(|| CommandError::other(message))
}

fn push(ctx: &Ctx, a: &[Bytes], end: End, existing_only: bool) -> Result<Action, CommandError> {
    op(
        ctx,
        ListOp::Push {
            key: a[0].clone(),
            end,
            elements: a[1..].to_vec(),
            existing_only,
        },
    )
}

fn lpush(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    push(ctx, a, End::Left, false)
}

fn rpush(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    push(ctx, a, End::Right, false)
}

fn lpushx(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    push(ctx, a, End::Left, true)
}

fn rpushx(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    push(ctx, a, End::Right, true)
}

fn pop(ctx: &Ctx, a: &[Bytes], end: End, name: &str) -> Result<Action, CommandError> {
    if a.len() > 2 {
        return Err(CommandError::WrongArity(name.to_owned()));
    }
    let count = a
        .get(1)
        .map(|c| positive(c, "ERR value is out of range, must be positive"))
        .transpose()?;
    op(
        ctx,
        ListOp::Pop {
            key: a[0].clone(),
            end,
            count,
        },
    )
}

fn lpop(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    pop(ctx, a, End::Left, "lpop")
}

fn rpop(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    pop(ctx, a, End::Right, "rpop")
}

fn llen(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    query(ctx, ListQuery::Len { key: a[0].clone() })
}

fn lrange(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    query(
        ctx,
        ListQuery::Range {
            key: a[0].clone(),
            start: int(&a[1])?,
            stop: int(&a[2])?,
        },
    )
}

fn lindex(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    query(
        ctx,
        ListQuery::Index {
            key: a[0].clone(),
            index: parse_i64(&a[1]),
        },
    )
}

fn lset(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    op(
        ctx,
        ListOp::Set {
            key: a[0].clone(),
            index: parse_i64(&a[1]),
            element: a[2].clone(),
        },
    )
}

fn linsert(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    let after = if is(&a[1], "AFTER") {
        true
    } else if is(&a[1], "BEFORE") {
        false
    } else {
        return Err(CommandError::Syntax);
    };
    op(
        ctx,
        ListOp::Insert {
            key: a[0].clone(),
            after,
            pivot: a[2].clone(),
            element: a[3].clone(),
        },
    )
}

fn lrem(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    op(
        ctx,
        ListOp::Rem {
            key: a[0].clone(),
            count: int(&a[1])?,
            element: a[2].clone(),
        },
    )
}

fn ltrim(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    op(
        ctx,
        ListOp::Trim {
            key: a[0].clone(),
            start: int(&a[1])?,
            stop: int(&a[2])?,
        },
    )
}

fn lpos(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    let (mut rank, mut count, mut maxlen) = (1, None, 0);
    let mut args = Args::new(&a[2..]);
    while let Ok(word) = args.next_arg() {
        // An option needs its value; a bare option word is a syntax error.
        if args.is_empty() {
            return Err(CommandError::Syntax);
        }
        if is(word, "RANK") {
            rank = args.i64()?;
            if rank == i64::MIN {
                return Err(CommandError::other(format!(
                    "ERR value is out of range, value must between {} and {}",
                    -i64::MAX,
                    i64::MAX
                )));
            }
            if rank == 0 {
                return Err(CommandError::other(
                    "ERR RANK can't be zero: use 1 to start from the first match, 2 from the \
                     second ... or use negative to start from the end of the list",
                ));
            }
        } else if is(word, "COUNT") {
            count = Some(positive(args.next_arg()?, "ERR COUNT can't be negative")?);
        } else if is(word, "MAXLEN") {
            maxlen = positive(args.next_arg()?, "ERR MAXLEN can't be negative")?;
        } else {
            return Err(CommandError::Syntax);
        }
    }
    query(
        ctx,
        ListQuery::Pos {
            key: a[0].clone(),
            element: a[1].clone(),
            rank,
            count,
            maxlen,
        },
    )
}

fn lmove(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    op(ctx, move_op(a, end_arg(&a[2])?, end_arg(&a[3])?))
}

fn rpoplpush(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    op(ctx, move_op(a, End::Right, End::Left))
}

fn move_op(a: &[Bytes], from: End, to: End) -> ListOp {
    ListOp::Move {
        src: a[0].clone(),
        dst: a[1].clone(),
        from,
        to,
    }
}

/// The arguments LMPOP and BLMPOP share: `numkeys key [key ...] LEFT|RIGHT [COUNT n]`,
/// parsed into the op that pops.
fn mpop_op(a: &[Bytes]) -> Result<ListOp, CommandError> {
    let (keys, end, count) = mpop_args(a)?;
    Ok(ListOp::MPop { keys, end, count })
}

/// `numkeys key [key ...] LEFT|RIGHT [COUNT n]` as keys, end and count.
fn mpop_args(a: &[Bytes]) -> Result<(Vec<Bytes>, End, u64), CommandError> {
    let numkeys = at_least_one(&a[0], "ERR numkeys should be greater than 0")?;
    let where_at = usize::try_from(numkeys)
        .ok()
        .and_then(|n| n.checked_add(1))
        .filter(|&i| i < a.len())
        .ok_or(CommandError::Syntax)?;
    let end = end_arg(&a[where_at])?;
    let mut count = None;
    let mut args = Args::new(&a[where_at + 1..]);
    while let Ok(word) = args.next_arg() {
        if count.is_none() && is(word, "COUNT") && !args.is_empty() {
            count = Some(at_least_one(
                args.next_arg()?,
                "ERR count should be greater than 0",
            )?);
        } else {
            return Err(CommandError::Syntax);
        }
    }
    Ok((a[1..where_at].to_vec(), end, count.unwrap_or(1)))
}

fn lmpop(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    op(ctx, mpop_op(a)?)
}

/// Key positions of `numkeys key [key ...]` starting at `at` in `argv` (name at 0);
/// none when numkeys is malformed.
pub(crate) fn numkeys_positions(argv: &[Bytes], at: usize) -> Vec<usize> {
    let Some(n) = argv
        .get(at)
        .and_then(|n| parse_i64(n))
        .and_then(|n| usize::try_from(n).ok())
    else {
        return Vec::new();
    };
    let first = at + 1;
    if n == 0 || n > argv.len().saturating_sub(first) {
        return Vec::new();
    }
    (first..first + n).collect()
}

fn lmpop_keys(argv: &[Bytes]) -> Vec<usize> {
    numkeys_positions(argv, 1)
}

fn blmpop_keys(argv: &[Bytes]) -> Vec<usize> {
    numkeys_positions(argv, 2)
}

fn bpop(ctx: &Ctx, a: &[Bytes], end: End) -> Result<Action, CommandError> {
    let (keys, timeout) = a.split_at(a.len() - 1);
    let timeout_ms = timeout_secs(&timeout[0])?;
    block(
        ctx,
        keys,
        timeout_ms,
        ListOp::PopFirst {
            keys: keys.to_vec(),
            end,
        },
    )
}

fn blpop(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    bpop(ctx, a, End::Left)
}

fn brpop(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    bpop(ctx, a, End::Right)
}

fn blmove(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    let (from, to) = (end_arg(&a[2])?, end_arg(&a[3])?);
    let timeout_ms = timeout_secs(&a[4])?;
    // Only the source can feed the client; the destination is not waited on.
    block(ctx, &a[..1], timeout_ms, move_op(a, from, to))
}

fn brpoplpush(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    let timeout_ms = timeout_secs(&a[2])?;
    block(ctx, &a[..1], timeout_ms, move_op(a, End::Right, End::Left))
}

fn blmpop(ctx: &Ctx, a: &[Bytes]) -> Result<Action, CommandError> {
    // Redis reads the timeout last, after numkeys, the keys and the options.
    let (keys, end, count) = mpop_args(&a[1..])?;
    let timeout_ms = timeout_secs(&a[0])?;
    block(
        ctx,
        &keys.clone(),
        timeout_ms,
        ListOp::MPop { keys, end, count },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use okapi_engine::Query;
    use okapi_types::Namespace;

    fn ctx() -> Ctx {
        Ctx {
            db: Namespace(0),
            now_ms: 0,
            random: 0,
            databases: 16,
            sharded: false,
        }
    }

    fn argv(args: &str) -> Vec<Bytes> {
        args.split_whitespace()
            .map(|a| Bytes::copy_from_slice(a.as_bytes()))
            .collect()
    }

    fn parse(args: &str) -> Result<Action, CommandError> {
        crate::spec::parse(&ctx(), &argv(args)).map(|(_, action)| action)
    }

    fn error(args: &str) -> String {
        match parse(args) {
            Ok(action) => panic!("{args} parsed as {action:?}"),
            Err(e) => e.to_string(),
        }
    }

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    #[test]
    fn pop_count_must_be_a_non_negative_integer() {
        let positive = "ERR value is out of range, must be positive";
        assert_eq!(error("LPOP k -1"), positive);
        assert_eq!(error("RPOP k abc"), positive);
        assert_eq!(
            error("LPOP k 1 1"),
            "ERR wrong number of arguments for 'lpop' command"
        );
        assert_eq!(
            error("LPOP"),
            "ERR wrong number of arguments for 'lpop' command"
        );
        assert_eq!(
            parse("RPOP k 0").expect("count 0"),
            Action::Write(Op {
                db: Namespace(0),
                kind: OpKind::List(ListOp::Pop {
                    key: b("k"),
                    end: End::Right,
                    count: Some(0),
                }),
            })
        );
    }

    #[test]
    fn lindex_defers_a_bad_index_to_the_engine() {
        assert_eq!(
            parse("LINDEX k abc").expect("parses"),
            Action::Read(Query {
                db: Namespace(0),
                kind: QueryKind::List(ListQuery::Index {
                    key: b("k"),
                    index: None,
                }),
            })
        );
        assert_eq!(
            error("LRANGE k a 1"),
            "ERR value is not an integer or out of range"
        );
    }

    #[test]
    fn lpos_options_follow_redis_errors() {
        assert!(error("LPOS k e RANK 0").starts_with("ERR RANK can't be zero: use 1"));
        assert_eq!(
            error("LPOS k e RANK -9223372036854775808"),
            "ERR value is out of range, value must between -9223372036854775807 and \
             9223372036854775807"
        );
        assert_eq!(
            error("LPOS k e RANK x"),
            "ERR value is not an integer or out of range"
        );
        assert_eq!(error("LPOS k e COUNT -1"), "ERR COUNT can't be negative");
        assert_eq!(error("LPOS k e COUNT x"), "ERR COUNT can't be negative");
        assert_eq!(error("LPOS k e MAXLEN -1"), "ERR MAXLEN can't be negative");
        assert_eq!(error("LPOS k e RANK"), "ERR syntax error");
        assert_eq!(error("LPOS k e FOO 1"), "ERR syntax error");
        let Ok(Action::Read(q)) = parse("LPOS k e RANK -2 COUNT 0 MAXLEN 5 rank 3") else {
            panic!("lpos parses");
        };
        assert_eq!(
            q.kind,
            QueryKind::List(ListQuery::Pos {
                key: b("k"),
                element: b("e"),
                rank: 3,
                count: Some(0),
                maxlen: 5,
            })
        );
    }

    #[test]
    fn lmpop_arguments_follow_redis_errors() {
        let arity = "ERR wrong number of arguments for 'lmpop' command";
        assert_eq!(error("LMPOP"), arity);
        assert_eq!(error("LMPOP 1"), arity);
        assert_eq!(error("LMPOP 1 l"), arity);
        let numkeys = "ERR numkeys should be greater than 0";
        assert_eq!(error("LMPOP 0 l LEFT"), numkeys);
        assert_eq!(error("LMPOP a l LEFT"), numkeys);
        assert_eq!(error("LMPOP -1 l RIGHT"), numkeys);
        for bad in [
            "LMPOP 1 l bad_where",
            "LMPOP 1 l LEFT bar_arg",
            "LMPOP 1 l RIGHT LEFT",
            "LMPOP 1 l COUNT",
            "LMPOP 1 l LEFT COUNT 1 COUNT 2",
            "LMPOP 2 l l2 bad_arg",
            "LMPOP 5 l LEFT",
            "LMPOP 9223372036854775807 l LEFT",
        ] {
            assert_eq!(error(bad), "ERR syntax error", "{bad}");
        }
        let count = "ERR count should be greater than 0";
        assert_eq!(error("LMPOP 1 l LEFT COUNT 0"), count);
        assert_eq!(error("LMPOP 1 l RIGHT COUNT a"), count);
        assert_eq!(error("LMPOP 2 l l2 RIGHT COUNT -1"), count);
        let Ok(Action::Write(op)) = parse("LMPOP 2 a b right count 3") else {
            panic!("lmpop parses");
        };
        assert_eq!(
            op.kind,
            OpKind::List(ListOp::MPop {
                keys: vec![b("a"), b("b")],
                end: End::Right,
                count: 3,
            })
        );
    }

    #[test]
    fn movable_keys_are_found_from_numkeys() {
        assert_eq!(lmpop_keys(&argv("LMPOP 2 a b LEFT")), [2, 3]);
        assert_eq!(blmpop_keys(&argv("BLMPOP 0 1 a LEFT COUNT 2")), [3]);
        assert!(lmpop_keys(&argv("LMPOP 3 a b")).is_empty());
        assert!(lmpop_keys(&argv("LMPOP x a LEFT")).is_empty());
        assert!(lmpop_keys(&argv("LMPOP 0 a LEFT")).is_empty());
        assert!(lmpop_keys(&argv("LMPOP -1 a LEFT")).is_empty());
    }

    #[test]
    fn blocking_commands_block_on_their_source_keys() {
        let Ok(Action::Block(blocking)) = parse("BLPOP a b a 0.5") else {
            panic!("blpop parses");
        };
        assert_eq!(blocking.keys, [b("a"), b("b")]);
        assert_eq!(blocking.timeout_ms, Some(500));
        let pop = Op {
            db: Namespace(0),
            kind: OpKind::List(ListOp::PopFirst {
                keys: vec![b("a"), b("b"), b("a")],
                end: End::Left,
            }),
        };
        assert_eq!(blocking.attempt, crate::Attempt::Write(pop.clone()));
        assert_eq!(blocking.wait, okapi_engine::Wait::Data(pop));
        let Ok(Action::Block(blocking)) = parse("BLMOVE s d RIGHT LEFT 0") else {
            panic!("blmove parses");
        };
        assert_eq!(blocking.keys, [b("s")]);
        assert_eq!(blocking.timeout_ms, None);
        let Ok(Action::Block(blocking)) = parse("BLMPOP 1 2 a b LEFT COUNT 2") else {
            panic!("blmpop parses");
        };
        assert_eq!(blocking.keys, [b("a"), b("b")]);
        assert_eq!(blocking.timeout_ms, Some(1000));
    }

    #[test]
    fn blocking_timeouts_follow_redis_errors() {
        assert_eq!(error("BLPOP k -1"), "ERR timeout is negative");
        assert_eq!(
            error("BRPOP k abc"),
            "ERR timeout is not a float or out of range"
        );
        assert_eq!(error("BRPOPLPUSH a b -1"), "ERR timeout is negative");
        assert_eq!(error("BLMOVE a b UP LEFT -1"), "ERR syntax error");
        assert_eq!(error("BLMOVE a b LEFT LEFT -1"), "ERR timeout is negative");
        // BLMPOP checks numkeys before its timeout.
        assert_eq!(
            error("BLMPOP -1 0 a LEFT"),
            "ERR numkeys should be greater than 0"
        );
        assert_eq!(error("BLMPOP -1 1 a LEFT"), "ERR timeout is negative");
    }

    #[test]
    fn linsert_and_lmove_check_their_keywords() {
        assert_eq!(error("LINSERT k aft3r a b"), "ERR syntax error");
        assert_eq!(error("LMOVE a b LEFT UP"), "ERR syntax error");
        assert!(parse("LINSERT k before a b").is_ok());
        assert!(parse("LMOVE a b left RIGHT").is_ok());
    }
}
