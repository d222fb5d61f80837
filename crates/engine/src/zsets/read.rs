//! Bodies of the sorted-set reads.

use std::collections::HashSet;

use bytes::Bytes;
use okapi_types::num::format_f64;

use super::range;
use super::{ZSetQuery, combine, entries_reply};
use crate::ReadCtx;
use crate::error::EngineError;
use crate::glob::glob_match;
use crate::keys::scan_reply;
use crate::keyspace::Keyspace;
use crate::reply::Reply;
use crate::rng::Rng;
use crate::zset::{Entry, ZSetValue};

type ZSet = Box<ZSetValue>;

/// Sets up to this size answer ZSCAN in one call with cursor 0, as Redis's compact
/// (listpack) sets do with the default `zset-max-listpack-entries`.
const SCAN_ALL_BELOW: usize = 129;

pub(super) fn run(q: &ZSetQuery, ks: &mut Keyspace, ctx: &ReadCtx) -> Result<Reply, EngineError> {
    let now = ctx.now_ms;
    match q {
        ZSetQuery::Card { key } => Ok(Reply::Int(
            ks.read_as::<ZSet>(key, now)?.map_or(0, |z| z.len() as i64),
        )),
        ZSetQuery::Score { key, member } => Ok(ks
            .read_as::<ZSet>(key, now)?
            .and_then(|z| z.score(member))
            .map_or(Reply::Nil, Reply::Double)),
        ZSetQuery::MScore { key, members } => {
            let z = ks.read_as::<ZSet>(key, now)?;
            Ok(Reply::Array(
                members
                    .iter()
                    .map(|m| z.and_then(|z| z.score(m)).map_or(Reply::Nil, Reply::Double))
                    .collect(),
            ))
        }
        ZSetQuery::Count { key, by } => Ok(Reply::Int(
            ks.read_as::<ZSet>(key, now)?
                .map_or(0, |z| range::count(z, by) as i64),
        )),
        ZSetQuery::Range {
            key,
            spec,
            withscores,
        } => Ok(match ks.read_as::<ZSet>(key, now)? {
            None => Reply::Array(Vec::new()),
            Some(z) => entries_reply(
                range::select(z, spec)
                    .into_iter()
                    .map(|e| (&e.member, e.score)),
                *withscores,
            ),
        }),
        ZSetQuery::Rank {
            key,
            member,
            rev,
            withscore,
        } => {
            let found = ks.read_as::<ZSet>(key, now)?.and_then(|z| {
                z.rank(member)
                    .map(|(rank, score)| (if *rev { z.len() - 1 - rank } else { rank }, score))
            });
            Ok(match (found, withscore) {
                (Some((rank, _)), false) => Reply::Int(rank as i64),
                (Some((rank, score)), true) => {
                    Reply::Array(vec![Reply::Int(rank as i64), Reply::Double(score)])
                }
                (None, false) => Reply::Nil,
                (None, true) => Reply::NilArray,
            })
        }
        ZSetQuery::RandMember {
            key,
            count,
            withscores,
        } => {
            let z = ks.read_as::<ZSet>(key, now)?;
            Ok(rand_member(
                z.map(|z| &**z),
                *count,
                *withscores,
                ctx.random,
            ))
        }
        ZSetQuery::Scan {
            key,
            cursor,
            pattern,
            count,
        } => {
            let Some(z) = ks.read_as::<ZSet>(key, now)? else {
                return Ok(scan_reply(0, Vec::new()));
            };
            let mut items = Vec::new();
            let mut visit = |member: &Bytes, score: f64| {
                if pattern
                    .as_ref()
                    .is_none_or(|p| glob_match(p, member, false))
                {
                    items.push(member.clone());
                    items.push(Bytes::from(format_f64(score)));
                }
            };
            let next = if z.len() < SCAN_ALL_BELOW {
                z.iter().for_each(|e| visit(&e.member, e.score));
                0
            } else {
                z.scan(*cursor, (*count).max(1), visit)
            };
            Ok(scan_reply(next, items))
        }
        ZSetQuery::Combine {
            combine: op,
            withscores,
        } => {
            let result = combine::combine(ks, now, op)?;
            Ok(entries_reply(
                result.iter().map(|e| (&e.member, e.score)),
                *withscores,
            ))
        }
        ZSetQuery::InterCard { keys, limit } => Ok(Reply::Int(combine::inter_card(
            ks, now, keys, *limit,
        )? as i64)),
        ZSetQuery::FailAfterInputs { keys, error } => {
            combine::check_inputs(ks, now, keys)?;
            Err(error.clone())
        }
    }
}

/// ZRANDMEMBER. Picks are uniform by rank, O(log n) each.
fn rand_member(z: Option<&ZSetValue>, count: Option<i64>, withscores: bool, seed: u64) -> Reply {
    let mut rng = Rng::new(seed);
    let Some(count) = count else {
        return match z.and_then(|z| z.get(rng.below(z.len() as u64) as usize)) {
            Some(entry) => Reply::Bulk(entry.member.clone()),
            None => Reply::Nil,
        };
    };
    let Some(z) = z else {
        return Reply::Array(Vec::new());
    };
    let len = z.len();
    let picks: Vec<&Entry> = if count < 0 {
        (0..count.unsigned_abs())
            .filter_map(|_| z.get(rng.below(len as u64) as usize))
            .collect()
    } else if count as u64 >= len as u64 {
        z.iter().collect()
    } else {
        distinct_ranks(&mut rng, len, count as usize)
            .into_iter()
            .filter_map(|rank| z.get(rank))
            .collect()
    };
    entries_reply(picks.into_iter().map(|e| (&e.member, e.score)), withscores)
}

/// `count < len` distinct ranks in random order.
fn distinct_ranks(rng: &mut Rng, len: usize, count: usize) -> Vec<usize> {
    if count * 3 > len {
        // Most of the set: a partial Fisher-Yates shuffle of every rank.
        let mut ranks: Vec<usize> = (0..len).collect();
        for i in 0..count {
            let j = i + rng.below((len - i) as u64) as usize;
            ranks.swap(i, j);
        }
        ranks.truncate(count);
        ranks
    } else {
        let mut seen = HashSet::with_capacity(count);
        let mut ranks = Vec::with_capacity(count);
        while ranks.len() < count {
            let rank = rng.below(len as u64) as usize;
            if seen.insert(rank) {
                ranks.push(rank);
            }
        }
        ranks
    }
}
