//! On-disk formats stay readable: a data directory written by an earlier okapi (log
//! format 1, committed under `tests/fixtures/`) loads with every value intact, from its
//! snapshot and from the log written after it.

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
    let mut c = n.client().expect("connect");
    assert_eq!(
        c.get::<_, String>("s:snap").expect("get"),
        "in the snapshot"
    );
    assert_eq!(
        raw(&mut c, &["EXPIRETIME", "s:snap"]).expect("expiretime"),
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
        raw(&mut c, &["TABLE.GET", "t:snap", "b"]).expect("table"),
        redis::Value::BulkString(b"2".to_vec())
    );
    assert_eq!(
        raw(&mut c, &["BLOCK.READ", "b:snap", "70000", "5"]).expect("read"),
        redis::Value::BulkString(b"hello".to_vec())
    );
    assert_eq!(
        raw(&mut c, &["BLOCK.READ", "b:snap", "131072", "5"]).expect("read"),
        redis::Value::BulkString(b"world".to_vec())
    );
    assert_eq!(c.get::<_, i64>("tx:a").expect("get"), 1);
    assert_eq!(c.get::<_, i64>("tx:b").expect("get"), 2);
    raw(&mut c, &["SELECT", "3"]).expect("select");
    assert_eq!(c.get::<_, String>("db3").expect("get"), "three");
    assert_eq!(
        redis::cmd("DBSIZE").query::<i64>(&mut c).expect("dbsize"),
        1
    );
}
