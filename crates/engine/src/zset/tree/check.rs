//! Structural invariants of a [`Tree`], checked by tests after every change.

use super::{BRANCH_MAX, BRANCH_MIN, Entry, LEAF_MAX, LEAF_MIN, NIL, Node, Tree};

impl Tree {
    /// Panics unless counts, separators, fill and leaf links are all consistent.
    pub(crate) fn check(&self) {
        let mut leaves = Vec::new();
        let total = self.check_node(self.root, None, None, true, &mut leaves);
        assert_eq!(total, self.len, "root count");
        for (k, &id) in leaves.iter().enumerate() {
            let leaf = self.leaf(id);
            let prev = if k == 0 { NIL } else { leaves[k - 1] };
            let next = leaves.get(k + 1).copied().unwrap_or(NIL);
            assert_eq!((leaf.prev, leaf.next), (prev, next), "links of leaf {id}");
        }
    }

    fn check_node(
        &self,
        id: u32,
        low: Option<&Entry>,
        high: Option<&Entry>,
        is_root: bool,
        leaves: &mut Vec<u32>,
    ) -> usize {
        let in_bounds = |e: &Entry| {
            low.is_none_or(|l| l.cmp_key(e.score, &e.member).is_le())
                && high.is_none_or(|h| h.cmp_key(e.score, &e.member).is_gt())
        };
        match &self.nodes[id as usize] {
            Node::Leaf(l) => {
                assert!(
                    is_root || l.entries.len() >= LEAF_MIN,
                    "leaf {id} underfull"
                );
                assert!(l.entries.len() <= LEAF_MAX, "leaf {id} overfull");
                assert!(l.entries.iter().all(in_bounds), "leaf {id} out of bounds");
                assert!(
                    l.entries
                        .windows(2)
                        .all(|w| w[0].cmp_key(w[1].score, &w[1].member).is_lt()),
                    "leaf {id} unsorted"
                );
                leaves.push(id);
                l.entries.len()
            }
            Node::Branch(b) => {
                assert!(b.children.len() >= if is_root { 2 } else { BRANCH_MIN });
                assert!(b.children.len() <= BRANCH_MAX);
                assert_eq!(b.seps.len() + 1, b.children.len());
                assert_eq!(b.counts.len(), b.children.len());
                let mut total = 0;
                for (i, &child) in b.children.iter().enumerate() {
                    let lo = if i == 0 { low } else { Some(&b.seps[i - 1]) };
                    let hi = if i == b.seps.len() {
                        high
                    } else {
                        Some(&b.seps[i])
                    };
                    let n = self.check_node(child, lo, hi, false, leaves);
                    assert_eq!(n, b.counts[i], "count of child {i} of {id}");
                    total += n;
                }
                total
            }
        }
    }
}
