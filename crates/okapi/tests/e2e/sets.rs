//! Sets commands end to end.

use std::collections::{BTreeMap, BTreeSet};

use redis::Value;

use crate::common::{err, node, raw};

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

fn bulk(s: &str) -> Value {
    Value::BulkString(s.as_bytes().to_vec())
}

fn ok(con: &mut redis::Connection, args: &[&str]) -> Value {
    raw(con, args).unwrap_or_else(|e| panic!("{args:?} failed: {e}"))
}

fn text(value: Value) -> String {
    match value {
        Value::BulkString(b) => String::from_utf8(b).expect("utf-8"),
        other => panic!("not a bulk string: {other:?}"),
    }
}

/// The strings of an array or set reply, in reply order.
fn list(value: Value) -> Vec<String> {
    let (Value::Array(items) | Value::Set(items)) = value else {
        panic!("not an array or set: {value:?}");
    };
    items.into_iter().map(text).collect()
}

fn sorted(value: Value) -> Vec<String> {
    let mut out = list(value);
    out.sort();
    out
}

fn distinct(items: &[String]) -> usize {
    items.iter().collect::<BTreeSet<_>>().len()
}

/// `SADD key m0 .. m{n-1}`.
fn fill(con: &mut redis::Connection, key: &str, n: usize) {
    let mut args = vec!["SADD".to_owned(), key.to_owned()];
    args.extend((0..n).map(|i| format!("m{i}")));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    assert_eq!(ok(con, &args), Value::Int(n as i64));
}

#[test]
fn membership_commands_and_missing_keys() {
    let n = node();
    let mut c = n.client().expect("connect");
    assert_eq!(
        ok(&mut c, &["SADD", "s", "a", "b", "a", "c"]),
        Value::Int(3)
    );
    assert_eq!(ok(&mut c, &["SADD", "s", "c", "d"]), Value::Int(1));
    assert_eq!(
        sorted(ok(&mut c, &["SMEMBERS", "s"])),
        vec!["a", "b", "c", "d"]
    );
    assert_eq!(ok(&mut c, &["SMEMBERS", "nosuch"]), Value::Array(vec![]));
    assert_eq!(ok(&mut c, &["SISMEMBER", "s", "a"]), Value::Int(1));
    assert_eq!(ok(&mut c, &["SISMEMBER", "s", "z"]), Value::Int(0));
    assert_eq!(ok(&mut c, &["SISMEMBER", "nosuch", "a"]), Value::Int(0));
    assert_eq!(
        ok(&mut c, &["SMISMEMBER", "s", "a", "z", "d"]),
        Value::Array(vec![Value::Int(1), Value::Int(0), Value::Int(1)])
    );
    assert_eq!(
        ok(&mut c, &["SMISMEMBER", "nosuch", "a", "b"]),
        Value::Array(vec![Value::Int(0), Value::Int(0)])
    );
    assert_eq!(ok(&mut c, &["SCARD", "s"]), Value::Int(4));
    assert_eq!(ok(&mut c, &["SCARD", "nosuch"]), Value::Int(0));
    assert_eq!(ok(&mut c, &["SREM", "s", "a", "a", "z"]), Value::Int(1));
    assert_eq!(ok(&mut c, &["SREM", "nosuch", "a"]), Value::Int(0));
    assert_eq!(
        ok(&mut c, &["SREM", "s", "b", "c", "d", "e"]),
        Value::Int(3)
    );
    assert_eq!(
        ok(&mut c, &["EXISTS", "s"]),
        Value::Int(0),
        "emptied set is deleted"
    );
    assert_eq!(
        err(&mut c, &["SADD", "s"]),
        "ERR wrong number of arguments for 'sadd' command"
    );
    assert_eq!(
        err(&mut c, &["SMISMEMBER", "s"]),
        "ERR wrong number of arguments for 'smismember' command"
    );
    ok(&mut c, &["SADD", "s", "x"]);
    assert_eq!(
        ok(&mut c, &["TYPE", "s"]),
        Value::SimpleString("set".into())
    );
}

#[test]
fn every_set_command_refuses_other_types() {
    let n = node();
    let mut c = n.client().expect("connect");
    ok(&mut c, &["SET", "str", "x"]);
    ok(&mut c, &["SADD", "set", "a"]);
    for args in [
        &["SADD", "str", "a"][..],
        &["SREM", "str", "a"],
        &["SMEMBERS", "str"],
        &["SISMEMBER", "str", "a"],
        &["SMISMEMBER", "str", "a"],
        &["SCARD", "str"],
        &["SPOP", "str"],
        &["SPOP", "str", "0"],
        &["SRANDMEMBER", "str"],
        &["SRANDMEMBER", "str", "0"],
        &["SMOVE", "str", "set", "a"],
        &["SMOVE", "set", "str", "a"],
        &["SMOVE", "set", "str", "nope"],
        &["SINTER", "nosuch", "str"],
        &["SINTER", "set", "str"],
        &["SUNION", "nosuch", "str"],
        &["SDIFF", "nosuch", "str"],
        &["SDIFF", "set", "str"],
        &["SINTERSTORE", "dst", "nosuch", "str"],
        &["SUNIONSTORE", "dst", "set", "str"],
        &["SDIFFSTORE", "dst", "str", "set"],
        &["SINTERCARD", "2", "nosuch", "str"],
        &["SSCAN", "str", "0"],
        &["SSCAN", "str", "0", "NOVALUES"],
    ] {
        assert_eq!(err(&mut c, args), WRONGTYPE, "{args:?}");
    }
    assert_eq!(ok(&mut c, &["EXISTS", "dst"]), Value::Int(0));
    // A missing source makes SMOVE answer 0 before the destination type is checked.
    assert_eq!(ok(&mut c, &["SMOVE", "nosuch", "str", "a"]), Value::Int(0));
    assert_eq!(ok(&mut c, &["GET", "str"]), bulk("x"));
}

#[test]
fn spop_semantics_and_reply_shapes() {
    let n = node();
    let mut c = n.client().expect("connect");
    let mut c3 = n.client_resp3().expect("connect resp3");
    fill(&mut c, "s", 100);
    let one = text(ok(&mut c, &["SPOP", "s"]));
    assert_eq!(ok(&mut c, &["SISMEMBER", "s", &one]), Value::Int(0));
    let popped = list(ok(&mut c, &["SPOP", "s", "10"]));
    assert_eq!(popped.len(), 10);
    assert_eq!(distinct(&popped), 10);
    let Value::Set(popped3) = ok(&mut c3, &["SPOP", "s", "80"]) else {
        panic!("SPOP with a count is a set in RESP3");
    };
    assert_eq!(popped3.len(), 80);
    let popped3: Vec<String> = popped3.into_iter().map(text).collect();
    assert_eq!(distinct(&popped3), 80);
    let rest = sorted(ok(&mut c, &["SMEMBERS", "s"]));
    assert_eq!(rest.len(), 9);
    let mut all: BTreeSet<String> = rest.iter().cloned().collect();
    all.insert(one);
    all.extend(popped);
    all.extend(popped3);
    assert_eq!(all.len(), 100, "every member popped once or still there");
    assert_eq!(ok(&mut c, &["SPOP", "s", "0"]), Value::Array(vec![]));
    assert_eq!(sorted(ok(&mut c, &["SPOP", "s", "50"])), rest);
    assert_eq!(ok(&mut c, &["EXISTS", "s"]), Value::Int(0));
    assert_eq!(ok(&mut c, &["SPOP", "s"]), Value::Nil);
    assert_eq!(ok(&mut c, &["SPOP", "s", "5"]), Value::Array(vec![]));
    assert_eq!(ok(&mut c3, &["SPOP", "s", "5"]), Value::Set(vec![]));
    assert_eq!(
        err(&mut c, &["SPOP", "s", "-1"]),
        "ERR value is out of range, must be positive"
    );
    assert_eq!(
        err(&mut c, &["SPOP", "s", "x"]),
        "ERR value is out of range, must be positive"
    );
    assert_eq!(err(&mut c, &["SPOP", "s", "1", "2"]), "ERR syntax error");
    ok(&mut c, &["SADD", "one", "x"]);
    assert_eq!(ok(&mut c, &["SPOP", "one"]), bulk("x"));
    assert_eq!(ok(&mut c, &["EXISTS", "one"]), Value::Int(0));
}

#[test]
fn srandmember_counts_follow_redis() {
    let n = node();
    let mut c = n.client().expect("connect");
    let mut c3 = n.client_resp3().expect("connect resp3");
    fill(&mut c, "s", 1000);
    let one = text(ok(&mut c, &["SRANDMEMBER", "s"]));
    assert!(one.starts_with('m'));
    for count in [1, 5, 100, 400, 999, 1000, 5000] {
        let got = list(ok(&mut c, &["SRANDMEMBER", "s", &count.to_string()]));
        let expected = count.min(1000);
        assert_eq!(got.len(), expected, "count {count}");
        assert_eq!(distinct(&got), expected, "distinct for count {count}");
    }
    let repeated = list(ok(&mut c, &["SRANDMEMBER", "s", "-3000"]));
    assert_eq!(repeated.len(), 3000);
    assert!(
        distinct(&repeated) < 3000,
        "a negative count repeats members"
    );
    // Picks reach the whole set, not a corner of it.
    assert!(distinct(&repeated) > 800, "{}", distinct(&repeated));
    assert_eq!(
        ok(&mut c, &["SCARD", "s"]),
        Value::Int(1000),
        "nothing removed"
    );
    assert!(
        matches!(ok(&mut c3, &["SRANDMEMBER", "s", "3"]), Value::Array(_)),
        "SRANDMEMBER with a count stays an array in RESP3"
    );
    assert_eq!(ok(&mut c, &["SRANDMEMBER", "s", "0"]), Value::Array(vec![]));
    assert_eq!(ok(&mut c, &["SRANDMEMBER", "nosuch"]), Value::Nil);
    assert_eq!(
        ok(&mut c, &["SRANDMEMBER", "nosuch", "5"]),
        Value::Array(vec![])
    );
    assert_eq!(
        ok(&mut c3, &["SRANDMEMBER", "nosuch", "-5"]),
        Value::Array(vec![])
    );
    ok(&mut c, &["SADD", "tiny", "a"]);
    assert_eq!(
        list(ok(&mut c, &["SRANDMEMBER", "tiny", "-4"])),
        vec!["a", "a", "a", "a"]
    );
    assert_eq!(
        err(&mut c, &["SRANDMEMBER", "s", "-9223372036854775808"]),
        "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807"
    );
    assert_eq!(
        err(&mut c, &["SRANDMEMBER", "s", "x"]),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(
        err(&mut c, &["SRANDMEMBER", "s", "1", "2"]),
        "ERR syntax error"
    );
}

#[test]
fn smove_follows_redis() {
    let n = node();
    let mut c = n.client().expect("connect");
    ok(&mut c, &["SADD", "src", "a", "b"]);
    ok(&mut c, &["SADD", "dst", "b"]);
    assert_eq!(ok(&mut c, &["SMOVE", "src", "dst", "a"]), Value::Int(1));
    assert_eq!(ok(&mut c, &["SMOVE", "src", "dst", "a"]), Value::Int(0));
    assert_eq!(ok(&mut c, &["SMOVE", "src", "src", "b"]), Value::Int(1));
    assert_eq!(ok(&mut c, &["SMOVE", "src", "src", "z"]), Value::Int(0));
    assert_eq!(ok(&mut c, &["SMOVE", "src", "dst", "b"]), Value::Int(1));
    assert_eq!(ok(&mut c, &["EXISTS", "src"]), Value::Int(0));
    assert_eq!(sorted(ok(&mut c, &["SMEMBERS", "dst"])), vec!["a", "b"]);
    assert_eq!(ok(&mut c, &["SMOVE", "dst", "new", "a"]), Value::Int(1));
    assert_eq!(sorted(ok(&mut c, &["SMEMBERS", "new"])), vec!["a"]);
}

#[test]
fn algebra_and_store_follow_redis() {
    let n = node();
    let mut c = n.client().expect("connect");
    let mut c3 = n.client_resp3().expect("connect resp3");
    ok(&mut c, &["SADD", "a", "1", "2", "3", "4"]);
    ok(&mut c, &["SADD", "b", "3", "4", "5"]);
    ok(&mut c, &["SADD", "c", "4", "6"]);
    assert_eq!(sorted(ok(&mut c, &["SINTER", "a", "b"])), vec!["3", "4"]);
    assert_eq!(sorted(ok(&mut c, &["SINTER", "a", "b", "c"])), vec!["4"]);
    assert_eq!(ok(&mut c, &["SINTER", "a", "nosuch"]), Value::Array(vec![]));
    assert_eq!(
        sorted(ok(&mut c, &["SUNION", "a", "nosuch", "c"])),
        vec!["1", "2", "3", "4", "6"]
    );
    assert_eq!(
        sorted(ok(&mut c, &["SDIFF", "a", "b", "nosuch"])),
        vec!["1", "2"]
    );
    assert_eq!(ok(&mut c, &["SDIFF", "nosuch", "a"]), Value::Array(vec![]));
    assert_eq!(ok(&mut c, &["SDIFF", "a", "a"]), Value::Array(vec![]));
    let Value::Set(members) = ok(&mut c3, &["SMEMBERS", "a"]) else {
        panic!("SMEMBERS is a set in RESP3");
    };
    assert_eq!(members.len(), 4);
    for cmd in ["SINTER", "SUNION", "SDIFF"] {
        assert!(
            matches!(ok(&mut c3, &[cmd, "a", "b"]), Value::Set(_)),
            "{cmd} is a set in RESP3"
        );
    }
    assert_eq!(ok(&mut c3, &["SMEMBERS", "nosuch"]), Value::Set(vec![]));
    assert_eq!(ok(&mut c3, &["SINTER", "a", "nosuch"]), Value::Set(vec![]));

    // STORE forms overwrite any type and clear its TTL.
    ok(&mut c, &["SET", "dst", "string"]);
    ok(&mut c, &["EXPIRE", "dst", "100"]);
    assert_eq!(ok(&mut c, &["SINTERSTORE", "dst", "a", "b"]), Value::Int(2));
    assert_eq!(
        ok(&mut c, &["TYPE", "dst"]),
        Value::SimpleString("set".into())
    );
    assert_eq!(ok(&mut c, &["TTL", "dst"]), Value::Int(-1));
    assert_eq!(sorted(ok(&mut c, &["SMEMBERS", "dst"])), vec!["3", "4"]);
    assert_eq!(ok(&mut c, &["SUNIONSTORE", "dst", "a", "c"]), Value::Int(5));
    assert_eq!(ok(&mut c, &["SDIFFSTORE", "dst", "a", "b"]), Value::Int(2));
    assert_eq!(sorted(ok(&mut c, &["SMEMBERS", "dst"])), vec!["1", "2"]);
    // An empty result deletes the destination, whatever it held.
    assert_eq!(
        ok(&mut c, &["SINTERSTORE", "dst", "a", "nosuch"]),
        Value::Int(0)
    );
    assert_eq!(ok(&mut c, &["EXISTS", "dst"]), Value::Int(0));
    ok(&mut c, &["HSET", "dst", "f", "v"]);
    assert_eq!(ok(&mut c, &["SDIFFSTORE", "dst", "a", "a"]), Value::Int(0));
    assert_eq!(ok(&mut c, &["EXISTS", "dst"]), Value::Int(0));
    assert_eq!(ok(&mut c, &["SUNIONSTORE", "dst", "nosuch"]), Value::Int(0));
    // The destination may be a source.
    assert_eq!(ok(&mut c, &["SUNIONSTORE", "a", "a", "c"]), Value::Int(5));
    assert_eq!(
        sorted(ok(&mut c, &["SMEMBERS", "a"])),
        vec!["1", "2", "3", "4", "6"]
    );
    assert_eq!(
        err(&mut c, &["SINTERSTORE", "dst"]),
        "ERR wrong number of arguments for 'sinterstore' command"
    );
}

#[test]
fn sintercard_follows_redis() {
    let n = node();
    let mut c = n.client().expect("connect");
    fill(&mut c, "x", 100);
    let mut args = vec!["SADD".to_owned(), "y".to_owned()];
    args.extend((50..200).map(|i| format!("m{i}")));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    ok(&mut c, &args);
    assert_eq!(ok(&mut c, &["SINTERCARD", "2", "x", "y"]), Value::Int(50));
    assert_eq!(ok(&mut c, &["SINTERCARD", "1", "x"]), Value::Int(100));
    assert_eq!(
        ok(&mut c, &["SINTERCARD", "2", "x", "y", "LIMIT", "10"]),
        Value::Int(10)
    );
    assert_eq!(
        ok(&mut c, &["SINTERCARD", "2", "x", "y", "LIMIT", "0"]),
        Value::Int(50)
    );
    assert_eq!(
        ok(&mut c, &["SINTERCARD", "2", "x", "y", "limit", "500"]),
        Value::Int(50)
    );
    assert_eq!(
        ok(&mut c, &["SINTERCARD", "2", "x", "nosuch"]),
        Value::Int(0)
    );
    for (args, error) in [
        (
            &["SINTERCARD", "1"][..],
            "ERR wrong number of arguments for 'sintercard' command",
        ),
        (
            &["SINTERCARD", "0", "x"],
            "ERR numkeys should be greater than 0",
        ),
        (
            &["SINTERCARD", "a", "x"],
            "ERR numkeys should be greater than 0",
        ),
        (
            &["SINTERCARD", "2", "x"],
            "ERR Number of keys can't be greater than number of args",
        ),
        (&["SINTERCARD", "1", "x", "y"], "ERR syntax error"),
        (&["SINTERCARD", "1", "x", "LIMIT"], "ERR syntax error"),
        (
            &["SINTERCARD", "1", "x", "LIMIT", "-1"],
            "ERR LIMIT can't be negative",
        ),
        (
            &["SINTERCARD", "1", "x", "LIMIT", "a"],
            "ERR LIMIT can't be negative",
        ),
    ] {
        assert_eq!(err(&mut c, args), error, "{args:?}");
    }
    let keys: Value = redis::cmd("COMMAND")
        .arg("GETKEYS")
        .arg("SINTERCARD")
        .arg("2")
        .arg("x")
        .arg("y")
        .arg("LIMIT")
        .arg("1")
        .query(&mut c)
        .expect("getkeys");
    assert_eq!(sorted(keys), vec!["x", "y"]);
}

#[test]
fn sscan_returns_every_member_exactly_once() {
    let n = node();
    let mut c = n.client().expect("connect");
    fill(&mut c, "s", 3000);
    let mut seen: BTreeMap<String, u32> = BTreeMap::new();
    let mut cursor = "0".to_owned();
    let mut calls = 0;
    loop {
        let Value::Array(parts) = ok(&mut c, &["SSCAN", "s", &cursor, "COUNT", "25"]) else {
            panic!("scan reply");
        };
        let [next, items] = <[Value; 2]>::try_from(parts).expect("cursor and items");
        for m in list(items) {
            *seen.entry(m).or_default() += 1;
        }
        calls += 1;
        cursor = text(next);
        if cursor == "0" {
            break;
        }
    }
    assert!(calls > 50, "COUNT bounds each call: {calls}");
    assert_eq!(seen.len(), 3000);
    assert!(seen.values().all(|&times| times == 1));

    ok(&mut c, &["SADD", "small", "apple", "avocado", "banana"]);
    let Value::Array(parts) = ok(&mut c, &["SSCAN", "small", "0", "MATCH", "a*"]) else {
        panic!("scan reply");
    };
    assert_eq!(parts[0], bulk("0"));
    assert_eq!(sorted(parts[1].clone()), vec!["apple", "avocado"]);
    assert_eq!(
        ok(&mut c, &["SSCAN", "nosuch", "0"]),
        Value::Array(vec![bulk("0"), Value::Array(vec![])])
    );
    assert_eq!(err(&mut c, &["SSCAN", "s", "-1"]), "ERR invalid cursor");
    assert_eq!(
        err(&mut c, &["SSCAN", "s", "0", "NOVALUES"]),
        "ERR NOVALUES option can only be used in HSCAN"
    );
    assert_eq!(
        err(&mut c, &["SSCAN", "s", "0", "COUNT", "x"]),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(
        err(&mut c, &["SSCAN", "s", "0", "NOVALUES", "COUNT", "x"]),
        "ERR NOVALUES option can only be used in HSCAN"
    );
    assert_eq!(
        err(&mut c, &["SSCAN", "s", "0", "COUNT", "x", "NOVALUES"]),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(
        ok(&mut c, &["SSCAN", "nosuch", "0", "NOVALUES"]),
        Value::Array(vec![bulk("0"), Value::Array(vec![])])
    );
}

#[test]
fn watch_sees_only_real_set_changes() {
    let n = node();
    let mut c = n.client().expect("connect");
    let mut other = n.client().expect("connect");
    ok(&mut c, &["SADD", "s", "a"]);
    ok(&mut c, &["WATCH", "s"]);
    ok(&mut other, &["SADD", "s", "a"]);
    ok(&mut other, &["SREM", "s", "zz"]);
    ok(&mut c, &["MULTI"]);
    ok(&mut c, &["SCARD", "s"]);
    assert_eq!(
        ok(&mut c, &["EXEC"]),
        Value::Array(vec![Value::Int(1)]),
        "no-op SADD/SREM do not abort EXEC"
    );
    ok(&mut c, &["WATCH", "s"]);
    ok(&mut other, &["SPOP", "s"]);
    ok(&mut c, &["MULTI"]);
    ok(&mut c, &["SCARD", "s"]);
    assert_eq!(ok(&mut c, &["EXEC"]), Value::Nil);
}
