//! Hashes commands end to end.

use std::collections::BTreeMap;

use redis::Value;

use crate::common::{err, node, raw};

fn bulk(s: &str) -> Value {
    Value::BulkString(s.as_bytes().to_vec())
}

fn ok(con: &mut redis::Connection, args: &[&str]) -> Value {
    raw(con, args).unwrap_or_else(|e| panic!("{args:?} failed: {e}"))
}

/// The strings of an array (or RESP3 set) reply of bulk strings, sorted.
fn sorted(value: Value) -> Vec<String> {
    let (Value::Array(items) | Value::Set(items)) = value else {
        panic!("not an array: {value:?}");
    };
    let mut out: Vec<String> = items.into_iter().map(text).collect();
    out.sort();
    out
}

fn text(value: Value) -> String {
    match value {
        Value::BulkString(b) => String::from_utf8(b).expect("utf-8"),
        other => panic!("not a bulk string: {other:?}"),
    }
}

#[test]
fn field_commands_and_missing_keys() {
    let n = node();
    let mut c = n.client().expect("connect");
    assert_eq!(
        ok(&mut c, &["HSET", "h", "a", "1", "b", "2", "a", "3"]),
        Value::Int(2)
    );
    assert_eq!(
        ok(&mut c, &["HSET", "h", "b", "20", "c", "30"]),
        Value::Int(1)
    );
    assert_eq!(ok(&mut c, &["HMSET", "h", "d", "4"]), Value::Okay);
    assert_eq!(ok(&mut c, &["HGET", "h", "a"]), bulk("3"));
    assert_eq!(ok(&mut c, &["HGET", "h", "zz"]), Value::Nil);
    assert_eq!(ok(&mut c, &["HGET", "nosuch", "a"]), Value::Nil);
    assert_eq!(
        ok(&mut c, &["HMGET", "h", "a", "zz", "b"]),
        Value::Array(vec![bulk("3"), Value::Nil, bulk("20")])
    );
    assert_eq!(
        ok(&mut c, &["HMGET", "nosuch", "a", "b"]),
        Value::Array(vec![Value::Nil, Value::Nil])
    );
    assert_eq!(ok(&mut c, &["HSETNX", "h", "a", "x"]), Value::Int(0));
    assert_eq!(ok(&mut c, &["HSETNX", "h", "e", "5"]), Value::Int(1));
    assert_eq!(ok(&mut c, &["HLEN", "h"]), Value::Int(5));
    assert_eq!(ok(&mut c, &["HLEN", "nosuch"]), Value::Int(0));
    assert_eq!(ok(&mut c, &["HEXISTS", "h", "c"]), Value::Int(1));
    assert_eq!(ok(&mut c, &["HEXISTS", "h", "zz"]), Value::Int(0));
    assert_eq!(ok(&mut c, &["HEXISTS", "nosuch", "c"]), Value::Int(0));
    assert_eq!(ok(&mut c, &["HSTRLEN", "h", "b"]), Value::Int(2));
    assert_eq!(ok(&mut c, &["HSTRLEN", "h", "zz"]), Value::Int(0));
    assert_eq!(ok(&mut c, &["HSTRLEN", "nosuch", "b"]), Value::Int(0));
    assert_eq!(
        sorted(ok(&mut c, &["HKEYS", "h"])),
        vec!["a", "b", "c", "d", "e"]
    );
    assert_eq!(
        sorted(ok(&mut c, &["HVALS", "h"])),
        vec!["20", "3", "30", "4", "5"]
    );
    assert_eq!(ok(&mut c, &["HKEYS", "nosuch"]), Value::Array(vec![]));
    assert_eq!(ok(&mut c, &["HVALS", "nosuch"]), Value::Array(vec![]));
    assert_eq!(ok(&mut c, &["HGETALL", "nosuch"]), Value::Array(vec![]));
    assert_eq!(
        ok(&mut c, &["HDEL", "h", "a", "a", "zz", "b"]),
        Value::Int(2)
    );
    assert_eq!(ok(&mut c, &["HDEL", "nosuch", "a"]), Value::Int(0));
    assert_eq!(ok(&mut c, &["HDEL", "h", "c", "d", "e"]), Value::Int(3));
    assert_eq!(
        ok(&mut c, &["EXISTS", "h"]),
        Value::Int(0),
        "the last HDEL deletes the key"
    );
    assert_eq!(
        err(&mut c, &["HSET", "h", "a", "1", "b"]),
        "ERR wrong number of arguments for 'hset' command"
    );
    assert_eq!(
        err(&mut c, &["HMSET", "h", "a", "1", "b"]),
        "ERR wrong number of arguments for 'hmset' command"
    );
    assert_eq!(
        err(&mut c, &["HSET", "h", "a"]),
        "ERR wrong number of arguments for 'hset' command"
    );
    assert_eq!(
        err(&mut c, &["HGET", "h"]),
        "ERR wrong number of arguments for 'hget' command"
    );
    assert_eq!(ok(&mut c, &["EXISTS", "h"]), Value::Int(0));
    assert_eq!(
        ok(&mut c, &["TYPE", "h"]),
        Value::SimpleString("none".into())
    );
    ok(&mut c, &["HSET", "h", "f", "v"]);
    assert_eq!(
        ok(&mut c, &["TYPE", "h"]),
        Value::SimpleString("hash".into())
    );
}

#[test]
fn counters_follow_redis_errors() {
    let n = node();
    let mut c = n.client().expect("connect");
    assert_eq!(ok(&mut c, &["HINCRBY", "h", "n", "5"]), Value::Int(5));
    assert_eq!(ok(&mut c, &["HINCRBY", "h", "n", "-7"]), Value::Int(-2));
    assert_eq!(ok(&mut c, &["HGET", "h", "n"]), bulk("-2"));
    ok(
        &mut c,
        &["HSET", "h", "s", " 11", "big", "9223372036854775807"],
    );
    assert_eq!(
        err(&mut c, &["HINCRBY", "h", "s", "1"]),
        "ERR hash value is not an integer"
    );
    assert_eq!(
        err(&mut c, &["HINCRBY", "h", "big", "1"]),
        "ERR increment or decrement would overflow"
    );
    assert_eq!(
        err(&mut c, &["HINCRBY", "h", "n", "x"]),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(
        err(&mut c, &["HINCRBY", "h", "n", "1.5"]),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(
        ok(&mut c, &["HINCRBYFLOAT", "h", "f", "10.5"]),
        bulk("10.5")
    );
    assert_eq!(ok(&mut c, &["HINCRBYFLOAT", "h", "f", "0.1"]), bulk("10.6"));
    ok(&mut c, &["HINCRBYFLOAT", "h", "p", "0.1"]);
    assert_eq!(ok(&mut c, &["HINCRBYFLOAT", "h", "p", "0.2"]), bulk("0.3"));
    assert_eq!(ok(&mut c, &["HINCRBYFLOAT", "h", "n", "1.5"]), bulk("-0.5"));
    assert_eq!(
        ok(&mut c, &["HINCRBYFLOAT", "h", "e", "5.0e3"]),
        bulk("5000")
    );
    assert_eq!(
        ok(&mut c, &["HINCRBYFLOAT", "h", "e", "2.0e2"]),
        bulk("5200")
    );
    assert_eq!(
        err(&mut c, &["HINCRBYFLOAT", "h", "s", "1"]),
        "ERR hash value is not a float"
    );
    assert_eq!(
        err(&mut c, &["HINCRBYFLOAT", "h", "f", "abc"]),
        "ERR value is not a valid float"
    );
    assert_eq!(
        err(&mut c, &["HINCRBYFLOAT", "h", "f", "+inf"]),
        "ERR value is NaN or Infinity"
    );
    ok(&mut c, &["HSET", "h", "infinite", "inf"]);
    assert_eq!(
        err(&mut c, &["HINCRBYFLOAT", "h", "infinite", "1"]),
        "ERR increment would produce NaN or Infinity"
    );
    // A failed increment on a missing key leaves no empty hash behind.
    assert_eq!(
        err(&mut c, &["HINCRBY", "fresh", "n", "nope"]),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(ok(&mut c, &["EXISTS", "fresh"]), Value::Int(0));
}

#[test]
fn every_hash_command_refuses_other_types() {
    let n = node();
    let mut c = n.client().expect("connect");
    ok(&mut c, &["SET", "str", "x"]);
    let wrongtype = "WRONGTYPE Operation against a key holding the wrong kind of value";
    for args in [
        &["HSET", "str", "f", "v"][..],
        &["HSETNX", "str", "f", "v"],
        &["HMSET", "str", "f", "v"],
        &["HGET", "str", "f"],
        &["HMGET", "str", "f", "g"],
        &["HGETALL", "str"],
        &["HDEL", "str", "f"],
        &["HLEN", "str"],
        &["HEXISTS", "str", "f"],
        &["HKEYS", "str"],
        &["HVALS", "str"],
        &["HINCRBY", "str", "f", "1"],
        &["HINCRBYFLOAT", "str", "f", "1.5"],
        &["HSTRLEN", "str", "f"],
        &["HRANDFIELD", "str"],
        &["HRANDFIELD", "str", "3"],
        &["HRANDFIELD", "str", "0"],
        &["HSCAN", "str", "0"],
        // The type is checked before the options.
        &["HSCAN", "str", "0", "COUNT", "0"],
    ] {
        assert_eq!(err(&mut c, args), wrongtype, "{args:?}");
    }
    assert_eq!(ok(&mut c, &["GET", "str"]), bulk("x"));
}

#[test]
fn replies_are_maps_and_pairs_in_resp3_and_flat_in_resp2() {
    let n = node();
    let mut c2 = n.client().expect("connect");
    let mut c3 = n.client_resp3().expect("connect resp3");
    ok(&mut c2, &["HSET", "h", "a", "1", "b", "2"]);
    let Value::Map(pairs) = ok(&mut c3, &["HGETALL", "h"]) else {
        panic!("HGETALL is a map in RESP3");
    };
    let map: BTreeMap<String, String> =
        pairs.into_iter().map(|(k, v)| (text(k), text(v))).collect();
    assert_eq!(
        map,
        BTreeMap::from([("a".into(), "1".into()), ("b".into(), "2".into())])
    );
    assert_eq!(ok(&mut c3, &["HGETALL", "nosuch"]), Value::Map(vec![]));
    let Value::Array(flat) = ok(&mut c2, &["HGETALL", "h"]) else {
        panic!("HGETALL is a flat array in RESP2");
    };
    assert_eq!(flat.len(), 4);
    let flat: Vec<String> = flat.into_iter().map(text).collect();
    let map2: BTreeMap<String, String> = flat
        .chunks(2)
        .map(|p| (p[0].clone(), p[1].clone()))
        .collect();
    assert_eq!(map2, map);
    // HKEYS stays an array in RESP3.
    assert!(matches!(ok(&mut c3, &["HKEYS", "h"]), Value::Array(_)));

    let Value::Array(nested) = ok(&mut c3, &["HRANDFIELD", "h", "5", "WITHVALUES"]) else {
        panic!("array");
    };
    assert_eq!(nested.len(), 2);
    for pair in nested {
        let Value::Array(pair) = pair else {
            panic!("RESP3 HRANDFIELD WITHVALUES nests pairs: {pair:?}");
        };
        let [f, v] = <[Value; 2]>::try_from(pair).expect("two elements");
        assert_eq!(map[&text(f)], text(v));
    }
    let Value::Array(flat) = ok(&mut c2, &["HRANDFIELD", "h", "-5", "WITHVALUES"]) else {
        panic!("array");
    };
    assert_eq!(flat.len(), 10, "RESP2 HRANDFIELD WITHVALUES is flat");
    let flat: Vec<String> = flat.into_iter().map(text).collect();
    for p in flat.chunks(2) {
        assert_eq!(map[&p[0]], p[1]);
    }
}

#[test]
fn hrandfield_counts_follow_redis() {
    let n = node();
    let mut c = n.client().expect("connect");
    let mut args = vec!["HSET".to_owned(), "h".to_owned()];
    for i in 0..500 {
        args.push(format!("f{i}"));
        args.push(format!("v{i}"));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    assert_eq!(ok(&mut c, &args), Value::Int(500));

    assert!(matches!(
        ok(&mut c, &["HRANDFIELD", "h"]),
        Value::BulkString(_)
    ));
    assert_eq!(ok(&mut c, &["HRANDFIELD", "nosuch"]), Value::Nil);
    assert_eq!(
        ok(&mut c, &["HRANDFIELD", "nosuch", "5"]),
        Value::Array(vec![])
    );
    assert_eq!(ok(&mut c, &["HRANDFIELD", "h", "0"]), Value::Array(vec![]));
    for count in ["1", "10", "200", "499", "500", "1000"] {
        let got = sorted(ok(&mut c, &["HRANDFIELD", "h", count]));
        let expected = count.parse::<usize>().expect("number").min(500);
        assert_eq!(got.len(), expected, "count {count}");
        let mut distinct = got.clone();
        distinct.dedup();
        assert_eq!(distinct.len(), expected, "distinct for count {count}");
    }
    let repeated = sorted(ok(&mut c, &["HRANDFIELD", "h", "-2000"]));
    assert_eq!(repeated.len(), 2000);
    let mut distinct = repeated.clone();
    distinct.dedup();
    assert!(distinct.len() < 2000, "a negative count repeats fields");
    assert!(repeated.iter().all(|f| f.starts_with('f')));

    ok(&mut c, &["HSET", "small", "a", "1"]);
    assert_eq!(
        sorted(ok(&mut c, &["HRANDFIELD", "small", "-3"])),
        vec!["a", "a", "a"]
    );
    assert_eq!(
        err(&mut c, &["HRANDFIELD", "h", "-9223372036854775808"]),
        "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807"
    );
    assert_eq!(
        err(
            &mut c,
            &["HRANDFIELD", "h", "-9223372036854770000", "WITHVALUES"]
        ),
        "ERR value is out of range"
    );
    assert_eq!(
        ok(&mut c, &["HRANDFIELD", "nosuch", "-9223372036854775807"]),
        Value::Array(vec![])
    );
    // Redis would run out of memory building this reply; okapi refuses it.
    assert!(
        err(&mut c, &["HRANDFIELD", "h", "-9223372036854775807"])
            .starts_with("ERR value is out of range")
    );
    assert_eq!(
        err(&mut c, &["HRANDFIELD", "h", "3", "WITHSCORES"]),
        "ERR syntax error"
    );
    assert_eq!(
        err(&mut c, &["HRANDFIELD", "h", "3", "WITHVALUES", "x"]),
        "ERR syntax error"
    );
    assert_eq!(
        err(&mut c, &["HRANDFIELD", "h", "x"]),
        "ERR value is not an integer or out of range"
    );
}

#[test]
fn hscan_returns_every_field_exactly_once() {
    let n = node();
    let mut c = n.client().expect("connect");
    let mut args = vec!["HSET".to_owned(), "h".to_owned()];
    for i in 0..3000 {
        args.push(format!("field:{i}"));
        args.push(format!("value:{i}"));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    ok(&mut c, &args);

    let mut seen: BTreeMap<String, (String, u32)> = BTreeMap::new();
    let mut cursor = "0".to_owned();
    let mut calls = 0;
    loop {
        let Value::Array(parts) = ok(&mut c, &["HSCAN", "h", &cursor, "COUNT", "20"]) else {
            panic!("scan reply");
        };
        let [next, items] = <[Value; 2]>::try_from(parts).expect("cursor and items");
        let Value::Array(items) = items else {
            panic!("items");
        };
        let items: Vec<String> = items.into_iter().map(text).collect();
        for p in items.chunks(2) {
            seen.entry(p[0].clone()).or_insert((p[1].clone(), 0)).1 += 1;
        }
        calls += 1;
        cursor = text(next);
        if cursor == "0" {
            break;
        }
    }
    assert!(calls > 50, "COUNT bounds each call: {calls}");
    assert_eq!(seen.len(), 3000);
    for (field, (value, times)) in &seen {
        assert_eq!(*times, 1, "{field} returned {times} times");
        assert_eq!(field["field:".len()..], value["value:".len()..]);
    }

    // MATCH and NOVALUES; a small hash comes back in one call.
    ok(&mut c, &["HSET", "small", "aa", "1", "ab", "2", "b", "3"]);
    let Value::Array(parts) = ok(&mut c, &["HSCAN", "small", "0", "MATCH", "a*", "NOVALUES"])
    else {
        panic!("scan reply");
    };
    assert_eq!(parts[0], bulk("0"));
    assert_eq!(sorted(parts[1].clone()), vec!["aa", "ab"]);
    let Value::Array(parts) = ok(&mut c, &["HSCAN", "small", "0", "MATCH", "b"]) else {
        panic!("scan reply");
    };
    assert_eq!(parts[1], Value::Array(vec![bulk("b"), bulk("3")]));
    assert_eq!(
        ok(&mut c, &["HSCAN", "nosuch", "0"]),
        Value::Array(vec![bulk("0"), Value::Array(vec![])])
    );
    assert_eq!(err(&mut c, &["HSCAN", "h", "abc"]), "ERR invalid cursor");
    assert_eq!(
        err(&mut c, &["HSCAN", "nosuch", "abc"]),
        "ERR invalid cursor"
    );
    // Options are read after the lookup: a missing key answers before a bad option.
    assert_eq!(
        ok(&mut c, &["HSCAN", "nosuch", "0", "COUNT", "0"]),
        Value::Array(vec![bulk("0"), Value::Array(vec![])])
    );
    // A small hash comes back whole whatever the cursor, as Redis's listpacks.
    let Value::Array(parts) = ok(&mut c, &["HSCAN", "small", "12345"]) else {
        panic!("scan reply");
    };
    assert_eq!(parts[0], bulk("0"));
    assert_eq!(sorted(parts[1].clone()).len(), 6);
    assert_eq!(
        err(&mut c, &["HSCAN", "h", "0", "COUNT", "0"]),
        "ERR syntax error"
    );
    assert_eq!(
        err(&mut c, &["HSCAN", "h", "0", "BOGUS"]),
        "ERR syntax error"
    );
}

#[test]
fn watch_sees_hash_changes() {
    let n = node();
    let mut c = n.client().expect("connect");
    let mut other = n.client().expect("connect");
    ok(&mut c, &["HSET", "h", "f", "1"]);
    ok(&mut c, &["WATCH", "h"]);
    ok(&mut other, &["HSETNX", "h", "f", "2"]);
    ok(&mut c, &["MULTI"]);
    ok(&mut c, &["HGET", "h", "f"]);
    assert_eq!(
        ok(&mut c, &["EXEC"]),
        Value::Array(vec![bulk("1")]),
        "an HSETNX that changed nothing does not abort EXEC"
    );
    ok(&mut c, &["WATCH", "h"]);
    ok(&mut other, &["HINCRBY", "h", "f", "1"]);
    ok(&mut c, &["MULTI"]);
    ok(&mut c, &["HGET", "h", "f"]);
    assert_eq!(ok(&mut c, &["EXEC"]), Value::Nil);
}
