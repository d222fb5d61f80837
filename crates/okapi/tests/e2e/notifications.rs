//! Keyspace notifications (`notify-keyspace-events`) end to end: the sequences of
//! Redis's own pubsub suite, the event names and orders of every family, RESP3 push
//! frames, transactions and scripts, and the setting's errors.

use okapi_resp::Frame;

use crate::common::{Raw, err, node, raw};

/// A subscriber to every channel (`PSUBSCRIBE *`), read up to a marker published after
/// the commands under test, so a test sees exactly the events they raised.
struct Listener {
    sub: Raw,
    publisher: redis::Connection,
    rounds: usize,
}

impl Listener {
    fn new(n: &okapi_testkit::TestNode) -> Self {
        let mut sub = Raw::connect(n);
        let confirm = sub.call(&["PSUBSCRIBE", "*"]);
        assert!(matches!(confirm, Frame::Array(_)), "{confirm:?}");
        Listener {
            sub,
            publisher: n.client().expect("connect"),
            rounds: 0,
        }
    }

    /// The next message, as Redis's suite prints them (`pmessage * <channel> <payload>`).
    fn next(&mut self) -> (String, String) {
        let frame = self.sub.read().expect("a message");
        let Frame::Array(parts) = frame else {
            panic!("not a message: {frame:?}");
        };
        let text: Vec<String> = parts
            .iter()
            .map(|p| match p {
                Frame::Bulk(b) => String::from_utf8_lossy(b).into_owned(),
                other => panic!("not a bulk string: {other:?}"),
            })
            .collect();
        assert_eq!(text.len(), 4, "{text:?}");
        (text[2].clone(), text.join(" "))
    }

    /// Every message received since the last call.
    fn take(&mut self) -> Vec<String> {
        self.rounds += 1;
        let marker = format!("okapi-test-sync-{}", self.rounds);
        raw(&mut self.publisher, &["PUBLISH", &marker, "x"]).expect("publish marker");
        let mut seen = Vec::new();
        loop {
            let (channel, line) = self.next();
            if channel == marker {
                return seen;
            }
            seen.push(line);
        }
    }
}

fn set_events(con: &mut redis::Connection, flags: &str) {
    raw(con, &["CONFIG", "SET", "notify-keyspace-events", flags]).expect("config set");
}

fn run(con: &mut redis::Connection, commands: &[&[&str]]) {
    for args in commands {
        raw(con, args).unwrap_or_else(|e| panic!("{args:?}: {e}"));
    }
}

fn lines(expected: &[&str]) -> Vec<String> {
    expected.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn redis_suite_sequences_on_both_channels() {
    let n = node();
    let mut con = n.client().expect("connect");
    let mut l = Listener::new(&n);

    set_events(&mut con, "KA");
    run(&mut con, &[&["SET", "foo", "bar"]]);
    assert_eq!(l.take(), lines(&["pmessage * __keyspace@0__:foo set"]));

    set_events(&mut con, "EA");
    run(&mut con, &[&["SET", "foo", "bar"]]);
    assert_eq!(l.take(), lines(&["pmessage * __keyevent@0__:set foo"]));

    set_events(&mut con, "KEA");
    run(&mut con, &[&["SET", "foo", "bar"]]);
    assert_eq!(
        l.take(),
        lines(&[
            "pmessage * __keyspace@0__:foo set",
            "pmessage * __keyevent@0__:set foo"
        ])
    );

    // Masked: only list events.
    set_events(&mut con, "KEl");
    run(
        &mut con,
        &[&["SET", "foo", "bar"], &["LPUSH", "mylist", "a"]],
    );
    assert_eq!(
        l.take(),
        lines(&[
            "pmessage * __keyspace@0__:mylist lpush",
            "pmessage * __keyevent@0__:lpush mylist"
        ])
    );

    set_events(&mut con, "KEg");
    run(
        &mut con,
        &[
            &["SET", "foo", "bar"],
            &["EXPIRE", "foo", "1"],
            &["DEL", "foo"],
        ],
    );
    assert_eq!(
        l.take(),
        lines(&[
            "pmessage * __keyspace@0__:foo expire",
            "pmessage * __keyevent@0__:expire foo",
            "pmessage * __keyspace@0__:foo del",
            "pmessage * __keyevent@0__:del foo",
        ])
    );

    set_events(&mut con, "Ks");
    run(
        &mut con,
        &[
            &["SADD", "myset", "a", "b", "c", "d"],
            &["SREM", "myset", "x"],
            &["SADD", "myset", "x", "y", "z"],
            &["SREM", "myset", "x"],
        ],
    );
    assert_eq!(
        l.take(),
        lines(&[
            "pmessage * __keyspace@0__:myset sadd",
            "pmessage * __keyspace@0__:myset sadd",
            "pmessage * __keyspace@0__:myset srem",
        ])
    );

    set_events(&mut con, "Kh");
    run(
        &mut con,
        &[
            &["HMSET", "myhash", "yes", "1", "no", "0"],
            &["HINCRBY", "myhash", "yes", "10"],
        ],
    );
    assert_eq!(
        l.take(),
        lines(&[
            "pmessage * __keyspace@0__:myhash hset",
            "pmessage * __keyspace@0__:myhash hincrby",
        ])
    );
}

#[test]
fn stream_group_events_follow_redis() {
    let n = node();
    let mut con = n.client().expect("connect");
    let mut l = Listener::new(&n);
    set_events(&mut con, "Kt");
    run(
        &mut con,
        &[
            &["XGROUP", "CREATE", "mystream", "mygroup", "$", "MKSTREAM"],
            &["XGROUP", "CREATECONSUMER", "mystream", "mygroup", "Bob"],
            &["XADD", "mystream", "1", "field1", "A"],
            &[
                "XREADGROUP",
                "GROUP",
                "mygroup",
                "Alice",
                "STREAMS",
                "mystream",
                ">",
            ],
            &["XCLAIM", "mystream", "mygroup", "Mike", "0", "1-0", "FORCE"],
            // Lee does not exist, Bob does: neither raises an event.
            &["XGROUP", "DELCONSUMER", "mystream", "mygroup", "Lee"],
            &["XAUTOCLAIM", "mystream", "mygroup", "Bob", "0", "1-0"],
            &["XGROUP", "DELCONSUMER", "mystream", "mygroup", "Bob"],
        ],
    );
    assert_eq!(
        l.take(),
        lines(&[
            "pmessage * __keyspace@0__:mystream xgroup-create",
            "pmessage * __keyspace@0__:mystream xgroup-createconsumer",
            "pmessage * __keyspace@0__:mystream xadd",
            "pmessage * __keyspace@0__:mystream xgroup-createconsumer",
            "pmessage * __keyspace@0__:mystream xgroup-createconsumer",
            "pmessage * __keyspace@0__:mystream xgroup-delconsumer",
        ])
    );
}

#[test]
fn expired_and_new_key_events() {
    let n = node();
    let mut con = n.client().expect("connect");
    let mut l = Listener::new(&n);

    set_events(&mut con, "Ex");
    run(&mut con, &[&["PSETEX", "foo", "100", "1"]]);
    // Active expiry removes the key through the log, which raises the event; read it
    // as it comes, however long the expiry cycle takes.
    assert_eq!(
        l.next().1,
        "pmessage * __keyevent@0__:expired foo".to_owned()
    );
    assert_eq!(l.take(), Vec::<String>::new());

    set_events(&mut con, "En");
    run(
        &mut con,
        &[
            &["SET", "foo", "bar"],
            &["SET", "foo", "baz"],
            &["SET", "bar", "bar"],
            // Created and left empty (nothing added): never existed, no event.
            &["ZADD", "zs", "XX", "1", "a"],
        ],
    );
    assert_eq!(
        l.take(),
        lines(&[
            "pmessage * __keyevent@0__:new foo",
            "pmessage * __keyevent@0__:new bar"
        ])
    );
}

#[test]
fn every_family_names_its_events_as_redis() {
    let n = node();
    let mut con = n.client().expect("connect");
    let mut l = Listener::new(&n);
    set_events(&mut con, "EA");
    let cases: &[(&[&str], &[&str])] = &[
        (&["SET", "s", "1", "EX", "100"], &["set s", "expire s"]),
        (&["INCRBY", "s", "2"], &["incrby s"]),
        (&["INCRBYFLOAT", "s", "0.5"], &["incrbyfloat s"]),
        (&["APPEND", "s", "x"], &["append s"]),
        (&["SETRANGE", "s", "0", "9"], &["setrange s"]),
        (&["PERSIST", "s"], &["persist s"]),
        (&["PERSIST", "s"], &[]),
        (&["GETDEL", "s"], &["del s"]),
        (&["MSET", "a", "1", "b", "2"], &["set a", "set b"]),
        (&["SET", "a", "1", "NX"], &[]),
        (&["RENAME", "a", "c"], &["rename_from a", "rename_to c"]),
        (&["COPY", "c", "d"], &["copy_to d"]),
        (&["DEL", "d"], &["del d"]),
        (&["EXPIRE", "c", "0"], &["del c"]),
        (&["RPUSH", "l", "a", "b", "c"], &["rpush l"]),
        (&["LPUSHX", "nol", "a"], &[]),
        (&["LSET", "l", "0", "z"], &["lset l"]),
        (&["LINSERT", "l", "BEFORE", "b", "y"], &["linsert l"]),
        (&["LINSERT", "l", "BEFORE", "nope", "y"], &[]),
        (&["LREM", "l", "0", "y"], &["lrem l"]),
        (&["LTRIM", "l", "0", "1"], &["ltrim l"]),
        // The push on the destination, then the pop, then the emptied source.
        (
            &["LMOVE", "l", "l2", "LEFT", "RIGHT"],
            &["rpush l2", "lpop l"],
        ),
        (&["RPOPLPUSH", "l", "l2"], &["lpush l2", "rpop l", "del l"]),
        (
            &["LMPOP", "1", "l2", "LEFT", "COUNT", "5"],
            &["lpop l2", "del l2"],
        ),
        (&["SADD", "s1", "a", "b"], &["sadd s1"]),
        (&["SMOVE", "s1", "s2", "a"], &["srem s1", "sadd s2"]),
        (&["SUNIONSTORE", "s3", "s1", "s2"], &["sunionstore s3"]),
        (&["SINTERSTORE", "s3", "s1", "s2"], &["del s3"]),
        (&["SPOP", "s1"], &["spop s1", "del s1"]),
        (&["HSET", "h", "f", "1"], &["hset h"]),
        (&["HSETNX", "h", "f", "2"], &[]),
        (&["HINCRBYFLOAT", "h", "f", "1.5"], &["hincrbyfloat h"]),
        (&["HDEL", "h", "f"], &["hdel h", "del h"]),
        (&["ZADD", "z", "1", "a", "2", "b", "3", "c"], &["zadd z"]),
        (&["ZINCRBY", "z", "1", "a"], &["zincr z"]),
        (&["ZADD", "z", "1", "b", "2", "a"], &["zadd z"]),
        (&["ZREMRANGEBYRANK", "z", "0", "0"], &["zremrangebyrank z"]),
        (&["ZREMRANGEBYSCORE", "z", "100", "200"], &[]),
        (&["ZRANGESTORE", "z2", "z", "0", "-1"], &["zrangestore z2"]),
        (&["ZUNIONSTORE", "z3", "2", "z", "z2"], &["zunionstore z3"]),
        (&["ZPOPMAX", "z"], &["zpopmax z"]),
        (&["ZPOPMIN", "z"], &["zpopmin z", "del z"]),
        (&["ZREM", "z2", "a", "c"], &["zrem z2", "del z2"]),
        (&["SETBIT", "bits", "7", "1"], &["setbit bits"]),
        (&["SETBIT", "bits", "7", "1"], &[]),
        (&["BITFIELD", "bits", "SET", "u8", "0", "1"], &[]),
        (
            &["BITFIELD", "bits", "SET", "u8", "0", "2"],
            &["setbit bits"],
        ),
        (&["BITOP", "NOT", "bits2", "bits"], &["set bits2"]),
        (&["PFADD", "hll", "a"], &["pfadd hll"]),
        (&["PFADD", "hll", "a"], &[]),
        (&["PFMERGE", "hll2", "hll"], &["pfadd hll2"]),
        (&["XADD", "x", "MAXLEN", "1", "*", "f", "v"], &["xadd x"]),
        (
            &["XADD", "x", "MAXLEN", "1", "*", "f", "v"],
            &["xadd x", "xtrim x"],
        ),
        (&["XSETID", "x", "999999999999999-0"], &["xsetid x"]),
        (
            &["SORT", "z3", "ALPHA", "STORE", "sorted"],
            &["sortstore sorted"],
        ),
        (
            &["GEOADD", "g", "13.361389", "38.115556", "Palermo"],
            &["zadd g"],
        ),
        (
            &[
                "GEOSEARCHSTORE",
                "g2",
                "g",
                "FROMLONLAT",
                "15",
                "37",
                "BYRADIUS",
                "200",
                "km",
            ],
            &["geosearchstore g2"],
        ),
        (&["TABLE.SET", "t", "f", "v"], &["table.set t"]),
        (&["TABLE.DEL", "t", "f"], &["table.del t", "del t"]),
        (&["DEL", "nothing", "sorted"], &["del sorted"]),
    ];
    for (args, want) in cases {
        run(&mut con, &[args]);
        let got = l.take();
        let want: Vec<String> = want
            .iter()
            .map(|w| {
                let (event, key) = w.split_once(' ').expect("event key");
                format!("pmessage * __keyevent@0__:{event} {key}")
            })
            .collect();
        assert_eq!(got, want, "{args:?}");
    }
    // MOVE announced move_to in the target namespace.
    set_events(&mut con, "Eg");
    run(&mut con, &[&["SET", "m", "1"], &["MOVE", "m", "3"]]);
    assert_eq!(
        l.take(),
        lines(&[
            "pmessage * __keyevent@0__:move_from m",
            "pmessage * __keyevent@3__:move_to m"
        ])
    );
}

#[test]
fn transactions_and_scripts_announce_each_write_in_order() {
    let n = node();
    let mut con = n.client().expect("connect");
    let mut l = Listener::new(&n);
    set_events(&mut con, "KA");
    let replies: redis::Value = redis::pipe()
        .atomic()
        .cmd("SET")
        .arg("k")
        .arg("1")
        .cmd("SELECT")
        .arg("2")
        .cmd("LPUSH")
        .arg("k")
        .arg("x")
        .cmd("SELECT")
        .arg("0")
        .cmd("INCR")
        .arg("k")
        .query(&mut con)
        .expect("exec");
    assert!(
        matches!(replies, redis::Value::Array(ref r) if r.len() == 5),
        "{replies:?}"
    );
    assert_eq!(
        l.take(),
        lines(&[
            "pmessage * __keyspace@0__:k set",
            "pmessage * __keyspace@2__:k lpush",
            "pmessage * __keyspace@0__:k incrby",
        ])
    );
    raw(
        &mut con,
        &[
            "EVAL",
            "redis.call('HSET', KEYS[1], 'a', 1); redis.call('DEL', KEYS[1]); return 1",
            "1",
            "h",
        ],
    )
    .expect("eval");
    assert_eq!(
        l.take(),
        lines(&[
            "pmessage * __keyspace@0__:h hset",
            "pmessage * __keyspace@0__:h del"
        ])
    );
    // A read-only script and a failed write raise nothing.
    raw(
        &mut con,
        &["EVAL", "return redis.call('GET', KEYS[1])", "1", "k"],
    )
    .expect("eval");
    assert!(err(&mut con, &["LPUSH", "k", "x"]).starts_with("WRONGTYPE"));
    assert_eq!(l.take(), Vec::<String>::new());
}

#[test]
fn resp3_subscribers_get_push_frames() {
    let n = node();
    let mut con = n.client().expect("connect");
    set_events(&mut con, "KEA");
    let mut sub = Raw::connect(&n);
    sub.call(&["HELLO", "3"]);
    sub.command(&["PSUBSCRIBE", "__key*__:*"]);
    let confirm = sub.read().expect("psubscribe confirmation");
    assert!(matches!(confirm, Frame::Push(_)), "{confirm:?}");
    raw(&mut con, &["SET", "foo", "bar"]).expect("set");
    let push = |channel: &str, payload: &str| {
        Frame::Push(vec![
            crate::common::bulk("pmessage"),
            crate::common::bulk("__key*__:*"),
            crate::common::bulk(channel),
            crate::common::bulk(payload),
        ])
    };
    assert_eq!(sub.read(), Some(push("__keyspace@0__:foo", "set")));
    assert_eq!(sub.read(), Some(push("__keyevent@0__:set", "foo")));
}

#[test]
fn the_setting_reads_back_in_redis_form_and_refuses_unknown_classes() {
    let n = node();
    let mut con = n.client().expect("connect");
    for (set, shown) in [
        ("gKE", "gKE"),
        ("$lshzxeKE", "$lshzxeKE"),
        ("KA", "AK"),
        ("EA", "AE"),
        ("", ""),
    ] {
        set_events(&mut con, set);
        let got: Vec<String> = redis::cmd("CONFIG")
            .arg("GET")
            .arg("notify-keyspace-events")
            .query(&mut con)
            .expect("config get");
        assert_eq!(
            got,
            vec!["notify-keyspace-events".to_owned(), shown.to_owned()]
        );
    }
    let e = err(
        &mut con,
        &["CONFIG", "SET", "notify-keyspace-events", "KEZ"],
    );
    assert!(e.contains("Invalid event class character"), "{e}");
    // Off: writes announce nothing.
    let mut l = Listener::new(&n);
    run(&mut con, &[&["SET", "quiet", "1"], &["DEL", "quiet"]]);
    assert_eq!(l.take(), Vec::<String>::new());
    assert_eq!(l.rounds, 1);
}
