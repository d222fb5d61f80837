//! A standalone node split into several shard groups (`--shard-groups`): every key
//! lives in the group of its slot, keyspace-wide commands cover all groups, multi-key
//! commands and transactions stay within one group (CROSSSLOT otherwise), and every
//! group recovers its own log and snapshot on restart.

use std::collections::BTreeSet;

use okapi_types::key_slot;

use crate::common::{err, start};

/// Keys spread over the slot range, so four groups each hold some.
fn keys(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("key:{i}")).collect()
}

/// The group (of `groups`) that serves `key`: contiguous even slot ranges.
fn group_of(key: &str, groups: u64) -> u64 {
    u64::from(key_slot(key.as_bytes()).0) * groups / 16384
}

fn scan_all(c: &mut redis::Connection) -> (BTreeSet<String>, usize) {
    let mut cursor = 0u64;
    let mut seen = BTreeSet::new();
    let mut steps = 0;
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("COUNT")
            .arg(50)
            .query(c)
            .expect("SCAN");
        seen.extend(batch);
        steps += 1;
        assert!(steps < 10_000, "SCAN does not end");
        if next == 0 {
            return (seen, steps);
        }
        cursor = next;
    }
}

#[test]
fn keys_spread_over_groups_and_keyspace_commands_cover_all() {
    let mut n = start(&["--shard-groups", "4"]);
    let mut c = n.client().expect("client");
    let all = keys(400);
    let groups: BTreeSet<u64> = all.iter().map(|k| group_of(k, 4)).collect();
    assert_eq!(groups.len(), 4, "the test keys reach every group");
    for k in &all {
        let _: () = redis::cmd("SET").arg(k).arg(k).query(&mut c).expect("SET");
    }
    let _: () = redis::cmd("SET")
        .arg("ttl:key")
        .arg("v")
        .arg("EX")
        .arg(1000)
        .query(&mut c)
        .expect("SET EX");
    let dbsize: u64 = redis::cmd("DBSIZE").query(&mut c).expect("DBSIZE");
    assert_eq!(dbsize, 401);
    let listed: Vec<String> = redis::cmd("KEYS").arg("key:*").query(&mut c).expect("KEYS");
    assert_eq!(listed.len(), 400);
    let (scanned, steps) = scan_all(&mut c);
    assert_eq!(scanned.len(), 401, "SCAN returns every key once");
    assert!(steps >= 4, "SCAN walked the groups in steps ({steps})");
    let random: String = redis::cmd("RANDOMKEY").query(&mut c).expect("RANDOMKEY");
    assert!(scanned.contains(&random));
    let info: String = redis::cmd("INFO")
        .arg("keyspace")
        .query(&mut c)
        .expect("INFO");
    assert!(info.contains("db0:keys=401,expires=1,"), "{info}");
    let persistence: String = redis::cmd("INFO")
        .arg("persistence")
        .query(&mut c)
        .expect("INFO");
    assert!(
        persistence.contains("okapi_shard_groups:4"),
        "{persistence}"
    );

    // Every group restores its own snapshot and log.
    let _: () = redis::cmd("SAVE").query(&mut c).expect("SAVE");
    let _: () = redis::cmd("SET")
        .arg("key:0")
        .arg("after-save")
        .query(&mut c)
        .expect("SET");
    n.restart().expect("restart");
    let mut c = n.client().expect("client");
    let dbsize: u64 = redis::cmd("DBSIZE").query(&mut c).expect("DBSIZE");
    assert_eq!(dbsize, 401);
    for k in &all[1..] {
        let v: String = redis::cmd("GET").arg(k).query(&mut c).expect("GET");
        assert_eq!(&v, k);
    }
    let v: String = redis::cmd("GET").arg("key:0").query(&mut c).expect("GET");
    assert_eq!(
        v, "after-save",
        "the write after SAVE was replayed from the log"
    );

    let _: () = redis::cmd("FLUSHALL").query(&mut c).expect("FLUSHALL");
    let dbsize: u64 = redis::cmd("DBSIZE").query(&mut c).expect("DBSIZE");
    assert_eq!(dbsize, 0, "FLUSHALL empties every group");
}

#[test]
fn multi_key_commands_and_transactions_stay_in_one_group() {
    let n = start(&["--shard-groups", "4"]);
    let mut c = n.client().expect("client");
    let (a, b) = ("key:1", "key:2");
    assert_ne!(
        group_of(a, 4),
        group_of(b, 4),
        "the keys are in different groups"
    );
    let crossslot = "CROSSSLOT Keys in request don't hash to the same slot";
    assert_eq!(err(&mut c, &["MSET", a, "1", b, "2"]), crossslot);
    let none: Option<String> = redis::cmd("GET").arg(a).query(&mut c).expect("GET");
    assert_eq!(none, None, "a refused MSET wrote nothing");
    // Hash tags put keys in one slot, so in one group.
    let _: () = redis::cmd("MSET")
        .arg("{u1}.a")
        .arg("1")
        .arg("{u1}.b")
        .arg("2")
        .query(&mut c)
        .expect("MSET with a hash tag");
    let both: Vec<String> = redis::cmd("MGET")
        .arg("{u1}.a")
        .arg("{u1}.b")
        .query(&mut c)
        .expect("MGET");
    assert_eq!(both, vec!["1", "2"]);

    // A transaction across groups is refused at queue time and aborted at EXEC.
    let _: () = redis::cmd("MULTI").query(&mut c).expect("MULTI");
    let queued: String = redis::cmd("SET")
        .arg(a)
        .arg("x")
        .query(&mut c)
        .expect("queued");
    assert_eq!(queued, "QUEUED");
    assert_eq!(err(&mut c, &["SET", b, "y"]), crossslot);
    let aborted = err(&mut c, &["EXEC"]);
    assert!(aborted.starts_with("EXECABORT"), "{aborted}");
    let none: Option<String> = redis::cmd("GET").arg(a).query(&mut c).expect("GET");
    assert_eq!(none, None, "the aborted transaction wrote nothing");

    // Within one group, WATCH/MULTI/EXEC works, and a conflicting write aborts it.
    let mut other = n.client().expect("second client");
    let _: () = redis::cmd("WATCH")
        .arg("{u1}.a")
        .query(&mut c)
        .expect("WATCH");
    let _: () = redis::cmd("MULTI").query(&mut c).expect("MULTI");
    let _: String = redis::cmd("INCR")
        .arg("{u1}.a")
        .query(&mut c)
        .expect("queued");
    let _: () = redis::cmd("SET")
        .arg("{u1}.a")
        .arg("10")
        .query(&mut other)
        .expect("SET");
    let result: redis::Value = redis::cmd("EXEC").query(&mut c).expect("EXEC");
    assert_eq!(
        result,
        redis::Value::Nil,
        "the watched key changed: EXEC is nil"
    );
    let _: () = redis::cmd("MULTI").query(&mut c).expect("MULTI");
    let _: String = redis::cmd("INCR")
        .arg("{u1}.a")
        .query(&mut c)
        .expect("queued");
    let _: String = redis::cmd("INCR")
        .arg("{u1}.b")
        .query(&mut c)
        .expect("queued");
    let replies: Vec<i64> = redis::cmd("EXEC").query(&mut c).expect("EXEC");
    assert_eq!(replies, vec![11, 3]);
    assert_eq!(err(&mut c, &["WATCH", a, b]), crossslot);

    // A blocked pop in one group is served by a push to that group.
    let waiter = std::thread::spawn({
        let url = n.url();
        move || {
            let mut c = redis::Client::open(url)
                .and_then(|cl| cl.get_connection())
                .expect("connect");
            let popped: (String, String) = redis::cmd("BLPOP")
                .arg("queue:7")
                .arg(10)
                .query(&mut c)
                .expect("BLPOP");
            popped
        }
    });
    wait_blocked(&mut other, 1);
    let _: i64 = redis::cmd("RPUSH")
        .arg("queue:7")
        .arg("job")
        .query(&mut other)
        .expect("RPUSH");
    assert_eq!(
        waiter.join().expect("waiter"),
        ("queue:7".to_owned(), "job".to_owned())
    );
}

/// Waits until INFO reports `count` blocked clients.
fn wait_blocked(c: &mut redis::Connection, count: u64) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let info: String = redis::cmd("INFO").arg("clients").query(c).expect("INFO");
        if info.contains(&format!("blocked_clients:{count}\r\n")) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never blocked: {info}"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

#[test]
fn the_group_count_is_fixed_when_the_data_dir_is_created() {
    let mut n = start(&["--shard-groups", "2"]);
    let mut c = n.client().expect("client");
    let fixed = err(&mut c, &["CONFIG", "SET", "shard-groups", "3"]);
    assert!(fixed.contains("shard groups"), "{fixed}");
    let _: () = redis::cmd("SET")
        .arg("k")
        .arg("v")
        .query(&mut c)
        .expect("SET");
    n.set_args(&["--shard-groups", "3"]);
    let refused = n.restart().expect_err("a different count is refused");
    assert!(format!("{refused:#}").contains("exited"), "{refused:#}");
    let log = n.log();
    assert!(
        log.contains("holds 2 shard group(s), not the 3 asked for"),
        "{log}"
    );
    // Started without the flag, the directory's own count is used.
    n.set_args(&[]);
    n.restart().expect("restart");
    let mut c = n.client().expect("client");
    let groups: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("shard-groups")
        .query(&mut c)
        .expect("CONFIG GET");
    assert_eq!(groups, vec!["shard-groups", "2"]);
    let v: String = redis::cmd("GET").arg("k").query(&mut c).expect("GET");
    assert_eq!(v, "v");
}
