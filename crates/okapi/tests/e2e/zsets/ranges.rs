//! ZRANGE in all its forms, the older range commands, counts and range removals.

use redis::Value;

use super::{bulks, flat_pairs, nested_pairs};
use crate::common::{err, node, raw};

fn seed(c: &mut redis::Connection) {
    raw(
        c,
        &[
            "ZADD", "z", "1", "a", "2", "b", "2", "c", "3", "d", "4", "e", "+inf", "f",
        ],
    )
    .expect("zadd");
    raw(
        c,
        &[
            "ZADD", "lex", "0", "alpha", "0", "bar", "0", "cool", "0", "down", "0", "elephant",
        ],
    )
    .expect("zadd lex");
}

#[test]
fn ranges_by_rank() {
    let n = node();
    let mut c = n.client().expect("connect");
    seed(&mut c);
    let mut run = |args: &[&str]| raw(&mut c, args).expect("command succeeds");
    assert_eq!(
        run(&["ZRANGE", "z", "0", "-1"]),
        bulks(&["a", "b", "c", "d", "e", "f"])
    );
    assert_eq!(run(&["ZRANGE", "z", "-2", "100"]), bulks(&["e", "f"]));
    assert_eq!(run(&["ZRANGE", "z", "3", "1"]), bulks(&[]));
    assert_eq!(run(&["ZRANGE", "z", "0", "1", "REV"]), bulks(&["f", "e"]));
    assert_eq!(run(&["ZREVRANGE", "z", "1", "2"]), bulks(&["e", "d"]));
    assert_eq!(
        run(&["ZRANGE", "z", "0", "1", "WITHSCORES"]),
        flat_pairs(&[("a", "1"), ("b", "2")])
    );
    assert_eq!(
        run(&["ZREVRANGE", "z", "0", "0", "WITHSCORES"]),
        flat_pairs(&[("f", "inf")])
    );
    assert_eq!(run(&["ZRANGE", "none", "0", "-1"]), bulks(&[]));
    assert_eq!(
        err(&mut c, &["ZRANGE", "z", "0", "-1", "LIMIT", "0", "1"]),
        "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX"
    );
    assert_eq!(
        err(&mut c, &["ZRANGE", "z", "a", "1"]),
        "ERR value is not an integer or out of range"
    );
}

#[test]
fn ranges_by_score() {
    let n = node();
    let mut c = n.client().expect("connect");
    seed(&mut c);
    let mut run = |args: &[&str]| raw(&mut c, args).expect("command succeeds");
    assert_eq!(
        run(&["ZRANGE", "z", "2", "3", "BYSCORE"]),
        bulks(&["b", "c", "d"])
    );
    assert_eq!(run(&["ZRANGE", "z", "(2", "(4", "BYSCORE"]), bulks(&["d"]));
    assert_eq!(
        run(&["ZRANGE", "z", "(1", "+inf", "BYSCORE"]),
        bulks(&["b", "c", "d", "e", "f"])
    );
    assert_eq!(
        run(&["ZRANGE", "z", "4", "(+inf", "BYSCORE"]),
        bulks(&["e"])
    );
    assert_eq!(run(&["ZRANGE", "z", "3", "2", "BYSCORE"]), bulks(&[]));
    assert_eq!(
        run(&[
            "ZRANGE", "z", "+inf", "-inf", "BYSCORE", "REV", "LIMIT", "1", "3"
        ]),
        bulks(&["e", "d", "c"])
    );
    assert_eq!(
        run(&[
            "ZRANGE",
            "z",
            "-inf",
            "+inf",
            "BYSCORE",
            "LIMIT",
            "2",
            "2",
            "WITHSCORES"
        ]),
        flat_pairs(&[("c", "2"), ("d", "3")])
    );
    assert_eq!(
        run(&["ZRANGEBYSCORE", "z", "-inf", "+inf", "LIMIT", "4", "-1"]),
        bulks(&["e", "f"])
    );
    assert_eq!(
        run(&["ZRANGEBYSCORE", "z", "0", "10", "LIMIT", "-1", "2"]),
        bulks(&[])
    );
    assert_eq!(
        run(&["ZRANGEBYSCORE", "z", "0", "10", "LIMIT", "1", "0"]),
        bulks(&[])
    );
    assert_eq!(
        run(&["ZREVRANGEBYSCORE", "z", "(3", "1"]),
        bulks(&["c", "b", "a"])
    );
    assert_eq!(
        run(&[
            "ZREVRANGEBYSCORE",
            "z",
            "3",
            "(1",
            "WITHSCORES",
            "LIMIT",
            "0",
            "2"
        ]),
        flat_pairs(&[("d", "3"), ("c", "2")])
    );
    assert_eq!(run(&["ZCOUNT", "z", "2", "3"]), Value::Int(3));
    assert_eq!(run(&["ZCOUNT", "z", "(2", "+inf"]), Value::Int(3));
    assert_eq!(run(&["ZCOUNT", "z", "5", "1"]), Value::Int(0));
    assert_eq!(run(&["ZCOUNT", "none", "-inf", "+inf"]), Value::Int(0));
    for args in [
        &["ZRANGEBYSCORE", "z", "str", "1"][..],
        &["ZRANGEBYSCORE", "z", "1", "NaN"],
        &["ZCOUNT", "z", "[1", "2"],
        &["ZREMRANGEBYSCORE", "z", "1", "x"],
    ] {
        assert_eq!(
            err(&mut c, args),
            "ERR min or max is not a float",
            "{args:?}"
        );
    }
    assert_eq!(
        err(&mut c, &["ZRANGEBYSCORE", "z", "0", "1", "REV"]),
        "ERR syntax error"
    );
}

#[test]
fn ranges_by_lex() {
    let n = node();
    let mut c = n.client().expect("connect");
    seed(&mut c);
    let mut run = |args: &[&str]| raw(&mut c, args).expect("command succeeds");
    assert_eq!(
        run(&["ZRANGE", "lex", "[bar", "(down", "BYLEX"]),
        bulks(&["bar", "cool"])
    );
    assert_eq!(
        run(&["ZRANGEBYLEX", "lex", "-", "+", "LIMIT", "1", "2"]),
        bulks(&["bar", "cool"])
    );
    assert_eq!(
        run(&["ZREVRANGEBYLEX", "lex", "+", "(bar"]),
        bulks(&["elephant", "down", "cool"])
    );
    assert_eq!(
        run(&["ZRANGE", "lex", "[d", "-", "BYLEX", "REV"]),
        bulks(&["cool", "bar", "alpha"])
    );
    assert_eq!(run(&["ZRANGEBYLEX", "lex", "+", "-"]), bulks(&[]));
    assert_eq!(run(&["ZLEXCOUNT", "lex", "(alpha", "[cool"]), Value::Int(2));
    assert_eq!(run(&["ZLEXCOUNT", "lex", "-", "+"]), Value::Int(5));
    for args in [
        &["ZRANGEBYLEX", "lex", "foo", "[bar"][..],
        &["ZRANGEBYLEX", "lex", "+x", "[bar"],
        &["ZLEXCOUNT", "lex", "[a", "b"],
    ] {
        assert_eq!(
            err(&mut c, args),
            "ERR min or max not valid string range item",
            "{args:?}"
        );
    }
    assert_eq!(
        err(&mut c, &["ZRANGE", "lex", "-", "+", "BYLEX", "WITHSCORES"]),
        "ERR syntax error, WITHSCORES not supported in combination with BYLEX"
    );
}

#[test]
fn range_removals_delete_emptied_sets() {
    let n = node();
    let mut c = n.client().expect("connect");
    seed(&mut c);
    let mut run = |args: &[&str]| raw(&mut c, args).expect("command succeeds");
    assert_eq!(run(&["ZREMRANGEBYRANK", "z", "0", "1"]), Value::Int(2));
    assert_eq!(run(&["ZREMRANGEBYSCORE", "z", "(2", "3"]), Value::Int(1));
    assert_eq!(run(&["ZRANGE", "z", "0", "-1"]), bulks(&["c", "e", "f"]));
    assert_eq!(run(&["ZREMRANGEBYRANK", "z", "5", "10"]), Value::Int(0));
    assert_eq!(
        run(&["ZREMRANGEBYSCORE", "z", "-inf", "+inf"]),
        Value::Int(3)
    );
    assert_eq!(run(&["EXISTS", "z"]), Value::Int(0));
    assert_eq!(run(&["ZREMRANGEBYLEX", "lex", "[b", "(d"]), Value::Int(2));
    assert_eq!(run(&["ZREMRANGEBYLEX", "lex", "-", "+"]), Value::Int(3));
    assert_eq!(run(&["EXISTS", "lex"]), Value::Int(0));
    assert_eq!(run(&["ZREMRANGEBYRANK", "none", "0", "-1"]), Value::Int(0));
}

#[test]
fn resp3_withscores_are_nested_pairs() {
    let n = node();
    let mut c = n.client_resp3().expect("connect");
    seed(&mut c);
    let mut run = |args: &[&str]| raw(&mut c, args).expect("command succeeds");
    assert_eq!(
        run(&["ZRANGE", "z", "0", "1", "WITHSCORES"]),
        nested_pairs(&[("a", 1.0), ("b", 2.0)])
    );
    assert_eq!(
        run(&["ZRANGEBYSCORE", "z", "(3", "+inf", "WITHSCORES"]),
        nested_pairs(&[("e", 4.0), ("f", f64::INFINITY)])
    );
    assert_eq!(run(&["ZRANGE", "z", "0", "0"]), bulks(&["a"]));
}
