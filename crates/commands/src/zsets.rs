//! Sorted-set commands: the table, and where their parsers live ([`bounds`] for the
//! shared argument forms, `single` for one-key commands, `multi` for set operations
//! and the (blocking) multi-key pops).

mod bounds;
mod multi;
mod single;

use bytes::Bytes;
use okapi_engine::zsets::{ZSetOp, ZSetQuery};
use okapi_engine::{OpKind, QueryKind};

use crate::action::Action;
use crate::error::CommandError;
use crate::spec::flags::*;
use crate::spec::{CommandSpec, Ctx, Keys, command, keys};
use crate::{read, write};

const G: &str = "sorted-set";
const W: &[&str] = &["@write", "@sortedset", "@slow"];
const WF: &[&str] = &["@write", "@sortedset", "@fast"];
const R: &[&str] = &["@read", "@sortedset", "@slow"];
const RF: &[&str] = &["@read", "@sortedset", "@fast"];
const B: &[&str] = &["@write", "@sortedset", "@slow", "@blocking"];
const BF: &[&str] = &["@write", "@sortedset", "@fast", "@blocking"];

/// Sorted-set commands.
pub const COMMANDS: &[CommandSpec] = &[
    command(
        "zadd",
        -4,
        WRITE | DENYOOM | FAST,
        keys(1, 1, 1),
        WF,
        G,
        "Adds one or more members to a sorted set, or updates their scores. Creates the key if it doesn't exist.",
        single::zadd,
    ),
    command(
        "zincrby",
        4,
        WRITE | DENYOOM | FAST,
        keys(1, 1, 1),
        WF,
        G,
        "Increments the score of a member in a sorted set.",
        single::zincrby,
    ),
    command(
        "zrem",
        -3,
        WRITE | FAST,
        keys(1, 1, 1),
        WF,
        G,
        "Removes one or more members from a sorted set. Deletes the sorted set if all members were removed.",
        single::zrem,
    ),
    command(
        "zscore",
        3,
        READONLY | FAST,
        keys(1, 1, 1),
        RF,
        G,
        "Returns the score of a member in a sorted set.",
        single::zscore,
    ),
    command(
        "zmscore",
        -3,
        READONLY | FAST,
        keys(1, 1, 1),
        RF,
        G,
        "Returns the score of one or more members in a sorted set.",
        single::zmscore,
    ),
    command(
        "zcard",
        2,
        READONLY | FAST,
        keys(1, 1, 1),
        RF,
        G,
        "Returns the number of members in a sorted set.",
        single::zcard,
    ),
    command(
        "zcount",
        4,
        READONLY | FAST,
        keys(1, 1, 1),
        RF,
        G,
        "Returns the count of members in a sorted set that have scores within a range.",
        single::zcount,
    ),
    command(
        "zlexcount",
        4,
        READONLY | FAST,
        keys(1, 1, 1),
        RF,
        G,
        "Returns the number of members in a sorted set within a lexicographical range.",
        single::zlexcount,
    ),
    command(
        "zrange",
        -4,
        READONLY,
        keys(1, 1, 1),
        R,
        G,
        "Returns members in a sorted set within a range of indexes.",
        single::zrange,
    ),
    command(
        "zrangestore",
        -5,
        WRITE | DENYOOM,
        keys(1, 2, 1),
        W,
        G,
        "Stores a range of members from sorted set in a key.",
        single::zrangestore,
    ),
    command(
        "zrevrange",
        -4,
        READONLY,
        keys(1, 1, 1),
        R,
        G,
        "Returns members in a sorted set within a range of indexes in reverse order.",
        single::zrevrange,
    ),
    command(
        "zrangebyscore",
        -4,
        READONLY,
        keys(1, 1, 1),
        R,
        G,
        "Returns members in a sorted set within a range of scores.",
        single::zrangebyscore,
    ),
    command(
        "zrevrangebyscore",
        -4,
        READONLY,
        keys(1, 1, 1),
        R,
        G,
        "Returns members in a sorted set within a range of scores in reverse order.",
        single::zrevrangebyscore,
    ),
    command(
        "zrangebylex",
        -4,
        READONLY,
        keys(1, 1, 1),
        R,
        G,
        "Returns members in a sorted set within a lexicographical range.",
        single::zrangebylex,
    ),
    command(
        "zrevrangebylex",
        -4,
        READONLY,
        keys(1, 1, 1),
        R,
        G,
        "Returns members in a sorted set within a lexicographical range in reverse order.",
        single::zrevrangebylex,
    ),
    command(
        "zrank",
        -3,
        READONLY | FAST,
        keys(1, 1, 1),
        RF,
        G,
        "Returns the index of a member in a sorted set ordered by ascending scores.",
        single::zrank,
    ),
    command(
        "zrevrank",
        -3,
        READONLY | FAST,
        keys(1, 1, 1),
        RF,
        G,
        "Returns the index of a member in a sorted set ordered by descending scores.",
        single::zrevrank,
    ),
    command(
        "zremrangebyrank",
        4,
        WRITE,
        keys(1, 1, 1),
        W,
        G,
        "Removes members in a sorted set within a range of indexes. Deletes the sorted set if all members were removed.",
        single::zremrangebyrank,
    ),
    command(
        "zremrangebyscore",
        4,
        WRITE,
        keys(1, 1, 1),
        W,
        G,
        "Removes members in a sorted set within a range of scores. Deletes the sorted set if all members were removed.",
        single::zremrangebyscore,
    ),
    command(
        "zremrangebylex",
        4,
        WRITE,
        keys(1, 1, 1),
        W,
        G,
        "Removes members in a sorted set within a lexicographical range. Deletes the sorted set if all members were removed.",
        single::zremrangebylex,
    ),
    command(
        "zpopmin",
        -2,
        WRITE | FAST,
        keys(1, 1, 1),
        WF,
        G,
        "Returns the lowest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped.",
        single::zpopmin,
    ),
    command(
        "zpopmax",
        -2,
        WRITE | FAST,
        keys(1, 1, 1),
        WF,
        G,
        "Returns the highest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped.",
        single::zpopmax,
    ),
    command(
        "zmpop",
        -4,
        WRITE | MOVABLE_KEYS,
        Keys::Custom(keys_from_1),
        W,
        G,
        "Returns the highest- or lowest-scoring members from one or more sorted sets after removing them. Deletes the sorted set if the last member was popped.",
        multi::zmpop,
    ),
    command(
        "zrandmember",
        -2,
        READONLY,
        keys(1, 1, 1),
        R,
        G,
        "Returns one or more random members from a sorted set.",
        single::zrandmember,
    ),
    command(
        "zscan",
        -3,
        READONLY,
        keys(1, 1, 1),
        R,
        G,
        "Iterates over members and scores of a sorted set.",
        single::zscan,
    ),
    command(
        "zunionstore",
        -4,
        WRITE | DENYOOM | MOVABLE_KEYS,
        Keys::Custom(dst_and_keys_from_2),
        W,
        G,
        "Stores the union of multiple sorted sets in a key.",
        multi::zunionstore,
    ),
    command(
        "zinterstore",
        -4,
        WRITE | DENYOOM | MOVABLE_KEYS,
        Keys::Custom(dst_and_keys_from_2),
        W,
        G,
        "Stores the intersect of multiple sorted sets in a key.",
        multi::zinterstore,
    ),
    command(
        "zdiffstore",
        -4,
        WRITE | DENYOOM | MOVABLE_KEYS,
        Keys::Custom(dst_and_keys_from_2),
        W,
        G,
        "Stores the difference of multiple sorted sets in a key.",
        multi::zdiffstore,
    ),
    command(
        "zunion",
        -3,
        READONLY | MOVABLE_KEYS,
        Keys::Custom(keys_from_1),
        R,
        G,
        "Returns the union of multiple sorted sets.",
        multi::zunion,
    ),
    command(
        "zinter",
        -3,
        READONLY | MOVABLE_KEYS,
        Keys::Custom(keys_from_1),
        R,
        G,
        "Returns the intersect of multiple sorted sets.",
        multi::zinter,
    ),
    command(
        "zdiff",
        -3,
        READONLY | MOVABLE_KEYS,
        Keys::Custom(keys_from_1),
        R,
        G,
        "Returns the difference between multiple sorted sets.",
        multi::zdiff,
    ),
    command(
        "zintercard",
        -3,
        READONLY | MOVABLE_KEYS,
        Keys::Custom(keys_from_1),
        R,
        G,
        "Returns the number of members of the intersect of multiple sorted sets.",
        multi::zintercard,
    ),
    command(
        "bzpopmin",
        -3,
        WRITE | FAST | BLOCKING,
        keys(1, -2, 1),
        BF,
        G,
        "Removes and returns the member with the lowest score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped.",
        multi::bzpopmin,
    ),
    command(
        "bzpopmax",
        -3,
        WRITE | FAST | BLOCKING,
        keys(1, -2, 1),
        BF,
        G,
        "Removes and returns the member with the highest score from one or more sorted sets. Blocks until a member available otherwise.  Deletes the sorted set if the last element was popped.",
        multi::bzpopmax,
    ),
    command(
        "bzmpop",
        -5,
        WRITE | BLOCKING | MOVABLE_KEYS,
        Keys::Custom(keys_from_2),
        B,
        G,
        "Removes and returns a member by score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped.",
        multi::bzmpop,
    ),
];

fn op(ctx: &Ctx, op: ZSetOp) -> Result<Action, CommandError> {
    Ok(write(ctx, OpKind::ZSet(op)))
}

fn query(ctx: &Ctx, q: ZSetQuery) -> Result<Action, CommandError> {
    Ok(read(ctx, QueryKind::ZSet(q)))
}

/// `numkeys` at 1, keys after it (ZUNION, ZINTER, ZDIFF, ZINTERCARD, ZMPOP).
fn keys_from_1(argv: &[Bytes]) -> Vec<usize> {
    bounds::numkeys_positions(argv, 1)
}

/// `numkeys` at 2, keys after it (BZMPOP).
fn keys_from_2(argv: &[Bytes]) -> Vec<usize> {
    bounds::numkeys_positions(argv, 2)
}

/// The destination at 1, `numkeys` at 2, keys after it (the STORE forms).
fn dst_and_keys_from_2(argv: &[Bytes]) -> Vec<usize> {
    let mut positions = Vec::new();
    if argv.len() > 1 {
        positions.push(1);
    }
    positions.extend(bounds::numkeys_positions(argv, 2));
    positions
}

#[cfg(test)]
mod tests;
