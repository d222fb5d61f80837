//! String commands end to end.

use redis::Commands;

use crate::common::{err, node, raw};

#[test]
fn set_get_and_options() {
    let n = node();
    let mut c = n.client().expect("connect");
    let _: () = c.set("k", "v").expect("set");
    assert_eq!(c.get::<_, String>("k").expect("get"), "v");
    assert_eq!(
        raw(&mut c, &["SET", "k", "w", "NX"]).expect("nx"),
        redis::Value::Nil
    );
    assert_eq!(
        raw(&mut c, &["SET", "k", "w", "XX", "GET"]).expect("xx get"),
        redis::Value::BulkString(b"v".to_vec())
    );
    assert_eq!(
        raw(&mut c, &["SET", "new", "1", "XX"]).expect("xx missing"),
        redis::Value::Nil
    );
    let _: () = redis::cmd("SET")
        .arg("t")
        .arg("x")
        .arg("EX")
        .arg(100)
        .query(&mut c)
        .expect("ex");
    let ttl: i64 = c.ttl("t").expect("ttl");
    assert!((99..=100).contains(&ttl), "ttl {ttl}");
    let _: () = redis::cmd("SET")
        .arg("t")
        .arg("y")
        .arg("KEEPTTL")
        .query(&mut c)
        .expect("keepttl");
    assert!(c.ttl::<_, i64>("t").expect("ttl") > 0);
    let _: () = c.set("t", "z").expect("plain set clears ttl");
    assert_eq!(c.ttl::<_, i64>("t").expect("ttl"), -1);
    assert_eq!(
        err(&mut c, &["SET", "k", "v", "EX", "0"]),
        "ERR invalid expire time in 'set' command"
    );
    assert_eq!(
        err(&mut c, &["SET", "k", "v", "NX", "XX"]),
        "ERR syntax error"
    );
    assert_eq!(
        err(&mut c, &["SET", "k", "v", "EX", "10", "PX", "100"]),
        "ERR syntax error"
    );
    assert_eq!(
        err(&mut c, &["SET", "k"]),
        "ERR wrong number of arguments for 'set' command"
    );
}

#[test]
fn counters_follow_redis_errors() {
    let n = node();
    let mut c = n.client().expect("connect");
    assert_eq!(c.incr::<_, _, i64>("n", 1).expect("incr"), 1);
    assert_eq!(c.incr::<_, _, i64>("n", 41).expect("incrby"), 42);
    assert_eq!(c.decr::<_, _, i64>("n", 2).expect("decrby"), 40);
    let _: () = c.set("s", "abc").expect("set");
    assert_eq!(
        err(&mut c, &["INCR", "s"]),
        "ERR value is not an integer or out of range"
    );
    let _: () = c.set("big", i64::MAX).expect("set");
    assert_eq!(
        err(&mut c, &["INCR", "big"]),
        "ERR increment or decrement would overflow"
    );
    assert_eq!(
        raw(&mut c, &["INCRBYFLOAT", "f", "10.5"]).expect("float"),
        redis::Value::BulkString(b"10.5".to_vec())
    );
    assert_eq!(
        raw(&mut c, &["INCRBYFLOAT", "f", "0.25"]).expect("float"),
        redis::Value::BulkString(b"10.75".to_vec())
    );
    assert_eq!(
        err(&mut c, &["INCRBYFLOAT", "s", "1"]),
        "ERR value is not a valid float"
    );
    // long double arithmetic and %.17Lf, as Redis: not f64's 0.30000000000000004.
    let float = |c: &mut redis::Connection, key: &str, by: &str| {
        raw(c, &["INCRBYFLOAT", key, by]).expect("incrbyfloat")
    };
    float(&mut c, "p", "0.1");
    assert_eq!(
        float(&mut c, "p", "0.2"),
        redis::Value::BulkString(b"0.3".to_vec())
    );
    let _: () = c.set("m", "-9223372036854775806").expect("set");
    assert_eq!(
        float(&mut c, "m", "0.5"),
        redis::Value::BulkString(b"-9223372036854775805.5".to_vec())
    );
    assert_eq!(
        float(&mut c, "x", "0x10"),
        redis::Value::BulkString(b"16".to_vec())
    );
    // The stored value is checked before the increment, as Redis.
    assert_eq!(
        err(&mut c, &["INCRBYFLOAT", "s", "nope"]),
        "ERR value is not a valid float"
    );
    assert_eq!(
        err(&mut c, &["INCRBYFLOAT", "p", "1e5000"]),
        "ERR value is not a valid float"
    );
    assert_eq!(
        err(&mut c, &["INCRBYFLOAT", "p", "inf"]),
        "ERR increment would produce NaN or Infinity"
    );
    let _: () = c.set("e", "").expect("set empty");
    assert_eq!(
        err(&mut c, &["INCR", "e"]),
        "ERR value is not an integer or out of range"
    );
    let _: () = redis::cmd("LPUSH")
        .arg("l")
        .arg("x")
        .query(&mut c)
        .unwrap_or(());
}

#[test]
fn ranges_append_and_multi_key() {
    let n = node();
    let mut c = n.client().expect("connect");
    assert_eq!(c.append::<_, _, i64>("a", "Hello").expect("append"), 5);
    assert_eq!(c.append::<_, _, i64>("a", " World").expect("append"), 11);
    assert_eq!(
        c.getrange::<_, String>("a", 0, 4).expect("getrange"),
        "Hello"
    );
    assert_eq!(
        c.getrange::<_, String>("a", -5, -1).expect("getrange"),
        "World"
    );
    assert_eq!(c.getrange::<_, String>("a", 5, 2).expect("getrange"), "");
    assert_eq!(c.setrange::<_, _, i64>("r", 5, "x").expect("setrange"), 6);
    assert_eq!(c.get::<_, Vec<u8>>("r").expect("get"), b"\0\0\0\0\0x");
    assert_eq!(c.strlen::<_, i64>("a").expect("strlen"), 11);
    let _: () = redis::cmd("MSET")
        .arg("m1")
        .arg("1")
        .arg("m2")
        .arg("2")
        .query(&mut c)
        .expect("mset");
    let got: Vec<Option<String>> = redis::cmd("MGET")
        .arg("m1")
        .arg("nope")
        .arg("m2")
        .query(&mut c)
        .expect("mget");
    assert_eq!(got, vec![Some("1".into()), None, Some("2".into())]);
    assert_eq!(
        raw(&mut c, &["MSETNX", "m1", "x", "m3", "y"]).expect("msetnx"),
        redis::Value::Int(0)
    );
    assert_eq!(c.exists::<_, i64>("m3").expect("exists"), 0);
    assert_eq!(
        err(&mut c, &["MSET", "a", "b", "c"]),
        "ERR wrong number of arguments for 'mset' command"
    );
    assert_eq!(
        raw(&mut c, &["GETDEL", "m1"]).expect("getdel"),
        redis::Value::BulkString(b"1".to_vec())
    );
    assert_eq!(c.exists::<_, i64>("m1").expect("exists"), 0);
    assert_eq!(
        raw(&mut c, &["GETEX", "m2", "PX", "50000"]).expect("getex"),
        redis::Value::BulkString(b"2".to_vec())
    );
    assert!(c.pttl::<_, i64>("m2").expect("pttl") > 49_000);
    assert_eq!(
        raw(&mut c, &["GETEX", "m2", "PERSIST"]).expect("getex"),
        redis::Value::BulkString(b"2".to_vec())
    );
    assert_eq!(c.pttl::<_, i64>("m2").expect("pttl"), -1);
}
