//! Generic key commands and expiry end to end.

use std::collections::HashSet;
use std::time::Duration;

use redis::{Commands, Value};

use crate::common::{err, info_field, node, raw};

#[test]
fn del_exists_type_rename_copy_move() {
    let n = node();
    let mut c = n.client().expect("connect");
    let _: () = c.set("a", "1").expect("set");
    let _: () = c.set("b", "2").expect("set");
    assert_eq!(
        raw(&mut c, &["EXISTS", "a", "a", "b", "zz"]).expect("exists"),
        Value::Int(3)
    );
    assert_eq!(
        raw(&mut c, &["TYPE", "a"]).expect("type"),
        Value::SimpleString("string".into())
    );
    assert_eq!(
        raw(&mut c, &["TYPE", "zz"]).expect("type"),
        Value::SimpleString("none".into())
    );
    assert_eq!(
        raw(&mut c, &["DEL", "a", "zz"]).expect("del"),
        Value::Int(1)
    );
    assert_eq!(
        raw(&mut c, &["UNLINK", "b"]).expect("unlink"),
        Value::Int(1)
    );

    let _: () = c.set("src", "v").expect("set");
    let _: () = c.pexpire("src", 100_000).expect("pexpire");
    assert_eq!(
        raw(&mut c, &["RENAME", "src", "dst"]).expect("rename"),
        Value::Okay
    );
    assert!(
        c.pttl::<_, i64>("dst").expect("ttl") > 90_000,
        "RENAME keeps the TTL"
    );
    assert_eq!(err(&mut c, &["RENAME", "nope", "x"]), "ERR no such key");
    let _: () = c.set("other", "o").expect("set");
    assert_eq!(
        raw(&mut c, &["RENAMENX", "dst", "other"]).expect("renamenx"),
        Value::Int(0)
    );
    assert_eq!(
        raw(&mut c, &["RENAMENX", "dst", "fresh"]).expect("renamenx"),
        Value::Int(1)
    );

    assert_eq!(
        raw(&mut c, &["COPY", "fresh", "copy"]).expect("copy"),
        Value::Int(1)
    );
    assert_eq!(
        raw(&mut c, &["COPY", "fresh", "copy"]).expect("copy"),
        Value::Int(0)
    );
    assert_eq!(
        raw(&mut c, &["COPY", "fresh", "copy", "REPLACE"]).expect("copy"),
        Value::Int(1)
    );
    assert_eq!(
        raw(&mut c, &["COPY", "fresh", "copy", "DB", "3"]).expect("copy db"),
        Value::Int(1)
    );
    assert_eq!(
        err(&mut c, &["COPY", "fresh", "fresh"]),
        "ERR source and destination objects are the same"
    );
    assert_eq!(
        err(&mut c, &["COPY", "fresh", "x", "DB", "99"]),
        "ERR DB index is out of range"
    );
    assert_eq!(
        raw(&mut c, &["MOVE", "copy", "5"]).expect("move"),
        Value::Int(1)
    );
    assert_eq!(c.exists::<_, i64>("copy").expect("exists"), 0);
    assert_eq!(raw(&mut c, &["SELECT", "5"]).expect("select"), Value::Okay);
    assert_eq!(c.get::<_, String>("copy").expect("moved value"), "v");
    assert_eq!(raw(&mut c, &["SELECT", "3"]).expect("select"), Value::Okay);
    assert_eq!(c.get::<_, String>("copy").expect("copied value"), "v");
    assert_eq!(
        err(&mut c, &["SELECT", "16"]),
        "ERR DB index is out of range"
    );
    assert_eq!(
        err(&mut c, &["SELECT", "x"]),
        "ERR value is not an integer or out of range"
    );
}

#[test]
fn expire_family_and_ttl_replies() {
    let n = node();
    let mut c = n.client().expect("connect");
    assert_eq!(c.ttl::<_, i64>("missing").expect("ttl"), -2);
    let _: () = c.set("k", "v").expect("set");
    assert_eq!(c.ttl::<_, i64>("k").expect("ttl"), -1);
    assert_eq!(
        raw(&mut c, &["EXPIRE", "k", "100", "XX"]).expect("xx"),
        Value::Int(0)
    );
    assert_eq!(
        raw(&mut c, &["EXPIRE", "k", "100", "NX"]).expect("nx"),
        Value::Int(1)
    );
    assert_eq!(
        raw(&mut c, &["EXPIRE", "k", "50", "GT"]).expect("gt"),
        Value::Int(0)
    );
    assert_eq!(
        raw(&mut c, &["EXPIRE", "k", "500", "GT"]).expect("gt"),
        Value::Int(1)
    );
    assert_eq!(
        raw(&mut c, &["EXPIRE", "k", "200", "LT"]).expect("lt"),
        Value::Int(1)
    );
    assert_eq!(
        err(&mut c, &["EXPIRE", "k", "1", "NX", "XX"]),
        "ERR NX and XX, GT or LT options at the same time are not compatible"
    );
    assert_eq!(
        err(&mut c, &["EXPIRE", "k", "1", "GT", "LT"]),
        "ERR GT and LT options at the same time are not compatible"
    );
    assert_eq!(
        err(&mut c, &["EXPIRE", "k", "abc"]),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(
        err(&mut c, &["EXPIRE", "k", "9223372036854775807"]),
        "ERR invalid expire time in 'expire' command"
    );
    let ttl: i64 = c.ttl("k").expect("ttl");
    assert!((199..=200).contains(&ttl), "{ttl}");
    let at: i64 = redis::cmd("EXPIRETIME")
        .arg("k")
        .query(&mut c)
        .expect("expiretime");
    let pat: i64 = redis::cmd("PEXPIRETIME")
        .arg("k")
        .query(&mut c)
        .expect("pexpiretime");
    assert_eq!(at, pat / 1000);
    assert_eq!(
        raw(&mut c, &["PERSIST", "k"]).expect("persist"),
        Value::Int(1)
    );
    assert_eq!(
        raw(&mut c, &["PERSIST", "k"]).expect("persist"),
        Value::Int(0)
    );
    // A time in the past deletes the key at once.
    assert_eq!(
        raw(&mut c, &["EXPIRE", "k", "-1"]).expect("expire"),
        Value::Int(1)
    );
    assert_eq!(c.exists::<_, i64>("k").expect("exists"), 0);
    let _: () = c.set("p", "v").expect("set");
    assert_eq!(
        raw(&mut c, &["PEXPIREAT", "p", "1000"]).expect("pexpireat"),
        Value::Int(1)
    );
    assert_eq!(c.exists::<_, i64>("p").expect("exists"), 0);
}

#[test]
fn keys_expire_lazily_and_actively() {
    let n = node();
    let mut c = n.client().expect("connect");
    for i in 0..200 {
        let _: () = redis::cmd("SET")
            .arg(format!("short:{i}"))
            .arg("v")
            .arg("PX")
            .arg(50)
            .query(&mut c)
            .expect("set");
    }
    let _: () = c.set("long", "v").expect("set");
    std::thread::sleep(Duration::from_millis(120));
    // Lazy: a read never sees an expired key.
    assert_eq!(c.get::<_, Option<String>>("short:7").expect("get"), None);
    assert_eq!(c.exists::<_, i64>("short:8").expect("exists"), 0);
    // Active: the background task removes the rest without anyone reading them.
    let mut size = i64::MAX;
    for _ in 0..100 {
        size = redis::cmd("DBSIZE").query(&mut c).expect("dbsize");
        if size == 1 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(size, 1, "expired keys were removed by active expiry");
    let expired: u64 = info_field(&mut c, "stats", "expired_keys")
        .parse()
        .expect("number");
    assert!(expired >= 198, "INFO counts expired keys: {expired}");
}

#[test]
fn keys_scan_randomkey_dbsize_flush() {
    let n = node();
    let mut c = n.client().expect("connect");
    let mut pipe = redis::pipe();
    for i in 0..5000 {
        pipe.set(format!("user:{i}"), i).ignore();
    }
    for i in 0..100 {
        pipe.set(format!("h:{i}"), "v").ignore();
    }
    let _: () = pipe.query(&mut c).expect("load");
    let keys: Vec<String> = c.keys("user:1*").expect("keys");
    assert_eq!(keys.len(), 1111);
    assert_eq!(
        redis::cmd("DBSIZE").query::<i64>(&mut c).expect("dbsize"),
        5100
    );

    // SCAN returns every key exactly once even while keys are added and removed.
    let mut seen = HashSet::new();
    let mut cursor = 0u64;
    let mut round = 0;
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg("user:*")
            .arg("COUNT")
            .arg(100)
            .query(&mut c)
            .expect("scan");
        for key in batch {
            assert!(seen.insert(key.clone()), "{key} returned twice");
        }
        // Churn the table under the cursor: grow, then shrink.
        let mut churn = redis::pipe();
        for i in 0..300 {
            let key = format!("churn:{round}:{i}");
            if round % 2 == 0 {
                churn.set(key, 1).ignore()
            } else {
                churn.del(format!("churn:{}:{i}", round - 1)).ignore()
            };
        }
        let _: () = churn.query(&mut c).expect("churn");
        round += 1;
        cursor = next;
        if cursor == 0 {
            break;
        }
    }
    assert_eq!(seen.len(), 5000);
    let typed: (u64, Vec<String>) = redis::cmd("SCAN")
        .arg(0)
        .arg("MATCH")
        .arg("h:*")
        .arg("TYPE")
        .arg("string")
        .arg("COUNT")
        .arg(100_000)
        .query(&mut c)
        .expect("scan type");
    assert_eq!(typed.1.len(), 100);
    let none: (u64, Vec<String>) = redis::cmd("SCAN")
        .arg(0)
        .arg("TYPE")
        .arg("zset")
        .arg("COUNT")
        .arg(100_000)
        .query(&mut c)
        .expect("scan type");
    assert!(none.1.is_empty());
    assert_eq!(err(&mut c, &["SCAN", "abc"]), "ERR invalid cursor");
    assert_eq!(
        err(&mut c, &["SCAN", "0", "COUNT", "0"]),
        "ERR syntax error"
    );

    let key: String = redis::cmd("RANDOMKEY").query(&mut c).expect("randomkey");
    assert!(key.starts_with("user:") || key.starts_with("h:") || key.starts_with("churn:"));
    assert_eq!(raw(&mut c, &["FLUSHDB"]).expect("flushdb"), Value::Okay);
    assert_eq!(
        redis::cmd("DBSIZE").query::<i64>(&mut c).expect("dbsize"),
        0
    );
    assert_eq!(raw(&mut c, &["RANDOMKEY"]).expect("randomkey"), Value::Nil);
    let _: () = c.set("x", 1).expect("set");
    assert_eq!(raw(&mut c, &["SELECT", "1"]).expect("select"), Value::Okay);
    let _: () = c.set("y", 1).expect("set");
    assert_eq!(
        raw(&mut c, &["FLUSHALL", "ASYNC"]).expect("flushall"),
        Value::Okay
    );
    assert_eq!(
        redis::cmd("DBSIZE").query::<i64>(&mut c).expect("dbsize"),
        0
    );
    assert_eq!(raw(&mut c, &["SELECT", "0"]).expect("select"), Value::Okay);
    assert_eq!(
        redis::cmd("DBSIZE").query::<i64>(&mut c).expect("dbsize"),
        0
    );
}

#[test]
fn object_and_meta_report_key_metadata() {
    let n = node();
    let mut c = n.client().expect("connect");
    let _: () = c.set("n", "12345").expect("set");
    let _: () = c.set("s", "hello").expect("set");
    assert_eq!(
        raw(&mut c, &["OBJECT", "ENCODING", "n"]).expect("encoding"),
        Value::BulkString(b"int".to_vec())
    );
    assert_eq!(
        raw(&mut c, &["OBJECT", "ENCODING", "s"]).expect("encoding"),
        Value::BulkString(b"embstr".to_vec()),
        "short strings live inside the key's table node"
    );
    let _: () = c.set("long", "x".repeat(100)).expect("set");
    assert_eq!(
        raw(&mut c, &["OBJECT", "ENCODING", "long"]).expect("encoding"),
        Value::BulkString(b"raw".to_vec())
    );
    assert_eq!(
        raw(&mut c, &["OBJECT", "ENCODING", "none"]).expect("encoding"),
        Value::Nil
    );
    assert_eq!(
        raw(&mut c, &["OBJECT", "REFCOUNT", "s"]).expect("refcount"),
        Value::Int(1)
    );
    assert_eq!(
        raw(&mut c, &["OBJECT", "IDLETIME", "s"]).expect("idletime"),
        Value::Int(0)
    );
    assert_eq!(
        err(&mut c, &["OBJECT", "NOPE", "s"]),
        "ERR unknown subcommand 'NOPE'. Try OBJECT HELP."
    );

    let mut c3 = n.client_resp3().expect("connect");
    let meta = raw(&mut c3, &["META", "s"]).expect("meta");
    let Value::Map(fields) = meta else {
        panic!("META is a map in RESP3: {meta:?}")
    };
    let get = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| *k == Value::BulkString(name.as_bytes().to_vec()))
            .map(|(_, v)| v.clone())
    };
    assert_eq!(get("type"), Some(Value::BulkString(b"string".to_vec())));
    assert_eq!(get("size"), Some(Value::Int(5)));
    assert_eq!(get("ttl-ms"), Some(Value::Int(-1)));
    let Some(Value::Int(created)) = get("created-ms") else {
        panic!("created-ms")
    };
    let Some(Value::Int(updated)) = get("updated-ms") else {
        panic!("updated-ms")
    };
    assert!(created > 1_600_000_000_000 && updated >= created);
    assert_eq!(raw(&mut c3, &["META", "none"]).expect("meta"), Value::Nil);
    let _: () = c.append("s", "!").expect("append");
    let Value::Map(after) = raw(&mut c3, &["META", "s"]).expect("meta") else {
        panic!("map")
    };
    let version = |fields: &[(Value, Value)]| {
        fields
            .iter()
            .find(|(k, _)| *k == Value::BulkString(b"version".to_vec()))
            .map(|(_, v)| v.clone())
    };
    assert_ne!(
        version(&fields),
        version(&after),
        "a write bumps the version"
    );
}

#[test]
fn swapdb_exchanges_keys_wakes_waiters_and_survives_a_restart() {
    use crate::common::wait_blocked;
    let mut n = node();
    let mut c = n.client().expect("connect");
    let _: () = c.set("a", "zero").expect("SET");
    let _: () = c.set_ex("ttl", "x", 100).expect("SETEX");
    let _: i64 = c.rpush("q", "item").expect("RPUSH");
    // A client in db 1 waits on `q`, which only db 0 holds.
    let mut waiter_con = n.client().expect("connect");
    let _: () = redis::cmd("SELECT")
        .arg(1)
        .query(&mut waiter_con)
        .expect("SELECT");
    let waiter = std::thread::spawn(move || {
        redis::cmd("BLPOP")
            .arg(&["q", "0"])
            .query::<Value>(&mut waiter_con)
            .expect("BLPOP")
    });
    wait_blocked(&mut c, 1);
    // WATCH in db 0 sees the swap as a change.
    let mut watcher = n.client().expect("connect");
    let _: () = redis::cmd("WATCH")
        .arg("a")
        .query(&mut watcher)
        .expect("WATCH");
    assert_eq!(
        raw(&mut c, &["SWAPDB", "0", "1"]).expect("SWAPDB"),
        Value::Okay
    );
    assert_eq!(
        waiter.join().expect("waiter"),
        Value::Array(vec![
            Value::BulkString(b"q".to_vec()),
            Value::BulkString(b"item".to_vec())
        ])
    );
    let exec: Value = redis::pipe()
        .atomic()
        .cmd("SET")
        .arg(&["a", "late"])
        .query(&mut watcher)
        .expect("EXEC");
    assert_eq!(
        exec,
        Value::Nil,
        "the watched key changed under the transaction"
    );
    assert_eq!(
        raw(&mut c, &["EXISTS", "a", "ttl"]).expect("EXISTS"),
        Value::Int(0)
    );
    let _: () = redis::cmd("SELECT").arg(1).query(&mut c).expect("SELECT");
    let a: String = c.get("a").expect("GET");
    assert_eq!(a, "zero");
    let ttl: i64 = c.ttl("ttl").expect("TTL");
    assert!(
        (1..=100).contains(&ttl),
        "the TTL moved with its key: {ttl}"
    );
    for (args, want) in [
        (&["SWAPDB", "0", "x"][..], "ERR invalid second DB index"),
        (&["SWAPDB", "1.5", "0"], "ERR invalid first DB index"),
        (&["SWAPDB", "0", "99"], "ERR DB index is out of range"),
        (&["SWAPDB", "-1", "0"], "ERR DB index is out of range"),
    ] {
        assert_eq!(err(&mut c, args), want, "{args:?}");
    }
    assert_eq!(
        raw(&mut c, &["SWAPDB", "3", "3"]).expect("SWAPDB"),
        Value::Okay
    );
    drop(c);
    n.restart().expect("restart");
    let mut c = n.client().expect("connect");
    let _: () = redis::cmd("SELECT").arg(1).query(&mut c).expect("SELECT");
    let a: String = c.get("a").expect("GET after restart");
    assert_eq!(a, "zero", "the swap replays from the log");
}
