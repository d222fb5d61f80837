//! The sorted set against a sorted `Vec` model. Tree nodes are tiny under `cfg(test)`,
//! so these sizes already build trees several levels deep.

use bytes::Bytes;
use proptest::prelude::*;

use super::{ZSetValue, compare};

const SCORES: &[f64] = &[
    f64::NEG_INFINITY,
    -2.5,
    -1.0,
    -0.0,
    0.0,
    1.0,
    1.0,
    3.25,
    7.0,
    f64::INFINITY,
];

#[derive(Debug, Clone)]
enum Step {
    Insert(u16, usize),
    Remove(u16),
    RemoveRanks(usize, usize),
}

fn step(members: u16) -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => (0..members, 0..SCORES.len()).prop_map(|(m, s)| Step::Insert(m, s)),
        3 => (0..members).prop_map(Step::Remove),
        1 => (0usize..80, 0usize..12).prop_map(|(a, n)| Step::RemoveRanks(a, a + n)),
    ]
}

fn member(i: u16) -> Bytes {
    Bytes::from(format!("m{i:03}"))
}

/// The model: `(score, member)` pairs kept sorted with the set's own comparison.
#[derive(Default)]
struct Model(Vec<(f64, Bytes)>);

impl Model {
    fn find(&self, m: &[u8]) -> Option<usize> {
        self.0.iter().position(|(_, x)| x.as_ref() == m)
    }

    fn insert(&mut self, m: Bytes, score: f64) -> Option<f64> {
        let old = self.find(&m).map(|at| self.0[at].0);
        if old.is_some_and(|old| old == score) {
            return old;
        }
        if let Some(at) = self.find(&m) {
            self.0.remove(at);
        }
        let at = self
            .0
            .partition_point(|(s, x)| compare(*s, x, score, &m).is_lt());
        self.0.insert(at, (score, m));
        old
    }
}

fn assert_same(z: &ZSetValue, model: &Model) {
    z.order.check();
    assert_eq!(z.len(), model.0.len());
    let all: Vec<(f64, Bytes)> = z.iter().map(|e| (e.score, e.member.clone())).collect();
    assert_eq!(all.len(), model.0.len());
    for (got, want) in all.iter().zip(&model.0) {
        assert_eq!(got.1, want.1);
        assert_eq!(got.0.to_bits(), want.0.to_bits(), "score of {:?}", want.1);
    }
    for (rank, (score, m)) in model.0.iter().enumerate() {
        let (got_rank, got_score) = z.rank(m).expect("member present");
        assert_eq!(got_rank, rank);
        assert_eq!(got_score.to_bits(), score.to_bits());
        assert_eq!(z.get(rank).map(|e| &e.member), Some(m));
    }
    assert!(z.get(model.0.len()).is_none());
    for &bound in SCORES {
        let want = model.0.iter().filter(|(s, _)| *s < bound).count();
        assert_eq!(z.count_before(|e| e.score < bound), want, "below {bound}");
    }
    let n = model.0.len();
    for start in [0, n / 3, n / 2, n.saturating_sub(1)] {
        let fwd: Vec<&Bytes> = z.iter_from(start, false).map(|e| &e.member).collect();
        let want: Vec<&Bytes> = model.0.iter().skip(start).map(|(_, m)| m).collect();
        assert_eq!(fwd, want, "forward from {start}");
        let back: Vec<&Bytes> = z.iter_from(start, true).map(|e| &e.member).collect();
        let want: Vec<&Bytes> = if n == 0 {
            Vec::new()
        } else {
            model.0[..=start].iter().rev().map(|(_, m)| m).collect()
        };
        assert_eq!(back, want, "backward from {start}");
    }
    let expected_bytes: usize = model.0.iter().map(|(_, m)| m.len() + 8).sum();
    assert_eq!(z.payload_size(), expected_bytes);
}

fn run(steps: &[Step]) {
    let mut z = ZSetValue::new(7);
    let mut model = Model::default();
    for step in steps {
        match *step {
            Step::Insert(m, s) => {
                let got = z.insert(member(m), SCORES[s]);
                let want = model.insert(member(m), SCORES[s]);
                assert_eq!(got.map(f64::to_bits), want.map(f64::to_bits));
            }
            Step::Remove(m) => {
                let want = model.find(&member(m)).map(|at| model.0.remove(at).0);
                assert_eq!(z.remove(&member(m)), want);
            }
            Step::RemoveRanks(a, b) => {
                let end = b.min(model.0.len());
                let want: Vec<Bytes> = if a < end {
                    model.0.drain(a..end).map(|(_, m)| m).collect()
                } else {
                    Vec::new()
                };
                let got: Vec<Bytes> = z.remove_ranks(a, b).into_iter().map(|e| e.member).collect();
                assert_eq!(got, want);
            }
        }
        assert_same(&z, &model);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn matches_a_sorted_vec_with_few_members(steps in prop::collection::vec(step(12), 1..120)) {
        run(&steps);
    }

    #[test]
    fn matches_a_sorted_vec_with_many_members(steps in prop::collection::vec(step(300), 1..400)) {
        run(&steps);
    }
}

#[test]
fn bulk_inserts_and_range_removals_keep_the_tree_balanced() {
    let mut z = ZSetValue::new(1);
    for i in 0..5_000u16 {
        z.insert(member(i), f64::from(i % 97));
    }
    z.order.check();
    assert_eq!(z.len(), 5_000);
    let removed = z.remove_ranks(100, 4_000);
    assert_eq!(removed.len(), 3_900);
    z.order.check();
    assert_eq!(z.len(), 1_100);
    let removed = z.remove_ranks(0, usize::MAX);
    assert_eq!(removed.len(), 1_100);
    assert!(z.is_empty());
    z.order.check();
    assert_eq!(z.payload_size(), 0);
}

#[test]
fn negative_zero_keeps_its_sign_and_sorts_with_zero() {
    let mut z = ZSetValue::new(0);
    z.insert(Bytes::from_static(b"b"), -0.0);
    z.insert(Bytes::from_static(b"a"), 0.0);
    let order: Vec<&[u8]> = z.iter().map(|e| e.member.as_ref()).collect();
    assert_eq!(order, vec![&b"a"[..], b"b"]);
    assert_eq!(z.insert(Bytes::from_static(b"b"), 0.0), Some(-0.0));
    assert!(z.score(b"b").is_some_and(|s| s.is_sign_negative()));
}
