//! On-disk formats stay readable. Two data directories are committed under
//! `tests/fixtures/`, written by the same script (every value type, a snapshot, then
//! more writes in the log, then kill -9): `datadir-format1` by builds before payloads
//! carried a format byte (postcard of serde types), `datadir-format2` by today's
//! encoding. Both must load with every value, and a format-1 directory that today's
//! build goes on writing to must load again with old and new records side by side.

use std::path::Path;

use redis::Commands;

use crate::common::raw;

fn fixture(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

#[test]
fn a_format_1_data_dir_loads_with_every_value() {
    let n = okapi_testkit::TestNode::start_from(
        env!("CARGO_BIN_EXE_okapi"),
        Some(&fixture("datadir-format1")),
        &[],
    )
    .expect("okapi loads a format-1 data directory");
    check_fixture_values(&mut n.client().expect("connect"));
}

#[test]
fn a_format_2_data_dir_loads_with_every_value() {
    let n = okapi_testkit::TestNode::start_from(
        env!("CARGO_BIN_EXE_okapi"),
        Some(&fixture("datadir-format2")),
        &[],
    )
    .expect("okapi loads a format-2 data directory");
    check_fixture_values(&mut n.client().expect("connect"));
}

#[test]
fn a_format_1_data_dir_written_on_by_today_loads_again() {
    let mut n = okapi_testkit::TestNode::start_from(
        env!("CARGO_BIN_EXE_okapi"),
        Some(&fixture("datadir-format1")),
        &[],
    )
    .expect("loads");
    let mut c = n.client().expect("connect");
    for i in 0..50 {
        let _: () = c.set(format!("new:{i}"), i).expect("set");
    }
    n.kill();
    n.restart().expect("old and new records load together");
    let mut c = n.client().expect("connect");
    check_fixture_values(&mut c);
    raw(&mut c, &["SELECT", "0"]).expect("select");
    for i in 0..50 {
        assert_eq!(c.get::<_, i64>(format!("new:{i}")).expect("get"), i);
    }
    // And once a snapshot in today's format replaces the old one.
    raw(&mut c, &["SAVE"]).expect("save");
    n.restart().expect("restart");
    check_fixture_values(&mut n.client().expect("connect"));
}

/// The values the fixture script wrote (leaves the connection in namespace 3).
fn check_fixture_values(c: &mut redis::Connection) {
    let c = &mut *c;
    assert_eq!(
        c.get::<_, String>("s:snap").expect("get"),
        "in the snapshot"
    );
    assert_eq!(
        raw(c, &["EXPIRETIME", "s:snap"]).expect("expiretime"),
        redis::Value::Int(4_102_444_800)
    );
    assert_eq!(c.get::<_, String>("s:log").expect("get"), "in the log");
    assert_eq!(c.get::<_, i64>("n:log").expect("get"), 42);
    let h: Vec<(String, String)> = c.hgetall("h:snap").expect("hgetall");
    let mut h = h;
    h.sort();
    assert_eq!(
        h,
        [("f1", "v1"), ("f2", "v2"), ("f3", "v3")].map(|(f, v)| (f.to_owned(), v.to_owned()))
    );
    assert_eq!(
        c.lrange::<_, Vec<String>>("l:snap", 0, -1).expect("lrange"),
        ["a", "b", "c"]
    );
    assert_eq!(
        c.zrange_withscores::<_, Vec<(String, f64)>>("z:snap", 0, -1)
            .expect("zrange"),
        [("one".to_owned(), 1.0), ("two".to_owned(), 2.5)]
    );
    let mut members: Vec<String> = c.smembers("set:snap").expect("smembers");
    members.sort();
    assert_eq!(members, ["x", "y"]);
    assert_eq!(
        raw(c, &["TABLE.GET", "t:snap", "b"]).expect("table"),
        redis::Value::BulkString(b"2".to_vec())
    );
    assert_eq!(
        raw(c, &["BLOCK.READ", "b:snap", "70000", "5"]).expect("read"),
        redis::Value::BulkString(b"hello".to_vec())
    );
    assert_eq!(
        raw(c, &["BLOCK.READ", "b:snap", "131072", "5"]).expect("read"),
        redis::Value::BulkString(b"world".to_vec())
    );
    assert_eq!(c.get::<_, i64>("tx:a").expect("get"), 1);
    assert_eq!(c.get::<_, i64>("tx:b").expect("get"), 2);
    raw(c, &["SELECT", "3"]).expect("select");
    assert_eq!(c.get::<_, String>("db3").expect("get"), "three");
    assert_eq!(redis::cmd("DBSIZE").query::<i64>(c).expect("dbsize"), 1);
}
