//! `Tree`: a counted B+tree of `(score, member)` entries, the ordered half of a
//! sorted set.
//!
//! Leaves hold sorted runs of entries and are linked both ways for range walks;
//! branches hold separators and, per child, the number of entries below it. Those
//! counts make rank lookups, selection by rank and range counts O(log n) like Redis's
//! skiplist spans, while the wide nodes keep entries contiguous for cheap iteration.
//! Nodes live in a `Vec` arena addressed by `u32` ids (no `unsafe`, no pointers).
//!
//! Separators follow the classic B+tree rule: keys in child `i` are `>= seps[i - 1]`
//! and `< seps[i]`. A separator may outlive the entry it was copied from; it stays a
//! valid bound, so deletions never have to rewrite ancestors.

use std::cmp::Ordering;

use bytes::Bytes;

/// One member and its score.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The score (never NaN).
    pub score: f64,
    /// The member.
    pub member: Bytes,
}

/// Orders two `(score, member)` keys as Redis's skiplist does: by score, where `-0`
/// equals `0`, then by member bytes.
pub fn compare(a_score: f64, a_member: &[u8], b_score: f64, b_member: &[u8]) -> Ordering {
    if a_score < b_score {
        Ordering::Less
    } else if a_score > b_score {
        Ordering::Greater
    } else {
        a_member.cmp(b_member)
    }
}

impl Entry {
    fn cmp_key(&self, score: f64, member: &[u8]) -> Ordering {
        compare(self.score, &self.member, score, member)
    }
}

// Small nodes in tests so a few dozen entries already build a deep tree and every
// split, merge and rotation path runs.
#[cfg(not(test))]
const LEAF_MAX: usize = 64;
#[cfg(not(test))]
const BRANCH_MAX: usize = 64;
#[cfg(test)]
const LEAF_MAX: usize = 4;
#[cfg(test)]
const BRANCH_MAX: usize = 4;
/// Below this a node borrows from or merges with a sibling. Any value up to half the
/// maximum keeps both halves of an even redistribution above it.
const LEAF_MIN: usize = LEAF_MAX / 4 + 1;
const BRANCH_MIN: usize = BRANCH_MAX / 4 + 1;
const NIL: u32 = u32::MAX;

#[cfg(test)]
mod check;
mod iter;

pub use iter::Iter;

#[derive(Debug, Clone, Default)]
struct Leaf {
    entries: Vec<Entry>,
    prev: u32,
    next: u32,
}

#[derive(Debug, Clone, Default)]
struct Branch {
    /// `children.len() - 1` separators.
    seps: Vec<Entry>,
    children: Vec<u32>,
    /// Entries under each child.
    counts: Vec<usize>,
}

#[derive(Debug, Clone)]
enum Node {
    Leaf(Leaf),
    Branch(Branch),
}

/// Where a descent went: the branch and the child index taken.
type Path = Vec<(u32, usize)>;

/// The counted B+tree.
#[derive(Debug, Clone)]
pub struct Tree {
    nodes: Vec<Node>,
    free: Vec<u32>,
    root: u32,
    len: usize,
}

impl Default for Tree {
    fn default() -> Self {
        Self::new()
    }
}

impl Tree {
    /// An empty tree.
    pub fn new() -> Self {
        Self {
            nodes: vec![Node::Leaf(Leaf {
                entries: Vec::new(),
                prev: NIL,
                next: NIL,
            })],
            free: Vec::new(),
            root: 0,
            len: 0,
        }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when there are no entries.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn alloc(&mut self, node: Node) -> u32 {
        match self.free.pop() {
            Some(id) => {
                self.nodes[id as usize] = node;
                id
            }
            None => {
                self.nodes.push(node);
                (self.nodes.len() - 1) as u32
            }
        }
    }

    fn release(&mut self, id: u32) {
        self.nodes[id as usize] = Node::Leaf(Leaf::default());
        self.free.push(id);
    }

    fn leaf(&self, id: u32) -> &Leaf {
        match &self.nodes[id as usize] {
            Node::Leaf(leaf) => leaf,
            Node::Branch(_) => unreachable!("node {id} is a leaf by construction"),
        }
    }

    fn leaf_mut(&mut self, id: u32) -> &mut Leaf {
        match &mut self.nodes[id as usize] {
            Node::Leaf(leaf) => leaf,
            Node::Branch(_) => unreachable!("node {id} is a leaf by construction"),
        }
    }

    fn branch_mut(&mut self, id: u32) -> &mut Branch {
        match &mut self.nodes[id as usize] {
            Node::Branch(branch) => branch,
            Node::Leaf(_) => unreachable!("node {id} is a branch by construction"),
        }
    }

    /// Entries (leaf) or children (branch) held by a node, and its lower limit.
    fn fill(&self, id: u32) -> (usize, usize, usize) {
        match &self.nodes[id as usize] {
            Node::Leaf(l) => (l.entries.len(), LEAF_MIN, LEAF_MAX),
            Node::Branch(b) => (b.children.len(), BRANCH_MIN, BRANCH_MAX),
        }
    }

    /// Inserts an entry whose member is not in the tree yet.
    pub fn insert(&mut self, entry: Entry) {
        let mut path = Path::new();
        let mut id = self.root;
        loop {
            match &mut self.nodes[id as usize] {
                Node::Branch(b) => {
                    let i = b
                        .seps
                        .partition_point(|s| s.cmp_key(entry.score, &entry.member).is_le());
                    b.counts[i] += 1;
                    path.push((id, i));
                    id = b.children[i];
                }
                Node::Leaf(l) => {
                    let at = l
                        .entries
                        .partition_point(|e| e.cmp_key(entry.score, &entry.member).is_lt());
                    l.entries.insert(at, entry);
                    break;
                }
            }
        }
        self.len += 1;
        if self.leaf(id).entries.len() > LEAF_MAX {
            self.split_leaf(path, id);
        }
    }

    fn split_leaf(&mut self, path: Path, id: u32) {
        let leaf = self.leaf_mut(id);
        let right = leaf.entries.split_off(leaf.entries.len() / 2);
        let (left_count, right_count, old_next) = (leaf.entries.len(), right.len(), leaf.next);
        let sep = right[0].clone();
        let new_id = self.alloc(Node::Leaf(Leaf {
            entries: right,
            prev: id,
            next: old_next,
        }));
        self.leaf_mut(id).next = new_id;
        if old_next != NIL {
            self.leaf_mut(old_next).prev = new_id;
        }
        self.add_child(path, sep, new_id, left_count, right_count);
    }

    /// Links `new_id`, split off the right of the node at the end of `path`, into the
    /// parent, splitting ancestors that overflow.
    fn add_child(&mut self, mut path: Path, sep: Entry, new_id: u32, left: usize, right: usize) {
        let (mut sep, mut new_id, mut left, mut right) = (sep, new_id, left, right);
        loop {
            let Some((parent, i)) = path.pop() else {
                let old_root = self.root;
                self.root = self.alloc(Node::Branch(Branch {
                    seps: vec![sep],
                    children: vec![old_root, new_id],
                    counts: vec![left, right],
                }));
                return;
            };
            let b = self.branch_mut(parent);
            b.seps.insert(i, sep);
            b.children.insert(i + 1, new_id);
            b.counts[i] = left;
            b.counts.insert(i + 1, right);
            if b.children.len() <= BRANCH_MAX {
                return;
            }
            let mid = b.children.len() / 2;
            let children = b.children.split_off(mid);
            let counts = b.counts.split_off(mid);
            let seps = b.seps.split_off(mid);
            sep = b
                .seps
                .pop()
                .expect("a full branch has a separator left of its middle");
            left = b.counts.iter().sum();
            right = counts.iter().sum();
            new_id = self.alloc(Node::Branch(Branch {
                seps,
                children,
                counts,
            }));
        }
    }

    /// Removes the entry with this key; false if absent.
    pub fn remove(&mut self, score: f64, member: &[u8]) -> bool {
        let mut path = Path::new();
        let mut id = self.root;
        let at = loop {
            match &self.nodes[id as usize] {
                Node::Branch(b) => {
                    let i = b.seps.partition_point(|s| s.cmp_key(score, member).is_le());
                    path.push((id, i));
                    id = b.children[i];
                }
                Node::Leaf(l) => match l.entries.binary_search_by(|e| e.cmp_key(score, member)) {
                    Ok(at) => break at,
                    Err(_) => return false,
                },
            }
        };
        self.leaf_mut(id).entries.remove(at);
        self.after_removal(path, id, 1);
        true
    }

    /// Removes and returns the entries of ranks `start..end` (clamped), in order.
    pub fn remove_ranks(&mut self, start: usize, end: usize) -> Vec<Entry> {
        let end = end.min(self.len);
        let mut out = Vec::with_capacity(end.saturating_sub(start));
        while out.len() < end.saturating_sub(start) {
            let (path, id, at) = self.descend_to_rank(start);
            let wanted = end - start - out.len();
            let leaf = self.leaf_mut(id);
            let take = wanted.min(leaf.entries.len() - at);
            out.extend(leaf.entries.drain(at..at + take));
            self.after_removal(path, id, take);
        }
        out
    }

    /// Fixes counts along `path` after `removed` entries left leaf `id`, then restores
    /// the fill invariants.
    fn after_removal(&mut self, path: Path, id: u32, removed: usize) {
        for &(parent, i) in &path {
            self.branch_mut(parent).counts[i] -= removed;
        }
        self.len -= removed;
        self.rebalance(path, id);
    }

    /// Merges or refills an underfull node with a sibling, walking up while parents
    /// underflow in turn, and drops a root branch left with one child.
    fn rebalance(&mut self, mut path: Path, mut id: u32) {
        loop {
            let Some(&(parent, i)) = path.last() else {
                self.collapse_root();
                return;
            };
            let (size, min, max) = self.fill(id);
            if size >= min {
                return;
            }
            let siblings = self.branch_mut(parent).children.len();
            if siblings == 1 {
                path.pop();
                id = parent;
                continue;
            }
            let j = if i + 1 < siblings { i } else { i - 1 };
            let children = &self.branch_mut(parent).children;
            let (a, b) = (children[j], children[j + 1]);
            if self.fill(a).0 + self.fill(b).0 <= max {
                self.merge(parent, j);
                path.pop();
                id = parent;
            } else {
                self.redistribute(parent, j);
                return;
            }
        }
    }

    fn collapse_root(&mut self) {
        while let Node::Branch(b) = &self.nodes[self.root as usize] {
            if b.children.len() != 1 {
                return;
            }
            let child = b.children[0];
            let old = self.root;
            self.root = child;
            self.release(old);
        }
    }

    fn take_node(&mut self, id: u32) -> Node {
        std::mem::replace(&mut self.nodes[id as usize], Node::Leaf(Leaf::default()))
    }

    /// Moves child `j + 1` of `parent` into child `j`.
    fn merge(&mut self, parent: u32, j: usize) {
        let p = self.branch_mut(parent);
        let sep = p.seps.remove(j);
        let right = p.children.remove(j + 1);
        let count = p.counts.remove(j + 1);
        p.counts[j] += count;
        let left = p.children[j];
        match self.take_node(right) {
            Node::Leaf(r) => {
                let l = self.leaf_mut(left);
                l.entries.extend(r.entries);
                l.next = r.next;
                if r.next != NIL {
                    self.leaf_mut(r.next).prev = left;
                }
            }
            Node::Branch(r) => {
                let l = self.branch_mut(left);
                l.seps.push(sep);
                l.seps.extend(r.seps);
                l.children.extend(r.children);
                l.counts.extend(r.counts);
            }
        }
        self.release(right);
    }

    /// Evens out children `j` and `j + 1` of `parent`, which together overflow one node.
    fn redistribute(&mut self, parent: u32, j: usize) {
        let p = self.branch_mut(parent);
        let (a, b) = (p.children[j], p.children[j + 1]);
        let old_sep = p.seps[j].clone();
        let mut right = self.take_node(b);
        let (new_sep, a_count, b_count) = match (&mut self.nodes[a as usize], &mut right) {
            (Node::Leaf(l), Node::Leaf(r)) => {
                let half = (l.entries.len() + r.entries.len()) / 2;
                if l.entries.len() > half {
                    let moved = l.entries.split_off(half);
                    r.entries.splice(0..0, moved);
                } else {
                    let k = half - l.entries.len();
                    l.entries.extend(r.entries.drain(..k));
                }
                (r.entries[0].clone(), l.entries.len(), r.entries.len())
            }
            (Node::Branch(l), Node::Branch(r)) => {
                let half = (l.children.len() + r.children.len()) / 2;
                let sep = if l.children.len() > half {
                    let children = l.children.split_off(half);
                    let counts = l.counts.split_off(half);
                    let mut seps = l.seps.split_off(half);
                    let up = l.seps.pop().expect("the left branch keeps a separator");
                    seps.push(old_sep);
                    seps.append(&mut r.seps);
                    r.seps = seps;
                    r.children.splice(0..0, children);
                    r.counts.splice(0..0, counts);
                    up
                } else {
                    let k = half - l.children.len();
                    l.seps.push(old_sep);
                    l.seps.extend(r.seps.drain(..k - 1));
                    let up = r.seps.remove(0);
                    l.children.extend(r.children.drain(..k));
                    l.counts.extend(r.counts.drain(..k));
                    up
                };
                (sep, l.counts.iter().sum(), r.counts.iter().sum())
            }
            _ => unreachable!("siblings are at the same depth"),
        };
        self.nodes[b as usize] = right;
        let p = self.branch_mut(parent);
        p.seps[j] = new_sep;
        p.counts[j] = a_count;
        p.counts[j + 1] = b_count;
    }

    fn descend_to_rank(&self, mut rank: usize) -> (Path, u32, usize) {
        let mut path = Path::new();
        let mut id = self.root;
        while let Node::Branch(b) = &self.nodes[id as usize] {
            let mut i = 0;
            while i + 1 < b.counts.len() && rank >= b.counts[i] {
                rank -= b.counts[i];
                i += 1;
            }
            path.push((id, i));
            id = b.children[i];
        }
        (path, id, rank)
    }

    /// The 0-based rank of the entry with this key.
    pub fn rank(&self, score: f64, member: &[u8]) -> Option<usize> {
        let mut before = 0;
        let mut id = self.root;
        loop {
            match &self.nodes[id as usize] {
                Node::Branch(b) => {
                    let i = b.seps.partition_point(|s| s.cmp_key(score, member).is_le());
                    before += b.counts[..i].iter().sum::<usize>();
                    id = b.children[i];
                }
                Node::Leaf(l) => {
                    return l
                        .entries
                        .binary_search_by(|e| e.cmp_key(score, member))
                        .ok()
                        .map(|at| before + at);
                }
            }
        }
    }

    /// The entry at `rank`.
    pub fn get(&self, rank: usize) -> Option<&Entry> {
        if rank >= self.len {
            return None;
        }
        let (_, id, at) = self.descend_to_rank(rank);
        self.leaf(id).entries.get(at)
    }

    /// How many entries satisfy `before`, which must hold for a prefix of the order
    /// and fail for the rest (a lower bound search).
    pub fn partition_point(&self, before: impl Fn(&Entry) -> bool) -> usize {
        let mut count = 0;
        let mut id = self.root;
        loop {
            match &self.nodes[id as usize] {
                Node::Branch(b) => {
                    let i = b.seps.partition_point(&before);
                    count += b.counts[..i].iter().sum::<usize>();
                    id = b.children[i];
                }
                Node::Leaf(l) => return count + l.entries.partition_point(&before),
            }
        }
    }

    /// Entries from rank `start` towards the end, or towards the start when `rev`.
    pub fn iter_from(&self, start: usize, rev: bool) -> Iter<'_> {
        if start >= self.len {
            return Iter {
                tree: self,
                leaf: NIL,
                at: 0,
                remaining: 0,
                rev,
            };
        }
        let (_, leaf, at) = self.descend_to_rank(start);
        Iter {
            tree: self,
            leaf,
            at,
            remaining: if rev { start + 1 } else { self.len - start },
            rev,
        }
    }
}
