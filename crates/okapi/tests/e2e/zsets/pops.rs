//! ZPOPMIN/ZPOPMAX, ZMPOP, ZRANDMEMBER and ZSCAN.

use std::collections::HashMap;

use redis::Value;

use super::{arr, bulk, bulks, flat_pairs, nested_bulk_pairs, nested_pairs};
use crate::common::{err, node, raw};

#[test]
fn pops_in_resp2() {
    let n = node();
    let mut c = n.client().expect("connect");
    let mut run = |args: &[&str]| raw(&mut c, args).expect("command succeeds");
    run(&["ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d"]);
    assert_eq!(run(&["ZPOPMIN", "z"]), flat_pairs(&[("a", "1")]));
    assert_eq!(
        run(&["ZPOPMAX", "z", "2"]),
        flat_pairs(&[("d", "4"), ("c", "3")])
    );
    assert_eq!(run(&["ZPOPMIN", "z", "0"]), arr(vec![]));
    assert_eq!(run(&["ZPOPMIN", "z", "10"]), flat_pairs(&[("b", "2")]));
    assert_eq!(run(&["EXISTS", "z"]), Value::Int(0));
    assert_eq!(run(&["ZPOPMIN", "z"]), arr(vec![]));
    run(&["ZADD", "y", "5", "p", "6", "q", "7", "r"]);
    assert_eq!(
        run(&["ZMPOP", "2", "none", "y", "MAX", "COUNT", "2"]),
        arr(vec![
            bulk("y"),
            nested_bulk_pairs(&[("r", "7"), ("q", "6")])
        ])
    );
    assert_eq!(
        run(&["ZMPOP", "1", "y", "MIN"]),
        arr(vec![bulk("y"), nested_bulk_pairs(&[("p", "5")])])
    );
    assert_eq!(run(&["ZMPOP", "1", "y", "MIN"]), Value::Nil);
    assert_eq!(
        err(&mut c, &["ZPOPMIN", "y", "-1"]),
        "ERR value is out of range, must be positive"
    );
    assert_eq!(
        err(&mut c, &["ZMPOP", "0", "y", "MIN"]),
        "ERR numkeys should be greater than 0"
    );
    assert_eq!(
        err(&mut c, &["ZMPOP", "1", "y", "MIN", "COUNT", "0"]),
        "ERR count should be greater than 0"
    );
    assert_eq!(err(&mut c, &["ZMPOP", "1", "y", "BAD"]), "ERR syntax error");
    let _ = raw(&mut c, &["SET", "s", "v"]).expect("set");
    assert_eq!(
        err(&mut c, &["ZPOPMIN", "s", "0"]),
        "WRONGTYPE Operation against a key holding the wrong kind of value"
    );
}

#[test]
fn pops_in_resp3() {
    let n = node();
    let mut c = n.client_resp3().expect("connect");
    let mut run = |args: &[&str]| raw(&mut c, args).expect("command succeeds");
    run(&["ZADD", "z", "1", "a", "2", "b", "3", "c"]);
    assert_eq!(
        run(&["ZPOPMIN", "z"]),
        arr(vec![bulk("a"), Value::Double(1.0)])
    );
    assert_eq!(run(&["ZPOPMAX", "z", "1"]), nested_pairs(&[("c", 3.0)]));
    assert_eq!(
        run(&["ZMPOP", "1", "z", "MIN", "COUNT", "5"]),
        arr(vec![bulk("z"), nested_pairs(&[("b", 2.0)])])
    );
    assert_eq!(run(&["ZMPOP", "1", "z", "MIN"]), Value::Nil);
}

#[test]
fn random_members() {
    let n = node();
    let mut c = n.client().expect("connect");
    let mut run = |args: &[&str]| raw(&mut c, args).expect("command succeeds");
    assert_eq!(run(&["ZRANDMEMBER", "none"]), Value::Nil);
    assert_eq!(run(&["ZRANDMEMBER", "none", "3"]), arr(vec![]));
    run(&[
        "ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d", "5", "e",
    ]);
    let members = ["a", "b", "c", "d", "e"];
    let Value::BulkString(one) = run(&["ZRANDMEMBER", "z"]) else {
        panic!("a bulk member");
    };
    assert!(members.contains(&String::from_utf8_lossy(&one).as_ref()));
    assert_eq!(run(&["ZRANDMEMBER", "z", "0"]), arr(vec![]));
    assert_eq!(
        run(&["ZRANDMEMBER", "z", "10"]),
        bulks(&members),
        "a count past the size returns the whole set"
    );
    let Value::Array(three) = run(&["ZRANDMEMBER", "z", "3"]) else {
        panic!("an array");
    };
    let mut distinct = three.clone();
    distinct.sort_by_key(|v| format!("{v:?}"));
    distinct.dedup();
    assert_eq!((three.len(), distinct.len()), (3, 3));
    let Value::Array(many) = run(&["ZRANDMEMBER", "z", "-20"]) else {
        panic!("an array");
    };
    assert_eq!(many.len(), 20);
    let Value::Array(scored) = run(&["ZRANDMEMBER", "z", "-2", "WITHSCORES"]) else {
        panic!("an array");
    };
    assert_eq!(scored.len(), 4, "RESP2 pairs are flat");
    assert_eq!(
        err(&mut c, &["ZRANDMEMBER", "z", "-9223372036854775808"]),
        "ERR value is out of range, must be between -9223372036854775807 and 9223372036854775807"
    );
    assert_eq!(
        err(&mut c, &["ZRANDMEMBER", "z", "1", "WITHSCORES", "x"]),
        "ERR syntax error"
    );
}

#[test]
fn zscan_returns_every_member_once_with_its_score() {
    let n = node();
    let mut c = n.client().expect("connect");
    let total = 3_000;
    let mut zadd = redis::cmd("ZADD");
    zadd.arg("big");
    for i in 0..total {
        zadd.arg(i as f64 / 4.0).arg(format!("member:{i}"));
    }
    let added: i64 = zadd.query(&mut c).expect("zadd");
    assert_eq!(added, total);
    let mut seen: HashMap<String, (usize, String)> = HashMap::new();
    let mut cursor = "0".to_owned();
    let mut calls = 0;
    loop {
        let (next, items): (String, Vec<String>) = redis::cmd("ZSCAN")
            .arg("big")
            .arg(&cursor)
            .arg("COUNT")
            .arg(100)
            .query(&mut c)
            .expect("zscan");
        calls += 1;
        for pair in items.chunks(2) {
            let entry = seen.entry(pair[0].clone()).or_insert((0, pair[1].clone()));
            entry.0 += 1;
        }
        if next == "0" {
            break;
        }
        cursor = next;
    }
    assert!(calls > 1, "a large set is scanned in several calls");
    assert_eq!(seen.len(), total as usize);
    for i in 0..total {
        let (times, score) = &seen[&format!("member:{i}")];
        assert_eq!(*times, 1, "member:{i} returned once");
        assert_eq!(score.parse::<f64>().expect("score"), i as f64 / 4.0);
    }
    let (next, items): (String, Vec<String>) = redis::cmd("ZSCAN")
        .arg("big")
        .arg(0)
        .arg("MATCH")
        .arg("member:12?")
        .arg("COUNT")
        .arg(10_000)
        .query(&mut c)
        .expect("zscan match");
    assert_eq!(next, "0");
    assert_eq!(items.len(), 20);
    let _ = raw(&mut c, &["ZADD", "small", "1.5", "a", "2", "b"]).expect("zadd");
    assert_eq!(
        raw(&mut c, &["ZSCAN", "small", "0", "COUNT", "1"]).expect("zscan small"),
        arr(vec![bulk("0"), bulks(&["a", "1.5", "b", "2"])])
    );
    assert_eq!(
        raw(&mut c, &["ZSCAN", "none", "0"]).expect("zscan none"),
        arr(vec![bulk("0"), arr(vec![])])
    );
    assert_eq!(err(&mut c, &["ZSCAN", "big", "x"]), "ERR invalid cursor");
}
