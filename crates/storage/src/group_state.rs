//! What the log says about one group, and the rules every record must follow.
//!
//! Two views of the same rules: [`GroupState`] keeps the entries themselves (recovery
//! and `check` rebuild it from disk), [`Tracker`] keeps only which segment holds which
//! live index range (the writer validates appends with it and decides which segments
//! can be deleted). Rules:
//! - an `Entry` follows the group's last entry; with no entry it follows the purge
//!   point; with neither, any index may start the log;
//! - `TruncateAfter(after)` drops entries with index > `after` (`None`: all);
//! - `Purge(upto)` drops entries <= `upto`; an older purge than the current is a no-op;
//! - `HardState`: the latest wins.

use std::collections::VecDeque;

use bytes::Bytes;

use crate::record::WalRecord;

/// Checks that an entry at `index` may follow a log whose last entry is `last` and
/// whose purge point is `purged`.
pub(crate) fn check_next(last: Option<u64>, purged: Option<u64>, index: u64) -> Result<(), String> {
    let expected = match (last, purged) {
        (Some(l), _) => l.checked_add(1),
        (None, Some(p)) => p.checked_add(1),
        (None, None) => return Ok(()),
    };
    match expected {
        Some(e) if e == index => Ok(()),
        Some(e) => {
            let after = match last {
                Some(l) => format!("last entry {l}"),
                None => format!("purge point {}", e - 1),
            };
            Err(format!(
                "entry index {index} does not follow the {after} (expected {e})"
            ))
        }
        None => Err(format!("entry index {index} overflows")),
    }
}

/// A group rebuilt from the log, entries and all.
#[derive(Debug, Default, Clone)]
pub(crate) struct GroupState {
    /// Live entries, ascending and contiguous, with the segment holding each.
    pub entries: VecDeque<(u64, Bytes, u64)>,
    /// Latest hard state.
    pub hard_state: Option<Bytes>,
    /// Purge point and the caller's payload for it.
    pub purged: Option<(u64, Bytes)>,
}

impl GroupState {
    /// Applies one record read from segment `seg`; `Err` explains a broken rule.
    pub fn apply(&mut self, rec: WalRecord, seg: u64) -> Result<(), String> {
        match rec {
            WalRecord::Entry { index, payload, .. } => {
                let last = self.entries.back().map(|e| e.0);
                check_next(last, self.purged.as_ref().map(|p| p.0), index)?;
                self.entries.push_back((index, payload, seg));
            }
            WalRecord::HardState { payload, .. } => self.hard_state = Some(payload),
            WalRecord::TruncateAfter { after, .. } => {
                while self
                    .entries
                    .back()
                    .is_some_and(|e| after.is_none_or(|a| e.0 > a))
                {
                    self.entries.pop_back();
                }
            }
            WalRecord::Purge { upto, payload, .. } => {
                if self.purged.as_ref().is_some_and(|p| p.0 > upto) {
                    return Ok(());
                }
                while self.entries.front().is_some_and(|e| e.0 <= upto) {
                    self.entries.pop_front();
                }
                self.purged = Some((upto, payload));
            }
            WalRecord::Reset { .. } => {
                self.entries.clear();
                self.purged = None;
            }
        }
        Ok(())
    }
}

/// Live index range `lo..=hi` of a group held by segment `seg`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Range {
    seg: u64,
    lo: u64,
    hi: u64,
}

/// The writer's view of a group: where its live entries are, plus what a checkpoint
/// at the start of a new segment must repeat.
#[derive(Debug, Default, Clone)]
pub(crate) struct Tracker {
    ranges: VecDeque<Range>,
    /// Latest hard state (repeated in every checkpoint).
    pub hard_state: Option<Bytes>,
    /// Purge point (repeated in every checkpoint).
    pub purged: Option<(u64, Bytes)>,
}

impl Tracker {
    /// The writer's view of a recovered group.
    pub fn from_state(state: &GroupState) -> Self {
        let mut t = Tracker {
            ranges: VecDeque::new(),
            hard_state: state.hard_state.clone(),
            purged: state.purged.clone(),
        };
        for (index, _, seg) in &state.entries {
            t.push(*index, *seg);
        }
        t
    }

    fn push(&mut self, index: u64, seg: u64) {
        match self.ranges.back_mut() {
            Some(r) if r.seg == seg && r.hi + 1 == index => r.hi = index,
            _ => self.ranges.push_back(Range {
                seg,
                lo: index,
                hi: index,
            }),
        }
    }

    /// Last live entry index.
    pub fn last(&self) -> Option<u64> {
        self.ranges.back().map(|r| r.hi)
    }

    /// Oldest segment still holding a live entry of this group.
    pub fn oldest_segment(&self) -> Option<u64> {
        self.ranges.front().map(|r| r.seg)
    }

    /// Applies a record about to be written to segment `seg`; `Err` explains why the
    /// record would break the log, and leaves the tracker unchanged.
    pub fn apply(&mut self, rec: &WalRecord, seg: u64) -> Result<(), String> {
        match rec {
            WalRecord::Entry { index, .. } => {
                check_next(self.last(), self.purged.as_ref().map(|p| p.0), *index)?;
                self.push(*index, seg);
            }
            WalRecord::HardState { payload, .. } => self.hard_state = Some(payload.clone()),
            WalRecord::TruncateAfter { after, .. } => {
                while let Some(r) = self.ranges.back_mut() {
                    match after {
                        Some(a) if r.lo <= *a => {
                            r.hi = r.hi.min(*a);
                            break;
                        }
                        _ => {
                            self.ranges.pop_back();
                        }
                    }
                }
            }
            WalRecord::Purge { upto, payload, .. } => {
                if self.purged.as_ref().is_some_and(|p| p.0 > *upto) {
                    return Ok(());
                }
                while let Some(r) = self.ranges.front_mut() {
                    if r.hi <= *upto {
                        self.ranges.pop_front();
                    } else {
                        r.lo = r.lo.max(upto.saturating_add(1));
                        break;
                    }
                }
                self.purged = Some((*upto, payload.clone()));
            }
            WalRecord::Reset { .. } => {
                self.ranges.clear();
                self.purged = None;
            }
        }
        Ok(())
    }
}

/// A constant-size stand-in for a [`Tracker`] that validates records without
/// copying it: the writer checks a whole request against probes, then applies it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Probe {
    first: Option<u64>,
    last: Option<u64>,
    purged: Option<u64>,
}

impl Tracker {
    /// This tracker's probe.
    pub fn probe(&self) -> Probe {
        Probe {
            first: self.ranges.front().map(|r| r.lo),
            last: self.last(),
            purged: self.purged.as_ref().map(|p| p.0),
        }
    }
}

impl Probe {
    /// The same rules as [`Tracker::apply`], on first/last/purged only.
    pub fn apply(&mut self, rec: &WalRecord) -> Result<(), String> {
        match rec {
            WalRecord::Entry { index, .. } => {
                check_next(self.last, self.purged, *index)?;
                self.first = self.first.or(Some(*index));
                self.last = Some(*index);
            }
            WalRecord::HardState { .. } => {}
            WalRecord::TruncateAfter { after, .. } => {
                if self.last.is_some_and(|l| after.is_none_or(|a| l > a)) {
                    match after {
                        Some(a) if self.first.is_some_and(|f| f <= *a) => self.last = Some(*a),
                        _ => (self.first, self.last) = (None, None),
                    }
                }
            }
            WalRecord::Purge { upto, .. } => {
                if self.purged.is_some_and(|p| p > *upto) {
                    return Ok(());
                }
                match self.last {
                    Some(l) if l > *upto => {
                        self.first = self.first.map(|f| f.max(upto.saturating_add(1)));
                    }
                    _ => (self.first, self.last) = (None, None),
                }
                self.purged = Some(*upto);
            }
            WalRecord::Reset { .. } => (self.first, self.last, self.purged) = (None, None, None),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use okapi_types::GroupId;

    use super::*;

    const G: GroupId = GroupId(1);

    fn entry(index: u64) -> WalRecord {
        WalRecord::Entry {
            group: G,
            index,
            payload: Bytes::new(),
        }
    }

    #[test]
    fn entries_must_be_contiguous_unless_truncated_or_purged() {
        let mut s = GroupState::default();
        s.apply(entry(5), 1).expect("any index may start a log");
        s.apply(entry(6), 1).expect("next");
        assert!(s.apply(entry(8), 1).is_err(), "a gap is refused");
        assert!(
            s.apply(entry(6), 1).is_err(),
            "a rewrite without truncation is refused"
        );
        s.apply(
            WalRecord::TruncateAfter {
                group: G,
                after: Some(5),
            },
            1,
        )
        .expect("truncate");
        s.apply(entry(6), 1).expect("rewrite after truncate");
        let purge = WalRecord::Purge {
            group: G,
            upto: 10,
            payload: Bytes::new(),
        };
        s.apply(purge, 1).expect("purge past the end");
        assert!(s.entries.is_empty());
        assert!(s.apply(entry(7), 1).is_err());
        s.apply(entry(11), 1).expect("follows the purge point");
    }

    #[test]
    fn tracker_agrees_with_state_and_tracks_segments() {
        let mut t = Tracker::default();
        for i in 1..=10 {
            t.apply(&entry(i), if i <= 5 { 1 } else { 2 })
                .expect("append");
        }
        assert_eq!(t.oldest_segment(), Some(1));
        let purge = WalRecord::Purge {
            group: G,
            upto: 5,
            payload: Bytes::new(),
        };
        t.apply(&purge, 2).expect("purge");
        assert_eq!(t.oldest_segment(), Some(2));
        t.apply(
            &WalRecord::TruncateAfter {
                group: G,
                after: Some(7),
            },
            2,
        )
        .expect("truncate");
        assert_eq!(t.last(), Some(7));
        assert!(t.apply(&entry(9), 3).is_err());
        t.apply(&entry(8), 3).expect("append");
        t.apply(
            &WalRecord::TruncateAfter {
                group: G,
                after: None,
            },
            3,
        )
        .expect("truncate all");
        assert_eq!(t.oldest_segment(), None);
        assert!(
            t.apply(&entry(3), 3).is_err(),
            "must follow the purge point"
        );
        t.apply(&entry(6), 3).expect("follows purge point 5");
    }

    #[test]
    fn an_older_purge_is_a_no_op() {
        let mut s = GroupState::default();
        let p = |upto| WalRecord::Purge {
            group: G,
            upto,
            payload: Bytes::from(vec![upto as u8]),
        };
        s.apply(p(10), 1).expect("purge");
        s.apply(p(4), 1).expect("old purge");
        assert_eq!(s.purged.as_ref().map(|x| x.0), Some(10));
    }

    #[test]
    fn probe_and_tracker_agree_on_random_records() {
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        let mut rnd = move |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        for _ in 0..50 {
            let mut tracker = Tracker::default();
            for step in 0..300u64 {
                let probe = tracker.probe();
                let near = probe.last.or(probe.purged).unwrap_or(0);
                let index = near + rnd(3);
                let rec = match rnd(6) {
                    0..=2 => entry(index),
                    3 => WalRecord::TruncateAfter {
                        group: G,
                        after: (rnd(4) != 0).then(|| index.saturating_sub(rnd(5))),
                    },
                    4 => WalRecord::Purge {
                        group: G,
                        upto: index.saturating_sub(rnd(4)),
                        payload: Bytes::new(),
                    },
                    _ => WalRecord::HardState {
                        group: G,
                        payload: Bytes::new(),
                    },
                };
                let mut p = probe;
                let by_probe = p.apply(&rec);
                let mut t = tracker.clone();
                let by_tracker = t.apply(&rec, step / 10);
                assert_eq!(by_probe.is_ok(), by_tracker.is_ok(), "{rec:?} on {probe:?}");
                if by_tracker.is_ok() {
                    tracker = t;
                    assert_eq!(tracker.probe(), p, "after {rec:?}");
                }
            }
        }
    }
}
