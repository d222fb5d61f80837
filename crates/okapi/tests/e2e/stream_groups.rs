//! Consumer groups and blocking stream reads through the real binary: delivery to
//! several consumers, the PEL, acknowledgements, claims, XINFO, Redis's errors, group
//! state that survives a restart, and XREAD / XREADGROUP BLOCK woken by XADD in
//! arrival order (or released by a timeout, a destroyed group or a deleted key).

use std::process::Command;

use redis::Value;

use crate::common::{err, joined, node, raw, spawn, wait_blocked};

fn ok(con: &mut redis::Connection, args: &[&str]) -> Value {
    raw(con, args).unwrap_or_else(|e| panic!("{args:?} failed: {e}"))
}

fn int(con: &mut redis::Connection, args: &[&str]) -> i64 {
    match ok(con, args) {
        Value::Int(n) => n,
        other => panic!("{args:?} replied {other:?}"),
    }
}

fn bulk(s: &str) -> Value {
    Value::BulkString(s.as_bytes().to_vec())
}

fn entry(id: &str, field: &str, value: &str) -> Value {
    Value::Array(vec![bulk(id), Value::Array(vec![bulk(field), bulk(value)])])
}

/// `[[key, [entries]]]`, as XREAD and XREADGROUP reply in RESP2.
fn served(key: &str, entries: Vec<Value>) -> Value {
    Value::Array(vec![Value::Array(vec![bulk(key), Value::Array(entries)])])
}

/// XPENDING's summary: count, first, last, and per consumer its count.
fn summary(con: &mut redis::Connection, key: &str, group: &str) -> (i64, Value) {
    match ok(con, &["XPENDING", key, group]) {
        Value::Array(parts) if parts.len() == 4 => {
            let Value::Int(n) = parts[0] else {
                panic!("a count: {parts:?}");
            };
            (n, parts[3].clone())
        }
        other => panic!("XPENDING summary: {other:?}"),
    }
}

fn owners(pairs: &[(&str, &str)]) -> Value {
    Value::Array(
        pairs
            .iter()
            .map(|(name, n)| Value::Array(vec![bulk(name), bulk(n)]))
            .collect(),
    )
}

#[test]
fn groups_deliver_acknowledge_and_claim_as_redis_and_survive_a_restart() {
    let mut n = node();
    let mut c = n.client().expect("connect");
    assert_eq!(
        ok(&mut c, &["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"]),
        Value::Okay
    );
    assert_eq!(
        err(&mut c, &["XGROUP", "CREATE", "s", "g", "$"]),
        "BUSYGROUP Consumer Group name already exists"
    );
    for i in 1..=5 {
        let id = format!("{i}-0");
        let v = i.to_string();
        assert_eq!(ok(&mut c, &["XADD", "s", &id, "n", &v]), bulk(&id));
    }
    // Two consumers split the new entries; each sees only its own history.
    assert_eq!(
        ok(
            &mut c,
            &[
                "XREADGROUP",
                "GROUP",
                "g",
                "alice",
                "COUNT",
                "2",
                "STREAMS",
                "s",
                ">"
            ]
        ),
        served("s", vec![entry("1-0", "n", "1"), entry("2-0", "n", "2")])
    );
    assert_eq!(
        ok(
            &mut c,
            &["XREADGROUP", "GROUP", "g", "bob", "STREAMS", "s", ">"]
        ),
        served(
            "s",
            vec![
                entry("3-0", "n", "3"),
                entry("4-0", "n", "4"),
                entry("5-0", "n", "5")
            ]
        )
    );
    assert_eq!(
        ok(
            &mut c,
            &["XREADGROUP", "GROUP", "g", "bob", "STREAMS", "s", ">"]
        ),
        Value::Nil,
        "nothing new"
    );
    assert_eq!(
        ok(
            &mut c,
            &["XREADGROUP", "GROUP", "g", "alice", "STREAMS", "s", "0"]
        ),
        served("s", vec![entry("1-0", "n", "1"), entry("2-0", "n", "2")])
    );
    assert_eq!(
        summary(&mut c, "s", "g"),
        (5, owners(&[("alice", "2"), ("bob", "3")]))
    );
    assert_eq!(int(&mut c, &["XACK", "s", "g", "1-0", "9-9"]), 1);
    // Claiming moves an entry with its delivery count.
    assert_eq!(
        ok(&mut c, &["XCLAIM", "s", "g", "carol", "0", "3-0", "JUSTID"]),
        Value::Array(vec![bulk("3-0")])
    );
    let detail = ok(&mut c, &["XPENDING", "s", "g", "-", "+", "10", "carol"]);
    let Value::Array(rows) = detail else {
        panic!("XPENDING rows: {detail:?}");
    };
    assert_eq!(rows.len(), 1);
    let Value::Array(row) = &rows[0] else {
        panic!("a row: {rows:?}");
    };
    assert_eq!(
        (&row[0], &row[1], &row[3]),
        (&bulk("3-0"), &bulk("carol"), &Value::Int(1))
    );
    // An entry deleted after delivery shows as a nil body and leaves on a claim.
    assert_eq!(int(&mut c, &["XDEL", "s", "4-0"]), 1);
    assert_eq!(
        ok(
            &mut c,
            &["XAUTOCLAIM", "s", "g", "dave", "0", "0", "COUNT", "10"]
        ),
        Value::Array(vec![
            bulk("0-0"),
            Value::Array(vec![
                entry("2-0", "n", "2"),
                entry("3-0", "n", "3"),
                entry("5-0", "n", "5")
            ]),
            Value::Array(vec![bulk("4-0")]),
        ])
    );
    assert_eq!(summary(&mut c, "s", "g"), (3, owners(&[("dave", "3")])));
    assert_eq!(
        int(&mut c, &["XGROUP", "CREATECONSUMER", "s", "g", "erin"]),
        1
    );
    assert_eq!(int(&mut c, &["XGROUP", "DELCONSUMER", "s", "g", "dave"]), 3);
    for (args, want) in [
        (
            &["XREADGROUP", "GROUP", "nog", "a", "STREAMS", "s", ">"][..],
            "NOGROUP No such key 's' or consumer group 'nog' in XREADGROUP with GROUP option",
        ),
        (
            &["XGROUP", "SETID", "s", "nog", "0"],
            "NOGROUP No such consumer group 'nog' for key name 's'",
        ),
        (
            &["XGROUP", "CREATE", "nokey", "g", "$"],
            "ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you \
             may want to use the MKSTREAM option to create an empty stream automatically.",
        ),
        (
            &["XGROUP", "CREATE", "s"],
            "ERR wrong number of arguments for 'xgroup|create' command",
        ),
        (
            &["XCLAIM", "s", "g", "c", "0", "1-0", "BOGUS"],
            "ERR Unrecognized XCLAIM option 'BOGUS'",
        ),
        (
            &["XAUTOCLAIM", "s", "g", "c", "0", "0", "COUNT", "0"],
            "ERR COUNT must be > 0",
        ),
        (&["XINFO", "STREAM", "nokey"], "ERR no such key"),
        (
            &["XREADGROUP", "GROUP", "g", "a", "STREAMS", "s", "$"],
            "ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the \
             history of this consumer by specifying a proper ID, or use the > ID to get new \
             messages. The $ ID would just return an empty result set.",
        ),
    ] {
        assert_eq!(err(&mut c, args), want, "{args:?}");
    }

    // XINFO GROUPS through redis-cli in RESP3: a map per group.
    let groups = |port: u16| {
        let out = Command::new("redis-cli")
            .arg("-p")
            .arg(port.to_string())
            .args(["-3", "XINFO", "GROUPS", "s"])
            .output()
            .expect("redis-cli runs (install redis-tools)");
        assert!(out.status.success());
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let before = groups(n.port);
    assert_eq!(
        before, "name g\nconsumers 4\npending 0\nlast-delivered-id 5-0\nentries-read 5\nlag 0\n",
        "as redis-cli prints it for redis-server"
    );
    let digest: String = redis::cmd("DEBUG")
        .arg("DIGEST")
        .query(&mut c)
        .expect("DIGEST");
    drop(c);
    n.restart().expect("restart");
    let mut c = n.client().expect("connect");
    assert_eq!(groups(n.port), before, "group state survives a restart");
    let after: String = redis::cmd("DEBUG")
        .arg("DIGEST")
        .query(&mut c)
        .expect("DIGEST");
    assert_eq!(after, digest);
    assert_eq!(
        int(&mut c, &["XGROUP", "CREATECONSUMER", "s", "g", "erin"]),
        0,
        "the consumer came back"
    );
}

#[test]
fn blocked_stream_readers_wake_in_arrival_order() {
    let n = node();
    let mut c = n.client().expect("connect");

    // XREAD BLOCK on `$`: only what arrives after the client started waiting.
    assert_eq!(ok(&mut c, &["XADD", "s", "1-0", "a", "1"]), bulk("1-0"));
    let reader = spawn(&n, &["XREAD", "BLOCK", "0", "STREAMS", "s", "$"]);
    wait_blocked(&mut c, 1);
    assert_eq!(ok(&mut c, &["XADD", "s", "2-0", "b", "2"]), bulk("2-0"));
    assert_eq!(joined(reader), served("s", vec![entry("2-0", "b", "2")]));

    // A timeout answers nil; inside MULTI nothing blocks.
    assert_eq!(
        ok(&mut c, &["XREAD", "BLOCK", "50", "STREAMS", "s", "$"]),
        Value::Nil
    );
    let replies: Value = redis::pipe()
        .atomic()
        .cmd("XREAD")
        .arg(&["BLOCK", "0", "STREAMS", "s", "$"])
        .query(&mut c)
        .expect("exec");
    assert_eq!(replies, Value::Array(vec![Value::Nil]));

    // Two consumers of one group: the first to block gets the first entry, the other
    // keeps waiting for the next.
    assert_eq!(
        ok(&mut c, &["XGROUP", "CREATE", "s", "g", "$"]),
        Value::Okay
    );
    let first = spawn(
        &n,
        &[
            "XREADGROUP",
            "GROUP",
            "g",
            "c1",
            "BLOCK",
            "0",
            "STREAMS",
            "s",
            ">",
        ],
    );
    wait_blocked(&mut c, 1);
    let second = spawn(
        &n,
        &[
            "XREADGROUP",
            "GROUP",
            "g",
            "c2",
            "BLOCK",
            "0",
            "STREAMS",
            "s",
            ">",
        ],
    );
    wait_blocked(&mut c, 2);
    assert_eq!(ok(&mut c, &["XADD", "s", "3-0", "c", "3"]), bulk("3-0"));
    assert_eq!(joined(first), served("s", vec![entry("3-0", "c", "3")]));
    wait_blocked(&mut c, 1);
    assert_eq!(ok(&mut c, &["XADD", "s", "4-0", "d", "4"]), bulk("4-0"));
    assert_eq!(joined(second), served("s", vec![entry("4-0", "d", "4")]));
    let (pending, _) = summary(&mut c, "s", "g");
    assert_eq!(pending, 2, "both deliveries are pending");

    // A destroyed group and a deleted stream release their waiters with Redis's errors.
    let waiter = spawn(
        &n,
        &[
            "XREADGROUP",
            "GROUP",
            "g",
            "c1",
            "BLOCK",
            "0",
            "STREAMS",
            "s",
            ">",
        ],
    );
    wait_blocked(&mut c, 1);
    assert_eq!(int(&mut c, &["XGROUP", "DESTROY", "s", "g"]), 1);
    let e = waiter.join().expect("thread").expect_err("an error");
    assert_eq!(
        format!("{} {}", e.code().unwrap_or(""), e.detail().unwrap_or("")),
        "NOGROUP the consumer group this client was blocked on no longer exists"
    );
    assert_eq!(
        ok(&mut c, &["XGROUP", "CREATE", "s", "g", "$"]),
        Value::Okay
    );
    let waiter = spawn(
        &n,
        &[
            "XREADGROUP",
            "GROUP",
            "g",
            "c1",
            "BLOCK",
            "0",
            "STREAMS",
            "s",
            ">",
        ],
    );
    wait_blocked(&mut c, 1);
    assert_eq!(int(&mut c, &["DEL", "s"]), 1);
    let e = waiter.join().expect("thread").expect_err("an error");
    assert_eq!(
        format!("{} {}", e.code().unwrap_or(""), e.detail().unwrap_or("")),
        "UNBLOCKED the stream key no longer exists"
    );
    wait_blocked(&mut c, 0);
}
