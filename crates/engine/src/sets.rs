//! Set ops and reads: membership, random pops and picks, the algebra commands
//! (SINTER / SUNION / SDIFF, their STORE forms, SINTERCARD) and SSCAN.
//!
//! Also home of the random-sampling helpers hashes share: they pick with
//! [`Dict::pick`], which depends only on a container's contents and hash seed, so an op
//! replayed on any replica pops the same members.

use std::collections::HashSet;

use bytes::Bytes;
use foldhash::fast::FixedState;

use crate::dict::Dict;
use crate::error::EngineError;
use crate::glob::glob_match;
use crate::keys::scan_reply;
use crate::keyspace::Keyspace;
use crate::notify::EventClass;
use crate::reply::Reply;
use crate::rng::Rng;
use crate::value::{SetValue, Value, detach};
use crate::{ApplyCtx, ReadCtx};

/// Which combination of sets SINTER/SUNION/SDIFF (and their STORE forms) compute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum SetAlgebra {
    /// Members present in every set (a missing key is an empty set).
    Inter,
    /// Members present in any set.
    Union,
    /// Members of the first set present in none of the others.
    Diff,
}

/// Set writes.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum SetOp {
    /// SADD: replies the number of members added.
    Add {
        /// Key.
        key: Bytes,
        /// Members (duplicates count once).
        members: Vec<Bytes>,
    },
    /// SREM: replies the number of members removed.
    Rem {
        /// Key.
        key: Bytes,
        /// Members.
        members: Vec<Bytes>,
    },
    /// SPOP: removes random members.
    Pop {
        /// Key.
        key: Bytes,
        /// `None`: pop one and reply a bulk; `Some(n)`: pop up to `n`, reply a set.
        count: Option<u64>,
        /// Chosen by the leader so every replica pops the same members.
        seed: u64,
    },
    /// SMOVE: replies 1 if the member was moved (or is already in `src == dst`).
    Move {
        /// Source key.
        src: Bytes,
        /// Destination key.
        dst: Bytes,
        /// Member.
        member: Bytes,
    },
    /// SINTERSTORE / SUNIONSTORE / SDIFFSTORE: replies the size of the result, which
    /// replaces `dst` whatever its type (an empty result deletes `dst`).
    Store {
        /// Destination key.
        dst: Bytes,
        /// Source keys, in order.
        keys: Vec<Bytes>,
        /// What to compute.
        algebra: SetAlgebra,
    },
}

/// Set reads.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum SetQuery {
    /// SMEMBERS.
    Members {
        /// Key.
        key: Bytes,
    },
    /// SISMEMBER.
    IsMember {
        /// Key.
        key: Bytes,
        /// Member.
        member: Bytes,
    },
    /// SMISMEMBER.
    MIsMember {
        /// Key.
        key: Bytes,
        /// Members.
        members: Vec<Bytes>,
    },
    /// SCARD.
    Card {
        /// Key.
        key: Bytes,
    },
    /// SRANDMEMBER.
    RandMember {
        /// Key.
        key: Bytes,
        /// `None`: one member as a bulk; `Some(n)`: an array of `n` distinct members
        /// (at most the set), or of `-n` members with repeats when negative.
        count: Option<i64>,
    },
    /// SINTER / SUNION / SDIFF.
    Combine {
        /// Keys, in order.
        keys: Vec<Bytes>,
        /// What to compute.
        algebra: SetAlgebra,
    },
    /// SINTERCARD.
    InterCard {
        /// Keys.
        keys: Vec<Bytes>,
        /// Stop counting here; 0 means no limit.
        limit: u64,
    },
    /// SSCAN.
    Scan {
        /// Key.
        key: Bytes,
        /// Cursor from the previous call (0 to start).
        cursor: u64,
        /// MATCH filter.
        pattern: Option<Bytes>,
        /// COUNT hint.
        count: usize,
        /// An invalid option, reported only once the key turned out to hold a set:
        /// Redis parses SSCAN's options after the lookup.
        error: Option<EngineError>,
    },
}

impl SetOp {
    pub(crate) fn apply(self, ks: &mut Keyspace, ctx: &ApplyCtx) -> Result<Reply, EngineError> {
        match self {
            SetOp::Add { key, members } => {
                let set = ks.write_or_create::<SetValue>(&key, ctx)?;
                let mut added = 0;
                for member in members {
                    // Look up first so members already present are never copied.
                    if !set.contains_key(member.as_ref()) {
                        set.insert(detach(member), ());
                        added += 1;
                    }
                }
                if added > 0 {
                    ks.notify(EventClass::SET, "sadd", &key);
                }
                ks.finish_write::<SetValue>(&key, ctx, added > 0);
                Ok(Reply::Int(added as i64))
            }
            SetOp::Rem { key, members } => Ok(Reply::Int(ks.remove_counted(
                &key,
                ctx,
                (EventClass::SET, "srem"),
                |set: &mut SetValue| {
                    members
                        .iter()
                        .filter(|m| set.remove(m.as_ref()).is_some())
                        .count()
                },
            )?)),
            SetOp::Pop { key, count, seed } => pop(ks, ctx, &key, count, seed),
            SetOp::Move { src, dst, member } => smove(ks, ctx, &src, &dst, member),
            SetOp::Store { dst, keys, algebra } => {
                let members = combine(ks, &keys, algebra, ctx.now_ms)?;
                if members.is_empty() {
                    ks.delete(&dst, ctx);
                    return Ok(Reply::Int(0));
                }
                let mut set = SetValue::with_seed(ks.seed());
                for member in members {
                    set.insert(member, ());
                }
                let len = set.len();
                ks.insert(&dst, Value::Set(Box::new(set)), ctx);
                let event = match algebra {
                    SetAlgebra::Inter => "sinterstore",
                    SetAlgebra::Union => "sunionstore",
                    SetAlgebra::Diff => "sdiffstore",
                };
                ks.notify(EventClass::SET, event, &dst);
                Ok(Reply::Int(len as i64))
            }
        }
    }
}

/// SPOP: a count at or above the size takes the whole set; a count close to it picks
/// the few members to keep instead of the many to pop, as Redis does.
fn pop(
    ks: &mut Keyspace,
    ctx: &ApplyCtx,
    key: &Bytes,
    count: Option<u64>,
    seed: u64,
) -> Result<Reply, EngineError> {
    let hash_seed = ks.seed();
    let Some(set) = ks.write_as::<SetValue>(key, ctx)? else {
        return Ok(match count {
            None => Reply::Nil,
            Some(_) => Reply::Set(Vec::new()),
        });
    };
    let mut rng = Rng::new(seed);
    let Some(count) = count else {
        let member = pick_fair(set, &mut rng).map(|(m, _)| m.clone());
        let popped = member.and_then(|m| set.remove(m.as_ref())).map(|(m, _)| m);
        if popped.is_some() {
            ks.notify(EventClass::SET, "spop", key);
        }
        ks.finish_write::<SetValue>(key, ctx, popped.is_some());
        return Ok(Reply::opt_bulk(popped));
    };
    if count == 0 {
        return Ok(Reply::Set(Vec::new()));
    }
    let len = set.len() as u64;
    let popped: Vec<Bytes> = if count >= len {
        let all = std::mem::replace(set, SetValue::with_seed(hash_seed));
        all.keys().cloned().collect()
    } else if (len - count) * POP_KEEP_RATIO <= count {
        // Few members stay: pick those, and hand out everything else.
        let mut kept = SetValue::with_seed(hash_seed);
        for _ in 0..len - count {
            let chosen = pick_fair(set, &mut rng).map(|(m, _)| m.clone());
            if let Some((member, ())) = chosen.and_then(|m| set.remove(m.as_ref())) {
                kept.insert(member, ());
            }
        }
        let rest = std::mem::replace(set, kept);
        rest.keys().cloned().collect()
    } else {
        let mut out = Vec::with_capacity(count as usize);
        for _ in 0..count {
            let chosen = pick_fair(set, &mut rng).map(|(m, _)| m.clone());
            if let Some((member, ())) = chosen.and_then(|m| set.remove(m.as_ref())) {
                out.push(member);
            }
        }
        out
    };
    if !popped.is_empty() {
        ks.notify(EventClass::SET, "spop", key);
    }
    ks.finish_write::<SetValue>(key, ctx, !popped.is_empty());
    Ok(Reply::Set(popped.into_iter().map(Reply::Bulk).collect()))
}

/// When the members left after SPOP are at most 1/this of the popped ones, SPOP picks
/// the survivors rather than the victims (Redis's SPOP_MOVE_STRATEGY_MUL).
const POP_KEEP_RATIO: u64 = 5;

fn smove(
    ks: &mut Keyspace,
    ctx: &ApplyCtx,
    src: &Bytes,
    dst: &Bytes,
    member: Bytes,
) -> Result<Reply, EngineError> {
    // Redis answers 0 for a missing source before it looks at the destination's type.
    if ks.write_as::<SetValue>(src, ctx)?.is_none() {
        return Ok(Reply::Int(0));
    }
    ks.write_as::<SetValue>(dst, ctx)?;
    let Some(source) = ks.write_as::<SetValue>(src, ctx)? else {
        return Ok(Reply::Int(0));
    };
    if src == dst {
        return Ok(Reply::flag(source.contains_key(member.as_ref())));
    }
    let Some((member, ())) = source.remove(member.as_ref()) else {
        return Ok(Reply::Int(0));
    };
    ks.notify(EventClass::SET, "srem", src);
    ks.finish_write::<SetValue>(src, ctx, true);
    let target = ks.write_or_create::<SetValue>(dst, ctx)?;
    let added = target.insert(member, ()).is_none();
    if added {
        ks.notify(EventClass::SET, "sadd", dst);
    }
    ks.finish_write::<SetValue>(dst, ctx, added);
    Ok(Reply::Int(1))
}

/// The live sets behind `keys` (`None` for missing keys); WRONGTYPE if any key holds
/// another type, checked for every key before any work, as Redis 7 does.
fn lookup<'a>(
    ks: &'a Keyspace,
    keys: &[Bytes],
    now_ms: u64,
) -> Result<Vec<Option<&'a SetValue>>, EngineError> {
    keys.iter()
        .map(|k| ks.peek_as::<SetValue>(k, now_ms))
        .collect()
}

/// The members of the combination of `keys`, each once.
fn combine(
    ks: &Keyspace,
    keys: &[Bytes],
    algebra: SetAlgebra,
    now_ms: u64,
) -> Result<Vec<Bytes>, EngineError> {
    let sets = lookup(ks, keys, now_ms)?;
    Ok(match algebra {
        SetAlgebra::Inter => {
            let mut out = Vec::new();
            intersect(&sets, |m| {
                out.push(m.clone());
                true
            });
            out
        }
        SetAlgebra::Union => {
            // Seeded like the keyspace, so chosen members cannot flood one bucket.
            let mut seen: HashSet<&Bytes, FixedState> =
                HashSet::with_hasher(FixedState::with_seed(ks.seed()));
            let mut out = Vec::new();
            for set in sets.iter().flatten() {
                for member in set.keys() {
                    if seen.insert(member) {
                        out.push(member.clone());
                    }
                }
            }
            out
        }
        SetAlgebra::Diff => {
            let Some(Some(first)) = sets.first() else {
                return Ok(Vec::new());
            };
            let others: Vec<&SetValue> = sets[1..].iter().flatten().copied().collect();
            first
                .keys()
                .filter(|m| !others.iter().any(|s| s.contains_key(m.as_ref())))
                .cloned()
                .collect()
        }
    })
}

/// Calls `f` on every member of the intersection of `sets` (a missing set makes it
/// empty) until `f` returns false. Walks the smallest set and probes the others.
fn intersect<'a>(sets: &[Option<&'a SetValue>], mut f: impl FnMut(&'a Bytes) -> bool) {
    let Some(mut present) = sets.iter().copied().collect::<Option<Vec<&SetValue>>>() else {
        return;
    };
    present.sort_by_key(|s| s.len());
    let Some((smallest, rest)) = present.split_first() else {
        return;
    };
    for member in smallest.keys() {
        if rest.iter().all(|s| s.contains_key(member.as_ref())) && !f(member) {
            return;
        }
    }
}

impl SetQuery {
    pub(crate) fn run(&self, ks: &mut Keyspace, ctx: &ReadCtx) -> Result<Reply, EngineError> {
        let now = ctx.now_ms;
        match self {
            SetQuery::Members { key } => Ok(Reply::Set(
                ks.read_as::<SetValue>(key, now)?
                    .map(|set| set.keys().cloned().map(Reply::Bulk).collect())
                    .unwrap_or_default(),
            )),
            SetQuery::IsMember { key, member } => Ok(Reply::flag(
                ks.read_as::<SetValue>(key, now)?
                    .is_some_and(|set| set.contains_key(member.as_ref())),
            )),
            SetQuery::MIsMember { key, members } => {
                let set = ks.read_as::<SetValue>(key, now)?;
                Ok(Reply::Array(
                    members
                        .iter()
                        .map(|m| Reply::flag(set.is_some_and(|s| s.contains_key(m.as_ref()))))
                        .collect(),
                ))
            }
            SetQuery::Card { key } => Ok(Reply::Int(
                ks.read_as::<SetValue>(key, now)?
                    .map_or(0, |s| s.len() as i64),
            )),
            SetQuery::RandMember { key, count } => {
                let set = ks.read_as::<SetValue>(key, now)?;
                let mut rng = Rng::new(ctx.random);
                Ok(match (set, *count) {
                    (None, None) => Reply::Nil,
                    (Some(set), None) => {
                        Reply::opt_bulk(pick_one(set, &mut rng).map(|(m, _)| m.clone()))
                    }
                    (None, Some(_)) => Reply::Array(Vec::new()),
                    (Some(set), Some(count)) => {
                        check_repeats(count)?;
                        Reply::Array(
                            sample(set, count, &mut rng)
                                .into_iter()
                                .map(|(m, _)| Reply::Bulk(m.clone()))
                                .collect(),
                        )
                    }
                })
            }
            SetQuery::Combine { keys, algebra } => {
                touch(ks, keys, now);
                Ok(Reply::Set(
                    combine(ks, keys, *algebra, now)?
                        .into_iter()
                        .map(Reply::Bulk)
                        .collect(),
                ))
            }
            SetQuery::InterCard { keys, limit } => {
                touch(ks, keys, now);
                let sets = lookup(ks, keys, now)?;
                let mut count = 0u64;
                intersect(&sets, |_| {
                    count += 1;
                    *limit == 0 || count < *limit
                });
                Ok(Reply::Int(count as i64))
            }
            SetQuery::Scan {
                key,
                cursor,
                pattern,
                count,
                error,
            } => {
                let Some(set) = ks.read_as::<SetValue>(key, now)? else {
                    return Ok(scan_reply(0, Vec::new()));
                };
                if let Some(error) = error {
                    return Err(error.clone());
                }
                let mut items = Vec::new();
                let (start, budget) = scan_window(set.len(), *cursor, *count);
                let next = set.scan(start, budget, |m, _| {
                    if pattern.as_ref().is_none_or(|p| glob_match(p, m, false)) {
                        items.push(m.clone());
                    }
                });
                Ok(scan_reply(next, items))
            }
        }
    }
}

/// Counts a read (hit or miss) of each key, as Redis's multi-key reads do.
fn touch(ks: &mut Keyspace, keys: &[Bytes], now_ms: u64) {
    for key in keys {
        ks.read(key, now_ms);
    }
}

/// Containers this small are sampled and scanned exactly: copying them is cheap, and
/// Redis keeps them in compact encodings that it samples exactly and scans in one call.
pub(crate) const SMALL: usize = 128;

/// Where a SCAN-family call starts and about how many entries it visits: a small
/// container is returned whole in one call whatever the cursor (as Redis does for its
/// compact encodings); a larger one from `cursor`, about `count` entries.
pub(crate) fn scan_window(len: usize, cursor: u64, count: usize) -> (u64, usize) {
    if len <= SMALL {
        (0, usize::MAX)
    } else {
        (cursor, count.max(1))
    }
}

/// Most entries a negative (repeating) random count may ask for. Redis has no bound and
/// builds the reply until memory runs out; okapi refuses instead of dying.
pub const MAX_REPEATED_PICKS: u64 = 1 << 24;

/// Refuses a repeating count beyond [`MAX_REPEATED_PICKS`].
pub(crate) fn check_repeats(count: i64) -> Result<(), EngineError> {
    if count < 0 && count.unsigned_abs() > MAX_REPEATED_PICKS {
        return Err(EngineError::Other(format!(
            "ERR value is out of range, a negative count may ask for at most {MAX_REPEATED_PICKS} elements"
        )));
    }
    Ok(())
}

/// Extra successor steps a pick may walk (see [`pick_fair`]).
const WALK: u64 = 8;

/// A random entry that depends only on the dict's contents, its seed and `rng`, never on
/// its layout, so replicas agree. [`Dict::pick`] alone favours entries that follow a
/// large gap in hash space (its chance is the gap's size); walking a random number of
/// further successors averages several gaps and evens the odds at a small cost.
pub(crate) fn pick_fair<'a, V>(
    dict: &'a Dict<Bytes, V>,
    rng: &mut Rng,
) -> Option<(&'a Bytes, &'a V)> {
    let mut entry = dict.pick(rng.next_u64())?;
    for _ in 0..rng.below(WALK) {
        entry = dict.pick(dict.hash_of(entry.0.as_ref()).wrapping_add(1))?;
    }
    Some(entry)
}

/// One random entry for a read: exact for small containers, [`pick_fair`] otherwise.
pub(crate) fn pick_one<'a, V>(
    dict: &'a Dict<Bytes, V>,
    rng: &mut Rng,
) -> Option<(&'a Bytes, &'a V)> {
    let len = dict.len();
    if len == 0 {
        return None;
    }
    if len <= SMALL {
        return dict.iter().nth(rng.below(len as u64) as usize);
    }
    pick_fair(dict, rng)
}

/// Entries for SRANDMEMBER / HRANDFIELD with a count: `count > 0` gives that many
/// distinct entries (the whole container at most), `count < 0` gives `-count` entries
/// that may repeat. Reads only: the order may depend on the table layout.
pub(crate) fn sample<'a, V>(
    dict: &'a Dict<Bytes, V>,
    count: i64,
    rng: &mut Rng,
) -> Vec<(&'a Bytes, &'a V)> {
    let len = dict.len();
    if len == 0 || count == 0 {
        return Vec::new();
    }
    let wanted = count.unsigned_abs();
    if count < 0 {
        // Never reserve from the count alone: it can be absurdly large.
        let mut out = Vec::with_capacity(wanted.min(PRESIZE_LIMIT) as usize);
        if len <= SMALL || wanted >= len as u64 {
            let all: Vec<_> = dict.iter().collect();
            for _ in 0..wanted {
                out.push(all[rng.below(len as u64) as usize]);
            }
        } else {
            for _ in 0..wanted {
                out.extend(pick_fair(dict, rng));
            }
        }
        return out;
    }
    if wanted >= len as u64 {
        return dict.iter().collect();
    }
    let wanted = wanted as usize;
    if len <= SMALL || wanted * SAMPLE_COPY_RATIO > len {
        // Many of the entries are wanted: shuffle a copy partially (Fisher-Yates).
        let mut all: Vec<_> = dict.iter().collect();
        for i in 0..wanted {
            let j = i + rng.below((len - i) as u64) as usize;
            all.swap(i, j);
        }
        all.truncate(wanted);
        return all;
    }
    // Few of many: draw until enough distinct ones came up.
    let mut seen: HashSet<&Bytes, FixedState> =
        HashSet::with_hasher(FixedState::with_seed(rng.next_u64()));
    let mut out = Vec::with_capacity(wanted);
    while out.len() < wanted {
        if let Some(entry) = pick_fair(dict, rng)
            && seen.insert(entry.0)
        {
            out.push(entry);
        }
    }
    out
}

/// Largest reply vector reserved up front for repeated picks.
const PRESIZE_LIMIT: u64 = 1 << 16;

/// Above 1/this of a container, distinct samples come from a shuffled copy rather than
/// repeated draws (Redis's SRANDMEMBER_SUB_STRATEGY_MUL).
const SAMPLE_COPY_RATIO: usize = 3;

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use okapi_types::Namespace;

    use super::*;
    use crate::testing::b;

    crate::testing::test_node!(Node, 7, 0);

    impl Node {
        fn add(&mut self, key: &str, members: impl IntoIterator<Item = String>) -> Reply {
            self.op(SetOp::Add {
                key: b(key),
                members: members.into_iter().map(Bytes::from).collect(),
            })
        }

        fn members(&mut self, key: &str) -> BTreeSet<Bytes> {
            bulks(self.query_random(SetQuery::Members { key: b(key) }, 0))
        }
    }

    fn names(range: std::ops::Range<u32>) -> impl Iterator<Item = String> {
        range.map(|i| format!("m{i}"))
    }

    /// The bulk strings of an array or set reply.
    fn bulk_list(reply: Reply) -> Vec<Bytes> {
        match reply {
            Reply::Array(items) | Reply::Set(items) => items
                .into_iter()
                .map(|r| match r {
                    Reply::Bulk(b) => b,
                    other => panic!("not a bulk: {other:?}"),
                })
                .collect(),
            other => panic!("not an array: {other:?}"),
        }
    }

    fn bulks(reply: Reply) -> BTreeSet<Bytes> {
        bulk_list(reply).into_iter().collect()
    }

    #[test]
    fn spop_picks_the_same_members_whatever_the_table_layout() {
        // Same contents, different histories: one table grew to thousands and shrank.
        let mut grown = Node::fresh();
        grown.add("s", names(0..3_000));
        grown.op(SetOp::Rem {
            key: b("s"),
            members: names(200..3_000).map(Bytes::from).collect(),
        });
        let mut direct = Node::fresh();
        direct.add("s", names(0..200));
        for (count, seed) in [(None, 1), (Some(10), 2), (Some(150), 3), (Some(1), 4)] {
            let pop = SetOp::Pop {
                key: b("s"),
                count,
                seed,
            };
            let a = grown.op(pop.clone());
            let b = direct.op(pop);
            match (&a, &b) {
                (Reply::Bulk(x), Reply::Bulk(y)) => assert_eq!(x, y),
                _ => assert_eq!(bulks(a), bulks(b)),
            }
            assert_eq!(grown.members("s"), direct.members("s"));
        }
        assert_eq!(direct.members("s").len(), 200 - 1 - 10 - 150 - 1);
    }

    #[test]
    fn spop_count_pops_distinct_members_and_deletes_the_emptied_key() {
        let mut n = Node::fresh();
        n.add("s", names(0..50));
        let first = bulk_list(n.op(SetOp::Pop {
            key: b("s"),
            count: Some(20),
            seed: 9,
        }));
        assert_eq!(first.len(), 20);
        assert_eq!(first.iter().collect::<BTreeSet<_>>().len(), 20);
        let rest = n.members("s");
        assert_eq!(rest.len(), 30);
        assert!(first.iter().all(|m| !rest.contains(m)));
        let last = bulks(n.op(SetOp::Pop {
            key: b("s"),
            count: Some(100),
            seed: 10,
        }));
        assert_eq!(last, rest);
        assert!(!n.exists("s"));
        assert_eq!(
            n.op(SetOp::Pop {
                key: b("s"),
                count: None,
                seed: 11
            }),
            Reply::Nil
        );
    }

    #[test]
    fn srandmember_counts_follow_redis() {
        let mut n = Node::fresh();
        n.add("big", names(0..1_000));
        n.add("small", names(0..5));
        for (key, count, len) in [
            ("big", 10, 10),
            ("big", 400, 400),
            ("big", 999, 999),
            ("big", 5_000, 1_000),
            ("small", 3, 3),
            ("small", 10, 5),
        ] {
            let got = bulk_list(n.query_random(
                SetQuery::RandMember {
                    key: b(key),
                    count: Some(count),
                },
                count as u64,
            ));
            assert_eq!(got.len(), len, "{key} {count}");
            assert_eq!(got.iter().collect::<BTreeSet<_>>().len(), len, "distinct");
        }
        let repeated = bulk_list(n.query_random(
            SetQuery::RandMember {
                key: b("small"),
                count: Some(-100),
            },
            5,
        ));
        assert_eq!(repeated.len(), 100);
        assert!(repeated.iter().collect::<BTreeSet<_>>().len() <= 5);
        assert_eq!(
            n.query_random(
                SetQuery::RandMember {
                    key: b("none"),
                    count: Some(3)
                },
                1
            ),
            Reply::Array(Vec::new())
        );
    }

    #[test]
    fn fair_picks_reach_every_member_with_even_odds() {
        let mut n = Node::fresh();
        n.add("s", names(0..1_000));
        let ks = n.engine.space(Namespace(0)).expect("namespace 0");
        let set = ks
            .peek_as::<SetValue>(b"s", 1_000)
            .expect("a set")
            .expect("present");
        let mut rng = Rng::new(123);
        let mut hits: BTreeMap<&Bytes, u32> = BTreeMap::new();
        for _ in 0..100_000 {
            let (m, _) = pick_fair(set, &mut rng).expect("non-empty");
            *hits.entry(m).or_default() += 1;
        }
        assert_eq!(hits.len(), 1_000, "every member comes up");
        let max = hits.values().max().copied().unwrap_or_default();
        assert!(max < 400, "no member gets 4x its share: {max}");
    }

    #[test]
    fn store_replaces_any_type_and_an_empty_result_deletes_the_destination() {
        let mut n = Node::fresh();
        n.add("a", names(0..10));
        n.add("b", names(5..15));
        n.add("dst", names(100..101));
        assert_eq!(
            n.op(SetOp::Store {
                dst: b("dst"),
                keys: vec![b("a"), b("b")],
                algebra: SetAlgebra::Inter,
            }),
            Reply::Int(5)
        );
        assert_eq!(n.members("dst"), names(5..10).map(Bytes::from).collect());
        assert_eq!(
            n.op(SetOp::Store {
                dst: b("dst"),
                keys: vec![b("a"), b("b")],
                algebra: SetAlgebra::Union,
            }),
            Reply::Int(15)
        );
        assert_eq!(
            n.op(SetOp::Store {
                dst: b("dst"),
                keys: vec![b("a"), b("b")],
                algebra: SetAlgebra::Diff,
            }),
            Reply::Int(5)
        );
        assert_eq!(n.members("dst"), names(0..5).map(Bytes::from).collect());
        assert_eq!(
            n.op(SetOp::Store {
                dst: b("dst"),
                keys: vec![b("a"), b("missing")],
                algebra: SetAlgebra::Inter,
            }),
            Reply::Int(0)
        );
        assert!(!n.exists("dst"));
        // A destination used as a source is read before it is replaced.
        assert_eq!(
            n.op(SetOp::Store {
                dst: b("a"),
                keys: vec![b("a"), b("b")],
                algebra: SetAlgebra::Diff,
            }),
            Reply::Int(5)
        );
    }

    #[test]
    fn algebra_type_checks_every_key_even_after_a_missing_one() {
        let mut n = Node::fresh();
        n.add("a", names(0..3));
        n.op(crate::strings::StringOp::Append {
            key: b("str"),
            value: b("x"),
        });
        for algebra in [SetAlgebra::Inter, SetAlgebra::Union, SetAlgebra::Diff] {
            assert_eq!(
                n.query_random(
                    SetQuery::Combine {
                        keys: vec![b("missing"), b("a"), b("str")],
                        algebra,
                    },
                    0
                ),
                Reply::Error(EngineError::WrongType)
            );
        }
    }

    #[test]
    fn sintercard_stops_at_the_limit() {
        let mut n = Node::fresh();
        n.add("a", names(0..100));
        n.add("b", names(50..300));
        let card = |n: &mut Node, limit| {
            n.query_random(
                SetQuery::InterCard {
                    keys: vec![b("a"), b("b")],
                    limit,
                },
                0,
            )
        };
        assert_eq!(card(&mut n, 0), Reply::Int(50));
        assert_eq!(card(&mut n, 7), Reply::Int(7));
        assert_eq!(card(&mut n, 500), Reply::Int(50));
    }

    #[test]
    fn smove_moves_and_reports_like_redis() {
        let mut n = Node::fresh();
        n.add("src", names(0..2));
        let mv = |n: &mut Node, src: &str, dst: &str, m: &str| {
            n.op(SetOp::Move {
                src: b(src),
                dst: b(dst),
                member: b(m),
            })
        };
        assert_eq!(mv(&mut n, "src", "src", "m0"), Reply::Int(1));
        assert_eq!(mv(&mut n, "src", "src", "zz"), Reply::Int(0));
        assert_eq!(mv(&mut n, "src", "dst", "zz"), Reply::Int(0));
        assert_eq!(mv(&mut n, "nosuch", "dst", "m0"), Reply::Int(0));
        assert_eq!(mv(&mut n, "src", "dst", "m0"), Reply::Int(1));
        assert_eq!(mv(&mut n, "src", "dst", "m1"), Reply::Int(1));
        assert!(!n.exists("src"), "emptied source is deleted");
        assert_eq!(n.members("dst").len(), 2);
    }

    #[test]
    fn sscan_returns_every_member_exactly_once() {
        let mut n = Node::fresh();
        n.add("s", names(0..5_000));
        let mut seen: BTreeMap<Bytes, u32> = BTreeMap::new();
        let mut cursor = 0;
        let mut calls = 0;
        loop {
            let reply = n.query_random(
                SetQuery::Scan {
                    key: b("s"),
                    cursor,
                    pattern: None,
                    count: 10,
                    error: None,
                },
                0,
            );
            let Reply::Array(mut parts) = reply else {
                panic!("scan reply");
            };
            let items = parts.pop().expect("items");
            let Some(Reply::Bulk(next)) = parts.pop() else {
                panic!("cursor");
            };
            for m in bulk_list(items) {
                *seen.entry(m).or_default() += 1;
            }
            calls += 1;
            cursor = std::str::from_utf8(&next)
                .expect("ascii")
                .parse()
                .expect("number");
            if cursor == 0 {
                break;
            }
        }
        assert!(calls > 100, "COUNT bounds each call: {calls}");
        assert_eq!(seen.len(), 5_000);
        assert!(seen.values().all(|&c| c == 1));
    }

    #[test]
    fn small_sets_scan_in_one_call() {
        let mut n = Node::fresh();
        n.add("s", names(0..100));
        let reply = n.query_random(
            SetQuery::Scan {
                key: b("s"),
                cursor: 0,
                pattern: Some(b("m1*")),
                count: 10,
                error: None,
            },
            0,
        );
        let Reply::Array(parts) = reply else {
            panic!("scan reply");
        };
        assert_eq!(parts[0], Reply::bulk(b"0"));
        assert_eq!(bulks(parts[1].clone()).len(), 11, "m1 and m10..m19");
    }
}
