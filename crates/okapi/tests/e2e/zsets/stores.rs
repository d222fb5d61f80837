//! ZRANGESTORE and the set operations, stored and replied.

use redis::Value;

use super::{bulks, flat_pairs, nested_pairs};
use crate::common::{err, node, raw};

#[test]
fn zrangestore_overwrites_or_deletes_the_destination() {
    let n = node();
    let mut c = n.client().expect("connect");
    let mut run = |args: &[&str]| raw(&mut c, args).expect("command succeeds");
    run(&["ZADD", "src", "1", "a", "2", "b", "3", "c", "4", "d"]);
    run(&["SET", "dst", "string"]);
    run(&["EXPIRE", "dst", "100"]);
    assert_eq!(
        run(&["ZRANGESTORE", "dst", "src", "3", "(1", "BYSCORE", "REV"]),
        Value::Int(2)
    );
    assert_eq!(run(&["TTL", "dst"]), Value::Int(-1));
    assert_eq!(
        run(&["ZRANGE", "dst", "0", "-1", "WITHSCORES"]),
        flat_pairs(&[("b", "2"), ("c", "3")])
    );
    assert_eq!(
        run(&[
            "ZRANGESTORE",
            "dst",
            "src",
            "-",
            "+",
            "BYLEX",
            "LIMIT",
            "0",
            "1"
        ]),
        Value::Int(1)
    );
    assert_eq!(run(&["ZRANGE", "dst", "0", "-1"]), bulks(&["a"]));
    assert_eq!(
        run(&["ZRANGESTORE", "dst", "src", "10", "20"]),
        Value::Int(0)
    );
    assert_eq!(run(&["EXISTS", "dst"]), Value::Int(0));
    run(&["ZADD", "dst", "1", "x"]);
    assert_eq!(
        run(&["ZRANGESTORE", "dst", "missing", "0", "-1"]),
        Value::Int(0)
    );
    assert_eq!(run(&["EXISTS", "dst"]), Value::Int(0));
    run(&["SET", "str", "v"]);
    assert_eq!(
        err(&mut c, &["ZRANGESTORE", "dst", "str", "0", "-1"]),
        "WRONGTYPE Operation against a key holding the wrong kind of value"
    );
    assert_eq!(
        err(
            &mut c,
            &["ZRANGESTORE", "dst", "src", "0", "-1", "WITHSCORES"]
        ),
        "ERR syntax error"
    );
}

#[test]
fn union_and_intersection_with_weights_and_aggregates() {
    let n = node();
    let mut c = n.client().expect("connect");
    let mut run = |args: &[&str]| raw(&mut c, args).expect("command succeeds");
    run(&["ZADD", "z1", "1", "a", "2", "b", "3", "c"]);
    run(&["ZADD", "z2", "10", "b", "20", "c", "30", "d"]);
    assert_eq!(run(&["ZUNIONSTORE", "out", "2", "z1", "z2"]), Value::Int(4));
    assert_eq!(
        run(&["ZRANGE", "out", "0", "-1", "WITHSCORES"]),
        flat_pairs(&[("a", "1"), ("b", "12"), ("c", "23"), ("d", "30")])
    );
    assert_eq!(
        run(&[
            "ZUNIONSTORE",
            "out",
            "2",
            "z1",
            "z2",
            "WEIGHTS",
            "2",
            "0.5",
            "AGGREGATE",
            "MAX"
        ]),
        Value::Int(4)
    );
    assert_eq!(
        run(&["ZRANGE", "out", "0", "-1", "WITHSCORES"]),
        flat_pairs(&[("a", "2"), ("b", "5"), ("c", "10"), ("d", "15")])
    );
    assert_eq!(
        run(&["ZINTERSTORE", "out", "2", "z1", "z2", "AGGREGATE", "MIN"]),
        Value::Int(2)
    );
    assert_eq!(
        run(&["ZRANGE", "out", "0", "-1", "WITHSCORES"]),
        flat_pairs(&[("b", "2"), ("c", "3")])
    );
    assert_eq!(
        run(&["ZINTERSTORE", "out", "2", "z1", "none"]),
        Value::Int(0)
    );
    assert_eq!(run(&["EXISTS", "out"]), Value::Int(0));
    assert_eq!(
        run(&[
            "ZINTER",
            "2",
            "z1",
            "z2",
            "WEIGHTS",
            "1",
            "-1",
            "WITHSCORES"
        ]),
        flat_pairs(&[("c", "-17"), ("b", "-8")])
    );
    assert_eq!(run(&["ZUNION", "2", "z1", "none"]), bulks(&["a", "b", "c"]));
    assert_eq!(run(&["ZINTERCARD", "2", "z1", "z2"]), Value::Int(2));
    assert_eq!(
        run(&["ZINTERCARD", "2", "z1", "z2", "LIMIT", "1"]),
        Value::Int(1)
    );
    assert_eq!(run(&["ZINTERCARD", "1", "none"]), Value::Int(0));
    run(&["ZADD", "p", "+inf", "m"]);
    run(&["ZADD", "q", "-inf", "m"]);
    assert_eq!(
        run(&["ZUNION", "2", "p", "q", "WITHSCORES"]),
        flat_pairs(&[("m", "0")])
    );
    assert_eq!(
        run(&["ZUNION", "1", "p", "WEIGHTS", "0", "WITHSCORES"]),
        flat_pairs(&[("m", "0")])
    );
}

#[test]
fn difference_stored_and_replied() {
    let n = node();
    let mut c = n.client().expect("connect");
    let mut run = |args: &[&str]| raw(&mut c, args).expect("command succeeds");
    run(&["ZADD", "z1", "1", "a", "2", "b", "3", "c"]);
    run(&["ZADD", "z2", "10", "b"]);
    assert_eq!(
        run(&["ZDIFF", "2", "z1", "z2", "WITHSCORES"]),
        flat_pairs(&[("a", "1"), ("c", "3")])
    );
    assert_eq!(run(&["ZDIFF", "2", "z1", "z1"]), bulks(&[]));
    assert_eq!(run(&["ZDIFFSTORE", "z2", "2", "z1", "z2"]), Value::Int(2));
    assert_eq!(run(&["ZRANGE", "z2", "0", "-1"]), bulks(&["a", "c"]));
    assert_eq!(run(&["ZDIFFSTORE", "z2", "1", "none"]), Value::Int(0));
    assert_eq!(run(&["EXISTS", "z2"]), Value::Int(0));
}

#[test]
fn set_operation_errors() {
    let n = node();
    let mut c = n.client().expect("connect");
    let cases: &[(&[&str], &str)] = &[
        (
            &["ZUNION", "0", "a"],
            "ERR at least 1 input key is needed for 'zunion' command",
        ),
        (
            &["ZINTERSTORE", "d", "0", "a"],
            "ERR at least 1 input key is needed for 'zinterstore' command",
        ),
        (
            &["ZUNION", "x", "a"],
            "ERR value is not an integer or out of range",
        ),
        (&["ZUNION", "3", "a", "b"], "ERR syntax error"),
        (
            &["ZUNIONSTORE", "d", "1", "a", "WITHSCORES"],
            "ERR syntax error",
        ),
        (&["ZDIFF", "1", "a", "AGGREGATE", "SUM"], "ERR syntax error"),
        (
            &["ZINTER", "2", "a", "b", "WEIGHTS", "1", "nan"],
            "ERR weight value is not a float",
        ),
        (
            &["ZINTER", "1", "a", "AGGREGATE", "AVG"],
            "ERR syntax error",
        ),
        (
            &["ZINTERCARD", "1", "a", "LIMIT", "-1"],
            "ERR LIMIT can't be negative",
        ),
        (&["ZINTERCARD", "1", "a", "WITHSCORES"], "ERR syntax error"),
    ];
    for (args, want) in cases {
        assert_eq!(err(&mut c, args), *want, "{args:?}");
    }
}

#[test]
fn resp3_set_operations_reply_nested_pairs() {
    let n = node();
    let mut c = n.client_resp3().expect("connect");
    let mut run = |args: &[&str]| raw(&mut c, args).expect("command succeeds");
    run(&["ZADD", "z1", "1", "a", "2", "b"]);
    run(&["ZADD", "z2", "3", "b"]);
    assert_eq!(
        run(&["ZUNION", "2", "z1", "z2", "WITHSCORES"]),
        nested_pairs(&[("a", 1.0), ("b", 5.0)])
    );
    assert_eq!(
        run(&["ZDIFF", "2", "z1", "z2", "WITHSCORES"]),
        nested_pairs(&[("a", 1.0)])
    );
}
