//! Ranges over a sorted set: by rank, by score and by member (lex), with Redis's
//! bounds, REV and LIMIT rules. Every selection finds its first entry in O(log n)
//! through the tree's counts and then walks the leaves.

use bytes::Bytes;

use crate::zset::{Entry, ZSetValue};

/// A score interval; each end inclusive or exclusive (`(` in the command).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ScoreRange {
    /// Lower end.
    pub min: f64,
    /// The lower end itself is excluded.
    pub min_ex: bool,
    /// Upper end.
    pub max: f64,
    /// The upper end itself is excluded.
    pub max_ex: bool,
}

impl ScoreRange {
    /// True when `score` is not below the range.
    pub fn above_min(&self, score: f64) -> bool {
        if self.min_ex {
            score > self.min
        } else {
            score >= self.min
        }
    }

    /// True when `score` is not above the range.
    pub fn below_max(&self, score: f64) -> bool {
        if self.max_ex {
            score < self.max
        } else {
            score <= self.max
        }
    }
}

/// One end of a lexicographic range.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum LexBound {
    /// `-`: below every member.
    Min,
    /// `+`: above every member.
    Max,
    /// `[member`.
    Incl(Bytes),
    /// `(member`.
    Excl(Bytes),
}

/// A member interval, meaningful when all members share one score (Redis's rule).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LexRange {
    /// Lower end.
    pub min: LexBound,
    /// Upper end.
    pub max: LexBound,
}

impl LexRange {
    /// True when `member` is not below the range.
    pub fn above_min(&self, member: &[u8]) -> bool {
        match &self.min {
            LexBound::Min => true,
            LexBound::Max => false,
            LexBound::Incl(b) => member >= b.as_ref(),
            LexBound::Excl(b) => member > b.as_ref(),
        }
    }

    /// True when `member` is not above the range.
    pub fn below_max(&self, member: &[u8]) -> bool {
        match &self.max {
            LexBound::Min => false,
            LexBound::Max => true,
            LexBound::Incl(b) => member <= b.as_ref(),
            LexBound::Excl(b) => member < b.as_ref(),
        }
    }
}

/// What a range selects by.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum RangeBy {
    /// Ranks `start..=stop`; negative ranks count from the end.
    Rank {
        /// First rank.
        start: i64,
        /// Last rank, inclusive.
        stop: i64,
    },
    /// Scores (BYSCORE).
    Score(ScoreRange),
    /// Members (BYLEX).
    Lex(LexRange),
}

/// A ZRANGE-family selection.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RangeSpec {
    /// The interval.
    pub by: RangeBy,
    /// Walk from the highest entry down (REV); ranks then count from the top.
    pub rev: bool,
    /// LIMIT offset count (score and lex ranges only): a negative offset selects
    /// nothing, a negative count means no limit.
    pub limit: Option<(i64, i64)>,
}

/// Ranks `start..=stop` clamped to a set of `len` entries as Redis does, or `None`
/// when the range is empty.
pub fn rank_bounds(len: usize, start: i64, stop: i64) -> Option<(usize, usize)> {
    let len = len as i64;
    let start = if start < 0 {
        (len + start).max(0)
    } else {
        start
    };
    let stop = if stop < 0 { len + stop } else { stop };
    if start > stop || start >= len {
        return None;
    }
    Some((start as usize, stop.min(len - 1) as usize))
}

/// Ranks `start..end` of the entries in `range`: `[first in range, first past it)`.
/// Assumes the bounds are monotone over the order (always true for scores, true for
/// members when all scores are equal).
fn span(z: &ZSetValue, by: &RangeBy) -> (usize, usize) {
    let (start, end) = match by {
        RangeBy::Rank { start, stop } => {
            return rank_bounds(z.len(), *start, *stop).map_or((0, 0), |(a, b)| (a, b + 1));
        }
        RangeBy::Score(r) => (
            z.count_before(|e| !r.above_min(e.score)),
            z.count_before(|e| r.below_max(e.score)),
        ),
        RangeBy::Lex(r) => (
            z.count_before(|e| !r.above_min(&e.member)),
            z.count_before(|e| r.below_max(&e.member)),
        ),
    };
    (start, end.max(start))
}

/// Number of entries in a score or lex range (ZCOUNT, ZLEXCOUNT).
pub fn count(z: &ZSetValue, by: &RangeBy) -> usize {
    let (start, end) = span(z, by);
    end - start
}

/// Removes the entries of a range (ZREMRANGEBY*); returns how many went.
pub fn remove(z: &mut ZSetValue, by: &RangeBy) -> usize {
    let (start, end) = span(z, by);
    if start == end {
        return 0;
    }
    z.remove_ranks(start, end).len()
}

/// The entries a ZRANGE-family command selects, in reply order.
pub fn select<'a>(z: &'a ZSetValue, spec: &RangeSpec) -> Vec<&'a Entry> {
    let (mut start, mut end) = span(z, &spec.by);
    if spec.rev && matches!(spec.by, RangeBy::Rank { .. }) {
        // Reverse ranks count from the highest entry.
        (start, end) = (z.len() - end, z.len() - start);
    }
    let (offset, count) = match spec.limit {
        None => (0, usize::MAX),
        Some((offset, _)) if offset < 0 => return Vec::new(),
        Some((offset, count)) => (
            usize::try_from(offset).unwrap_or(usize::MAX),
            usize::try_from(count).unwrap_or(usize::MAX),
        ),
    };
    let available = (end - start).saturating_sub(offset);
    let take = available.min(count);
    if take == 0 {
        return Vec::new();
    }
    let first = if spec.rev {
        end - 1 - offset
    } else {
        start + offset
    };
    z.iter_from(first, spec.rev).take(take).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(pairs: &[(f64, &str)]) -> ZSetValue {
        let mut z = ZSetValue::new(3);
        for &(score, member) in pairs {
            z.insert(Bytes::copy_from_slice(member.as_bytes()), score);
        }
        z
    }

    fn members(entries: Vec<&Entry>) -> Vec<String> {
        entries
            .iter()
            .map(|e| String::from_utf8_lossy(&e.member).into_owned())
            .collect()
    }

    fn scores(min: f64, min_ex: bool, max: f64, max_ex: bool) -> RangeBy {
        RangeBy::Score(ScoreRange {
            min,
            min_ex,
            max,
            max_ex,
        })
    }

    #[test]
    fn rank_bounds_follow_redis_clamping() {
        assert_eq!(rank_bounds(5, 0, -1), Some((0, 4)));
        assert_eq!(rank_bounds(5, -100, 100), Some((0, 4)));
        assert_eq!(rank_bounds(5, 3, 1), None);
        assert_eq!(rank_bounds(5, 5, 10), None);
        assert_eq!(rank_bounds(5, -2, -1), Some((3, 4)));
        assert_eq!(rank_bounds(0, 0, -1), None);
    }

    #[test]
    fn score_ranges_honour_exclusive_bounds_rev_and_limit() {
        let z = set(&[(1.0, "a"), (2.0, "b"), (2.0, "c"), (3.0, "d"), (4.0, "e")]);
        let spec = |by, rev, limit| RangeSpec { by, rev, limit };
        let pick = |s: RangeSpec| members(select(&z, &s));
        assert_eq!(
            pick(spec(scores(2.0, false, 3.0, false), false, None)),
            ["b", "c", "d"]
        );
        assert_eq!(pick(spec(scores(2.0, true, 4.0, true), false, None)), ["d"]);
        assert_eq!(
            pick(spec(scores(2.0, false, 4.0, false), true, None)),
            ["e", "d", "c", "b"]
        );
        let limited = spec(
            scores(f64::NEG_INFINITY, false, f64::INFINITY, false),
            false,
            Some((1, 2)),
        );
        assert_eq!(pick(limited), ["b", "c"]);
        let rev_limited = spec(scores(1.0, false, 4.0, true), true, Some((1, 10)));
        assert_eq!(pick(rev_limited), ["c", "b", "a"]);
        assert!(pick(spec(scores(1.0, false, 4.0, false), false, Some((-1, 2)))).is_empty());
        assert!(pick(spec(scores(3.0, false, 2.0, false), false, None)).is_empty());
        assert!(pick(spec(scores(2.0, true, 2.0, false), false, None)).is_empty());
        assert_eq!(count(&z, &scores(2.0, false, 2.0, false)), 2);
        assert_eq!(count(&z, &scores(5.0, false, 1.0, false)), 0);
    }

    #[test]
    fn lex_ranges_use_member_order() {
        let z = set(&[(0.0, "a"), (0.0, "b"), (0.0, "c"), (0.0, "d")]);
        let lex = |min, max| RangeBy::Lex(LexRange { min, max });
        let incl = |s: &'static str| LexBound::Incl(Bytes::from_static(s.as_bytes()));
        let excl = |s: &'static str| LexBound::Excl(Bytes::from_static(s.as_bytes()));
        let pick = |by, rev| {
            members(select(
                &z,
                &RangeSpec {
                    by,
                    rev,
                    limit: None,
                },
            ))
        };
        assert_eq!(
            pick(lex(LexBound::Min, LexBound::Max), false),
            ["a", "b", "c", "d"]
        );
        assert_eq!(pick(lex(incl("b"), excl("d")), false), ["b", "c"]);
        assert_eq!(pick(lex(excl("a"), incl("c")), true), ["c", "b"]);
        assert!(pick(lex(LexBound::Max, LexBound::Min), false).is_empty());
        assert_eq!(count(&z, &lex(excl("a"), LexBound::Max)), 3);
    }

    #[test]
    fn rank_ranges_reverse_from_the_top() {
        let z = set(&[(1.0, "a"), (2.0, "b"), (3.0, "c")]);
        let spec = RangeSpec {
            by: RangeBy::Rank { start: 0, stop: 1 },
            rev: true,
            limit: None,
        };
        assert_eq!(members(select(&z, &spec)), ["c", "b"]);
    }
}
