//! A linearizability checker for histories of single registers (one per key), in the
//! style of Wing & Gong with Lowe's memoisation (as Knossos and Porcupine do): it
//! searches for an order of the operations that respects real time (an operation
//! that completed before another was invoked comes first) and the register's rules
//! (a read returns the last value written; a compare-and-set succeeds exactly when
//! the value matched). Operations whose outcome is unknown (timeouts, "outcome
//! unknown" errors) may take effect at any moment after they were invoked, or never.

use std::collections::{BTreeMap, HashSet};

/// A value of a register (`None`: the key does not exist).
pub type Value = Option<String>;

/// What an operation did, as the client saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// SET key value.
    Write(String),
    /// GET key, and what it returned.
    Read(Value),
    /// Set to `new` if the value is `expect` (WATCH/GET/MULTI/SET/EXEC); `ok` is
    /// whether EXEC applied it.
    Cas {
        /// The value the client saw and conditioned on.
        expect: Value,
        /// The value it set.
        new: String,
        /// Whether the transaction applied.
        ok: bool,
    },
}

/// One operation of a history.
#[derive(Debug, Clone)]
pub struct Op {
    /// The key (register).
    pub key: String,
    /// What it did.
    pub kind: Kind,
    /// When it was invoked (any monotonic unit, the same for the whole history).
    pub invoke: u64,
    /// When its reply arrived; `None` when the outcome is unknown.
    pub complete: Option<u64>,
}

/// Why a history is not linearizable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anomaly {
    /// The key whose operations admit no order.
    pub key: String,
    /// Operations of that key.
    pub ops: usize,
    /// Where the search got furthest: the value after the longest linearizable prefix
    /// found, and the next operations (by invocation) none of which could follow it.
    pub stuck: String,
}

impl std::fmt::Display for Anomaly {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the {} operations on key {:?} admit no linearizable order; {}",
            self.ops, self.key, self.stuck
        )
    }
}

/// What a check found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Keys checked.
    pub keys: usize,
    /// Operations checked (unknown-outcome reads are dropped: they changed nothing).
    pub ops: usize,
    /// Keys whose search gave up (too many states), neither proven nor refuted.
    pub undecided: Vec<String>,
}

/// Most states explored per key before giving up on it.
const MAX_STATES: usize = 2_000_000;

/// Checks every key of `history`, each starting absent. `Err` names the first key with
/// no linearizable order.
pub fn check(history: &[Op]) -> Result<Report, Anomaly> {
    let mut by_key: BTreeMap<&str, Vec<&Op>> = BTreeMap::new();
    for op in history {
        // A read whose reply never came constrains nothing.
        if matches!(op.kind, Kind::Read(_)) && op.complete.is_none() {
            continue;
        }
        by_key.entry(&op.key).or_default().push(op);
    }
    let mut report = Report {
        keys: by_key.len(),
        ..Report::default()
    };
    for (key, ops) in by_key {
        report.ops += ops.len();
        match check_register(&ops) {
            Verdict::Linearizable => {}
            Verdict::Not(stuck) => {
                return Err(Anomaly {
                    key: key.to_owned(),
                    ops: ops.len(),
                    stuck,
                });
            }
            Verdict::Undecided => report.undecided.push(key.to_owned()),
        }
    }
    Ok(report)
}

/// Applies `op` to a register holding `value`: the new value, or `None` when the op's
/// observed result contradicts the value.
fn step(value: &Value, op: &Op) -> Option<Value> {
    match &op.kind {
        Kind::Write(v) => Some(Some(v.clone())),
        Kind::Read(seen) => (seen == value).then(|| value.clone()),
        Kind::Cas { expect, new, ok } => {
            let matches = expect == value;
            if op.complete.is_none() {
                // Unknown: placed here it applied if its check held (never placing it
                // at all covers "it did not happen").
                return Some(if matches {
                    Some(new.clone())
                } else {
                    value.clone()
                });
            }
            match (matches, ok) {
                (true, true) => Some(Some(new.clone())),
                (false, false) => Some(value.clone()),
                _ => None,
            }
        }
    }
}

enum Verdict {
    Linearizable,
    /// Not, and where the search got stuck.
    Not(String),
    Undecided,
}

/// Whether one register's operations are linearizable.
fn check_register(ops: &[&Op]) -> Verdict {
    let n = ops.len();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&i| ops[i].invoke);
    let ops: Vec<&Op> = order.iter().map(|&i| ops[i]).collect();
    let words = n.div_ceil(64);
    let mut seen: HashSet<(Vec<u64>, Value)> = HashSet::new();
    // Depth-first search over (linearized set, value), with an explicit stack.
    let mut stack: Vec<(Vec<u64>, Value)> = vec![(vec![0; words], None)];
    let mut deepest: (u32, Vec<u64>, Value) = (0, vec![0; words], None);
    while let Some((done, value)) = stack.pop() {
        let is_done = |i: usize| done[i / 64] & (1 << (i % 64)) != 0;
        // Every op with a known outcome placed: the rest (unknown) may never have
        // happened.
        if (0..n).all(|i| is_done(i) || ops[i].complete.is_none()) {
            return Verdict::Linearizable;
        }
        let depth: u32 = done.iter().map(|w| w.count_ones()).sum();
        if depth > deepest.0 {
            deepest = (depth, done.clone(), value.clone());
        }
        // An op may go next only if no unplaced op completed before it was invoked.
        let horizon = (0..n)
            .filter(|&i| !is_done(i))
            .filter_map(|i| ops[i].complete)
            .min()
            .unwrap_or(u64::MAX);
        for i in 0..n {
            if is_done(i) || ops[i].invoke > horizon {
                continue;
            }
            let Some(next) = step(&value, ops[i]) else {
                continue;
            };
            let mut placed = done.clone();
            placed[i / 64] |= 1 << (i % 64);
            let state = (placed, next);
            if seen.insert(state.clone()) {
                if seen.len() > MAX_STATES {
                    return Verdict::Undecided;
                }
                stack.push(state);
            }
        }
    }
    let (depth, done, value) = deepest;
    let next: Vec<String> = (0..n)
        .filter(|&i| done[i / 64] & (1 << (i % 64)) == 0)
        .take(8)
        .map(|i| {
            format!(
                "{:?} [{}..{:?}]",
                ops[i].kind, ops[i].invoke, ops[i].complete
            )
        })
        .collect();
    Verdict::Not(format!(
        "after {depth} operations the value is {value:?}, and none of these fits next: {}",
        next.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(kind: Kind, invoke: u64, complete: Option<u64>) -> Op {
        Op {
            key: "k".into(),
            kind,
            invoke,
            complete,
        }
    }

    fn w(v: &str) -> Kind {
        Kind::Write(v.into())
    }

    fn r(v: Option<&str>) -> Kind {
        Kind::Read(v.map(str::to_owned))
    }

    #[test]
    fn a_stale_read_after_an_acknowledged_write_is_caught() {
        // w(1) completes at 2; a read invoked at 3 returns the old (absent) value.
        let history = [op(w("1"), 0, Some(2)), op(r(None), 3, Some(4))];
        let anomaly = check(&history).expect_err("not linearizable");
        assert_eq!(anomaly.key, "k");
        // A read that overlapped the write may see either.
        let history = [op(w("1"), 0, Some(5)), op(r(None), 3, Some(4))];
        assert!(check(&history).is_ok());
    }

    #[test]
    fn reads_must_not_go_back_in_time() {
        // w1 then w2 both acknowledged; then reads see 2 and later 1: not possible.
        let history = [
            op(w("1"), 0, Some(1)),
            op(w("2"), 2, Some(3)),
            op(r(Some("2")), 4, Some(5)),
            op(r(Some("1")), 6, Some(7)),
        ];
        assert!(check(&history).is_err());
        // Concurrent writes may land in either order, as long as reads agree.
        let history = [
            op(w("1"), 0, Some(10)),
            op(w("2"), 1, Some(10)),
            op(r(Some("1")), 11, Some(12)),
            op(r(Some("1")), 13, Some(14)),
        ];
        let report = check(&history).expect("linearizable");
        assert_eq!((report.keys, report.ops), (1, 4));
    }

    #[test]
    fn unknown_outcomes_may_or_may_not_have_happened() {
        // A write that timed out may appear later...
        let history = [op(w("x"), 0, None), op(r(Some("x")), 50, Some(51))];
        assert!(check(&history).is_ok());
        // ...or never.
        let history = [op(w("x"), 0, None), op(r(None), 50, Some(51))];
        assert!(check(&history).is_ok());
        // But a value nobody wrote is an anomaly.
        let history = [op(w("x"), 0, None), op(r(Some("y")), 50, Some(51))];
        assert!(check(&history).is_err());
    }

    #[test]
    fn compare_and_set_is_checked_both_ways() {
        let cas = |expect: Option<&str>, new: &str, ok: bool| Kind::Cas {
            expect: expect.map(str::to_owned),
            new: new.into(),
            ok,
        };
        // Two CAS from the same value cannot both succeed (a lost update).
        let history = [
            op(w("0"), 0, Some(1)),
            op(cas(Some("0"), "a", true), 2, Some(5)),
            op(cas(Some("0"), "b", true), 3, Some(6)),
        ];
        assert!(check(&history).is_err());
        // One succeeds, the other sees the change and fails.
        let history = [
            op(w("0"), 0, Some(1)),
            op(cas(Some("0"), "a", true), 2, Some(5)),
            op(cas(Some("0"), "b", false), 3, Some(6)),
            op(r(Some("a")), 7, Some(8)),
        ];
        assert!(check(&history).is_ok());
    }
}
