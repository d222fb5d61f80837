//! Argument forms shared by the sorted-set commands: score and lex bounds, the
//! ZRANGE option grammar, and `numkeys` key lists.

use bytes::Bytes;
use okapi_engine::zsets::{LexBound, LexRange, RangeBy, RangeSpec, ScoreRange};
use okapi_types::num::parse_f64_bound;

use crate::args::{int, is};
use crate::error::CommandError;

/// Redis's reply to a malformed score bound.
pub(super) const NOT_FLOAT_RANGE: &str = "ERR min or max is not a float";
/// Redis's reply to a malformed lex bound.
pub(super) const NOT_LEX_RANGE: &str = "ERR min or max not valid string range item";

/// One score bound: `1.5`, `(1.5` (exclusive), `-inf`, `+inf`.
fn score_bound(arg: &[u8]) -> Option<(f64, bool)> {
    match arg.split_first() {
        Some((b'(', rest)) => parse_f64_bound(rest).map(|v| (v, true)),
        _ => parse_f64_bound(arg).map(|v| (v, false)),
    }
}

/// A `min max` score interval.
pub(super) fn score_range(min: &[u8], max: &[u8]) -> Result<ScoreRange, CommandError> {
    match (score_bound(min), score_bound(max)) {
        (Some((min, min_ex)), Some((max, max_ex))) => Ok(ScoreRange {
            min,
            min_ex,
            max,
            max_ex,
        }),
        _ => Err(CommandError::other(NOT_FLOAT_RANGE)),
    }
}

fn lex_bound(arg: &Bytes) -> Option<LexBound> {
    match arg.first()? {
        b'-' if arg.len() == 1 => Some(LexBound::Min),
        b'+' if arg.len() == 1 => Some(LexBound::Max),
        b'[' => Some(LexBound::Incl(arg.slice(1..))),
        b'(' => Some(LexBound::Excl(arg.slice(1..))),
        _ => None,
    }
}

/// A `min max` lex interval: `-`, `+`, `[member` or `(member` each.
pub(super) fn lex_range(min: &Bytes, max: &Bytes) -> Result<LexRange, CommandError> {
    match (lex_bound(min), lex_bound(max)) {
        (Some(min), Some(max)) => Ok(LexRange { min, max }),
        _ => Err(CommandError::other(NOT_LEX_RANGE)),
    }
}

/// What a ZRANGE-family command fixes before its options are read.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum By {
    Rank,
    Score,
    Lex,
}

/// A parsed ZRANGE-family command.
pub(super) struct RangeArgs {
    pub key: Bytes,
    pub spec: RangeSpec,
    pub withscores: bool,
}

/// Parses `key min max [BYSCORE|BYLEX] [REV] [WITHSCORES] [LIMIT offset count]` the
/// way Redis's `zrangeGenericCommand` does; the older commands fix `by` and `rev`,
/// which makes those words syntax errors for them. `store` (ZRANGESTORE) refuses
/// WITHSCORES.
pub(super) fn range_args(
    a: &[Bytes],
    store: bool,
    mut by: Option<By>,
    mut rev: Option<bool>,
) -> Result<RangeArgs, CommandError> {
    let (mut withscores, mut limit) = (false, None);
    let mut j = 3;
    while j < a.len() {
        let left = a.len() - j - 1;
        let word = &a[j];
        if !store && is(word, "WITHSCORES") {
            withscores = true;
        } else if is(word, "LIMIT") && left >= 2 {
            limit = Some((int(&a[j + 1])?, int(&a[j + 2])?));
            j += 2;
        } else if rev.is_none() && is(word, "REV") {
            rev = Some(true);
        } else if by.is_none() && is(word, "BYLEX") {
            by = Some(By::Lex);
        } else if by.is_none() && is(word, "BYSCORE") {
            by = Some(By::Score);
        } else {
            return Err(CommandError::Syntax);
        }
        j += 1;
    }
    let by = by.unwrap_or(By::Rank);
    let rev = rev.unwrap_or(false);
    // Redis spots LIMIT by a count other than its -1 default.
    if by == By::Rank && limit.is_some_and(|(_, count)| count != -1) {
        return Err(CommandError::other(
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        ));
    }
    if withscores && by == By::Lex {
        return Err(CommandError::other(
            "ERR syntax error, WITHSCORES not supported in combination with BYLEX",
        ));
    }
    // Reverse score and lex ranges are written `max min`.
    let (lo, hi) = if rev && by != By::Rank {
        (&a[2], &a[1])
    } else {
        (&a[1], &a[2])
    };
    let by = match by {
        By::Rank => RangeBy::Rank {
            start: int(lo)?,
            stop: int(hi)?,
        },
        By::Score => RangeBy::Score(score_range(lo, hi)?),
        By::Lex => RangeBy::Lex(lex_range(lo, hi)?),
    };
    // A rank range ignores LIMIT (only `count == -1` gets here).
    let limit = if matches!(by, RangeBy::Rank { .. }) {
        None
    } else {
        limit
    };
    Ok(RangeArgs {
        key: a[0].clone(),
        spec: RangeSpec { by, rev, limit },
        withscores,
    })
}

/// Positions of `numkeys` keys whose count is at `argv[at]` (name at 0), clipped to
/// the arguments present; a bad count yields no keys and the parser reports it.
pub(super) fn numkeys_positions(argv: &[Bytes], at: usize) -> Vec<usize> {
    let n = argv
        .get(at)
        .and_then(|arg| okapi_types::num::parse_i64(arg))
        .filter(|&n| n > 0)
        .map_or(0, |n| n as usize);
    (at + 1..argv.len().min((at + 1).saturating_add(n))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn score_bounds_read_like_strtod() {
        assert_eq!(score_bound(b"1.5"), Some((1.5, false)));
        assert_eq!(score_bound(b"(1.5"), Some((1.5, true)));
        assert_eq!(score_bound(b"-inf"), Some((f64::NEG_INFINITY, false)));
        assert_eq!(score_bound(b"(+inf"), Some((f64::INFINITY, true)));
        assert_eq!(score_bound(b""), Some((0.0, false)));
        assert_eq!(score_bound(b"("), Some((0.0, true)));
        assert_eq!(score_bound(b" 3"), Some((3.0, false)));
        assert_eq!(score_bound(b"3 "), None);
        assert_eq!(score_bound(b"nan"), None);
        assert_eq!(score_bound(b"str"), None);
        assert_eq!(score_bound(b"[1"), None);
    }

    #[test]
    fn lex_bounds_need_a_prefix() {
        let b = |s: &'static str| Bytes::from_static(s.as_bytes());
        assert_eq!(lex_bound(&b("-")), Some(LexBound::Min));
        assert_eq!(lex_bound(&b("+")), Some(LexBound::Max));
        assert_eq!(lex_bound(&b("[a")), Some(LexBound::Incl(b("a"))));
        assert_eq!(lex_bound(&b("(")), Some(LexBound::Excl(b(""))));
        assert_eq!(lex_bound(&b("+x")), None);
        assert_eq!(lex_bound(&b("a")), None);
        assert_eq!(lex_bound(&b("")), None);
    }

    #[test]
    fn numkeys_positions_are_clipped() {
        let argv: Vec<Bytes> = ["zunion", "2", "a", "b", "WEIGHTS"]
            .iter()
            .map(|s| Bytes::from_static(s.as_bytes()))
            .collect();
        assert_eq!(numkeys_positions(&argv, 1), vec![2, 3]);
        let argv: Vec<Bytes> = ["zunion", "9", "a"]
            .iter()
            .map(|s| Bytes::from_static(s.as_bytes()))
            .collect();
        assert_eq!(numkeys_positions(&argv, 1), vec![2]);
        assert!(numkeys_positions(&argv[..1], 1).is_empty());
    }
}
