//! The sorted-set value: member → score, and members ordered by (score, member).

use std::collections::BTreeSet;

use bytes::Bytes;

use crate::dict::Dict;

/// A score with the total order sorted sets use (scores are never NaN).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Score(pub f64);

impl Eq for Score {}

impl PartialOrd for Score {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Score {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// A sorted set.
#[derive(Debug, Clone)]
pub struct ZSetValue {
    /// Member → score.
    pub scores: Dict<Bytes, f64>,
    /// Members in (score, member) order.
    pub order: BTreeSet<(Score, Bytes)>,
}

impl ZSetValue {
    /// An empty sorted set.
    pub fn new(seed: u64) -> Self {
        Self {
            scores: Dict::with_seed(seed),
            order: BTreeSet::new(),
        }
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        self.scores.len()
    }

    /// True when there are no members.
    pub fn is_empty(&self) -> bool {
        self.scores.is_empty()
    }

    /// Bytes of members held.
    pub fn payload_size(&self) -> usize {
        self.scores.keys().map(|m| m.len() + 8).sum()
    }
}
