//! Streams through the real binary: `*` IDs from the leader's clock, ranges, XREAD in
//! both protocols, trimming, Redis's errors, and a stream that survives a restart with
//! its IDs, metadata and digest.

use std::process::Command;

use crate::common::{err, node};

type Entries = Vec<(String, Vec<String>)>;

#[test]
fn streams_answer_as_redis_and_survive_a_restart() {
    let mut n = node();
    let mut c = n.client().expect("connect");
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as u64;
    let mut ids = Vec::new();
    for i in 0..5 {
        let id: String = redis::cmd("XADD")
            .arg(&["s", "*", "n"])
            .arg(i)
            .query(&mut c)
            .expect("XADD *");
        ids.push(id);
    }
    let ms: u64 = ids[0]
        .split('-')
        .next()
        .and_then(|m| m.parse().ok())
        .expect("ms-seq");
    assert!(
        ms >= before,
        "{} is the leader's time, not before {before}",
        ids[0]
    );
    let mut sorted = ids.clone();
    sorted.sort_by_key(|id| {
        let (m, s) = id.split_once('-').expect("ms-seq");
        (
            m.parse::<u64>().expect("ms"),
            s.parse::<u64>().expect("seq"),
        )
    });
    assert_eq!(sorted, ids, "IDs grow");
    let range: Entries = redis::cmd("XRANGE")
        .arg(&["s", "-", "+", "COUNT", "2"])
        .query(&mut c)
        .expect("XRANGE");
    assert_eq!(
        range,
        vec![
            (ids[0].clone(), vec!["n".to_owned(), "0".to_owned()]),
            (ids[1].clone(), vec!["n".to_owned(), "1".to_owned()]),
        ]
    );
    let read: Vec<(String, Entries)> = redis::cmd("XREAD")
        .arg(&["COUNT", "1", "STREAMS", "s", &ids[3]])
        .query(&mut c)
        .expect("XREAD");
    assert_eq!(
        read,
        vec![(
            "s".to_owned(),
            vec![(ids[4].clone(), vec!["n".to_owned(), "4".to_owned()])]
        )]
    );
    let nothing: redis::Value = redis::cmd("XREAD")
        .arg(&["STREAMS", "s", "$"])
        .query(&mut c)
        .expect("XREAD $");
    assert_eq!(nothing, redis::Value::Nil);
    let trimmed: i64 = redis::cmd("XTRIM")
        .arg(&["s", "MAXLEN", "3"])
        .query(&mut c)
        .expect("XTRIM");
    assert_eq!(trimmed, 2);
    let deleted: i64 = redis::cmd("XDEL")
        .arg(&["s", &ids[2], "1-1"])
        .query(&mut c)
        .expect("XDEL");
    assert_eq!(deleted, 1);
    let len: i64 = redis::cmd("XLEN").arg("s").query(&mut c).expect("XLEN");
    assert_eq!(len, 2);
    for (args, want) in [
        (
            &["XADD", "s", "1-1", "a", "b"][..],
            "ERR The ID specified in XADD is equal or smaller than the target stream top item",
        ),
        (
            &["XADD", "s", "0-0", "a", "b"],
            "ERR The ID specified in XADD must be greater than 0-0",
        ),
        (
            &["XADD", "s", "*", "a"],
            "ERR wrong number of arguments for 'xadd' command",
        ),
        (
            &["XRANGE", "s", "x", "+"],
            "ERR Invalid stream ID specified as stream command argument",
        ),
        (
            &["XTRIM", "s", "MAXLEN", "1", "LIMIT", "5"],
            "ERR syntax error, LIMIT cannot be used without the special ~ option",
        ),
        (
            &["XREAD", "STREAMS", "s"],
            "ERR wrong number of arguments for 'xread' command",
        ),
        (&["XSETID", "nokey", "1-1"], "ERR no such key"),
    ] {
        assert_eq!(err(&mut c, args), want, "{args:?}");
    }
    // Nothing arrives: the wait times out with nil.
    let nothing: redis::Value = redis::cmd("XREAD")
        .arg(&["BLOCK", "20", "STREAMS", "s", "$"])
        .query(&mut c)
        .expect("XREAD BLOCK");
    assert_eq!(nothing, redis::Value::Nil);

    // redis-cli, in RESP3: XREAD is a map of stream to entries.
    let out = Command::new("redis-cli")
        .arg("-p")
        .arg(n.port.to_string())
        .args(["-3", "XREAD", "COUNT", "1", "STREAMS", "s", "0"])
        .output()
        .expect("redis-cli runs (install redis-tools)");
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("s {}\nn\n3\n", ids[3]),
        "as redis-cli prints it for redis-server"
    );

    let digest: String = redis::cmd("DEBUG")
        .arg("DIGEST")
        .query(&mut c)
        .expect("DIGEST");
    drop(c);
    n.restart().expect("restart");
    let mut c = n.client().expect("connect");
    let after: String = redis::cmd("DEBUG")
        .arg("DIGEST")
        .query(&mut c)
        .expect("DIGEST");
    assert_eq!(after, digest, "entries, nodes and metadata are back");
    // The last ID survived too: a new `*` ID is above every earlier one.
    let next: String = redis::cmd("XADD")
        .arg(&["s", "*", "n", "5"])
        .query(&mut c)
        .expect("XADD after restart");
    assert_ne!(next, ids[4]);
    let all: Entries = redis::cmd("XRANGE")
        .arg(&["s", "-", "+"])
        .query(&mut c)
        .expect("XRANGE");
    let got: Vec<&str> = all.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(got, vec![ids[3].as_str(), ids[4].as_str(), next.as_str()]);
}
