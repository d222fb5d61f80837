//! DUMP and RESTORE through the real binary: every value type round-trips, RESTORE's
//! options and errors are Redis's, a damaged payload or one from redis-server is
//! refused (and redis-server refuses okapi's), and restored keys survive a restart.

use okapi_testkit::differential::{self, RedisServer};
use redis::Value;

use crate::common::{err, node, raw};

fn ok(con: &mut redis::Connection, args: &[&[u8]]) -> Value {
    let mut cmd = redis::cmd(std::str::from_utf8(args[0]).expect("name"));
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd.query(con)
        .unwrap_or_else(|e| panic!("{:?} failed: {e}", String::from_utf8_lossy(args[0])))
}

fn dump(con: &mut redis::Connection, key: &str) -> Vec<u8> {
    match ok(con, &[b"DUMP", key.as_bytes()]) {
        Value::BulkString(payload) => payload,
        other => panic!("DUMP {key}: {other:?}"),
    }
}

/// What a key holds, read the way its type is read.
fn contents(con: &mut redis::Connection, key: &str) -> Value {
    let kind: String = redis::cmd("TYPE").arg(key).query(con).expect("TYPE");
    let args: Vec<&str> = match kind.as_str() {
        "string" => vec!["GET", key],
        "hash" => vec!["HGETALL", key],
        "list" => vec!["LRANGE", key, "0", "-1"],
        "set" => vec!["SORT", key, "ALPHA"],
        "zset" => vec!["ZRANGE", key, "0", "-1", "WITHSCORES"],
        "stream" => vec!["XINFO", "STREAM", key, "FULL"],
        "table" => vec!["TABLE.RANGE", key, "-", "+"],
        other => panic!("unexpected type {other}"),
    };
    raw(con, &args).expect("read back")
}

#[test]
fn every_type_round_trips_through_dump_and_restore() {
    let mut n = node();
    let mut c = n.client().expect("connect");
    let setup: &[&[&str]] = &[
        &["SET", "str", "hello world"],
        &["SET", "int", "12345"],
        &["HSET", "hash", "a", "1", "b", "2"],
        &["RPUSH", "list", "x", "y", "z"],
        &["SADD", "set", "m1", "m2", "m3"],
        &["ZADD", "zset", "1.5", "a", "-2", "b"],
        &["XADD", "stream", "1-1", "f", "v"],
        &["XADD", "stream", "2-1", "g", "w"],
        &["XGROUP", "CREATE", "stream", "grp", "0"],
        &[
            "XREADGROUP",
            "GROUP",
            "grp",
            "c1",
            "COUNT",
            "1",
            "STREAMS",
            "stream",
            ">",
        ],
        &["TABLE.SET", "table", "k1", "v1", "k2", "v2"],
    ];
    for cmd in setup {
        raw(&mut c, cmd).unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    }
    let keys = [
        "str", "int", "hash", "list", "set", "zset", "stream", "table",
    ];
    for key in keys {
        let payload = dump(&mut c, key);
        let copy = format!("{key}:copy");
        assert_eq!(
            ok(&mut c, &[b"RESTORE", copy.as_bytes(), b"0", &payload]),
            Value::Okay,
            "{key}"
        );
        assert_eq!(contents(&mut c, &copy), contents(&mut c, key), "{key}");
    }
    assert_eq!(ok(&mut c, &[b"DUMP", b"missing"]), Value::Nil);

    // Options and errors, in Redis's order.
    let payload = dump(&mut c, "str");
    assert_eq!(
        err_bytes(&mut c, &[b"RESTORE", b"str", b"0", &payload]),
        "BUSYKEY Target key name already exists."
    );
    assert_eq!(
        err_bytes(&mut c, &[b"RESTORE", b"str", b"-1", &payload]),
        "BUSYKEY Target key name already exists.",
        "BUSYKEY comes before the TTL check"
    );
    assert_eq!(
        err_bytes(&mut c, &[b"RESTORE", b"new", b"-1", &payload]),
        "ERR Invalid TTL value, must be >= 0"
    );
    assert_eq!(
        err_bytes(
            &mut c,
            &[b"RESTORE", b"new", b"0", &payload, b"FREQ", b"300"]
        ),
        "ERR Invalid FREQ value, must be >= 0 and <= 255"
    );
    assert_eq!(
        err_bytes(&mut c, &[b"RESTORE", b"new", b"0", &payload, b"BOGUS"]),
        "ERR syntax error"
    );
    let mut damaged = payload.clone();
    damaged[2] ^= 0x40;
    assert_eq!(
        err_bytes(&mut c, &[b"RESTORE", b"new", b"0", &damaged]),
        "ERR DUMP payload version or checksum are wrong"
    );
    // REPLACE with a TTL; an absolute TTL in the past creates nothing.
    let list = dump(&mut c, "list");
    assert_eq!(
        ok(
            &mut c,
            &[
                b"RESTORE",
                b"str",
                b"60000",
                &list,
                b"REPLACE",
                b"IDLETIME",
                b"100"
            ]
        ),
        Value::Okay
    );
    let idle: i64 = redis::cmd("OBJECT")
        .arg(&["IDLETIME", "str"])
        .query(&mut c)
        .expect("IDLETIME");
    assert!(idle >= 100, "IDLETIME set the idle time: {idle}");
    let pttl: i64 = redis::cmd("PTTL").arg("str").query(&mut c).expect("PTTL");
    assert!((1..=60_000).contains(&pttl), "{pttl}");
    assert_eq!(
        ok(&mut c, &[b"RESTORE", b"gone", b"1000", &list, b"ABSTTL"]),
        Value::Okay
    );
    assert_eq!(
        raw(&mut c, &["EXISTS", "gone"]).expect("EXISTS"),
        Value::Int(0)
    );
    raw(&mut c, &["BLOCK.CREATE", "blk", "4096"]).expect("BLOCK.CREATE");
    assert!(err(&mut c, &["DUMP", "blk"]).contains("block"));

    // Restored keys are ordinary keys: they survive a restart.
    let before = contents(&mut c, "hash:copy");
    drop(c);
    n.restart().expect("restart");
    let mut c = n.client().expect("connect");
    assert_eq!(contents(&mut c, "hash:copy"), before);
}

fn err_bytes(con: &mut redis::Connection, args: &[&[u8]]) -> String {
    let mut cmd = redis::cmd(std::str::from_utf8(args[0]).expect("name"));
    for a in &args[1..] {
        cmd.arg(*a);
    }
    match cmd.query::<Value>(con) {
        Ok(v) => panic!("succeeded with {v:?}"),
        Err(e) => format!("{} {}", e.code().unwrap_or(""), e.detail().unwrap_or(""))
            .trim()
            .to_owned(),
    }
}

#[test]
fn payloads_do_not_cross_between_okapi_and_redis() {
    assert!(
        differential::redis_available(),
        "redis-server is needed (Debian: apt-get install redis-server)"
    );
    let redis = RedisServer::start().expect("redis-server starts");
    let mut r = redis::Client::open(format!("redis://{}/", redis.addr))
        .and_then(|client| client.get_connection())
        .expect("connect to redis-server");
    let n = node();
    let mut c = n.client().expect("connect");
    let _: () = redis::cmd("SET")
        .arg(&["k", "v"])
        .query(&mut r)
        .expect("SET");
    let _: () = redis::cmd("SET")
        .arg(&["k", "v"])
        .query(&mut c)
        .expect("SET");
    let from_redis = dump(&mut r, "k");
    let from_okapi = dump(&mut c, "k");
    let wrong = "ERR DUMP payload version or checksum are wrong";
    assert_eq!(
        err_bytes(&mut c, &[b"RESTORE", b"x", b"0", &from_redis]),
        wrong
    );
    assert_eq!(
        err_bytes(&mut r, &[b"RESTORE", b"x", b"0", &from_okapi]),
        wrong
    );
}
