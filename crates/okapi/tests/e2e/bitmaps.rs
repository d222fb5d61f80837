//! Bitmap commands through the real binary: the redis crate and redis-cli, Redis's
//! replies and errors, and a bitmap that survives a restart unchanged (its digest too).

use std::process::Command;

use crate::common::{err, node, raw};

fn int(c: &mut redis::Connection, args: &[&str]) -> i64 {
    match raw(c, args).expect("command runs") {
        redis::Value::Int(n) => n,
        other => panic!("{args:?} replied {other:?}"),
    }
}

#[test]
fn bitmap_commands_answer_as_redis_and_survive_a_restart() {
    let mut n = node();
    let mut c = n.client().expect("connect");
    assert_eq!(int(&mut c, &["SETBIT", "b", "7", "1"]), 0);
    assert_eq!(int(&mut c, &["SETBIT", "b", "7", "1"]), 1);
    assert_eq!(int(&mut c, &["SETBIT", "b", "100", "1"]), 0);
    assert_eq!(int(&mut c, &["GETBIT", "b", "100"]), 1);
    assert_eq!(int(&mut c, &["STRLEN", "b"]), 13);
    assert_eq!(int(&mut c, &["BITCOUNT", "b"]), 2);
    assert_eq!(int(&mut c, &["BITCOUNT", "b", "0", "0"]), 1);
    assert_eq!(int(&mut c, &["BITCOUNT", "b", "8", "-1", "BIT"]), 1);
    assert_eq!(int(&mut c, &["BITPOS", "b", "1"]), 7);
    assert_eq!(int(&mut c, &["BITPOS", "b", "1", "1"]), 100);
    assert_eq!(int(&mut c, &["BITPOS", "b", "0", "0", "-1"]), 0);
    let _: () = redis::cmd("SET")
        .arg("x")
        .arg("abc")
        .query(&mut c)
        .expect("SET");
    assert_eq!(int(&mut c, &["BITOP", "AND", "d", "b", "x"]), 13);
    assert_eq!(int(&mut c, &["BITCOUNT", "d"]), 1);
    assert_eq!(int(&mut c, &["BITOP", "AND", "d", "missing"]), 0);
    assert_eq!(int(&mut c, &["EXISTS", "d"]), 0, "an empty result deletes");
    let fields: Vec<Option<i64>> = redis::cmd("BITFIELD")
        .arg(&["f", "SET", "u8", "0", "200", "INCRBY", "u8", "0", "100"])
        .arg(&[
            "OVERFLOW", "FAIL", "INCRBY", "u8", "0", "250", "GET", "i8", "0",
        ])
        .query(&mut c)
        .expect("BITFIELD");
    assert_eq!(fields, vec![Some(0), Some(44), None, Some(44)]);
    for (args, want) in [
        (
            &["SETBIT", "b", "4294967296", "1"][..],
            "ERR bit offset is not an integer or out of range",
        ),
        (
            &["SETBIT", "b", "1", "2"],
            "ERR bit is not an integer or out of range",
        ),
        (
            &["BITPOS", "b", "2"],
            "ERR The bit argument must be 1 or 0.",
        ),
        (&["BITCOUNT", "b", "0"], "ERR syntax error"),
        (
            &["BITOP", "NOT", "d", "b", "x"],
            "ERR BITOP NOT must be called with a single source key.",
        ),
        (
            &["BITFIELD_RO", "f", "SET", "u8", "0", "1"],
            "ERR BITFIELD_RO only supports the GET subcommand",
        ),
        (
            &["BITFIELD", "f", "GET", "u64", "0"],
            "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not \
             supported but i64 is.",
        ),
    ] {
        assert_eq!(err(&mut c, args), want, "{args:?}");
    }
    let _: () = redis::cmd("RPUSH")
        .arg("l")
        .arg("a")
        .query(&mut c)
        .expect("RPUSH");
    assert!(err(&mut c, &["SETBIT", "l", "1", "1"]).starts_with("WRONGTYPE"));

    // redis-cli sees the same.
    let cli = |port: u16, args: &[&str]| {
        let out = Command::new("redis-cli")
            .arg("-p")
            .arg(port.to_string())
            .args(args)
            .output()
            .expect("redis-cli runs (install redis-tools)");
        assert!(out.status.success(), "{args:?}");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    assert_eq!(cli(n.port, &["BITCOUNT", "b"]), "2");
    assert_eq!(cli(n.port, &["SETBIT", "cli", "3", "1"]), "0");
    assert_eq!(cli(n.port, &["GET", "cli"]), "\u{10}");

    // A restart replays the log: the same bits, the same digest.
    let digest: String = redis::cmd("DEBUG")
        .arg("DIGEST")
        .query(&mut c)
        .expect("DIGEST");
    assert_ne!(digest, "0".repeat(40));
    drop(c);
    n.restart().expect("restart");
    let mut c = n.client().expect("connect");
    let after: String = redis::cmd("DEBUG")
        .arg("DIGEST")
        .query(&mut c)
        .expect("DIGEST");
    assert_eq!(after, digest);
    assert_eq!(int(&mut c, &["BITPOS", "b", "1", "1"]), 100);
    assert_eq!(int(&mut c, &["GETBIT", "cli", "3"]), 1);
}
