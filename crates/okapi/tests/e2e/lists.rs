//! List commands end to end, blocking commands included: replies, Redis 7 error texts,
//! wake-ups across connections, FIFO order, timeouts, MULTI, CLIENT UNBLOCK and
//! pipelining behind a blocked command.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::Duration;

use okapi_testkit::TestNode;
use redis::Value;

use crate::common::{err, joined, node, raw, spawn, wait_blocked};

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

fn bulk(s: &str) -> Value {
    Value::BulkString(s.as_bytes().to_vec())
}

fn bulks(items: &[&str]) -> Value {
    Value::Array(items.iter().map(|s| bulk(s)).collect())
}

fn ok(con: &mut redis::Connection, args: &[&str]) -> Value {
    raw(con, args).unwrap_or_else(|e| panic!("{args:?} failed: {e}"))
}

fn int(con: &mut redis::Connection, args: &[&str]) -> i64 {
    match ok(con, args) {
        Value::Int(n) => n,
        other => panic!("{args:?} replied {other:?}, not an integer"),
    }
}

fn lrange(con: &mut redis::Connection, key: &str) -> Value {
    ok(con, &["LRANGE", key, "0", "-1"])
}

/// A bare TCP connection for checks the `redis` crate hides: RESP2's two nils,
/// pipelining, and "no reply yet".
struct RawCon {
    stream: TcpStream,
}

impl RawCon {
    fn connect(n: &TestNode) -> Self {
        let stream = TcpStream::connect(("127.0.0.1", n.port)).expect("raw connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("read timeout");
        RawCon { stream }
    }

    fn send(&mut self, commands: &[&[&str]]) {
        let mut out = Vec::new();
        for args in commands {
            out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
            for a in *args {
                out.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
            }
        }
        self.stream.write_all(&out).expect("raw write");
    }

    /// Reads exactly `expected`'s length and compares.
    fn expect(&mut self, expected: &str) {
        let mut buf = vec![0; expected.len()];
        self.stream.read_exact(&mut buf).expect("raw read");
        assert_eq!(String::from_utf8_lossy(&buf), expected);
    }

    fn roundtrip(&mut self, args: &[&str], expected: &str) {
        self.send(&[args]);
        self.expect(expected);
    }

    /// True when nothing arrives within a short wait.
    fn silent(&mut self) -> bool {
        self.stream
            .set_read_timeout(Some(Duration::from_millis(100)))
            .expect("short timeout");
        let mut byte = [0u8; 1];
        let silent = match self.stream.read(&mut byte) {
            Err(e) => matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
            Ok(_) => false,
        };
        self.stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("read timeout");
        silent
    }
}

fn client_id(con: &mut redis::Connection) -> String {
    int(con, &["CLIENT", "ID"]).to_string()
}

#[test]
fn push_pop_length_and_index() {
    let n = node();
    let mut c = n.client().expect("connect");
    assert_eq!(int(&mut c, &["LPUSH", "l", "a", "b", "c", "d"]), 4);
    assert_eq!(int(&mut c, &["RPUSH", "l", "0", "1", "2", "3"]), 8);
    assert_eq!(
        lrange(&mut c, "l"),
        bulks(&["d", "c", "b", "a", "0", "1", "2", "3"])
    );
    assert_eq!(int(&mut c, &["LLEN", "l"]), 8);
    assert_eq!(int(&mut c, &["LLEN", "missing"]), 0);
    assert_eq!(ok(&mut c, &["LINDEX", "l", "0"]), bulk("d"));
    assert_eq!(ok(&mut c, &["LINDEX", "l", "-1"]), bulk("3"));
    assert_eq!(ok(&mut c, &["LINDEX", "l", "8"]), Value::Nil);
    assert_eq!(ok(&mut c, &["LINDEX", "l", "-9"]), Value::Nil);
    assert_eq!(ok(&mut c, &["LINDEX", "missing", "0"]), Value::Nil);
    // Redis looks the key up before it parses the index.
    assert_eq!(ok(&mut c, &["LINDEX", "missing", "x"]), Value::Nil);
    assert_eq!(
        err(&mut c, &["LINDEX", "l", "x"]),
        "ERR value is not an integer or out of range"
    );

    assert_eq!(ok(&mut c, &["LPOP", "l"]), bulk("d"));
    assert_eq!(ok(&mut c, &["RPOP", "l"]), bulk("3"));
    assert_eq!(ok(&mut c, &["LPOP", "l", "2"]), bulks(&["c", "b"]));
    assert_eq!(ok(&mut c, &["RPOP", "l", "2"]), bulks(&["2", "1"]));
    assert_eq!(ok(&mut c, &["LPOP", "l", "0"]), bulks(&[]));
    assert_eq!(ok(&mut c, &["RPOP", "l", "100"]), bulks(&["0", "a"]));
    assert_eq!(
        int(&mut c, &["EXISTS", "l"]),
        0,
        "an emptied list is deleted"
    );
    assert_eq!(ok(&mut c, &["LPOP", "l"]), Value::Nil);
    assert_eq!(
        err(&mut c, &["LPOP", "l", "-1"]),
        "ERR value is out of range, must be positive"
    );
    assert_eq!(
        err(&mut c, &["RPOP", "l", "x"]),
        "ERR value is out of range, must be positive"
    );
    assert_eq!(
        err(&mut c, &["LPOP", "l", "1", "1"]),
        "ERR wrong number of arguments for 'lpop' command"
    );
    assert_eq!(
        err(&mut c, &["RPUSH", "l"]),
        "ERR wrong number of arguments for 'rpush' command"
    );

    assert_eq!(int(&mut c, &["LPUSHX", "x", "a"]), 0);
    assert_eq!(int(&mut c, &["RPUSHX", "x", "a"]), 0);
    assert_eq!(int(&mut c, &["EXISTS", "x"]), 0);
    assert_eq!(int(&mut c, &["RPUSH", "x", "b", "c"]), 2);
    assert_eq!(int(&mut c, &["RPUSHX", "x", "d"]), 3);
    assert_eq!(int(&mut c, &["LPUSHX", "x", "a", "0"]), 5);
    assert_eq!(lrange(&mut c, "x"), bulks(&["0", "a", "b", "c", "d"]));
    assert_eq!(
        ok(&mut c, &["TYPE", "x"]),
        Value::SimpleString("list".into())
    );
}

#[test]
fn nil_kinds_match_redis_in_resp2_and_resp3() {
    let n = node();
    let mut r = RawCon::connect(&n);
    r.roundtrip(&["LPOP", "none"], "$-1\r\n");
    r.roundtrip(&["RPOP", "none"], "$-1\r\n");
    r.roundtrip(&["LPOP", "none", "0"], "*-1\r\n");
    r.roundtrip(&["RPOP", "none", "1"], "*-1\r\n");
    r.roundtrip(&["LMPOP", "1", "none", "LEFT"], "*-1\r\n");
    r.roundtrip(&["LPOS", "none", "a"], "$-1\r\n");
    r.roundtrip(&["LPOS", "none", "a", "COUNT", "0"], "*0\r\n");
    r.roundtrip(&["LMOVE", "none", "d", "LEFT", "LEFT"], "$-1\r\n");
    r.roundtrip(&["BLPOP", "none", "0.01"], "*-1\r\n");
    r.roundtrip(&["BLMOVE", "none", "d", "LEFT", "LEFT", "0.01"], "*-1\r\n");
    r.roundtrip(&["RPUSH", "l", "z"], ":1\r\n");
    r.roundtrip(&["LPOP", "l", "0"], "*0\r\n");
    r.roundtrip(&["LRANGE", "none", "0", "-1"], "*0\r\n");
    r.roundtrip(&["RPOP", "l", "5"], "*1\r\n$1\r\nz\r\n");

    let mut c3 = n.client_resp3().expect("resp3");
    assert_eq!(ok(&mut c3, &["LPOP", "none", "1"]), Value::Nil);
    assert_eq!(ok(&mut c3, &["LPOP", "none"]), Value::Nil);
    assert_eq!(ok(&mut c3, &["LMPOP", "1", "none", "RIGHT"]), Value::Nil);
    assert_eq!(ok(&mut c3, &["BLPOP", "none", "0.01"]), Value::Nil);
    assert_eq!(int(&mut c3, &["RPUSH", "l", "a", "b"]), 2);
    assert_eq!(
        ok(&mut c3, &["BLPOP", "none", "l", "0"]),
        Value::Array(vec![bulk("l"), bulk("a")])
    );
    assert_eq!(
        ok(&mut c3, &["LMPOP", "1", "l", "LEFT", "COUNT", "5"]),
        Value::Array(vec![bulk("l"), bulks(&["b"])])
    );
}

#[test]
fn every_list_command_rejects_other_types() {
    let n = node();
    let mut c = n.client().expect("connect");
    let _: () = redis::cmd("SET")
        .arg("s")
        .arg("v")
        .query(&mut c)
        .expect("set");
    let commands: &[&[&str]] = &[
        &["LPUSH", "s", "a"],
        &["RPUSH", "s", "a"],
        &["LPUSHX", "s", "a"],
        &["RPUSHX", "s", "a"],
        &["LPOP", "s"],
        &["RPOP", "s", "2"],
        &["LLEN", "s"],
        &["LRANGE", "s", "0", "-1"],
        &["LINDEX", "s", "0"],
        &["LSET", "s", "0", "a"],
        &["LINSERT", "s", "BEFORE", "a", "b"],
        &["LREM", "s", "0", "a"],
        &["LTRIM", "s", "0", "1"],
        &["LPOS", "s", "a"],
        &["LMOVE", "s", "d", "LEFT", "RIGHT"],
        &["RPOPLPUSH", "s", "d"],
        &["LMPOP", "2", "missing", "s", "LEFT"],
        &["BLPOP", "missing", "s", "0"],
        &["BRPOP", "s", "0"],
        &["BLMOVE", "s", "d", "LEFT", "RIGHT", "0"],
        &["BRPOPLPUSH", "s", "d", "0"],
        &["BLMPOP", "0", "2", "missing", "s", "RIGHT", "COUNT", "3"],
    ];
    for args in commands {
        assert_eq!(err(&mut c, args), WRONGTYPE, "{args:?}");
    }
    assert_eq!(ok(&mut c, &["GET", "s"]), bulk("v"));
    assert_eq!(int(&mut c, &["EXISTS", "d"]), 0);
}

#[test]
fn lset_linsert_lrem_and_ltrim() {
    let n = node();
    let mut c = n.client().expect("connect");
    assert_eq!(err(&mut c, &["LSET", "l", "0", "x"]), "ERR no such key");
    // The key is checked before the index, as in Redis.
    assert_eq!(err(&mut c, &["LSET", "l", "x", "x"]), "ERR no such key");
    int(&mut c, &["RPUSH", "l", "a", "b", "c"]);
    assert_eq!(ok(&mut c, &["LSET", "l", "1", "B"]), Value::Okay);
    assert_eq!(ok(&mut c, &["LSET", "l", "-1", "C"]), Value::Okay);
    assert_eq!(lrange(&mut c, "l"), bulks(&["a", "B", "C"]));
    assert_eq!(
        err(&mut c, &["LSET", "l", "3", "x"]),
        "ERR index out of range"
    );
    assert_eq!(
        err(&mut c, &["LSET", "l", "-4", "x"]),
        "ERR index out of range"
    );
    assert_eq!(
        err(&mut c, &["LSET", "l", "x", "x"]),
        "ERR value is not an integer or out of range"
    );

    assert_eq!(int(&mut c, &["LINSERT", "l", "BEFORE", "B", "ab"]), 4);
    assert_eq!(int(&mut c, &["LINSERT", "l", "after", "C", "D"]), 5);
    assert_eq!(int(&mut c, &["LINSERT", "l", "AFTER", "zz", "q"]), -1);
    assert_eq!(int(&mut c, &["LINSERT", "missing", "BEFORE", "a", "b"]), 0);
    assert_eq!(
        err(&mut c, &["LINSERT", "l", "aft3r", "a", "b"]),
        "ERR syntax error"
    );
    assert_eq!(lrange(&mut c, "l"), bulks(&["a", "ab", "B", "C", "D"]));

    int(&mut c, &["DEL", "r"]);
    int(&mut c, &["RPUSH", "r", "x", "a", "x", "b", "x", "c", "x"]);
    assert_eq!(int(&mut c, &["LREM", "r", "2", "x"]), 2);
    assert_eq!(lrange(&mut c, "r"), bulks(&["a", "b", "x", "c", "x"]));
    assert_eq!(int(&mut c, &["LREM", "r", "-1", "x"]), 1);
    assert_eq!(lrange(&mut c, "r"), bulks(&["a", "b", "x", "c"]));
    assert_eq!(int(&mut c, &["LREM", "r", "0", "nothing"]), 0);
    assert_eq!(int(&mut c, &["LREM", "missing", "0", "x"]), 0);
    assert_eq!(
        err(&mut c, &["LREM", "r", "x", "a"]),
        "ERR value is not an integer or out of range"
    );
    int(&mut c, &["DEL", "r"]);
    int(&mut c, &["RPUSH", "r", "x", "x"]);
    assert_eq!(int(&mut c, &["LREM", "r", "0", "x"]), 2);
    assert_eq!(int(&mut c, &["EXISTS", "r"]), 0);

    int(&mut c, &["RPUSH", "t", "1", "2", "3", "4", "5"]);
    assert_eq!(ok(&mut c, &["LTRIM", "t", "1", "-2"]), Value::Okay);
    assert_eq!(lrange(&mut c, "t"), bulks(&["2", "3", "4"]));
    assert_eq!(ok(&mut c, &["LTRIM", "t", "-100", "100"]), Value::Okay);
    assert_eq!(lrange(&mut c, "t"), bulks(&["2", "3", "4"]));
    assert_eq!(ok(&mut c, &["LTRIM", "t", "0", "-10"]), Value::Okay);
    assert_eq!(int(&mut c, &["EXISTS", "t"]), 0);
    assert_eq!(ok(&mut c, &["LTRIM", "missing", "0", "1"]), Value::Okay);
    assert_eq!(
        err(&mut c, &["LTRIM", "t", "0", "x"]),
        "ERR value is not an integer or out of range"
    );

    int(&mut c, &["RPUSH", "g", "a", "b", "c", "d", "e"]);
    assert_eq!(ok(&mut c, &["LRANGE", "g", "1", "2"]), bulks(&["b", "c"]));
    assert_eq!(
        ok(&mut c, &["LRANGE", "g", "-2", "100"]),
        bulks(&["d", "e"])
    );
    assert_eq!(ok(&mut c, &["LRANGE", "g", "3", "1"]), bulks(&[]));
    assert_eq!(ok(&mut c, &["LRANGE", "g", "0", "-6"]), bulks(&[]));
    assert_eq!(ok(&mut c, &["LRANGE", "g", "5", "10"]), bulks(&[]));
    assert_eq!(ok(&mut c, &["LRANGE", "missing", "0", "-1"]), bulks(&[]));
}

#[test]
fn lpos_rank_count_and_maxlen() {
    let n = node();
    let mut c = n.client().expect("connect");
    int(
        &mut c,
        &["RPUSH", "l", "a", "b", "c", "d", "2", "3", "c", "c"],
    );
    assert_eq!(int(&mut c, &["LPOS", "l", "a"]), 0);
    assert_eq!(int(&mut c, &["LPOS", "l", "c"]), 2);
    assert_eq!(int(&mut c, &["LPOS", "l", "c", "RANK", "2"]), 6);
    assert_eq!(ok(&mut c, &["LPOS", "l", "c", "RANK", "4"]), Value::Nil);
    assert_eq!(int(&mut c, &["LPOS", "l", "c", "RANK", "-1"]), 7);
    assert_eq!(int(&mut c, &["LPOS", "l", "c", "RANK", "-2"]), 6);
    let ints = |v: &[i64]| Value::Array(v.iter().map(|&i| Value::Int(i)).collect());
    assert_eq!(
        ok(&mut c, &["LPOS", "l", "c", "COUNT", "0"]),
        ints(&[2, 6, 7])
    );
    assert_eq!(ok(&mut c, &["LPOS", "l", "c", "COUNT", "2"]), ints(&[2, 6]));
    assert_eq!(
        ok(&mut c, &["LPOS", "l", "c", "COUNT", "0", "RANK", "2"]),
        ints(&[6, 7])
    );
    assert_eq!(
        ok(&mut c, &["LPOS", "l", "c", "COUNT", "2", "RANK", "-1"]),
        ints(&[7, 6])
    );
    assert_eq!(
        ok(&mut c, &["LPOS", "l", "c", "COUNT", "0", "MAXLEN", "3"]),
        ints(&[2])
    );
    assert_eq!(
        ok(
            &mut c,
            &["LPOS", "l", "c", "COUNT", "0", "MAXLEN", "3", "RANK", "-1"]
        ),
        ints(&[7, 6])
    );
    assert_eq!(ok(&mut c, &["LPOS", "l", "x", "COUNT", "2"]), ints(&[]));
    assert_eq!(
        ok(&mut c, &["LPOS", "missing", "c", "COUNT", "0", "RANK", "2"]),
        ints(&[])
    );
    assert!(err(&mut c, &["LPOS", "l", "c", "RANK", "0"]).starts_with(
        "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... \
             or use negative to start from the end of the list"
    ));
    assert!(
        err(&mut c, &["LPOS", "l", "c", "RANK", "-9223372036854775808"])
            .starts_with("ERR value is out of range")
    );
    assert_eq!(
        err(&mut c, &["LPOS", "l", "c", "COUNT", "-1"]),
        "ERR COUNT can't be negative"
    );
    assert_eq!(
        err(&mut c, &["LPOS", "l", "c", "MAXLEN", "-1"]),
        "ERR MAXLEN can't be negative"
    );
    assert_eq!(err(&mut c, &["LPOS", "l", "c", "RANK"]), "ERR syntax error");
    assert_eq!(
        err(&mut c, &["LPOS", "l", "c", "WHAT", "1"]),
        "ERR syntax error"
    );
}

#[test]
fn lmove_and_rpoplpush() {
    let n = node();
    let mut c = n.client().expect("connect");
    int(&mut c, &["RPUSH", "src", "a", "b", "c", "d"]);
    assert_eq!(ok(&mut c, &["RPOPLPUSH", "src", "dst"]), bulk("d"));
    assert_eq!(
        ok(&mut c, &["LMOVE", "src", "dst", "LEFT", "RIGHT"]),
        bulk("a")
    );
    assert_eq!(
        ok(&mut c, &["LMOVE", "src", "dst", "right", "left"]),
        bulk("c")
    );
    assert_eq!(lrange(&mut c, "src"), bulks(&["b"]));
    assert_eq!(lrange(&mut c, "dst"), bulks(&["c", "d", "a"]));
    assert_eq!(
        ok(&mut c, &["LMOVE", "src", "dst", "LEFT", "LEFT"]),
        bulk("b")
    );
    assert_eq!(int(&mut c, &["EXISTS", "src"]), 0);
    assert_eq!(ok(&mut c, &["RPOPLPUSH", "src", "dst"]), Value::Nil);
    assert_eq!(int(&mut c, &["EXISTS", "src"]), 0);

    // Same source and destination: a rotation.
    int(&mut c, &["RPUSH", "r", "a", "b", "c"]);
    assert_eq!(ok(&mut c, &["RPOPLPUSH", "r", "r"]), bulk("c"));
    assert_eq!(lrange(&mut c, "r"), bulks(&["c", "a", "b"]));
    assert_eq!(ok(&mut c, &["LMOVE", "r", "r", "LEFT", "RIGHT"]), bulk("c"));
    assert_eq!(lrange(&mut c, "r"), bulks(&["a", "b", "c"]));
    assert_eq!(ok(&mut c, &["LMOVE", "r", "r", "LEFT", "LEFT"]), bulk("a"));
    assert_eq!(lrange(&mut c, "r"), bulks(&["a", "b", "c"]));
    int(&mut c, &["RPUSH", "one", "x"]);
    assert_eq!(
        ok(&mut c, &["LMOVE", "one", "one", "RIGHT", "LEFT"]),
        bulk("x")
    );
    assert_eq!(lrange(&mut c, "one"), bulks(&["x"]));

    // A wrong destination type leaves the source untouched; a missing source wins.
    let _: () = redis::cmd("SET")
        .arg("str")
        .arg("v")
        .query(&mut c)
        .expect("set");
    assert_eq!(err(&mut c, &["RPOPLPUSH", "r", "str"]), WRONGTYPE);
    assert_eq!(lrange(&mut c, "r"), bulks(&["a", "b", "c"]));
    assert_eq!(ok(&mut c, &["RPOPLPUSH", "missing", "str"]), Value::Nil);
    assert_eq!(
        err(&mut c, &["LMOVE", "r", "dst", "UP", "LEFT"]),
        "ERR syntax error"
    );
    assert_eq!(
        err(&mut c, &["LMOVE", "r", "dst", "LEFT"]),
        "ERR wrong number of arguments for 'lmove' command"
    );
}

#[test]
fn lmpop_pops_from_the_first_non_empty_list() {
    let n = node();
    let mut c = n.client().expect("connect");
    int(&mut c, &["RPUSH", "l", "a", "b", "c", "d", "e", "f"]);
    assert_eq!(
        ok(&mut c, &["LMPOP", "2", "l", "l", "LEFT", "COUNT", "2"]),
        Value::Array(vec![bulk("l"), bulks(&["a", "b"])])
    );
    assert_eq!(
        ok(&mut c, &["LMPOP", "2", "l", "l", "right", "count", "2"]),
        Value::Array(vec![bulk("l"), bulks(&["f", "e"])])
    );
    assert_eq!(
        ok(&mut c, &["LMPOP", "2", "none", "l", "LEFT"]),
        Value::Array(vec![bulk("l"), bulks(&["c"])])
    );
    assert_eq!(
        ok(&mut c, &["LMPOP", "1", "l", "RIGHT", "COUNT", "10"]),
        Value::Array(vec![bulk("l"), bulks(&["d"])])
    );
    assert_eq!(int(&mut c, &["EXISTS", "l"]), 0);
    assert_eq!(ok(&mut c, &["LMPOP", "2", "l", "m", "LEFT"]), Value::Nil);

    let arity = "ERR wrong number of arguments for 'lmpop' command";
    assert_eq!(err(&mut c, &["LMPOP", "1", "l"]), arity);
    for numkeys in ["0", "a", "-1"] {
        assert_eq!(
            err(&mut c, &["LMPOP", numkeys, "l", "LEFT"]),
            "ERR numkeys should be greater than 0"
        );
    }
    for bad in [
        &["LMPOP", "1", "l", "bad_where"][..],
        &["LMPOP", "1", "l", "LEFT", "bar_arg"],
        &["LMPOP", "1", "l", "RIGHT", "LEFT"],
        &["LMPOP", "1", "l", "COUNT"],
        &["LMPOP", "1", "l", "LEFT", "COUNT", "1", "COUNT", "2"],
        &["LMPOP", "2", "l", "l2", "bad_arg"],
        &["LMPOP", "3", "l", "LEFT"],
    ] {
        assert_eq!(err(&mut c, bad), "ERR syntax error", "{bad:?}");
    }
    for count in ["0", "a", "-1"] {
        assert_eq!(
            err(&mut c, &["LMPOP", "1", "l", "LEFT", "COUNT", count]),
            "ERR count should be greater than 0"
        );
    }
    let keys = ok(
        &mut c,
        &["COMMAND", "GETKEYS", "LMPOP", "2", "a", "b", "LEFT"],
    );
    assert_eq!(keys, bulks(&["a", "b"]));
}

#[test]
fn blocking_commands_answer_at_once_when_data_exists() {
    let n = node();
    let mut c = n.client().expect("connect");
    int(&mut c, &["RPUSH", "b", "1", "2", "3", "4", "5", "6"]);
    assert_eq!(
        ok(&mut c, &["BLPOP", "a", "b", "0"]),
        Value::Array(vec![bulk("b"), bulk("1")])
    );
    assert_eq!(
        ok(&mut c, &["BRPOP", "a", "b", "1"]),
        Value::Array(vec![bulk("b"), bulk("6")])
    );
    assert_eq!(
        ok(
            &mut c,
            &["BLMPOP", "0", "2", "a", "b", "RIGHT", "COUNT", "2"]
        ),
        Value::Array(vec![bulk("b"), bulks(&["5", "4"])])
    );
    assert_eq!(ok(&mut c, &["BRPOPLPUSH", "b", "d", "0"]), bulk("3"));
    assert_eq!(
        ok(&mut c, &["BLMOVE", "b", "d", "LEFT", "RIGHT", "0"]),
        bulk("2")
    );
    assert_eq!(int(&mut c, &["EXISTS", "b"]), 0);
    assert_eq!(lrange(&mut c, "d"), bulks(&["3", "2"]));
    assert_eq!(
        ok(&mut c, &["BLPOP", "d", "d", "0"]),
        Value::Array(vec![bulk("d"), bulk("3")])
    );

    assert_eq!(
        err(&mut c, &["BLPOP", "a", "-1"]),
        "ERR timeout is negative"
    );
    assert_eq!(
        err(&mut c, &["BLPOP", "a", "abc"]),
        "ERR timeout is not a float or out of range"
    );
    assert_eq!(
        err(&mut c, &["BRPOPLPUSH", "a", "b", "-1"]),
        "ERR timeout is negative"
    );
    assert_eq!(
        err(&mut c, &["BLMOVE", "a", "b", "LEFT", "RIGHT", "-1"]),
        "ERR timeout is negative"
    );
    assert_eq!(
        err(&mut c, &["BLMPOP", "-1", "1", "a", "LEFT"]),
        "ERR timeout is negative"
    );
    assert_eq!(
        err(&mut c, &["BLMPOP", "0", "0", "a", "LEFT"]),
        "ERR numkeys should be greater than 0"
    );
    assert_eq!(
        err(&mut c, &["BLPOP", "a"]),
        "ERR wrong number of arguments for 'blpop' command"
    );
    assert_eq!(lrange(&mut c, "d"), bulks(&["2"]));
    assert_eq!(int(&mut c, &["EXISTS", "a", "b"]), 0);
}

#[test]
fn blocking_pops_time_out_with_nil() {
    let n = node();
    let mut c = n.client().expect("connect");
    for args in [
        &["BLPOP", "a", "b", "0.1"][..],
        &["BRPOP", "a", "0.01"],
        &["BLMOVE", "a", "b", "LEFT", "LEFT", "0.05"],
        &["BRPOPLPUSH", "a", "b", "0.05"],
        &["BLMPOP", "0.05", "2", "a", "b", "LEFT", "COUNT", "3"],
    ] {
        assert_eq!(ok(&mut c, args), Value::Nil, "{args:?}");
    }
    wait_blocked(&mut c, 0);
    assert_eq!(int(&mut c, &["DBSIZE"]), 0);
    // The connection is usable afterwards.
    assert_eq!(int(&mut c, &["RPUSH", "a", "x"]), 1);
}

#[test]
fn blpop_is_woken_by_a_push_from_another_connection() {
    let n = node();
    let mut c = n.client().expect("connect");
    let waiter = spawn(&n, &["BLPOP", "a", "q", "0"]);
    wait_blocked(&mut c, 1);
    assert_eq!(int(&mut c, &["LPUSH", "q", "foo", "bar"]), 2);
    assert_eq!(joined(waiter), Value::Array(vec![bulk("q"), bulk("bar")]));
    assert_eq!(lrange(&mut c, "q"), bulks(&["foo"]));

    // The element is popped, so a list created just for the waiter is gone again.
    let waiter = spawn(&n, &["BRPOP", "fresh", "5"]);
    wait_blocked(&mut c, 1);
    assert_eq!(int(&mut c, &["RPUSH", "fresh", "only"]), 1);
    assert_eq!(
        joined(waiter),
        Value::Array(vec![bulk("fresh"), bulk("only")])
    );
    assert_eq!(int(&mut c, &["EXISTS", "fresh"]), 0);

    let waiter = spawn(&n, &["BLMPOP", "0", "2", "x", "y", "RIGHT", "COUNT", "2"]);
    wait_blocked(&mut c, 1);
    int(&mut c, &["RPUSH", "y", "1", "2", "3"]);
    assert_eq!(
        joined(waiter),
        Value::Array(vec![bulk("y"), bulks(&["3", "2"])])
    );
    assert_eq!(lrange(&mut c, "y"), bulks(&["1"]));
}

#[test]
fn blocked_clients_are_served_first_come_first_served() {
    let n = node();
    let mut c = n.client().expect("connect");
    let first = spawn(&n, &["BLPOP", "q", "0"]);
    wait_blocked(&mut c, 1);
    let second = spawn(&n, &["BLPOP", "q", "0"]);
    wait_blocked(&mut c, 2);
    int(&mut c, &["RPUSH", "q", "one"]);
    assert_eq!(joined(first), Value::Array(vec![bulk("q"), bulk("one")]));
    wait_blocked(&mut c, 1);
    int(&mut c, &["RPUSH", "q", "two"]);
    assert_eq!(joined(second), Value::Array(vec![bulk("q"), bulk("two")]));

    // One push of several elements serves several waiters, in order.
    let first = spawn(&n, &["BRPOP", "q", "0"]);
    wait_blocked(&mut c, 1);
    let second = spawn(&n, &["BRPOP", "q", "0"]);
    wait_blocked(&mut c, 2);
    int(&mut c, &["RPUSH", "q", "a", "b", "c"]);
    assert_eq!(joined(first), Value::Array(vec![bulk("q"), bulk("c")]));
    assert_eq!(joined(second), Value::Array(vec![bulk("q"), bulk("b")]));
    assert_eq!(lrange(&mut c, "q"), bulks(&["a"]));
}

#[test]
fn pushes_inside_multi_wake_waiters_after_exec() {
    let n = node();
    let mut c = n.client().expect("connect");
    let waiter = spawn(&n, &["BLPOP", "q", "0"]);
    wait_blocked(&mut c, 1);
    let replies: Value = redis::pipe()
        .atomic()
        .cmd("LPUSH")
        .arg("q")
        .arg("a")
        .cmd("LPUSH")
        .arg("q")
        .arg("b")
        .cmd("LPUSH")
        .arg("q")
        .arg("c")
        .query(&mut c)
        .expect("exec");
    assert_eq!(
        replies,
        Value::Array(vec![Value::Int(1), Value::Int(2), Value::Int(3)])
    );
    assert_eq!(joined(waiter), Value::Array(vec![bulk("q"), bulk("c")]));

    // LPUSH then DEL in one transaction feeds nobody.
    int(&mut c, &["DEL", "q"]);
    let waiter = spawn(&n, &["BLPOP", "q", "0"]);
    wait_blocked(&mut c, 1);
    let _: Value = redis::pipe()
        .atomic()
        .cmd("LPUSH")
        .arg("q")
        .arg("a")
        .cmd("DEL")
        .arg("q")
        .query(&mut c)
        .expect("exec");
    wait_blocked(&mut c, 1);
    int(&mut c, &["LPUSH", "q", "b"]);
    assert_eq!(joined(waiter), Value::Array(vec![bulk("q"), bulk("b")]));

    // A list renamed into place wakes the waiter too.
    let waiter = spawn(&n, &["BLPOP", "foo", "0"]);
    wait_blocked(&mut c, 1);
    int(&mut c, &["LPUSH", "bob", "abc", "def", "hij"]);
    assert_eq!(ok(&mut c, &["RENAME", "bob", "foo"]), Value::Okay);
    assert_eq!(joined(waiter), Value::Array(vec![bulk("foo"), bulk("hij")]));
}

#[test]
fn blmove_wakes_up_and_feeds_other_waiters() {
    let n = node();
    let mut c = n.client().expect("connect");
    int(&mut c, &["RPUSH", "target", "bar"]);
    let mover = spawn(&n, &["BLMOVE", "src", "target", "LEFT", "RIGHT", "0"]);
    wait_blocked(&mut c, 1);
    int(&mut c, &["RPUSH", "src", "foo"]);
    assert_eq!(joined(mover), bulk("foo"));
    assert_eq!(lrange(&mut c, "target"), bulks(&["bar", "foo"]));
    assert_eq!(int(&mut c, &["EXISTS", "src"]), 0);

    // A client blocked on the destination is fed by the move.
    int(&mut c, &["DEL", "target"]);
    let popper = spawn(&n, &["BLPOP", "target", "0"]);
    wait_blocked(&mut c, 1);
    let mover = spawn(&n, &["BRPOPLPUSH", "src", "target", "0"]);
    wait_blocked(&mut c, 2);
    int(&mut c, &["RPUSH", "src", "foo"]);
    assert_eq!(joined(mover), bulk("foo"));
    assert_eq!(
        joined(popper),
        Value::Array(vec![bulk("target"), bulk("foo")])
    );
    assert_eq!(int(&mut c, &["EXISTS", "target"]), 0);

    // Linked moves: list1 -> list2 -> list3.
    let first = spawn(&n, &["BLMOVE", "list1", "list2", "RIGHT", "LEFT", "0"]);
    wait_blocked(&mut c, 1);
    let second = spawn(&n, &["BLMOVE", "list2", "list3", "LEFT", "RIGHT", "0"]);
    wait_blocked(&mut c, 2);
    int(&mut c, &["RPUSH", "list1", "foo"]);
    assert_eq!(joined(first), bulk("foo"));
    assert_eq!(joined(second), bulk("foo"));
    assert_eq!(lrange(&mut c, "list1"), bulks(&[]));
    assert_eq!(lrange(&mut c, "list2"), bulks(&[]));
    assert_eq!(lrange(&mut c, "list3"), bulks(&["foo"]));

    // Self-referential move: the element comes back.
    let mover = spawn(&n, &["BRPOPLPUSH", "self", "self", "0"]);
    wait_blocked(&mut c, 1);
    int(&mut c, &["RPUSH", "self", "foo"]);
    assert_eq!(joined(mover), bulk("foo"));
    assert_eq!(lrange(&mut c, "self"), bulks(&["foo"]));
}

#[test]
fn blocked_move_into_a_wrong_type_fails_and_keeps_the_source() {
    let n = node();
    let mut c = n.client().expect("connect");
    let _: () = redis::cmd("SET")
        .arg("target1")
        .arg("nolist")
        .query(&mut c)
        .expect("set");
    let failing = spawn(&n, &["BRPOPLPUSH", "blist", "target1", "0"]);
    wait_blocked(&mut c, 1);
    let served = spawn(&n, &["BRPOPLPUSH", "blist", "target2", "0"]);
    wait_blocked(&mut c, 2);
    int(&mut c, &["LPUSH", "blist", "foo"]);
    let error = failing
        .join()
        .expect("thread")
        .expect_err("WRONGTYPE expected");
    assert_eq!(error.code(), Some("WRONGTYPE"));
    assert_eq!(joined(served), bulk("foo"));
    assert_eq!(lrange(&mut c, "target2"), bulks(&["foo"]));

    let failing = spawn(&n, &["BRPOPLPUSH", "blist", "target1", "0"]);
    wait_blocked(&mut c, 1);
    int(&mut c, &["RPUSH", "blist", "a", "b", "c"]);
    assert!(failing.join().expect("thread").is_err());
    assert_eq!(lrange(&mut c, "blist"), bulks(&["a", "b", "c"]));
}

#[test]
fn blocking_commands_inside_multi_never_block() {
    let n = node();
    let mut c = n.client().expect("connect");
    int(&mut c, &["LPUSH", "x", "foo"]);
    int(&mut c, &["LPUSH", "x", "bar"]);
    let replies: Value = redis::pipe()
        .atomic()
        .cmd("BLPOP")
        .arg("x")
        .arg(0)
        .cmd("BLPOP")
        .arg("x")
        .arg(0)
        .cmd("BLPOP")
        .arg("x")
        .arg(0)
        .cmd("BRPOPLPUSH")
        .arg("x")
        .arg("t")
        .arg(0)
        .cmd("BLMPOP")
        .arg(0)
        .arg(1)
        .arg("x")
        .arg("LEFT")
        .query(&mut c)
        .expect("exec");
    assert_eq!(
        replies,
        Value::Array(vec![
            Value::Array(vec![bulk("x"), bulk("bar")]),
            Value::Array(vec![bulk("x"), bulk("foo")]),
            Value::Nil,
            Value::Nil,
            Value::Nil,
        ])
    );
    wait_blocked(&mut c, 0);

    // RESP2 tells a nil array (BLPOP, BLMPOP) from a nil string (BLMOVE) here.
    let mut r = RawCon::connect(&n);
    r.send(&[
        &["MULTI"],
        &["BLPOP", "x", "0"],
        &["BLMOVE", "x", "t", "LEFT", "LEFT", "0"],
        &["BLMPOP", "0", "1", "x", "LEFT"],
        &["EXEC"],
    ]);
    r.expect("+OK\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n*3\r\n*-1\r\n$-1\r\n*-1\r\n");
}

#[test]
fn client_unblock_releases_a_waiter() {
    let n = node();
    let mut c = n.client().expect("connect");
    let mut waiter_con = n.client().expect("connect");
    let id = client_id(&mut waiter_con);
    let waiter = thread::spawn(move || {
        let first = raw(&mut waiter_con, &["BLPOP", "l", "0"]);
        let second = raw(&mut waiter_con, &["BLMPOP", "0", "1", "l", "RIGHT"]);
        let third = raw(&mut waiter_con, &["BLMOVE", "l", "d", "LEFT", "LEFT", "0"]);
        (first, second, third, waiter_con)
    });
    wait_blocked(&mut c, 1);
    assert_eq!(int(&mut c, &["CLIENT", "UNBLOCK", &id]), 1);
    wait_blocked(&mut c, 1);
    assert_eq!(int(&mut c, &["CLIENT", "UNBLOCK", &id, "TIMEOUT"]), 1);
    wait_blocked(&mut c, 1);
    assert_eq!(int(&mut c, &["CLIENT", "UNBLOCK", &id, "ERROR"]), 1);
    let (first, second, third, mut waiter_con) = waiter.join().expect("waiter");
    assert_eq!(first.expect("unblocked"), Value::Nil);
    assert_eq!(second.expect("unblocked"), Value::Nil);
    let error = third.expect_err("unblocked with an error");
    assert_eq!(error.code(), Some("UNBLOCKED"));
    assert_eq!(error.detail(), Some("client unblocked via CLIENT UNBLOCK"));
    let own = client_id(&mut c);
    assert_eq!(int(&mut c, &["CLIENT", "UNBLOCK", &own]), 0);
    // The unblocked client still works, and still blocks.
    let waiter = thread::spawn(move || raw(&mut waiter_con, &["BLPOP", "l", "0"]));
    wait_blocked(&mut c, 1);
    int(&mut c, &["LPUSH", "l", "foo"]);
    assert_eq!(joined(waiter), Value::Array(vec![bulk("l"), bulk("foo")]));
}

#[test]
fn a_disconnected_waiter_does_not_swallow_a_push() {
    let n = node();
    let mut c = n.client().expect("connect");
    let mut gone = RawCon::connect(&n);
    gone.send(&[&["BLPOP", "q", "0"]]);
    wait_blocked(&mut c, 1);
    let stays = spawn(&n, &["BLPOP", "q", "0"]);
    wait_blocked(&mut c, 2);
    drop(gone);
    wait_blocked(&mut c, 1);
    int(&mut c, &["RPUSH", "q", "kept"]);
    assert_eq!(joined(stays), Value::Array(vec![bulk("q"), bulk("kept")]));

    let mut gone = RawCon::connect(&n);
    gone.send(&[&["BLPOP", "q", "0"]]);
    wait_blocked(&mut c, 1);
    drop(gone);
    wait_blocked(&mut c, 0);
    int(&mut c, &["RPUSH", "q", "stays"]);
    assert_eq!(lrange(&mut c, "q"), bulks(&["stays"]));
}

#[test]
fn pipelined_commands_wait_behind_a_blocked_command() {
    let n = node();
    let mut c = n.client().expect("connect");
    let mut r = RawCon::connect(&n);
    r.send(&[&["BLPOP", "q", "0"], &["PING"], &["LLEN", "q"]]);
    wait_blocked(&mut c, 1);
    assert!(r.silent(), "nothing is answered while BLPOP waits");
    int(&mut c, &["RPUSH", "q", "a", "b"]);
    r.expect("*2\r\n$1\r\nq\r\n$1\r\na\r\n+PONG\r\n:1\r\n");

    // Fairness: a client pipelining a push and a pop does not jump the queue.
    int(&mut c, &["DEL", "q"]);
    let first = spawn(&n, &["BLPOP", "q", "0"]);
    wait_blocked(&mut c, 1);
    r.send(&[&["LPUSH", "q", "1"], &["BLPOP", "q", "0"]]);
    assert_eq!(joined(first), Value::Array(vec![bulk("q"), bulk("1")]));
    r.expect(":1\r\n");
    wait_blocked(&mut c, 1);
    int(&mut c, &["LPUSH", "q", "2"]);
    r.expect("*2\r\n$1\r\nq\r\n$1\r\n2\r\n");
}

#[test]
fn blpop_waits_on_every_key_and_serves_the_first_non_empty() {
    let n = node();
    let mut c = n.client().expect("connect");
    let waiter = spawn(&n, &["BLPOP", "l1", "l2", "l2", "l1", "0"]);
    wait_blocked(&mut c, 1);
    int(&mut c, &["LPUSH", "l2", "b"]);
    assert_eq!(joined(waiter), Value::Array(vec![bulk("l2"), bulk("b")]));
    wait_blocked(&mut c, 0);

    int(&mut c, &["LPUSH", "l1", "a"]);
    int(&mut c, &["LPUSH", "l2", "b"]);
    assert_eq!(
        ok(&mut c, &["BLPOP", "l1", "l2", "l2", "l1", "0"]),
        Value::Array(vec![bulk("l1"), bulk("a")])
    );
    assert_eq!(
        ok(&mut c, &["BLPOP", "l1", "l2", "l2", "l1", "0"]),
        Value::Array(vec![bulk("l2"), bulk("b")])
    );

    // Nested wake-ups keep arrival order (Redis's "unblock fairness" test).
    let mover = spawn(&n, &["BRPOPLPUSH", "n1", "n3", "0"]);
    wait_blocked(&mut c, 1);
    let popper = spawn(&n, &["BLPOP", "n2", "0"]);
    wait_blocked(&mut c, 2);
    let multi = spawn(&n, &["BLMPOP", "0", "2", "n2", "n3", "LEFT", "COUNT", "1"]);
    wait_blocked(&mut c, 3);
    let _: Value = redis::pipe()
        .atomic()
        .cmd("LPUSH")
        .arg("n1")
        .arg("1")
        .cmd("LPUSH")
        .arg("n2")
        .arg("2")
        .query(&mut c)
        .expect("exec");
    assert_eq!(joined(mover), bulk("1"));
    assert_eq!(joined(popper), Value::Array(vec![bulk("n2"), bulk("2")]));
    assert_eq!(joined(multi), Value::Array(vec![bulk("n3"), bulks(&["1"])]));
    assert_eq!(int(&mut c, &["DBSIZE"]), 0);
}

#[test]
fn watch_sees_pushes_made_by_a_served_move() {
    let n = node();
    let mut c = n.client().expect("connect");
    let mover = spawn(&n, &["BRPOPLPUSH", "src", "dst", "0"]);
    wait_blocked(&mut c, 1);
    let mut w = n.client().expect("connect");
    assert_eq!(ok(&mut w, &["WATCH", "dst"]), Value::Okay);
    assert_eq!(ok(&mut w, &["MULTI"]), Value::Okay);
    ok(&mut w, &["GET", "somekey"]);
    int(&mut c, &["LPUSH", "src", "element"]);
    assert_eq!(joined(mover), bulk("element"));
    assert_eq!(ok(&mut w, &["EXEC"]), Value::Nil, "dst changed under WATCH");
}

#[test]
fn waiters_are_woken_only_by_their_own_namespace() {
    let n = node();
    let mut c = n.client().expect("connect");
    let mut waiter = RawCon::connect(&n);
    waiter.send(&[&["SELECT", "1"], &["BLPOP", "q", "0"]]);
    waiter.expect("+OK\r\n");
    wait_blocked(&mut c, 1);
    int(&mut c, &["RPUSH", "q", "db0"]);
    assert!(
        waiter.silent(),
        "a push in db 0 does not feed a waiter in db 1"
    );
    let mut other = RawCon::connect(&n);
    other.send(&[&["SELECT", "1"], &["RPUSH", "q", "db1"]]);
    other.expect("+OK\r\n:1\r\n");
    waiter.expect("*2\r\n$1\r\nq\r\n$3\r\ndb1\r\n");
    assert_eq!(lrange(&mut c, "q"), bulks(&["db0"]));
}

#[test]
fn a_blocking_pop_on_empty_keys_writes_nothing_to_the_log() {
    let n = node();
    let mut c = n.client().expect("connect");
    let last = |c: &mut redis::Connection| {
        crate::common::info_field(c, "persistence", "okapi_log_last_index")
            .parse::<u64>()
            .expect("number")
    };
    let before = last(&mut c);
    let waiter = spawn(&n, &["BLPOP", "empty:a", "empty:b", "0"]);
    wait_blocked(&mut c, 1);
    assert_eq!(
        raw(&mut c, &["BLPOP", "empty:c", "0.05"]).expect("times out"),
        Value::Nil
    );
    assert_eq!(
        last(&mut c),
        before,
        "blocking on empty keys appended entries"
    );
    // The push is one entry; serving the waiter (leader-side, after apply) is one more.
    assert_eq!(int(&mut c, &["RPUSH", "empty:b", "x"]), 1);
    assert_eq!(joined(waiter), bulks(&["empty:b", "x"]));
    assert_eq!(last(&mut c), before + 2);
    assert_eq!(int(&mut c, &["EXISTS", "empty:b"]), 0);
}
