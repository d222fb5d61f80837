//! Sorted-set ops and reads through the engine's public entry points.

use bytes::Bytes;
use okapi_types::Namespace;

use super::*;
use crate::dict::Dict;
use crate::strings::{SetCond, SetExpire, StringOp};
use crate::testing::b;
use crate::value::Value;

const DB: Namespace = Namespace(0);

crate::testing::test_node!(Fixture, 42, 7);

impl Fixture {
    fn zadd(&mut self, key: &str, flags: AddFlags, pairs: &[(f64, &str)]) -> Reply {
        self.op(ZSetOp::Add {
            key: b(key),
            flags,
            pairs: pairs.iter().map(|&(s, m)| (s, b(m))).collect(),
        })
    }

    fn range(&mut self, key: &str) -> Reply {
        self.query(ZSetQuery::Range {
            key: b(key),
            spec: RangeSpec {
                by: RangeBy::Rank { start: 0, stop: -1 },
                rev: false,
                limit: None,
            },
            withscores: true,
        })
    }

    fn exists(&mut self, key: &str) -> bool {
        self.engine
            .space(DB)
            .and_then(|ks| ks.peek(key.as_bytes(), 1_000))
            .is_some()
    }
}

fn pairs(items: &[(&str, f64)]) -> Reply {
    Reply::Pairs(
        items
            .iter()
            .map(|&(m, s)| (Reply::Bulk(b(m)), Reply::Double(s)))
            .collect(),
    )
}

#[test]
fn zadd_flags_follow_redis() {
    let mut f = Fixture::fresh();
    let none = AddFlags::default();
    assert_eq!(
        f.zadd("z", none, &[(10.0, "x"), (20.0, "y")]),
        Reply::Int(2)
    );
    let xx = AddFlags { xx: true, ..none };
    assert_eq!(f.zadd("missing", xx, &[(1.0, "a")]), Reply::Int(0));
    assert!(!f.exists("missing"));
    let gt_ch = AddFlags {
        gt: true,
        ch: true,
        ..none
    };
    assert_eq!(
        f.zadd("z", gt_ch, &[(5.0, "new"), (11.0, "x"), (19.0, "y")]),
        Reply::Int(2)
    );
    assert_eq!(
        f.range("z"),
        pairs(&[("new", 5.0), ("x", 11.0), ("y", 20.0)])
    );
    let lt_incr = AddFlags {
        lt: true,
        incr: true,
        ..none
    };
    assert_eq!(f.zadd("z", lt_incr, &[(1.0, "x")]), Reply::Nil);
    assert_eq!(f.zadd("z", lt_incr, &[(-1.0, "x")]), Reply::Double(10.0));
    let incr = AddFlags { incr: true, ..none };
    f.zadd("z", none, &[(f64::INFINITY, "inf")]);
    assert_eq!(
        f.zadd("z", incr, &[(f64::NEG_INFINITY, "inf")]),
        Reply::Error(EngineError::ScoreNan)
    );
    let nx_incr = AddFlags {
        nx: true,
        incr: true,
        ..none
    };
    assert_eq!(f.zadd("z", nx_incr, &[(1.0, "x")]), Reply::Nil);
}

#[test]
fn zadd_on_another_type_is_wrongtype() {
    let mut f = Fixture::fresh();
    f.op(StringOp::Set {
        key: b("s"),
        value: b("v"),
        cond: SetCond::Always,
        get: false,
        expire: SetExpire::Clear,
    });
    assert_eq!(
        f.zadd("s", AddFlags::default(), &[(1.0, "a")]),
        Reply::Error(EngineError::WrongType)
    );
    assert_eq!(
        f.query(ZSetQuery::Card { key: b("s") }),
        Reply::Error(EngineError::WrongType)
    );
}

#[test]
fn removing_the_last_member_deletes_the_key() {
    let mut f = Fixture::fresh();
    f.zadd(
        "z",
        AddFlags::default(),
        &[(1.0, "a"), (2.0, "b"), (3.0, "c")],
    );
    let rem = f.op(ZSetOp::Rem {
        key: b("z"),
        members: vec![b("a"), b("nope")],
    });
    assert_eq!(rem, Reply::Int(1));
    let by = RangeBy::Score(ScoreRange {
        min: f64::NEG_INFINITY,
        min_ex: false,
        max: f64::INFINITY,
        max_ex: false,
    });
    assert_eq!(f.op(ZSetOp::RemRange { key: b("z"), by }), Reply::Int(2));
    assert!(!f.exists("z"));
}

#[test]
fn pops_reply_in_each_commands_shape() {
    let mut f = Fixture::fresh();
    f.zadd(
        "z",
        AddFlags::default(),
        &[(1.0, "a"), (2.0, "b"), (3.0, "c")],
    );
    let pop = |end, count, shape| ZSetOp::Pop {
        keys: vec![b("none"), b("z")],
        end,
        count,
        shape,
    };
    assert_eq!(
        f.op(pop(PopEnd::Min, None, PopShape::Plain)),
        Reply::Array(vec![Reply::Bulk(b("a")), Reply::Double(1.0)])
    );
    assert_eq!(
        f.op(pop(PopEnd::Max, None, PopShape::Keyed)),
        Reply::Array(vec![
            Reply::Bulk(b("z")),
            Reply::Bulk(b("c")),
            Reply::Double(3.0)
        ])
    );
    assert_eq!(
        f.op(pop(PopEnd::Max, Some(5), PopShape::Multi)),
        Reply::Array(vec![
            Reply::Bulk(b("z")),
            Reply::Array(vec![Reply::Array(vec![
                Reply::Bulk(b("b")),
                Reply::Double(2.0)
            ])])
        ])
    );
    assert!(!f.exists("z"));
    assert_eq!(
        f.op(pop(PopEnd::Min, Some(1), PopShape::Multi)),
        Reply::NilArray
    );
    assert_eq!(
        f.op(pop(PopEnd::Min, None, PopShape::Plain)),
        Reply::Array(Vec::new())
    );
}

#[test]
fn set_operations_accept_plain_sets_weights_and_aggregates() {
    let mut f = Fixture::fresh();
    f.zadd("z1", AddFlags::default(), &[(1.0, "a"), (2.0, "b")]);
    f.zadd("z2", AddFlags::default(), &[(10.0, "b"), (20.0, "c")]);
    let mut set: Dict<Bytes, ()> = Dict::with_seed(1);
    set.insert(b("c"), ());
    set.insert(b("d"), ());
    f.engine.space_mut(DB).expect("db 0").insert(
        b("s"),
        Value::Set(Box::new(set)),
        &ApplyCtx {
            now_ms: 1_000,
            index: 99,
        },
    );
    let combine = |kind, keys: &[&str], weights: Vec<f64>, aggregate| Combine {
        kind,
        keys: keys.iter().map(|k| b(k)).collect(),
        weights,
        aggregate,
    };
    let union = combine(
        SetOpKind::Union,
        &["z1", "z2", "s"],
        vec![2.0, 1.0, 3.0],
        Aggregate::Sum,
    );
    assert_eq!(
        f.query(ZSetQuery::Combine {
            combine: union,
            withscores: true
        }),
        pairs(&[("a", 2.0), ("d", 3.0), ("b", 14.0), ("c", 23.0)])
    );
    let inter = combine(SetOpKind::Inter, &["z2", "s"], vec![], Aggregate::Max);
    assert_eq!(
        f.query(ZSetQuery::Combine {
            combine: inter,
            withscores: true
        }),
        pairs(&[("c", 20.0)])
    );
    let diff = combine(SetOpKind::Diff, &["z1", "z2"], vec![], Aggregate::Sum);
    assert_eq!(
        f.op(ZSetOp::CombineStore {
            dst: b("out"),
            combine: diff
        }),
        Reply::Int(1)
    );
    assert_eq!(f.range("out"), pairs(&[("a", 1.0)]));
    let empty = combine(SetOpKind::Inter, &["z1", "missing"], vec![], Aggregate::Sum);
    assert_eq!(
        f.op(ZSetOp::CombineStore {
            dst: b("out"),
            combine: empty
        }),
        Reply::Int(0)
    );
    assert!(!f.exists("out"));
    assert_eq!(
        f.query(ZSetQuery::InterCard {
            keys: vec![b("z1"), b("z2")],
            limit: 0
        }),
        Reply::Int(1)
    );
}

#[test]
fn infinite_sums_settle_at_zero() {
    let mut f = Fixture::fresh();
    f.zadd("p", AddFlags::default(), &[(f64::INFINITY, "m")]);
    f.zadd("n", AddFlags::default(), &[(f64::NEG_INFINITY, "m")]);
    let union = Combine {
        kind: SetOpKind::Union,
        keys: vec![b("p"), b("n")],
        weights: vec![],
        aggregate: Aggregate::Sum,
    };
    assert_eq!(
        f.query(ZSetQuery::Combine {
            combine: union,
            withscores: true
        }),
        pairs(&[("m", 0.0)])
    );
}

#[test]
fn random_members_are_distinct_for_positive_counts() {
    let mut f = Fixture::fresh();
    let members: Vec<String> = (0..50).map(|i| format!("m{i}")).collect();
    let items: Vec<(f64, &str)> = members.iter().map(|m| (1.0, m.as_str())).collect();
    f.zadd("z", AddFlags::default(), &items);
    for count in [1, 10, 20, 49, 50, 80] {
        let Reply::Array(picked) = f.query(ZSetQuery::RandMember {
            key: b("z"),
            count: Some(count),
            withscores: false,
        }) else {
            panic!("array reply");
        };
        let distinct: std::collections::HashSet<_> = picked
            .iter()
            .map(|r| match r {
                Reply::Bulk(m) => m.clone(),
                other => panic!("bulk member, got {other:?}"),
            })
            .collect();
        assert_eq!(picked.len(), (count as usize).min(50));
        assert_eq!(distinct.len(), picked.len());
    }
    let Reply::Array(repeated) = f.query(ZSetQuery::RandMember {
        key: b("z"),
        count: Some(-200),
        withscores: false,
    }) else {
        panic!("array reply");
    };
    assert_eq!(repeated.len(), 200);
}
