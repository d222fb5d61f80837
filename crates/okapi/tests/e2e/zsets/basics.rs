//! ZADD and its options, ZINCRBY, ZREM, scores, ranks, and the reply shapes of
//! scores in RESP2 and RESP3.

use redis::Value;

use super::{arr, bulk};
use crate::common::{err, node, raw};

#[test]
fn zadd_options_follow_redis() {
    let n = node();
    let mut c = n.client().expect("connect");
    let mut run = |args: &[&str]| raw(&mut c, args).expect("command succeeds");
    assert_eq!(
        run(&["ZADD", "z", "10", "x", "20", "y", "30", "z"]),
        Value::Int(3)
    );
    assert_eq!(run(&["ZADD", "z", "5", "x", "40", "w"]), Value::Int(1));
    assert_eq!(
        run(&["ZADD", "z", "CH", "6", "x", "30", "z"]),
        Value::Int(1)
    );
    assert_eq!(
        run(&["ZADD", "z", "XX", "1", "new", "7", "x"]),
        Value::Int(0)
    );
    assert_eq!(run(&["ZSCORE", "z", "x"]), bulk("7"));
    assert_eq!(run(&["ZSCORE", "z", "new"]), Value::Nil);
    assert_eq!(
        run(&["ZADD", "z", "NX", "100", "x", "1", "n1"]),
        Value::Int(1)
    );
    assert_eq!(run(&["ZSCORE", "z", "x"]), bulk("7"));
    assert_eq!(
        run(&["ZADD", "z", "GT", "CH", "1", "x", "21", "y", "0", "g"]),
        Value::Int(2)
    );
    assert_eq!(run(&["ZSCORE", "z", "x"]), bulk("7"));
    assert_eq!(run(&["ZSCORE", "z", "y"]), bulk("21"));
    assert_eq!(
        run(&[
            "ZADD", "z", "LT", "XX", "CH", "1", "y", "50", "z", "1", "nope"
        ]),
        Value::Int(1)
    );
    assert_eq!(run(&["ZSCORE", "z", "y"]), bulk("1"));
    assert_eq!(run(&["ZADD", "missing", "XX", "1", "a"]), Value::Int(0));
    assert_eq!(run(&["EXISTS", "missing"]), Value::Int(0));
    assert_eq!(
        run(&["ZADD", "missing", "XX", "INCR", "1", "a"]),
        Value::Nil
    );

    assert_eq!(run(&["ZADD", "i", "INCR", "2.5", "m"]), bulk("2.5"));
    assert_eq!(run(&["ZADD", "i", "INCR", "LT", "1", "m"]), Value::Nil);
    assert_eq!(run(&["ZADD", "i", "INCR", "GT", "-1", "m"]), Value::Nil);
    assert_eq!(run(&["ZADD", "i", "INCR", "NX", "1", "m"]), Value::Nil);
    assert_eq!(run(&["ZADD", "i", "INCR", "XX", "-0.5", "m"]), bulk("2"));
    assert_eq!(run(&["ZINCRBY", "i", "1e3", "m"]), bulk("1002"));
    assert_eq!(run(&["ZINCRBY", "i", "+inf", "m"]), bulk("inf"));
    // As redis-server 7.0: a stored -0 reads back as 0; the INCR reply keeps the sign.
    assert_eq!(run(&["ZADD", "s", "-0", "neg"]), Value::Int(1));
    assert_eq!(run(&["ZSCORE", "s", "neg"]), bulk("0"));
    assert_eq!(run(&["ZADD", "s2", "INCR", "-0", "neg"]), bulk("-0"));
    assert_eq!(run(&["ZSCORE", "s2", "neg"]), bulk("0"));
}

#[test]
fn zadd_errors_are_redis_texts() {
    let n = node();
    let mut c = n.client().expect("connect");
    let _ = raw(&mut c, &["ZADD", "z", "1", "a"]).expect("zadd");
    let cases: &[(&[&str], &str)] = &[
        (
            &["ZADD", "z", "XX", "NX", "1", "a"],
            "ERR XX and NX options at the same time are not compatible",
        ),
        (
            &["ZADD", "z", "GT", "LT", "1", "a"],
            "ERR GT, LT, and/or NX options at the same time are not compatible",
        ),
        (
            &["ZADD", "z", "NX", "LT", "1", "a"],
            "ERR GT, LT, and/or NX options at the same time are not compatible",
        ),
        (
            &["ZADD", "z", "INCR", "1", "a", "2", "b"],
            "ERR INCR option supports a single increment-element pair",
        ),
        (&["ZADD", "z", "XX", "10", "x", "20"], "ERR syntax error"),
        (&["ZADD", "z", "nan", "a"], "ERR value is not a valid float"),
        (&["ZADD", "z", "", "a"], "ERR value is not a valid float"),
        (
            &["ZADD", "z", "1", "a", "2.x", "b"],
            "ERR value is not a valid float",
        ),
        (
            &["ZINCRBY", "z", "v", "a"],
            "ERR value is not a valid float",
        ),
        (
            &["ZADD", "z"],
            "ERR wrong number of arguments for 'zadd' command",
        ),
    ];
    for (args, want) in cases {
        assert_eq!(err(&mut c, args), *want, "{args:?}");
    }
    // Nothing of a failed variadic ZADD is applied.
    assert_eq!(raw(&mut c, &["ZCARD", "z"]).expect("zcard"), Value::Int(1));
    let _ = raw(&mut c, &["ZINCRBY", "z", "+inf", "a"]).expect("zincrby");
    assert_eq!(
        err(&mut c, &["ZINCRBY", "z", "-inf", "a"]),
        "ERR resulting score is not a number (NaN)"
    );
    let _ = raw(&mut c, &["SET", "str", "v"]).expect("set");
    for args in [
        &["ZADD", "str", "1", "a"][..],
        &["ZSCORE", "str", "a"],
        &["ZRANGE", "str", "0", "-1"],
        &["ZCARD", "str"],
        &["ZREM", "str", "a"],
        &["ZUNION", "1", "str"],
    ] {
        assert_eq!(
            err(&mut c, args),
            "WRONGTYPE Operation against a key holding the wrong kind of value",
            "{args:?}"
        );
    }
}

#[test]
fn members_scores_and_ranks() {
    let n = node();
    let mut c = n.client().expect("connect");
    let mut run = |args: &[&str]| raw(&mut c, args).expect("command succeeds");
    run(&["ZADD", "z", "1", "a", "2", "b", "3", "c", "1.5", "d"]);
    assert_eq!(run(&["ZCARD", "z"]), Value::Int(4));
    assert_eq!(run(&["ZCARD", "none"]), Value::Int(0));
    assert_eq!(
        run(&["ZMSCORE", "z", "a", "x", "d"]),
        arr(vec![bulk("1"), Value::Nil, bulk("1.5")])
    );
    assert_eq!(run(&["ZMSCORE", "none", "a"]), arr(vec![Value::Nil]));
    assert_eq!(run(&["ZRANK", "z", "d"]), Value::Int(1));
    assert_eq!(run(&["ZREVRANK", "z", "d"]), Value::Int(2));
    assert_eq!(run(&["ZRANK", "z", "x"]), Value::Nil);
    assert_eq!(
        run(&["ZRANK", "z", "c", "WITHSCORE"]),
        arr(vec![Value::Int(3), bulk("3")])
    );
    assert_eq!(run(&["ZREVRANK", "z", "x", "WITHSCORE"]), Value::Nil);
    assert_eq!(run(&["ZREM", "z", "a", "x", "b"]), Value::Int(2));
    assert_eq!(run(&["ZREM", "z", "c", "d"]), Value::Int(2));
    assert_eq!(run(&["EXISTS", "z"]), Value::Int(0));
    assert_eq!(run(&["ZREM", "z", "c"]), Value::Int(0));
}

#[test]
fn resp3_scores_are_doubles() {
    let n = node();
    let mut c = n.client_resp3().expect("connect");
    let mut run = |args: &[&str]| raw(&mut c, args).expect("command succeeds");
    run(&["ZADD", "z", "1.5", "a", "2", "b"]);
    assert_eq!(run(&["ZSCORE", "z", "a"]), Value::Double(1.5));
    assert_eq!(run(&["ZSCORE", "z", "x"]), Value::Nil);
    assert_eq!(run(&["ZINCRBY", "z", "1", "b"]), Value::Double(3.0));
    assert_eq!(run(&["ZADD", "z", "INCR", "1", "a"]), Value::Double(2.5));
    assert_eq!(
        run(&["ZMSCORE", "z", "a", "x"]),
        arr(vec![Value::Double(2.5), Value::Nil])
    );
    assert_eq!(
        run(&["ZRANK", "z", "b", "WITHSCORE"]),
        arr(vec![Value::Int(1), Value::Double(3.0)])
    );
    assert_eq!(run(&["ZRANK", "z", "x", "WITHSCORE"]), Value::Nil);
    assert_eq!(run(&["TYPE", "z"]), Value::SimpleString("zset".into()));
}
