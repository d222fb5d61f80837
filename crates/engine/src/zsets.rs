//! Sorted-set ops and reads: ZADD and friends, ranges by rank, score and member,
//! pops (blocking ones included), set operations, random picks and ZSCAN.
//!
//! Layout: [`range`] (intervals and selection), [`combine`] (union, intersection,
//! difference), `write` (op bodies) and `read` (query bodies).

pub mod combine;
pub mod range;
mod read;
mod write;

#[cfg(test)]
mod tests;

use bytes::Bytes;

use crate::error::EngineError;
use crate::keyspace::Keyspace;
use crate::reply::Reply;
use crate::{ApplyCtx, ReadCtx};

pub use combine::{Aggregate, Combine, SetOpKind};
pub use range::{LexBound, LexRange, RangeBy, RangeSpec, ScoreRange};
pub(crate) use write::store as store_computed;

/// ZADD options. Incompatible combinations are refused by the parser.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct AddFlags {
    /// Only add new members.
    pub nx: bool,
    /// Only update existing members.
    pub xx: bool,
    /// Only update when the new score is greater.
    pub gt: bool,
    /// Only update when the new score is lower.
    pub lt: bool,
    /// Reply with added plus updated, not just added.
    pub ch: bool,
    /// Add the score to the current one and reply with the result (ZINCRBY).
    pub incr: bool,
}

/// Which end a pop takes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum PopEnd {
    /// Lowest scores first.
    Min,
    /// Highest scores first.
    Max,
}

/// How a pop replies, per command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum PopShape {
    /// ZPOPMIN/ZPOPMAX: `[member, score]` without a count, member/score pairs with
    /// one; an empty array when there is nothing.
    Plain,
    /// BZPOPMIN/BZPOPMAX: `[key, member, score]`, nil array when nothing.
    Keyed,
    /// ZMPOP/BZMPOP: `[key, [[member, score], ...]]`, nil array when nothing.
    Multi,
}

/// Sorted-set writes.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum ZSetOp {
    /// ZADD / ZINCRBY.
    Add {
        /// Key.
        key: Bytes,
        /// Options.
        flags: AddFlags,
        /// Score/member pairs (one when `flags.incr`).
        pairs: Vec<(f64, Bytes)>,
    },
    /// ZREM: replies the number removed.
    Rem {
        /// Key.
        key: Bytes,
        /// Members.
        members: Vec<Bytes>,
    },
    /// ZREMRANGEBYRANK / ZREMRANGEBYSCORE / ZREMRANGEBYLEX.
    RemRange {
        /// Key.
        key: Bytes,
        /// The interval.
        by: RangeBy,
    },
    /// ZPOPMIN/MAX, BZPOPMIN/MAX (non-blocking attempt), ZMPOP, BZMPOP: pops from the
    /// first key holding a sorted set.
    Pop {
        /// Candidate keys, in order.
        keys: Vec<Bytes>,
        /// Which end.
        end: PopEnd,
        /// How many; `None` is a plain single pop.
        count: Option<usize>,
        /// Reply shape.
        shape: PopShape,
    },
    /// ZRANGESTORE: replies the number stored.
    RangeStore {
        /// Destination (overwritten, or deleted when the range is empty).
        dst: Bytes,
        /// Source sorted set.
        src: Bytes,
        /// The selection (boxed: it is the largest op payload, and ops travel
        /// inside every blocked-client record).
        spec: Box<RangeSpec>,
    },
    /// ZUNIONSTORE / ZINTERSTORE / ZDIFFSTORE: replies the number stored.
    CombineStore {
        /// Destination (overwritten, or deleted when the result is empty).
        dst: Bytes,
        /// The operation.
        combine: Combine,
    },
}

/// Sorted-set reads.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum ZSetQuery {
    /// ZCARD.
    Card {
        /// Key.
        key: Bytes,
    },
    /// ZSCORE.
    Score {
        /// Key.
        key: Bytes,
        /// Member.
        member: Bytes,
    },
    /// ZMSCORE.
    MScore {
        /// Key.
        key: Bytes,
        /// Members.
        members: Vec<Bytes>,
    },
    /// ZCOUNT (score range) / ZLEXCOUNT (lex range).
    Count {
        /// Key.
        key: Bytes,
        /// The interval (never by rank).
        by: RangeBy,
    },
    /// ZRANGE and its older forms.
    Range {
        /// Key.
        key: Bytes,
        /// The selection.
        spec: RangeSpec,
        /// Reply member/score pairs.
        withscores: bool,
    },
    /// ZRANK / ZREVRANK.
    Rank {
        /// Key.
        key: Bytes,
        /// Member.
        member: Bytes,
        /// Rank from the highest score (ZREVRANK).
        rev: bool,
        /// Reply `[rank, score]` (WITHSCORE).
        withscore: bool,
    },
    /// ZRANDMEMBER.
    RandMember {
        /// Key.
        key: Bytes,
        /// `None`: one member as a bulk; `n >= 0`: up to n distinct; `n < 0`: |n|
        /// with repetitions.
        count: Option<i64>,
        /// Reply member/score pairs.
        withscores: bool,
    },
    /// ZSCAN.
    Scan {
        /// Key.
        key: Bytes,
        /// Cursor from the previous call (0 to start).
        cursor: u64,
        /// MATCH filter.
        pattern: Option<Bytes>,
        /// COUNT hint.
        count: usize,
    },
    /// ZUNION / ZINTER / ZDIFF.
    Combine {
        /// The operation.
        combine: Combine,
        /// Reply member/score pairs.
        withscores: bool,
    },
    /// ZINTERCARD.
    InterCard {
        /// Input keys.
        keys: Vec<Bytes>,
        /// Stop counting here (0: no limit).
        limit: usize,
    },
    /// A set operation whose options did not parse: Redis looks up its inputs before
    /// it reads the options, so the reply is WRONGTYPE when an input holds neither a
    /// set nor a sorted set, and `error` otherwise.
    FailAfterInputs {
        /// Input keys.
        keys: Vec<Bytes>,
        /// The options' error.
        error: EngineError,
    },
}

impl ZSetOp {
    pub(crate) fn apply(self, ks: &mut Keyspace, ctx: &ApplyCtx) -> Result<Reply, EngineError> {
        match self {
            ZSetOp::Add { key, flags, pairs } => write::add(ks, ctx, key, flags, pairs),
            ZSetOp::Rem { key, members } => write::rem(ks, ctx, &key, &members),
            ZSetOp::RemRange { key, by } => write::rem_range(ks, ctx, &key, &by),
            ZSetOp::Pop {
                keys,
                end,
                count,
                shape,
            } => write::pop(ks, ctx, &keys, end, count, shape),
            ZSetOp::RangeStore { dst, src, spec } => write::range_store(ks, ctx, dst, &src, &spec),
            ZSetOp::CombineStore { dst, combine } => {
                let result = combine::combine(ks, ctx.now_ms, &combine)?;
                let event = match combine.kind {
                    SetOpKind::Union => "zunionstore",
                    SetOpKind::Inter => "zinterstore",
                    SetOpKind::Diff => "zdiffstore",
                };
                Ok(write::store(ks, ctx, dst, result, event))
            }
        }
    }
}

impl ZSetQuery {
    pub(crate) fn run(&self, ks: &mut Keyspace, ctx: &ReadCtx) -> Result<Reply, EngineError> {
        read::run(self, ks, ctx)
    }
}

/// Member/score pairs, or members alone, as ZRANGE-family replies carry them.
pub(crate) fn entries_reply<'a>(
    entries: impl IntoIterator<Item = (&'a Bytes, f64)>,
    withscores: bool,
) -> Reply {
    let entries = entries.into_iter();
    if withscores {
        Reply::Pairs(
            entries
                .map(|(m, s)| (Reply::Bulk(m.clone()), Reply::Double(s)))
                .collect(),
        )
    } else {
        Reply::Array(entries.map(|(m, _)| Reply::Bulk(m.clone())).collect())
    }
}
