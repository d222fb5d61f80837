//! The stream value: entries by ID, with the metadata Redis keeps (last ID, entries
//! ever added, the largest deleted ID) and its node boundaries. Redis stores entries
//! in nodes of at most `stream-node-max-entries` (100), deleted ones included, and an
//! approximate (`~`) trim drops whole nodes only; okapi keeps the same boundaries so
//! `~` trims as many entries as Redis does for entries below its node byte limit.

use std::collections::BTreeMap;

use bytes::Bytes;

pub mod group;

pub use group::Group;

/// Entries per node (Redis's `stream-node-max-entries` default).
pub const NODE_MAX_ENTRIES: u64 = 100;

/// A stream entry ID, `ms-seq`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    serde::Serialize,
    serde::Deserialize,
)]
pub struct StreamId {
    /// Milliseconds part.
    pub ms: u64,
    /// Sequence part.
    pub seq: u64,
}

impl StreamId {
    /// The smallest ID.
    pub const MIN: StreamId = StreamId { ms: 0, seq: 0 };
    /// The largest ID.
    pub const MAX: StreamId = StreamId {
        ms: u64::MAX,
        seq: u64::MAX,
    };

    /// The next ID (`streamIncrID`), `None` after the largest.
    pub fn next(self) -> Option<StreamId> {
        match (self.ms, self.seq) {
            (u64::MAX, u64::MAX) => None,
            (ms, u64::MAX) => Some(StreamId { ms: ms + 1, seq: 0 }),
            (ms, seq) => Some(StreamId { ms, seq: seq + 1 }),
        }
    }

    /// The previous ID (`streamDecrID`), `None` before the smallest.
    pub fn prev(self) -> Option<StreamId> {
        match (self.ms, self.seq) {
            (0, 0) => None,
            (ms, 0) => Some(StreamId {
                ms: ms - 1,
                seq: u64::MAX,
            }),
            (ms, seq) => Some(StreamId { ms, seq: seq - 1 }),
        }
    }

    /// `ms-seq`.
    pub fn text(&self) -> String {
        format!("{}-{}", self.ms, self.seq)
    }

    /// `ms-seq` as a reply's bulk string, without the formatting machinery (replies
    /// carry an ID per entry).
    pub fn to_bytes(&self) -> Bytes {
        let mut buf = [0u8; 41];
        let mut ms = itoa::Buffer::new();
        let mut seq = itoa::Buffer::new();
        let (ms, seq) = (
            ms.format(self.ms).as_bytes(),
            seq.format(self.seq).as_bytes(),
        );
        buf[..ms.len()].copy_from_slice(ms);
        buf[ms.len()] = b'-';
        buf[ms.len() + 1..ms.len() + 1 + seq.len()].copy_from_slice(seq);
        Bytes::copy_from_slice(&buf[..ms.len() + 1 + seq.len()])
    }
}

/// One entry: field/value pairs, flat.
pub type Fields = Box<[Bytes]>;

/// A node: the ID it starts at, how many entries it took in (deleted included), and
/// the last ID it took in (deleted or not): Redis's approximate MINID trim compares a
/// node's last stored ID, which may be an entry deleted since.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Node {
    taken: u64,
    live: u64,
    last: StreamId,
}

/// A stream.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StreamValue {
    entries: BTreeMap<StreamId, Fields>,
    nodes: BTreeMap<StreamId, Node>,
    /// The ID of the last entry ever added (or set by XSETID).
    pub last_id: StreamId,
    /// The largest ID ever deleted by XDEL.
    pub max_deleted_id: StreamId,
    /// Entries ever added.
    pub entries_added: u64,
    /// Consumer groups by name.
    pub groups: BTreeMap<Bytes, Group>,
}

impl StreamValue {
    /// Live entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True without entries (a stream key may still exist empty, as in Redis).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Sum of field and value lengths.
    pub fn payload_size(&self) -> usize {
        self.entries
            .values()
            .map(|f| f.iter().map(Bytes::len).sum::<usize>())
            .sum::<usize>()
            + self
                .groups
                .iter()
                .map(|(name, g)| {
                    name.len()
                        + g.consumers.keys().map(Bytes::len).sum::<usize>()
                        + g.pel.len() * 48
                })
                .sum::<usize>()
    }

    /// Entries in ID order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&StreamId, &Fields)> {
        self.entries.iter()
    }

    /// Entries with IDs in `from..=to`.
    pub fn range(
        &self,
        from: StreamId,
        to: StreamId,
    ) -> impl DoubleEndedIterator<Item = (&StreamId, &Fields)> {
        let empty = from > to;
        let (from, to) = if empty { (to, to) } else { (from, to) };
        self.entries.range(from..=to).filter(move |_| !empty)
    }

    /// The first live entry's ID.
    pub fn first_id(&self) -> Option<StreamId> {
        self.entries.keys().next().copied()
    }

    /// The last live entry's ID.
    pub fn last_entry_id(&self) -> Option<StreamId> {
        self.entries.keys().next_back().copied()
    }

    /// Appends an entry whose ID is above `last_id`.
    pub fn push(&mut self, id: StreamId, fields: Fields) {
        let new_node = match self.nodes.iter_mut().next_back() {
            Some((_, node)) if node.taken < NODE_MAX_ENTRIES => {
                node.taken += 1;
                node.live += 1;
                node.last = id;
                false
            }
            _ => true,
        };
        if new_node {
            self.nodes.insert(
                id,
                Node {
                    taken: 1,
                    live: 1,
                    last: id,
                },
            );
        }
        self.entries.insert(id, fields);
        self.last_id = id;
        self.entries_added += 1;
    }

    /// Deletes one entry; true if it existed.
    pub fn delete(&mut self, id: StreamId) -> bool {
        if self.entries.remove(&id).is_none() {
            return false;
        }
        self.drop_from_node(id);
        if id > self.max_deleted_id {
            self.max_deleted_id = id;
        }
        true
    }

    fn drop_from_node(&mut self, id: StreamId) {
        let Some((&start, node)) = self.nodes.range_mut(..=id).next_back() else {
            return;
        };
        node.live -= 1;
        if node.live == 0 {
            self.nodes.remove(&start);
        }
    }

    /// `streamTrim`: drops the oldest entries while `keep` says the stream is over its
    /// bound — whole nodes first; with `approx`, whole nodes only. `limit` caps the
    /// entries an approximate trim removes (0: none). Returns how many went.
    pub fn trim(&mut self, bound: TrimBound, approx: bool, limit: u64) -> u64 {
        let mut deleted = 0u64;
        while let Some((&start, node)) = self.nodes.iter().next() {
            let live = node.live;
            if let TrimBound::MaxLen(max) = bound
                && self.entries.len() as u64 <= max
            {
                break;
            }
            if limit != 0 && deleted + live > limit {
                break;
            }
            let next_start = self.nodes.range(start..).nth(1).map(|(id, _)| *id);
            let remove_node = match bound {
                TrimBound::MaxLen(max) => self.entries.len() as u64 - live >= max,
                TrimBound::MinId(min) => node.last < min,
            };
            if remove_node {
                let ids: Vec<StreamId> = self
                    .node_entries(start, next_start)
                    .map(|(id, _)| *id)
                    .collect();
                for id in ids {
                    self.entries.remove(&id);
                }
                self.nodes.remove(&start);
                deleted += live;
                continue;
            }
            if approx {
                break;
            }
            // Exact: entries of this node, one by one, until the bound holds.
            let ids: Vec<StreamId> = self
                .node_entries(start, next_start)
                .map(|(id, _)| *id)
                .collect();
            for id in ids {
                let stop = match bound {
                    TrimBound::MaxLen(max) => self.entries.len() as u64 <= max,
                    TrimBound::MinId(min) => id >= min,
                };
                if stop {
                    break;
                }
                self.entries.remove(&id);
                self.drop_from_node(id);
                deleted += 1;
            }
            break;
        }
        deleted
    }

    fn node_entries(
        &self,
        start: StreamId,
        next: Option<StreamId>,
    ) -> impl DoubleEndedIterator<Item = (&StreamId, &Fields)> {
        match next {
            Some(next) => self.entries.range(start..next),
            None => self.entries.range(start..),
        }
    }

    /// The node boundaries: where each node starts, entries it took in, live ones.
    pub fn nodes(&self) -> impl Iterator<Item = (StreamId, u64, u64, StreamId)> + '_ {
        self.nodes
            .iter()
            .map(|(id, n)| (*id, n.taken, n.live, n.last))
    }

    /// Rebuilds a stream from a snapshot, node boundaries included (an approximate
    /// trim after a restore must drop what it drops on a replica that never
    /// restarted). `None` when the parts do not fit together.
    pub fn restored(
        entries: Vec<(StreamId, Fields)>,
        nodes: Vec<(StreamId, u64, u64, Option<StreamId>)>,
        last_id: StreamId,
        max_deleted_id: StreamId,
        entries_added: u64,
    ) -> Option<Self> {
        let mut stream = StreamValue {
            entries: entries.into_iter().collect(),
            nodes: BTreeMap::new(),
            last_id,
            max_deleted_id,
            entries_added,
            groups: BTreeMap::new(),
        };
        let mut live_total = 0;
        let starts: Vec<StreamId> = nodes.iter().map(|n| n.0).collect();
        for (i, (start, taken, live, last)) in nodes.into_iter().enumerate() {
            if live == 0 || live > taken || taken > NODE_MAX_ENTRIES {
                return None;
            }
            // Records written before nodes kept their last ID: the last live entry.
            let last = match last {
                Some(last) => last,
                None => {
                    let end = starts.get(i + 1).copied();
                    stream
                        .entries
                        .range(start..)
                        .take_while(|(id, _)| end.is_none_or(|end| **id < end))
                        .last()
                        .map(|(id, _)| *id)?
                }
            };
            if last < start {
                return None;
            }
            live_total += live;
            stream.nodes.insert(start, Node { taken, live, last });
        }
        let first_ok = match (stream.entries.keys().next(), stream.nodes.keys().next()) {
            (Some(e), Some(n)) => n <= e,
            (None, None) => true,
            _ => false,
        };
        (first_ok && live_total == stream.entries.len() as u64).then_some(stream)
    }
}

/// What a trim keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum TrimBound {
    /// At most this many entries.
    MaxLen(u64),
    /// No entry below this ID.
    MinId(StreamId),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(ms: u64) -> StreamId {
        StreamId { ms, seq: 0 }
    }

    fn fields() -> Fields {
        vec![Bytes::from_static(b"f"), Bytes::from_static(b"v")].into_boxed_slice()
    }

    #[test]
    fn an_approximate_minid_trim_compares_a_node_s_last_stored_id_deleted_or_not() {
        let mut s = StreamValue::default();
        // Two nodes: 1..=100 and 101..=150.
        for ms in 1..=150 {
            s.push(id(ms), fields());
        }
        // The first node's tail goes; the node still took in ID 100.
        for ms in 51..=100 {
            assert!(s.delete(id(ms)));
        }
        assert_eq!(s.trim(TrimBound::MinId(id(60)), true, 0), 0);
        // A restore that carries the last IDs trims alike; one from an older record
        // (no last IDs) falls back to the last live entry.
        let entries: Vec<(StreamId, Fields)> = s.iter().map(|(i, f)| (*i, f.clone())).collect();
        let with_last: Vec<_> = s.nodes().map(|(a, b, c, d)| (a, b, c, Some(d))).collect();
        let mut restored =
            StreamValue::restored(entries.clone(), with_last, s.last_id, s.max_deleted_id, 150)
                .expect("fits");
        assert_eq!(restored.trim(TrimBound::MinId(id(60)), true, 0), 0);
        let without: Vec<_> = s.nodes().map(|(a, b, c, _)| (a, b, c, None)).collect();
        let mut old = StreamValue::restored(entries, without, s.last_id, s.max_deleted_id, 150)
            .expect("fits");
        assert_eq!(old.trim(TrimBound::MinId(id(60)), true, 0), 50);
        // Past the node's last stored ID the whole node goes.
        assert_eq!(s.trim(TrimBound::MinId(id(101)), true, 0), 50);
        assert_eq!(s.len(), 50);
    }
}
