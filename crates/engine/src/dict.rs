//! `Dict`: the hash table under every keyspace, hash, set and sorted set.
//!
//! Redis's dict design with two twists:
//! - A bucket is chosen by the *high* bits of the hash and chains are kept sorted by
//!   hash, so the table as a whole is ordered by hash. A SCAN cursor is simply a
//!   position in hash space: it survives any number of resizes and every element
//!   present for a whole scan is returned exactly once.
//! - "Random" picks take the first element at or after a position in hash space. The
//!   answer depends only on the contents and the hash seed, never on the table layout,
//!   so replicas that apply the same ops with the same seed pick the same element.
//!
//! Resizing is incremental: a new table is allocated and buckets move over a few at a
//! time on each write, so no single operation pays for rehashing everything.
//!
//! Iteration is in hash order even while a resize is under way (see [`iter`]), so
//! replies that list a container agree between a replica that grew its table over
//! time and one restored from a snapshot into a presized table.

mod iter;

use std::borrow::Borrow;
use std::hash::{BuildHasher, Hash};

use foldhash::fast::FixedState;

type Link<K, V> = Option<Box<Node<K, V>>>;

struct Node<K, V> {
    hash: u64,
    next: Link<K, V>,
    key: K,
    value: V,
}

struct Table<K, V> {
    buckets: Vec<Link<K, V>>,
    bits: u32,
    len: usize,
}

impl<K, V> Table<K, V> {
    fn with_bits(bits: u32) -> Self {
        let mut buckets = Vec::new();
        buckets.resize_with(1usize << bits, || None);
        Self {
            buckets,
            bits,
            len: 0,
        }
    }

    fn empty() -> Self {
        Self {
            buckets: Vec::new(),
            bits: 0,
            len: 0,
        }
    }

    fn index(&self, hash: u64) -> usize {
        if self.bits == 0 {
            0
        } else {
            (hash >> (64 - self.bits)) as usize
        }
    }

    /// First hash position of the bucket after `index`, or `None` past the end.
    fn bucket_end(&self, index: usize) -> Option<u64> {
        let next = (index as u64 + 1).checked_shl(64 - self.bits)?;
        if self.bits == 0 || next == 0 {
            None
        } else {
            Some(next)
        }
    }

    /// Links a node into its bucket, keeping the chain sorted by hash.
    fn link(&mut self, mut node: Box<Node<K, V>>) -> &mut V {
        let index = self.index(node.hash);
        let mut cursor = &mut self.buckets[index];
        while cursor
            .as_ref()
            .is_some_and(|existing| existing.hash < node.hash)
        {
            match cursor {
                Some(existing) => cursor = &mut existing.next,
                None => break,
            }
        }
        node.next = cursor.take();
        self.len += 1;
        &mut cursor.insert(node).value
    }
}

/// Smallest table, in bits (4 buckets).
const MIN_BITS: u32 = 2;
/// Empty buckets a rehash step may skip before it stops.
const REHASH_EMPTY_VISITS: usize = 16;

/// A hash map with incremental resizing, resize-proof cursors and layout-independent
/// deterministic picks.
pub struct Dict<K, V> {
    main: Table<K, V>,
    /// Target of a resize under way; buckets of `main` below `migrated` are empty.
    next: Option<Table<K, V>>,
    migrated: usize,
    hasher: FixedState,
    /// The seed `hasher` was built from, kept so snapshots can recreate the dict.
    seed: u64,
}

impl<K: Hash + Eq, V> Dict<K, V> {
    /// An empty dict whose hashing is fixed by `seed`.
    pub fn with_seed(seed: u64) -> Self {
        Self {
            main: Table::empty(),
            next: None,
            migrated: 0,
            hasher: FixedState::with_seed(seed),
            seed,
        }
    }

    /// An empty dict sized for `capacity` entries, so filling it (a snapshot restore)
    /// never resizes. Behaves exactly as [`Dict::with_seed`] otherwise: lookups, picks
    /// and iteration order never depend on the table size.
    pub fn with_capacity(seed: u64, capacity: usize) -> Self {
        let mut dict = Self::with_seed(seed);
        if capacity > 0 {
            // The table grows once `len` reaches the bucket count: stay strictly above.
            let bits = (usize::BITS - capacity.leading_zeros()).max(MIN_BITS);
            dict.main = Table::with_bits(bits);
        }
        dict
    }

    /// A copy with the same seed, so the same hash order (and cursors) as this one.
    pub fn duplicate(&self) -> Self
    where
        K: Clone + std::hash::Hash + Eq,
        V: Clone,
    {
        let mut copy = Dict::with_capacity(self.seed(), self.len());
        for (k, v) in self.iter() {
            copy.insert(k.clone(), v.clone());
        }
        copy
    }

    /// The seed this dict hashes with.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.main.len + self.next.as_ref().map_or(0, |t| t.len)
    }

    /// True when there are no entries.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The hash this dict uses for `key`.
    pub fn hash_of<Q: Hash + ?Sized>(&self, key: &Q) -> u64 {
        self.hasher.hash_one(key)
    }

    fn tables(&self) -> impl Iterator<Item = &Table<K, V>> {
        std::iter::once(&self.main).chain(self.next.as_ref())
    }

    /// The node for `key` in one table's chain (chains are sorted by hash).
    fn chain_find<'t, Q>(table: &'t Table<K, V>, hash: u64, key: &Q) -> Option<&'t Node<K, V>>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        let mut cursor = table.buckets.get(table.index(hash))?.as_deref();
        while let Some(node) = cursor {
            if node.hash > hash {
                return None;
            }
            if node.hash == hash && node.key.borrow() == key {
                return Some(node);
            }
            cursor = node.next.as_deref();
        }
        None
    }

    fn chain_find_mut<'t, Q>(
        table: &'t mut Table<K, V>,
        hash: u64,
        key: &Q,
    ) -> Option<&'t mut Node<K, V>>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        let index = table.index(hash);
        let mut cursor = table.buckets.get_mut(index)?.as_deref_mut();
        while let Some(node) = cursor {
            if node.hash > hash {
                return None;
            }
            if node.hash == hash && node.key.borrow() == key {
                return Some(node);
            }
            cursor = node.next.as_deref_mut();
        }
        None
    }

    fn find<Q>(&self, hash: u64, key: &Q) -> Option<&Node<K, V>>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        Self::chain_find(&self.main, hash, key)
            .or_else(|| Self::chain_find(self.next.as_ref()?, hash, key))
    }

    fn find_mut<Q>(&mut self, hash: u64, key: &Q) -> Option<&mut Node<K, V>>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        let in_next = self
            .next
            .as_ref()
            .is_some_and(|t| Self::chain_find(t, hash, key).is_some());
        let table = if in_next {
            self.next.as_mut()?
        } else {
            &mut self.main
        };
        Self::chain_find_mut(table, hash, key)
    }

    /// Moves a resize under way one step forward. Writes do this on their own; readers
    /// call it too so a table that only gets read still finishes resizing.
    pub fn advance_resize(&mut self) {
        if self.next.is_some() {
            self.rehash_step();
        }
    }

    /// The value stored under `key`.
    pub fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.find(self.hash_of(key), key).map(|n| &n.value)
    }

    /// The stored key and value for `key`.
    pub fn get_key_value<Q>(&self, key: &Q) -> Option<(&K, &V)>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.find(self.hash_of(key), key)
            .map(|n| (&n.key, &n.value))
    }

    /// Mutable access to the value stored under `key`.
    pub fn get_mut<Q>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let hash = self.hash_of(key);
        self.find_mut(hash, key).map(|n| &mut n.value)
    }

    /// True when `key` is present.
    pub fn contains_key<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.get(key).is_some()
    }

    /// Entries whose hash is exactly `hash` (normally one at most).
    pub fn with_hash(&self, hash: u64) -> impl Iterator<Item = (&K, &V)> {
        self.tables().flat_map(move |table| {
            let mut cursor = if table.buckets.is_empty() {
                None
            } else {
                table.buckets[table.index(hash)].as_deref()
            };
            std::iter::from_fn(move || {
                while let Some(node) = cursor {
                    cursor = node.next.as_deref();
                    if node.hash == hash {
                        return Some((&node.key, &node.value));
                    }
                    if node.hash > hash {
                        cursor = None;
                    }
                }
                None
            })
        })
    }

    /// Inserts or replaces; returns the previous value.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        let hash = self.hash_of(&key);
        if let Some(node) = self.find_mut(hash, &key) {
            return Some(std::mem::replace(&mut node.value, value));
        }
        self.insert_new(hash, key, value);
        None
    }

    /// Stores `value` under `key`, replacing any previous value; returns the stored value.
    pub fn upsert(&mut self, key: K, value: V) -> &mut V {
        let hash = self.hash_of(&key);
        if self.find(hash, &key).is_none() {
            return self.insert_new(hash, key, value);
        }
        match self.find_mut(hash, &key) {
            Some(node) => {
                node.value = value;
                &mut node.value
            }
            None => unreachable!("key was found a moment ago"),
        }
    }

    /// The value under `key`, inserting `make()` first if absent; `true` if inserted.
    pub fn get_or_insert_with(&mut self, key: K, make: impl FnOnce() -> V) -> (&mut V, bool) {
        let hash = self.hash_of(&key);
        if self.find(hash, &key).is_none() {
            return (self.insert_new(hash, key, make()), true);
        }
        match self.find_mut(hash, &key) {
            Some(node) => (&mut node.value, false),
            None => unreachable!("key was found a moment ago"),
        }
    }

    fn insert_new(&mut self, hash: u64, key: K, value: V) -> &mut V {
        self.rehash_step();
        self.grow_if_needed();
        let node = Box::new(Node {
            hash,
            next: None,
            key,
            value,
        });
        match self.next.as_mut() {
            Some(table) => table.link(node),
            None => self.main.link(node),
        }
    }

    /// Removes `key`; returns the stored key and value.
    pub fn remove<Q>(&mut self, key: &Q) -> Option<(K, V)>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let hash = self.hash_of(key);
        let removed = Self::unlink(&mut self.main, hash, key)
            .or_else(|| self.next.as_mut().and_then(|t| Self::unlink(t, hash, key)));
        if removed.is_some() {
            self.rehash_step();
            self.shrink_if_needed();
        }
        removed
    }

    fn unlink<Q>(table: &mut Table<K, V>, hash: u64, key: &Q) -> Option<(K, V)>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        if table.buckets.is_empty() {
            return None;
        }
        let index = table.index(hash);
        let mut cursor = &mut table.buckets[index];
        while cursor
            .as_ref()
            .is_some_and(|n| n.hash < hash || (n.hash == hash && n.key.borrow() != key))
        {
            match cursor {
                Some(n) => cursor = &mut n.next,
                None => break,
            }
        }
        let mut node = cursor.take()?;
        if node.hash != hash {
            *cursor = Some(node);
            return None;
        }
        *cursor = node.next.take();
        table.len -= 1;
        Some((node.key, node.value))
    }

    /// Removes every entry.
    pub fn clear(&mut self) {
        // Unlink chains iteratively: dropping a long chain recursively could overflow
        // the stack.
        for table in std::iter::once(&mut self.main).chain(self.next.as_mut()) {
            for bucket in &mut table.buckets {
                let mut cursor = bucket.take();
                while let Some(mut node) = cursor {
                    cursor = node.next.take();
                }
            }
        }
        self.main = Table::empty();
        self.next = None;
        self.migrated = 0;
    }

    /// Every entry, in hash order: the same contents and seed always give the same
    /// order, whatever the table size or resize progress.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        iter::Ordered::new(&self.main, self.next.as_ref())
    }

    /// Empties the dict, handing over every entry (in no particular order).
    pub fn take_entries(&mut self) -> Vec<(K, V)> {
        let mut out = Vec::with_capacity(self.len());
        let main = std::mem::replace(&mut self.main, Table::empty());
        let next = self.next.take();
        self.migrated = 0;
        for mut table in std::iter::once(main).chain(next) {
            for bucket in std::mem::take(&mut table.buckets) {
                let mut cursor = bucket;
                while let Some(node) = cursor {
                    let node = *node;
                    cursor = node.next;
                    out.push((node.key, node.value));
                }
            }
        }
        out
    }

    /// Every key.
    pub fn keys(&self) -> impl Iterator<Item = &K> {
        self.iter().map(|(k, _)| k)
    }

    /// Calls `f` on every entry with mutable access to the value.
    pub fn for_each_mut(&mut self, mut f: impl FnMut(&K, &mut V)) {
        for table in std::iter::once(&mut self.main).chain(self.next.as_mut()) {
            for bucket in &mut table.buckets {
                let mut cursor = bucket.as_deref_mut();
                while let Some(node) = cursor {
                    f(&node.key, &mut node.value);
                    cursor = node.next.as_deref_mut();
                }
            }
        }
    }

    /// Visits the entries whose hash is at or after `cursor`, a bucket of the coarser
    /// table at a time, until about `budget` entries were visited. Returns the cursor
    /// to continue from; 0 means the scan is complete.
    pub fn scan(&self, cursor: u64, budget: usize, mut f: impl FnMut(&K, &V)) -> u64 {
        if self.is_empty() {
            return 0;
        }
        let coarse = match &self.next {
            Some(next) if next.bits < self.main.bits => next,
            _ => &self.main,
        };
        let mut position = cursor;
        let mut visited = 0;
        loop {
            let index = coarse.index(position);
            let end = coarse.bucket_end(index);
            for table in self.tables() {
                if table.buckets.is_empty() {
                    continue;
                }
                let first = table.index(position);
                let last = match end {
                    Some(end) => table.index(end - 1),
                    None => table.buckets.len() - 1,
                };
                for bucket in &table.buckets[first..=last] {
                    let mut node = bucket.as_deref();
                    while let Some(n) = node {
                        if n.hash >= position && end.is_none_or(|end| n.hash < end) {
                            f(&n.key, &n.value);
                            visited += 1;
                        }
                        node = n.next.as_deref();
                    }
                }
            }
            match end {
                None => return 0,
                Some(end) => position = end,
            }
            if visited >= budget {
                return position;
            }
        }
    }

    /// The first entry at or after `position` in hash order, wrapping around; the
    /// same contents and seed always give the same answer.
    pub fn pick(&self, position: u64) -> Option<(&K, &V)> {
        let best = self
            .tables()
            .filter_map(|t| Self::successor(t, position))
            .min_by_key(|n| n.hash.wrapping_sub(position));
        best.map(|n| (&n.key, &n.value))
    }

    fn successor(table: &Table<K, V>, position: u64) -> Option<&Node<K, V>> {
        if table.len == 0 {
            return None;
        }
        let start = table.index(position);
        let size = table.buckets.len();
        for step in 0..=size {
            let index = (start + step) % size;
            let mut node = table.buckets[index].as_deref();
            while let Some(n) = node {
                if step > 0 || n.hash >= position {
                    return Some(n);
                }
                node = n.next.as_deref();
            }
        }
        None
    }

    fn grow_if_needed(&mut self) {
        if self.next.is_some() {
            return;
        }
        if self.main.buckets.is_empty() {
            self.main = Table::with_bits(MIN_BITS);
            return;
        }
        if self.main.len >= self.main.buckets.len() {
            self.start_resize(self.main.bits + 1);
        }
    }

    fn shrink_if_needed(&mut self) {
        if self.next.is_some() || self.main.bits <= MIN_BITS {
            return;
        }
        if self.main.len * 8 < self.main.buckets.len() {
            let wanted = usize::BITS - self.main.len.max(1).leading_zeros();
            self.start_resize(wanted.max(MIN_BITS));
        }
    }

    fn start_resize(&mut self, bits: u32) {
        self.next = Some(Table::with_bits(bits));
        self.migrated = 0;
    }

    /// Moves one non-empty bucket (after at most a few empty ones) to the new table,
    /// and finishes the resize when the old table is drained.
    fn rehash_step(&mut self) {
        let Some(next) = self.next.as_mut() else {
            return;
        };
        let mut empty_visits = 0;
        while self.migrated < self.main.buckets.len() {
            let mut chain = self.main.buckets[self.migrated].take();
            self.migrated += 1;
            if chain.is_none() {
                empty_visits += 1;
                if empty_visits >= REHASH_EMPTY_VISITS {
                    return;
                }
                continue;
            }
            while let Some(mut node) = chain {
                chain = node.next.take();
                self.main.len -= 1;
                let _ = next.link(node);
            }
            return;
        }
        if let Some(next) = self.next.take() {
            self.main = next;
            self.migrated = 0;
        }
    }
}

impl<K, V> Drop for Dict<K, V> {
    fn drop(&mut self) {
        for table in std::iter::once(&mut self.main).chain(self.next.as_mut()) {
            for bucket in &mut table.buckets {
                let mut cursor = bucket.take();
                while let Some(mut node) = cursor {
                    cursor = node.next.take();
                }
            }
        }
    }
}

impl<K: Hash + Eq + Clone, V: Clone> Clone for Dict<K, V> {
    fn clone(&self) -> Self {
        let mut copy = Dict {
            main: Table::empty(),
            next: None,
            migrated: 0,
            hasher: self.hasher.clone(),
            seed: self.seed,
        };
        for (k, v) in self.iter() {
            copy.insert(k.clone(), v.clone());
        }
        copy
    }
}

impl<K: Hash + Eq + std::fmt::Debug, V: std::fmt::Debug> std::fmt::Debug for Dict<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, BTreeSet};

    fn dict_with(n: u32) -> Dict<u32, u32> {
        let mut d = Dict::with_seed(7);
        for i in 0..n {
            d.insert(i, i * 10);
        }
        d
    }

    #[test]
    fn insert_get_remove_across_resizes() {
        let mut d = dict_with(10_000);
        assert_eq!(d.len(), 10_000);
        for i in 0..10_000 {
            assert_eq!(d.get(&i), Some(&(i * 10)));
        }
        for i in (0..10_000).step_by(2) {
            assert_eq!(d.remove(&i), Some((i, i * 10)));
        }
        assert_eq!(d.len(), 5_000);
        assert_eq!(d.get(&2), None);
        assert_eq!(d.get(&3), Some(&30));
        for i in 0..10_000 {
            d.remove(&i);
        }
        assert!(d.is_empty());
        assert!(d.main.bits <= MIN_BITS + 1 || d.next.is_some());
    }

    #[test]
    fn scan_returns_every_stable_element_once_while_the_table_resizes() {
        let mut d = dict_with(1_000);
        let mut seen = BTreeMap::new();
        let mut cursor = 0;
        let mut round = 0u32;
        loop {
            cursor = d.scan(cursor, 10, |k, _| *seen.entry(*k).or_insert(0) += 1);
            // Grow and shrink under the scan: keys >= 100_000 come and go.
            for i in 0..300 {
                if round.is_multiple_of(2) {
                    d.insert(100_000 + round * 1000 + i, 0);
                } else {
                    d.remove(&(100_000 + (round - 1) * 1000 + i));
                }
            }
            round += 1;
            if cursor == 0 {
                break;
            }
        }
        for i in 0..1_000 {
            assert_eq!(seen.get(&i), Some(&1), "key {i}");
        }
    }

    #[test]
    fn pick_depends_on_contents_not_layout() {
        let mut grown = Dict::with_seed(1);
        let mut direct = Dict::with_seed(1);
        for i in 0..5_000u32 {
            grown.insert(i, ());
        }
        for i in 100..5_000u32 {
            grown.remove(&i);
        }
        for i in 0..100u32 {
            direct.insert(i, ());
        }
        for position in [0u64, 1 << 20, u64::MAX / 3, u64::MAX - 5, u64::MAX] {
            assert_eq!(
                grown.pick(position).map(|(k, _)| *k),
                direct.pick(position).map(|(k, _)| *k)
            );
        }
        let picks: BTreeSet<u32> = (0..2000u64)
            .map(|i| {
                *direct
                    .pick(i.wrapping_mul(0x9E37_79B9_7F4A_7C15))
                    .expect("non-empty")
                    .0
            })
            .collect();
        assert!(picks.len() > 50, "picks cover the set: {}", picks.len());
    }

    #[test]
    fn get_or_insert_with_inserts_once() {
        let mut d: Dict<String, Vec<u32>> = Dict::with_seed(0);
        for i in 0..100 {
            let (v, inserted) = d.get_or_insert_with(format!("k{}", i % 10), Vec::new);
            v.push(i);
            assert_eq!(inserted, i < 10);
        }
        assert_eq!(d.len(), 10);
        assert_eq!(d.get("k3").map(Vec::len), Some(10));
    }

    #[test]
    fn with_hash_finds_entries_by_hash() {
        let d = dict_with(100);
        let h = d.hash_of(&42u32);
        assert_eq!(
            d.with_hash(h).map(|(k, _)| *k).collect::<Vec<_>>(),
            vec![42]
        );
    }
}
