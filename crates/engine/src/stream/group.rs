//! Consumer groups: a group's last delivered ID and read counter, its pending entries
//! list (PEL) and its consumers. Every time in here is a leader-stamped op time, so
//! replicas hold identical groups.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;

use super::{StreamId, StreamValue};

/// Redis's `SCG_INVALID_ENTRIES_READ`: the group's read counter is unknown.
pub const INVALID_ENTRIES_READ: i64 = -1;

/// One delivered, not yet acknowledged entry (Redis's `streamNACK`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    /// When it was last delivered (ms).
    pub delivery_ms: u64,
    /// Times delivered.
    pub delivery_count: u64,
    /// The consumer that owns it.
    pub consumer: Bytes,
}

/// A consumer of a group.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Consumer {
    /// When it last read or claimed (ms).
    pub seen_ms: u64,
    /// The IDs it owns in the group's PEL.
    pub pel: BTreeSet<StreamId>,
}

/// A consumer group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// The last ID delivered to the group.
    pub last_id: StreamId,
    /// Entries the group has read, or [`INVALID_ENTRIES_READ`].
    pub entries_read: i64,
    /// Pending entries by ID.
    pub pel: BTreeMap<StreamId, Pending>,
    /// Consumers by name (Redis lists them in name order too).
    pub consumers: BTreeMap<Bytes, Consumer>,
}

impl Group {
    /// A group that starts after `last_id`.
    pub fn new(last_id: StreamId, entries_read: i64) -> Self {
        Group {
            last_id,
            entries_read,
            pel: BTreeMap::new(),
            consumers: BTreeMap::new(),
        }
    }

    /// The consumer `name`, created (seen at `now_ms`) if absent; its seen time is
    /// refreshed as `streamLookupConsumer` refreshes it.
    pub fn touch_consumer(&mut self, name: &Bytes, now_ms: u64) -> &mut Consumer {
        if !self.consumers.contains_key(name) {
            // Names arrive as slices of the request buffer: own them.
            self.consumers
                .insert(crate::value::detach(name.clone()), Consumer::default());
        }
        let consumer = self.consumers.get_mut(name).expect("just inserted");
        consumer.seen_ms = now_ms;
        consumer
    }

    /// Drops `id` from the PEL and from its owner's; true if it was pending.
    pub fn ack(&mut self, id: StreamId) -> bool {
        let Some(nack) = self.pel.remove(&id) else {
            return false;
        };
        if let Some(owner) = self.consumers.get_mut(&nack.consumer) {
            owner.pel.remove(&id);
        }
        true
    }

    /// Gives pending `id` to `consumer` (which must exist), with a new delivery time
    /// and count; creates the PEL entry when absent.
    pub fn assign(&mut self, id: StreamId, consumer: &Bytes, delivery_ms: u64, count: u64) {
        // The consumer's own copy of its name, not the request's.
        let consumer = &self
            .consumers
            .get_key_value(consumer)
            .map_or_else(|| consumer.clone(), |(name, _)| name.clone());
        match self.pel.get_mut(&id) {
            Some(nack) => {
                if nack.consumer != *consumer {
                    if let Some(old) = self.consumers.get_mut(&nack.consumer) {
                        old.pel.remove(&id);
                    }
                    nack.consumer = consumer.clone();
                }
                nack.delivery_ms = delivery_ms;
                nack.delivery_count = count;
            }
            None => {
                self.pel.insert(
                    id,
                    Pending {
                        delivery_ms,
                        delivery_count: count,
                        consumer: consumer.clone(),
                    },
                );
            }
        }
        if let Some(owner) = self.consumers.get_mut(consumer) {
            owner.pel.insert(id);
        }
    }

    /// Deletes consumer `name` and its pending entries; the number it had, or `None`
    /// when there is no such consumer.
    pub fn delete_consumer(&mut self, name: &[u8]) -> Option<usize> {
        let consumer = self.consumers.remove(name)?;
        for id in &consumer.pel {
            self.pel.remove(id);
        }
        Some(consumer.pel.len())
    }

    /// Moves the group past `id` as delivering it does (`streamReplyWithRange`),
    /// keeping the read counter exact while nothing ahead was deleted.
    pub fn advance(&mut self, stream: &StreamValue, id: StreamId) {
        if id <= self.last_id {
            return;
        }
        if self.entries_read != INVALID_ENTRIES_READ && !stream.has_tombstones_from(id) {
            self.entries_read = self.entries_read.wrapping_add(1);
        } else if stream.entries_added != 0 {
            self.entries_read = stream.estimate_read_counter(id);
        }
        self.last_id = id;
    }

    /// Entries not yet delivered to the group, when that can be known
    /// (`streamReplyWithCGLag`).
    pub fn lag(&self, stream: &StreamValue) -> Option<i64> {
        let added = stream.entries_added as i64;
        if stream.entries_added == 0 {
            return Some(0);
        }
        if self.entries_read != INVALID_ENTRIES_READ && !stream.has_tombstones_from(self.last_id) {
            return Some(added.wrapping_sub(self.entries_read));
        }
        let read = stream.estimate_read_counter(self.last_id);
        (read != INVALID_ENTRIES_READ).then(|| added.wrapping_sub(read))
    }

    /// Checks that the consumers' PELs and the group's agree (a restored snapshot).
    pub fn is_consistent(&self) -> bool {
        let owned: usize = self.consumers.values().map(|c| c.pel.len()).sum();
        owned == self.pel.len()
            && self.pel.iter().all(|(id, nack)| {
                self.consumers
                    .get(&nack.consumer)
                    .is_some_and(|c| c.pel.contains(id))
            })
    }
}

impl StreamValue {
    /// The first live entry's ID, or 0-0 when empty (Redis's `first_id`).
    pub fn recorded_first_id(&self) -> StreamId {
        self.first_id().unwrap_or(StreamId::MIN)
    }

    /// `streamRangeHasTombstones(s, from, NULL)`: an entry at or after `from` may have
    /// been deleted.
    pub fn has_tombstones_from(&self, from: StreamId) -> bool {
        if self.is_empty() || self.max_deleted_id == StreamId::MIN {
            return false;
        }
        if self.recorded_first_id() > self.max_deleted_id {
            return false;
        }
        from <= self.max_deleted_id
    }

    /// `streamEstimateDistanceFromFirstEverEntry`: the read counter of `id`, or
    /// [`INVALID_ENTRIES_READ`] when deletions make it unknowable.
    pub fn estimate_read_counter(&self, id: StreamId) -> i64 {
        let added = self.entries_added as i64;
        if self.entries_added == 0 {
            return 0;
        }
        if self.is_empty() && id <= self.last_id {
            return added;
        }
        if id == self.last_id {
            return added;
        }
        if id > self.last_id {
            return INVALID_ENTRIES_READ;
        }
        let first = self.recorded_first_id();
        if self.max_deleted_id == StreamId::MIN || self.max_deleted_id < first {
            let len = self.len() as i64;
            if id < first {
                return added.wrapping_sub(len);
            }
            if id == first {
                return added.wrapping_sub(len).wrapping_add(1);
            }
        }
        INVALID_ENTRIES_READ
    }
}
