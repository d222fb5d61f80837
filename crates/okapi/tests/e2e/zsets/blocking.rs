//! BZPOPMIN, BZPOPMAX and BZMPOP: immediate answers, wake-ups, order, timeouts.

use std::thread;
use std::time::{Duration, Instant};

use okapi_testkit::TestNode;
use redis::Value;

use super::{arr, bulk, nested_bulk_pairs};
use crate::common::{err, node, raw};

/// Polls INFO until `count` clients are blocked (a readiness wait, not a timing
/// assertion).
fn wait_blocked(c: &mut redis::Connection, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let info: String = redis::cmd("INFO").arg("clients").query(c).expect("info");
        let blocked = info
            .lines()
            .find_map(|l| l.strip_prefix("blocked_clients:"))
            .and_then(|n| n.trim().parse::<usize>().ok())
            .unwrap_or(0);
        if blocked >= count {
            return;
        }
        assert!(Instant::now() < deadline, "clients never blocked");
        thread::sleep(Duration::from_millis(5));
    }
}

/// Runs `args` on a new connection in a thread.
fn spawn(n: &TestNode, args: &[&str]) -> thread::JoinHandle<Value> {
    let mut c = n.client().expect("connect");
    let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
    thread::spawn(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        raw(&mut c, &args).expect("blocking command")
    })
}

#[test]
fn bzpop_answers_at_once_when_data_is_there() {
    let n = node();
    let mut c = n.client().expect("connect");
    let mut run = |args: &[&str]| raw(&mut c, args).expect("command succeeds");
    run(&["ZADD", "b", "1", "x", "2", "y"]);
    assert_eq!(
        run(&["BZPOPMIN", "a", "b", "0"]),
        arr(vec![bulk("b"), bulk("x"), bulk("1")])
    );
    assert_eq!(
        run(&["BZPOPMAX", "a", "b", "1"]),
        arr(vec![bulk("b"), bulk("y"), bulk("2")])
    );
    assert_eq!(run(&["EXISTS", "b"]), Value::Int(0));
    run(&["ZADD", "m", "1", "p", "2", "q", "3", "r"]);
    assert_eq!(
        run(&["BZMPOP", "0", "2", "a", "m", "MAX", "COUNT", "2"]),
        arr(vec![
            bulk("m"),
            nested_bulk_pairs(&[("r", "3"), ("q", "2")])
        ])
    );
    run(&["SET", "s", "v"]);
    assert_eq!(
        err(&mut c, &["BZPOPMIN", "s", "0"]),
        "WRONGTYPE Operation against a key holding the wrong kind of value"
    );
    assert_eq!(
        err(&mut c, &["BZPOPMIN", "a", "-1"]),
        "ERR timeout is negative"
    );
    assert_eq!(
        err(&mut c, &["BZPOPMIN", "a", "x"]),
        "ERR timeout is not a float or out of range"
    );
    assert_eq!(
        err(&mut c, &["BZMPOP", "0", "0", "a", "MIN"]),
        "ERR numkeys should be greater than 0"
    );
}

#[test]
fn bzpopmin_wakes_when_a_member_arrives() {
    let n = node();
    let mut c = n.client().expect("connect");
    let waiter = spawn(&n, &["BZPOPMIN", "k1", "k2", "10"]);
    wait_blocked(&mut c, 1);
    raw(&mut c, &["ZADD", "k2", "5", "m", "6", "n"]).expect("zadd");
    assert_eq!(
        waiter.join().expect("waiter"),
        arr(vec![bulk("k2"), bulk("m"), bulk("5")])
    );
    assert_eq!(
        raw(&mut c, &["ZRANGE", "k2", "0", "-1"]).expect("zrange"),
        arr(vec![bulk("n")])
    );
}

#[test]
fn waiters_are_served_in_arrival_order() {
    let n = node();
    let mut c = n.client().expect("connect");
    let first = spawn(&n, &["BZPOPMAX", "k", "10"]);
    wait_blocked(&mut c, 1);
    let second = spawn(&n, &["BZPOPMAX", "k", "10"]);
    wait_blocked(&mut c, 2);
    raw(&mut c, &["ZADD", "k", "1", "one"]).expect("zadd");
    assert_eq!(
        first.join().expect("first"),
        arr(vec![bulk("k"), bulk("one"), bulk("1")])
    );
    wait_blocked(&mut c, 1);
    raw(&mut c, &["ZADD", "k", "2", "two"]).expect("zadd");
    assert_eq!(
        second.join().expect("second"),
        arr(vec![bulk("k"), bulk("two"), bulk("2")])
    );
}

#[test]
fn bzmpop_wakes_on_a_stored_set() {
    let n = node();
    let mut c = n.client().expect("connect");
    raw(&mut c, &["ZADD", "src", "1", "a", "2", "b", "3", "c"]).expect("zadd");
    let waiter = spawn(&n, &["BZMPOP", "10", "2", "x", "y", "MIN", "COUNT", "2"]);
    wait_blocked(&mut c, 1);
    raw(&mut c, &["ZUNIONSTORE", "y", "1", "src"]).expect("zunionstore");
    assert_eq!(
        waiter.join().expect("waiter"),
        arr(vec![
            bulk("y"),
            nested_bulk_pairs(&[("a", "1"), ("b", "2")])
        ])
    );
}

#[test]
fn timeouts_and_transactions_reply_nil() {
    let n = node();
    let mut c = n.client().expect("connect");
    assert_eq!(
        raw(&mut c, &["BZPOPMIN", "none", "0.05"]).expect("timeout"),
        Value::Nil
    );
    assert_eq!(
        raw(&mut c, &["BZMPOP", "0.05", "1", "none", "MIN"]).expect("timeout"),
        Value::Nil
    );
    let replies: Value = redis::pipe()
        .atomic()
        .cmd("BZPOPMIN")
        .arg("none")
        .arg(0)
        .cmd("ZADD")
        .arg("none")
        .arg(1)
        .arg("m")
        .query(&mut c)
        .expect("multi");
    assert_eq!(replies, arr(vec![Value::Nil, Value::Int(1)]));
}

#[test]
fn resp3_blocking_pop_scores_are_doubles() {
    let n = node();
    let mut c = n.client_resp3().expect("connect");
    raw(&mut c, &["ZADD", "k", "1.5", "m"]).expect("zadd");
    assert_eq!(
        raw(&mut c, &["BZPOPMIN", "k", "0"]).expect("bzpopmin"),
        arr(vec![bulk("k"), bulk("m"), Value::Double(1.5)])
    );
    assert_eq!(
        raw(&mut c, &["BZPOPMIN", "k", "0.05"]).expect("timeout"),
        Value::Nil
    );
}
