//! Walking a [`Tree`]'s entries in order along the leaf chain.

use super::{Entry, NIL, Tree};

/// Walks entries along the leaf chain.
pub struct Iter<'a> {
    pub(super) tree: &'a Tree,
    pub(super) leaf: u32,
    pub(super) at: usize,
    pub(super) remaining: usize,
    pub(super) rev: bool,
}

impl<'a> Iterator for Iter<'a> {
    type Item = &'a Entry;

    fn next(&mut self) -> Option<&'a Entry> {
        if self.remaining == 0 || self.leaf == NIL {
            return None;
        }
        let mut leaf = self.tree.leaf(self.leaf);
        // Leaves are never empty below a non-empty root, but stepping over an empty
        // one costs nothing and keeps the walk safe.
        while self.at >= leaf.entries.len() && leaf.next != NIL && !self.rev {
            self.leaf = leaf.next;
            self.at = 0;
            leaf = self.tree.leaf(self.leaf);
        }
        let entry = leaf.entries.get(self.at)?;
        self.remaining -= 1;
        if self.rev {
            if self.at > 0 {
                self.at -= 1;
            } else {
                while self.remaining > 0 {
                    let prev = self.tree.leaf(self.leaf).prev;
                    if prev == NIL {
                        self.remaining = 0;
                        break;
                    }
                    self.leaf = prev;
                    let len = self.tree.leaf(prev).entries.len();
                    if len > 0 {
                        self.at = len - 1;
                        break;
                    }
                }
            }
        } else {
            self.at += 1;
        }
        Some(entry)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}
