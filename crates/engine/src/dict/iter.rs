//! Hash-ordered iteration over a [`Dict`](super::Dict).
//!
//! One table alone is already in hash order (buckets by the high bits of the hash,
//! chains sorted by hash). During a resize the entries are split between two tables,
//! so a plain walk would list one table after the other and the order would depend on
//! how far the resize got. Merging the two sorted walks gives the one order that only
//! depends on the contents and the seed.

use super::{Node, Table};

/// The nodes of one table in hash order.
struct TableWalk<'a, K, V> {
    buckets: std::slice::Iter<'a, Option<Box<Node<K, V>>>>,
    node: Option<&'a Node<K, V>>,
}

impl<'a, K, V> TableWalk<'a, K, V> {
    fn new(table: &'a Table<K, V>) -> Self {
        Self {
            buckets: table.buckets.iter(),
            node: None,
        }
    }
}

impl<'a, K, V> Iterator for TableWalk<'a, K, V> {
    type Item = &'a Node<K, V>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(node) = self.node {
                self.node = node.next.as_deref();
                return Some(node);
            }
            self.node = self.buckets.next()?.as_deref();
        }
    }
}

/// Both tables of a dict merged by hash.
pub(super) struct Ordered<'a, K, V> {
    main: std::iter::Peekable<TableWalk<'a, K, V>>,
    /// The resize target, when a resize is under way.
    next: Option<std::iter::Peekable<TableWalk<'a, K, V>>>,
}

impl<'a, K, V> Ordered<'a, K, V> {
    pub(super) fn new(main: &'a Table<K, V>, next: Option<&'a Table<K, V>>) -> Self {
        Self {
            main: TableWalk::new(main).peekable(),
            next: next.map(|t| TableWalk::new(t).peekable()),
        }
    }
}

impl<'a, K, V> Iterator for Ordered<'a, K, V> {
    type Item = (&'a K, &'a V);

    fn next(&mut self) -> Option<Self::Item> {
        let node = match self.next.as_mut() {
            None => self.main.next()?,
            Some(next) => match (self.main.peek(), next.peek()) {
                (Some(a), Some(b)) if b.hash < a.hash => next.next()?,
                (Some(_), _) => self.main.next()?,
                (None, _) => next.next()?,
            },
        };
        Some((&node.key, &node.value))
    }
}

#[cfg(test)]
mod tests {
    use crate::dict::Dict;

    fn order(d: &Dict<u32, ()>) -> Vec<u32> {
        d.iter().map(|(k, _)| *k).collect()
    }

    #[test]
    fn order_is_by_hash_whatever_the_resize_state() {
        let mut grown = Dict::with_seed(4);
        let mut mid_resize = 0;
        for i in 0..3_000u32 {
            grown.insert(i, ());
            if i % 7 == 0 {
                grown.remove(&(i / 2));
            }
            if i % 97 == 0 {
                // Compare in the middle of resizes too.
                mid_resize += usize::from(grown.next.is_some());
                let mut fresh = Dict::with_capacity(4, grown.len());
                grown.iter().for_each(|(k, _)| {
                    fresh.insert(*k, ());
                });
                assert_eq!(order(&grown), order(&fresh), "after {i}");
                let hashes: Vec<u64> = order(&grown).iter().map(|k| grown.hash_of(k)).collect();
                assert!(hashes.is_sorted(), "after {i}");
            }
        }
        assert!(
            mid_resize > 0,
            "some comparisons ran while a resize was under way"
        );
    }
}
