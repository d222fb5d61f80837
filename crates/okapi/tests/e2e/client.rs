//! The Rust client crate and `okapi cli block put/get/info` against the real server:
//! typed blocks and tables, pipelining, server errors as typed errors, and a file with
//! holes uploaded and downloaded with CRC-32C checks, sparse on both ends.

use std::process::Command;

use bytes::Bytes;
use okapi_client::{Client, ClientError, args};

use crate::common::{Rng, node};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

#[test]
fn typed_blocks_and_tables() {
    let n = node();
    let addr = format!("127.0.0.1:{}", n.port);
    runtime().block_on(async {
        let mut c = Client::connect(&addr).await.expect("connect");
        c.block_create("b", 1 << 20).await.expect("create");
        assert_eq!(c.block_write("b", 100, b"hello").await.expect("write"), 5);
        assert_eq!(
            c.block_write("b", (1 << 20) - 2, b"xyz")
                .await
                .expect("write"),
            2
        );
        assert_eq!(
            c.block_read("b", 99, 7).await.expect("read"),
            Some(Bytes::from_static(b"\0hello\0"))
        );
        assert_eq!(c.block_read("nosuch", 0, 1).await.expect("read"), None);
        assert!(c.block_clone("b", "c", false).await.expect("clone"));
        assert!(!c.block_clone("b", "c", false).await.expect("clone"));
        assert_eq!(
            c.block_scatter(&[(b"b", 0, b"AB"), (b"c", 1, b"Z")])
                .await
                .expect("scatter"),
            [2, 1]
        );
        assert_eq!(
            c.block_gather(&[(b"b", 0, 2), (b"c", 0, 3), (b"nosuch", 0, 1)])
                .await
                .expect("gather"),
            [
                Some(Bytes::from_static(b"AB")),
                Some(Bytes::from_static(b"\0Z\0")),
                None
            ]
        );
        assert_eq!(c.block_clear("b", 100, 5).await.expect("clear"), 5);
        c.block_truncate("c", 10).await.expect("truncate");
        let info = c.block_info("c").await.expect("info").expect("exists");
        assert_eq!((info.length, info.page_size), (10, 65536));
        assert_eq!(info.crc32c, crc32c::crc32c(b"\0Z\0\0\0\0\0\0\0\0"));
        assert_eq!(c.block_info("nosuch").await.expect("info"), None);
        match c.block_write("nosuch", 0, b"x").await {
            Err(ClientError::Server(e)) => assert!(e.starts_with("ERR no such key"), "{e}"),
            other => panic!("expected a server error, got {other:?}"),
        }

        let pairs: &[(&[u8], &[u8])] = &[(b"a", b"1"), (b"b", b"2"), (b"c", b"3")];
        assert_eq!(c.table_set("t", pairs).await.expect("set"), 3);
        assert_eq!(
            c.table_get("t", "b").await.expect("get"),
            Some(Bytes::from_static(b"2"))
        );
        let rev = c
            .table_range("t", "-", "+", Some(2), true)
            .await
            .expect("range");
        assert_eq!(
            rev,
            [
                (Bytes::from_static(b"c"), Bytes::from_static(b"3")),
                (Bytes::from_static(b"b"), Bytes::from_static(b"2"))
            ]
        );
        assert_eq!(c.table_delrange("t", "a", "c").await.expect("delrange"), 2);
        assert_eq!(c.table_count("t").await.expect("count"), 1);

        // A pipeline: replies in order, an error in the middle does not stop the rest.
        let replies = c
            .pipeline(vec![
                args!(b"SET", b"k", b"v"),
                args!(b"INCR", b"k"),
                args!(b"GET", b"k"),
            ])
            .await
            .expect("pipeline");
        assert!(replies[0].is_ok());
        assert!(matches!(&replies[1], Err(ClientError::Server(e)) if e.contains("not an integer")));
        assert!(matches!(&replies[2], Ok(okapi_resp::Frame::Bulk(v)) if v.as_ref() == b"v"));
    });
}

fn okapi(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_okapi"))
        .args(args)
        .output()
        .expect("okapi runs")
}

#[test]
fn cli_puts_and_gets_files_with_holes() {
    let n = node();
    let port = n.port.to_string();
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("src.img");
    let mut data = Rng::new(7).bytes(20 << 20);
    data[2 << 20..10 << 20].fill(0);
    data.truncate((20 << 20) - 12_345);
    std::fs::write(&src, &data).expect("write");
    let put = okapi(&[
        "cli",
        "--port",
        &port,
        "block",
        "put",
        src.to_str().expect("path"),
        "img",
    ]);
    assert!(
        put.status.success(),
        "{}",
        String::from_utf8_lossy(&put.stderr)
    );
    let stdout = String::from_utf8_lossy(&put.stdout);
    assert!(
        stdout.contains(&format!("uploaded {} bytes", data.len()))
            && stdout.contains("CRC-32C verified"),
        "{stdout}"
    );
    let info = okapi(&["cli", "--port", &port, "block", "info", "img"]);
    let info = String::from_utf8_lossy(&info.stdout);
    assert!(info.contains(&format!("length {}", data.len())), "{info}");
    assert!(
        info.contains(&format!("crc32c {:08x}", crc32c::crc32c(&data))),
        "{info}"
    );
    // 8 MiB of zeros were skipped: 128 of the 320 pages never exist.
    assert!(info.contains("pages 192"), "{info}");

    let out = dir.path().join("out.img");
    let get = okapi(&[
        "cli",
        "--port",
        &port,
        "block",
        "get",
        "img",
        out.to_str().expect("path"),
    ]);
    assert!(
        get.status.success(),
        "{}",
        String::from_utf8_lossy(&get.stderr)
    );
    assert!(
        std::fs::read(&out).expect("read") == data,
        "downloaded file differs"
    );

    let missing = okapi(&[
        "cli",
        "--port",
        &port,
        "block",
        "get",
        "nosuch",
        out.to_str().expect("path"),
    ]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no such block"));
    let no_file = okapi(&[
        "cli",
        "--port",
        &port,
        "block",
        "put",
        "/nonexistent/file",
        "x",
    ]);
    assert!(!no_file.status.success());
    assert!(String::from_utf8_lossy(&no_file.stderr).contains("uploading /nonexistent/file"));
}

/// Waits until CLIENT LIST shows `count` clients flagged `b` (blocked or held by a
/// pause).
fn wait_flagged_blocked(con: &mut redis::Connection, count: usize) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let list: String = redis::cmd("CLIENT")
            .arg("LIST")
            .query(con)
            .expect("CLIENT LIST");
        let flagged = list
            .lines()
            .filter(|l| {
                l.split(' ')
                    .any(|f| f.starts_with("flags=") && f.contains('b'))
            })
            .count();
        if flagged == count {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never saw {count} held: {list}"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

#[test]
fn client_pause_holds_writes_or_everything_until_unpause_or_timeout() {
    let n = crate::common::node();
    let mut c = n.client().expect("connect");
    let mut admin = n.client().expect("connect");
    assert_eq!(
        crate::common::raw(&mut admin, &["CLIENT", "PAUSE", "60000", "WRITE"]).expect("PAUSE"),
        redis::Value::Okay
    );
    // Reads run; a write waits, visibly held, until CLIENT UNPAUSE.
    let got: Option<String> = redis::cmd("GET").arg("k").query(&mut c).expect("GET");
    assert_eq!(got, None);
    let writer = crate::common::spawn(&n, &["SET", "k", "v"]);
    wait_flagged_blocked(&mut admin, 1);
    let still: Option<String> = redis::cmd("GET").arg("k").query(&mut c).expect("GET");
    assert_eq!(still, None, "the write is held");
    assert_eq!(
        crate::common::raw(&mut admin, &["CLIENT", "UNPAUSE"]).expect("UNPAUSE"),
        redis::Value::Okay
    );
    assert_eq!(crate::common::joined(writer), redis::Value::Okay);
    let now: String = redis::cmd("GET").arg("k").query(&mut c).expect("GET");
    assert_eq!(now, "v");

    // ALL holds reads too, and ends by itself.
    let started = std::time::Instant::now();
    assert_eq!(
        crate::common::raw(&mut admin, &["CLIENT", "PAUSE", "300"]).expect("PAUSE"),
        redis::Value::Okay
    );
    let got: String = redis::cmd("GET").arg("k").query(&mut c).expect("GET");
    assert_eq!(got, "v");
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(250),
        "the read waited for the pause to end"
    );
    for (args, want) in [
        (
            &["CLIENT", "PAUSE", "x"][..],
            "ERR timeout is not an integer or out of range",
        ),
        (&["CLIENT", "PAUSE", "-1"], "ERR timeout is negative"),
        (
            &["CLIENT", "PAUSE", "10", "FOO"],
            "ERR CLIENT PAUSE mode must be WRITE or ALL",
        ),
        (
            &["CLIENT", "PAUSE"],
            "ERR wrong number of arguments for 'client|pause' command",
        ),
    ] {
        assert_eq!(crate::common::err(&mut c, args), want, "{args:?}");
    }
}

#[test]
fn monitor_streams_other_clients_commands_as_redis_prints_them() {
    let n = crate::common::node();
    let mut monitor = crate::common::Raw::connect(&n);
    assert_eq!(monitor.call(&["MONITOR"]), crate::common::simple("OK"));
    let mut c = n.client().expect("connect");
    let _: () = redis::cmd("SET")
        .arg("k")
        .arg("a \"b\"\n\x01")
        .query(&mut c)
        .expect("SET");
    let _ = crate::common::raw(&mut c, &["AUTH", "secret"]);
    let _: Vec<String> = redis::cmd("CONFIG")
        .arg(&["GET", "port"])
        .query(&mut c)
        .expect("CONFIG");
    let _: redis::Value = redis::pipe()
        .atomic()
        .cmd("INCR")
        .arg("n")
        .query(&mut c)
        .expect("EXEC");
    let mut lines = Vec::new();
    while lines.len() < 5 {
        match monitor.read().expect("a monitor line") {
            // The redis crate announces itself with CLIENT SETINFO on connect.
            okapi_resp::Frame::Simple(line) if line.windows(9).any(|w| w == b"\"SETINFO\"") => {}
            okapi_resp::Frame::Simple(line) => {
                lines.push(String::from_utf8_lossy(&line).into_owned())
            }
            other => panic!("not a monitor line: {other:?}"),
        }
    }
    let commands: Vec<&str> = lines
        .iter()
        .map(|line| {
            let (stamp, rest) = line.split_once(' ').expect("a time stamp");
            let (secs, micros) = stamp.split_once('.').expect("seconds.micros");
            assert!(secs.parse::<u64>().is_ok() && micros.len() == 6, "{line}");
            let rest = rest
                .strip_prefix("[0 127.0.0.1:")
                .expect("namespace and address");
            rest.split_once("] ").expect("the command").1
        })
        .collect();
    // CONFIG (an admin command) is not shown, AUTH's password is, redacted; the
    // transaction's commands come when EXEC runs them, before EXEC.
    assert_eq!(
        commands,
        [
            r#""SET" "k" "a \"b\"\n\x01""#,
            r#""AUTH" "(redacted)""#,
            r#""MULTI""#,
            r#""INCR" "n""#,
            r#""EXEC""#,
        ]
    );
    let list: String = redis::cmd("CLIENT")
        .arg("LIST")
        .query(&mut c)
        .expect("CLIENT LIST");
    assert!(list.contains("flags=O"), "{list}");
}
