use super::*;
use crate::hashes::HashOp;
use crate::keys::{KeyOp, KeyQuery};
use crate::lists::{End, ListOp, ListQuery};
use crate::sets::SetOp;
use crate::strings::{SetCond, SetExpire, StringOp};
use crate::testing::b;
use crate::zsets::{AddFlags, ZSetOp};

crate::testing::test_node!(Node, 11, 0);

impl Node {
    fn rpush(&mut self, key: &str, elements: &[&str]) {
        self.op(ListOp::Push {
            key: b(key),
            end: End::Right,
            elements: elements.iter().map(|e| b(e)).collect(),
            existing_only: false,
        });
    }

    fn set(&mut self, key: &str, value: &str) {
        self.op(StringOp::Set {
            key: b(key),
            value: b(value),
            cond: SetCond::Always,
            get: false,
            expire: SetExpire::Clear,
        });
    }

    fn sort(&mut self, key: &str, spec: &SortSpec) -> Reply {
        self.query(KeyQuery::Sort {
            key: b(key),
            spec: spec.clone(),
        })
    }
}

fn spec() -> SortSpec {
    SortSpec {
        by: SortBy::Element,
        limit: None,
        get: Vec::new(),
        desc: false,
        alpha: false,
    }
}

fn rows(reply: Reply) -> Vec<Option<String>> {
    match reply {
        Reply::Array(items) => items
            .into_iter()
            .map(|r| match r {
                Reply::Bulk(b) => Some(String::from_utf8_lossy(&b).into_owned()),
                Reply::Nil => None,
                other => panic!("not a bulk: {other:?}"),
            })
            .collect(),
        other => panic!("not an array: {other:?}"),
    }
}

fn some(items: &[&str]) -> Vec<Option<String>> {
    items.iter().map(|s| Some((*s).to_owned())).collect()
}

#[test]
fn numbers_sort_numerically_with_ties_broken_by_bytes() {
    let mut n = Node::fresh();
    n.rpush("l", &["10", "9", "0x10", "-inf", "1.5", "01.5", ""]);
    assert_eq!(
        rows(n.sort("l", &spec())),
        some(&["-inf", "", "01.5", "1.5", "9", "10", "0x10"])
    );
    let desc = SortSpec {
        desc: true,
        ..spec()
    };
    assert_eq!(
        rows(n.sort("l", &desc)),
        some(&["0x10", "10", "9", "1.5", "01.5", "", "-inf"])
    );
}

#[test]
fn a_value_that_is_not_a_number_fails_unless_alpha() {
    let mut n = Node::fresh();
    n.rpush("l", &["b", "a", "1e-310"]);
    assert_eq!(n.sort("l", &spec()), Reply::Error(EngineError::SortScore));
    let alpha = SortSpec {
        alpha: true,
        ..spec()
    };
    assert_eq!(rows(n.sort("l", &alpha)), some(&["1e-310", "a", "b"]));
}

#[test]
fn limit_clamps_like_redis() {
    let mut n = Node::fresh();
    n.rpush("l", &["3", "1", "2"]);
    let limited = |start, count| SortSpec {
        limit: Some((start, count)),
        ..spec()
    };
    assert_eq!(rows(n.sort("l", &limited(1, 1))), some(&["2"]));
    assert_eq!(rows(n.sort("l", &limited(-5, 2))), some(&["1", "2"]));
    assert_eq!(rows(n.sort("l", &limited(2, -1))), some(&["3"]));
    assert_eq!(rows(n.sort("l", &limited(3, 1))), some(&[]));
    assert_eq!(rows(n.sort("l", &limited(1, i64::MAX))), some(&["2", "3"]));
    assert_eq!(rows(n.sort("missing", &limited(0, 5))), some(&[]));
}

#[test]
fn by_and_get_patterns_read_strings_and_hash_fields() {
    let mut n = Node::fresh();
    n.rpush("l", &["b", "a", "c"]);
    n.set("w_a", "3");
    n.set("w_b", "1");
    n.set("w_c", "2");
    n.op(HashOp::Set {
        key: b("h_a"),
        pairs: vec![(b("f"), b("x"))],
        reply_ok: false,
    });
    let by = SortSpec {
        by: SortBy::Pattern(b("w_*")),
        get: vec![b("#"), b("h_*->f"), b("w_*"), b("h_*->"), b("nostar")],
        ..spec()
    };
    let expected: Vec<Option<String>> = [["b", "", "1"], ["c", "", "2"], ["a", "x", "3"]]
        .iter()
        .flat_map(|[e, h, w]| {
            [
                Some((*e).to_owned()),
                (!h.is_empty()).then(|| (*h).to_owned()),
                Some((*w).to_owned()),
                None,
                None,
            ]
        })
        .collect();
    assert_eq!(rows(n.sort("l", &by)), expected);
    // ALPHA by a pattern: a missing value sorts first, ties keep the list's order.
    let by_hash = SortSpec {
        by: SortBy::Pattern(b("h_*->f")),
        alpha: true,
        ..spec()
    };
    assert_eq!(rows(n.sort("l", &by_hash)), some(&["b", "c", "a"]));
}

#[test]
fn nosort_keeps_list_and_zset_order_and_limits_from_the_right_end() {
    let mut n = Node::fresh();
    n.rpush("l", &["x", "y", "z"]);
    n.op(ZSetOp::Add {
        key: b("z"),
        flags: AddFlags::default(),
        pairs: vec![(2.0, b("two")), (1.0, b("one")), (3.0, b("three"))],
    });
    let nosort = |desc, limit| SortSpec {
        by: SortBy::NoSort,
        desc,
        limit,
        ..spec()
    };
    assert_eq!(rows(n.sort("l", &nosort(true, Some((1, 1))))), some(&["y"]));
    assert_eq!(
        rows(n.sort("l", &nosort(true, None))),
        some(&["z", "y", "x"])
    );
    assert_eq!(
        rows(n.sort("z", &nosort(false, None))),
        some(&["one", "two", "three"])
    );
    assert_eq!(
        rows(n.sort("z", &nosort(true, Some((1, 5))))),
        some(&["two", "one"])
    );
}

#[test]
fn store_writes_a_list_sorts_an_unsorted_set_and_deletes_on_empty() {
    let mut n = Node::fresh();
    n.op(SetOp::Add {
        key: b("s"),
        members: vec![b("z"), b("y"), b("x")],
    });
    n.set("dst", "old");
    let store = |key: &str, spec: SortSpec| KeyOp::SortStore {
        key: b(key),
        spec,
        dst: b("dst"),
    };
    let nosort = SortSpec {
        by: SortBy::NoSort,
        ..spec()
    };
    assert_eq!(n.op(store("s", nosort)), Reply::Int(3));
    let range = n.query(ListQuery::Range {
        key: b("dst"),
        start: 0,
        stop: -1,
    });
    assert_eq!(rows(range), some(&["x", "y", "z"]));
    let with_get = SortSpec {
        by: SortBy::NoSort,
        get: vec![b("missing_*")],
        ..spec()
    };
    assert_eq!(n.op(store("s", with_get)), Reply::Int(3));
    let range = n.query(ListQuery::Range {
        key: b("dst"),
        start: 0,
        stop: -1,
    });
    assert_eq!(rows(range), some(&["", "", ""]));
    assert_eq!(n.op(store("missing", spec())), Reply::Int(0));
    assert!(!n.exists("dst"));
}

#[test]
fn only_lists_sets_and_zsets_sort() {
    let mut n = Node::fresh();
    n.set("s", "1");
    assert_eq!(n.sort("s", &spec()), Reply::Error(EngineError::WrongType));
    let store = KeyOp::SortStore {
        key: b("s"),
        spec: spec(),
        dst: b("d"),
    };
    assert_eq!(n.op(store), Reply::Error(EngineError::WrongType));
}

#[test]
fn alpha_compares_c_strings_unless_storing() {
    let mut n = Node::fresh();
    n.rpush("l", &["a\0z", "a\0b", "a"]);
    let alpha = SortSpec {
        alpha: true,
        ..spec()
    };
    // Up to the NUL all three are "a": equal, so the list order stays.
    assert_eq!(rows(n.sort("l", &alpha)), some(&["a\0z", "a\0b", "a"]));
    let store = KeyOp::SortStore {
        key: b("l"),
        spec: alpha,
        dst: b("d"),
    };
    assert_eq!(n.op(store), Reply::Int(3));
    let range = n.query(ListQuery::Range {
        key: b("d"),
        start: 0,
        stop: -1,
    });
    assert_eq!(rows(range), some(&["a", "a\0b", "a\0z"]));
}
