//! The sorted-set value: member → score in a [`Dict`] for O(1) lookups, and the same
//! members ordered by `(score, member)` in a counted B+tree ([`tree`]) for ranks,
//! ranges and pops in O(log n), as Redis's dict + skiplist pair.

pub mod tree;

use bytes::Bytes;

use crate::dict::Dict;
use crate::value::detach;

use tree::Tree;
pub use tree::{Entry, Iter, compare};

/// A sorted set.
#[derive(Clone)]
pub struct ZSetValue {
    scores: Dict<Bytes, f64>,
    order: Tree,
    /// Sum of member lengths, kept so `payload_size` stays O(1).
    member_bytes: usize,
}

impl ZSetValue {
    /// An empty sorted set whose member hashing is fixed by `seed`.
    pub fn new(seed: u64) -> Self {
        Self::with_capacity(seed, 0)
    }

    /// An empty sorted set sized for `capacity` members.
    pub fn with_capacity(seed: u64, capacity: usize) -> Self {
        Self {
            scores: Dict::with_capacity(seed, capacity),
            order: Tree::new(),
            member_bytes: 0,
        }
    }

    /// The seed members hash with (a snapshot records it: picks depend on it).
    pub fn seed(&self) -> u64 {
        self.scores.seed()
    }

    /// Adds a member restored from a snapshot, already in its own buffer; false if it
    /// was there already (a corrupt snapshot). `score` must not be NaN.
    pub(crate) fn restore_insert(&mut self, member: Bytes, score: f64) -> bool {
        if self.scores.contains_key(member.as_ref()) {
            return false;
        }
        self.member_bytes += member.len();
        self.scores.insert(member.clone(), score);
        self.order.insert(Entry { score, member });
        true
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// True when there are no members.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// Bytes of members and scores held.
    pub fn payload_size(&self) -> usize {
        self.member_bytes + 8 * self.len()
    }

    /// The score of `member`.
    pub fn score(&self, member: &[u8]) -> Option<f64> {
        self.scores.get(member).copied()
    }

    /// Sets the score of `member`, adding it if absent; returns the previous score.
    /// `score` must not be NaN. An equal score (`-0` equals `0`) changes nothing, as
    /// in Redis, which keeps the old value's sign.
    pub fn insert(&mut self, member: Bytes, score: f64) -> Option<f64> {
        debug_assert!(!score.is_nan(), "sorted-set scores are never NaN");
        if let Some((stored, &old)) = self.scores.get_key_value(member.as_ref()) {
            if old != score {
                let stored = stored.clone();
                self.order.remove(old, &stored);
                self.order.insert(Entry {
                    score,
                    member: stored,
                });
                if let Some(slot) = self.scores.get_mut(member.as_ref()) {
                    *slot = score;
                }
            }
            return Some(old);
        }
        let member = detach(member);
        self.member_bytes += member.len();
        self.scores.insert(member.clone(), score);
        self.order.insert(Entry { score, member });
        None
    }

    /// Removes `member`; returns its score.
    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        let (stored, score) = self.scores.remove(member)?;
        self.order.remove(score, &stored);
        self.member_bytes -= stored.len();
        Some(score)
    }

    /// The 0-based rank of `member` in ascending order, with its score.
    pub fn rank(&self, member: &[u8]) -> Option<(usize, f64)> {
        let score = self.score(member)?;
        self.order.rank(score, member).map(|rank| (rank, score))
    }

    /// The entry at `rank` in ascending order.
    pub fn get(&self, rank: usize) -> Option<&Entry> {
        self.order.get(rank)
    }

    /// How many entries satisfy `before`, a predicate true for a prefix of the order
    /// and false after it (e.g. "score below the range minimum").
    pub fn count_before(&self, before: impl Fn(&Entry) -> bool) -> usize {
        self.order.partition_point(before)
    }

    /// Entries from rank `start` up to the highest, or down to the lowest when `rev`.
    pub fn iter_from(&self, start: usize, rev: bool) -> Iter<'_> {
        self.order.iter_from(start, rev)
    }

    /// Every entry in ascending order.
    pub fn iter(&self) -> Iter<'_> {
        self.order.iter_from(0, false)
    }

    /// Removes the entries of ranks `start..end` (clamped to the set) and returns them
    /// in ascending order.
    pub fn remove_ranks(&mut self, start: usize, end: usize) -> Vec<Entry> {
        let removed = self.order.remove_ranks(start, end);
        for entry in &removed {
            self.scores.remove(entry.member.as_ref());
            self.member_bytes -= entry.member.len();
        }
        removed
    }

    /// Visits members from a ZSCAN cursor (see [`Dict::scan`]); returns the next one.
    pub fn scan(&self, cursor: u64, budget: usize, mut f: impl FnMut(&Bytes, f64)) -> u64 {
        self.scores
            .scan(cursor, budget, |member, score| f(member, *score))
    }
}

impl std::fmt::Debug for ZSetValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.iter().map(|e| (&e.member, e.score)))
            .finish()
    }
}

#[cfg(test)]
mod tests;
