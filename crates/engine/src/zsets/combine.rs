//! ZUNION, ZINTER, ZDIFF (and their STORE forms) and ZINTERCARD. Inputs may be sorted
//! sets or plain sets (members score 1), exactly as Redis accepts them.

use bytes::Bytes;

use crate::dict::Dict;
use crate::error::EngineError;
use crate::keyspace::Keyspace;
use crate::value::{SetValue, Value};
use crate::zset::ZSetValue;

/// Which set operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum SetOpKind {
    /// Members of any input.
    Union,
    /// Members of every input.
    Inter,
    /// Members of the first input and of no other.
    Diff,
}

/// How scores of one member in several inputs combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Aggregate {
    /// Add them (the default).
    Sum,
    /// Keep the lowest.
    Min,
    /// Keep the highest.
    Max,
}

/// A set operation over keys.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Combine {
    /// The operation.
    pub kind: SetOpKind,
    /// Input keys, at least one.
    pub keys: Vec<Bytes>,
    /// One weight per key (WEIGHTS), or empty for all 1.
    pub weights: Vec<f64>,
    /// AGGREGATE.
    pub aggregate: Aggregate,
}

/// One input, borrowed from the keyspace.
enum Source<'a> {
    Missing,
    ZSet(&'a ZSetValue),
    Set(&'a SetValue),
}

impl Source<'_> {
    fn len(&self) -> usize {
        match self {
            Source::Missing => 0,
            Source::ZSet(z) => z.len(),
            Source::Set(s) => s.len(),
        }
    }

    fn score(&self, member: &[u8]) -> Option<f64> {
        match self {
            Source::Missing => None,
            Source::ZSet(z) => z.score(member),
            Source::Set(s) => s.contains_key(member).then_some(1.0),
        }
    }

    fn for_each(&self, mut f: impl FnMut(&Bytes, f64)) {
        match self {
            Source::Missing => {}
            Source::ZSet(z) => z.iter().for_each(|e| f(&e.member, e.score)),
            Source::Set(s) => s.keys().for_each(|m| f(m, 1.0)),
        }
    }
}

fn source<'a>(ks: &'a Keyspace, key: &[u8], now_ms: u64) -> Result<Source<'a>, EngineError> {
    match ks.peek(key, now_ms) {
        None => Ok(Source::Missing),
        Some(entry) => match &entry.value {
            Value::ZSet(z) => Ok(Source::ZSet(z)),
            Value::Set(s) => Ok(Source::Set(s)),
            _ => Err(EngineError::WrongType),
        },
    }
}

/// WRONGTYPE when an input key holds neither a set nor a sorted set.
pub fn check_inputs(ks: &Keyspace, now_ms: u64, keys: &[Bytes]) -> Result<(), EngineError> {
    keys.iter()
        .try_for_each(|key| source(ks, key, now_ms).map(|_| ()))
}

/// The inputs with their weights; for union and intersection ordered by size, as
/// Redis does, so sums add up in the same order and give the same bits.
fn sources<'a>(
    ks: &'a Keyspace,
    now_ms: u64,
    keys: &[Bytes],
    weights: &[f64],
    by_size: bool,
) -> Result<Vec<(Source<'a>, f64)>, EngineError> {
    let mut inputs = keys
        .iter()
        .enumerate()
        .map(|(i, key)| {
            Ok((
                source(ks, key, now_ms)?,
                weights.get(i).copied().unwrap_or(1.0),
            ))
        })
        .collect::<Result<Vec<_>, EngineError>>()?;
    if by_size {
        inputs.sort_by_key(|(s, _)| s.len());
    }
    Ok(inputs)
}

/// A weighted score; `0 * inf` counts as 0, as in Redis.
fn weighted(score: f64, weight: f64) -> f64 {
    let value = score * weight;
    if value.is_nan() { 0.0 } else { value }
}

fn aggregate(target: f64, value: f64, how: Aggregate) -> f64 {
    match how {
        Aggregate::Sum => {
            // inf + -inf is NaN; Redis settles it as 0.
            let sum = target + value;
            if sum.is_nan() { 0.0 } else { sum }
        }
        Aggregate::Min => {
            if value < target {
                value
            } else {
                target
            }
        }
        Aggregate::Max => {
            if value > target {
                value
            } else {
                target
            }
        }
    }
}

/// Runs `op` against the keyspace at `now_ms`; the result is a new sorted set.
pub fn combine(ks: &Keyspace, now_ms: u64, op: &Combine) -> Result<ZSetValue, EngineError> {
    let mut result = ZSetValue::new(ks.seed());
    match op.kind {
        SetOpKind::Union => {
            let inputs = sources(ks, now_ms, &op.keys, &op.weights, true)?;
            let mut acc: Dict<Bytes, f64> = Dict::with_seed(ks.seed());
            for (input, weight) in &inputs {
                input.for_each(|member, score| {
                    let value = weighted(score, *weight);
                    let (slot, fresh) = acc.get_or_insert_with(member.clone(), || value);
                    if !fresh {
                        *slot = aggregate(*slot, value, op.aggregate);
                    }
                });
            }
            for (member, score) in acc.iter() {
                result.insert(member.clone(), *score);
            }
        }
        SetOpKind::Inter => {
            let inputs = sources(ks, now_ms, &op.keys, &op.weights, true)?;
            let Some(((first, first_weight), rest)) = inputs.split_first() else {
                return Ok(result);
            };
            first.for_each(|member, score| {
                let mut total = weighted(score, *first_weight);
                for (input, weight) in rest {
                    match input.score(member) {
                        Some(s) => total = aggregate(total, weighted(s, *weight), op.aggregate),
                        None => return,
                    }
                }
                result.insert(member.clone(), total);
            });
        }
        SetOpKind::Diff => {
            let inputs = sources(ks, now_ms, &op.keys, &[], false)?;
            let Some(((first, _), rest)) = inputs.split_first() else {
                return Ok(result);
            };
            first.for_each(|member, score| {
                if rest.iter().all(|(input, _)| input.score(member).is_none()) {
                    result.insert(member.clone(), score);
                }
            });
        }
    }
    Ok(result)
}

/// ZINTERCARD: members in every input, counting stops at `limit` (0: no limit).
pub fn inter_card(
    ks: &Keyspace,
    now_ms: u64,
    keys: &[Bytes],
    limit: usize,
) -> Result<usize, EngineError> {
    let inputs = sources(ks, now_ms, keys, &[], true)?;
    let Some(((first, _), rest)) = inputs.split_first() else {
        return Ok(0);
    };
    let limit = if limit == 0 { usize::MAX } else { limit };
    let mut count = 0;
    // Walking a set cannot stop early; at worst it walks the smallest input once.
    first.for_each(|member, _| {
        if count < limit && rest.iter().all(|(input, _)| input.score(member).is_some()) {
            count += 1;
        }
    });
    Ok(count)
}
