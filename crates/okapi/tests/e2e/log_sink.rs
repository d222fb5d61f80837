//! The log can never stop the server: a closed log pipe costs lines (counted in INFO),
//! not a panic or an ignored SIGTERM. `--logfile` is plain text (no colour), reopened on
//! SIGHUP; `--log-format json`; CONFIG SET loglevel applies at once, and openraft's
//! chatter stays out of okapi's debug level.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use redis::Commands;

use crate::common::{info_field, raw, start};

/// Waits until `check` holds, up to 30 s, else fails with `what`.
fn wait_until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_closed_log_pipe_then_sigterm_stops_the_server_cleanly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ready = dir.path().join("ready.json");
    let mut child = Command::new(env!("CARGO_BIN_EXE_okapi"))
        .args([
            "server",
            "--port",
            "0",
            "--http-port",
            "0",
            "--loglevel",
            "verbose",
        ])
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg("--ready-file")
        .arg(&ready)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts");
    // As `okapi server 2>&1 | head -1`: read one line, then close the pipe.
    let mut first = String::new();
    BufReader::new(child.stderr.take().expect("piped"))
        .read_line(&mut first)
        .expect("a first log line");
    assert!(!first.is_empty());
    wait_until("the ready file", || ready.exists());
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&ready).expect("ready")).expect("json");
    let port = json["port"].as_u64().expect("port");
    let mut c = redis::Client::open(format!("redis://127.0.0.1:{port}/"))
        .expect("url")
        .get_connection()
        .expect("connect");
    for i in 0..5 {
        let _: () = c.set("k", i).expect("set");
        raw(&mut c, &["SAVE"]).expect("save logs a line");
    }
    wait_until("lines dropped on the closed pipe", || {
        info_field(&mut c, "okapi", "log_lines_dropped")
            .parse::<u64>()
            .expect("number")
            > 0
    });
    let _: () = c.set("still", "serving").expect("the server goes on");
    let status = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .expect("kill");
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let exit = loop {
        if let Some(exit) = child.try_wait().expect("wait") {
            break exit;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("SIGTERM was ignored with the log pipe closed");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(exit.success(), "clean exit, not a panic: {exit}");
    assert!(!ready.exists(), "the ready file is removed at exit");
}

#[test]
fn logfile_is_plain_text_reopened_on_sighup_and_follows_config_set_loglevel() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("okapi.log");
    let n = start(&["--logfile", log.to_str().expect("utf-8"), "--nbd-port", "0"]);
    let mut c = n.client().expect("connect");
    raw(&mut c, &["BLOCK.CREATE", "disk", "65536"]).expect("create");
    let read = || std::fs::read_to_string(&log).unwrap_or_default();
    let nbd_open = || {
        let out = Command::new("qemu-img")
            .args(["info"])
            .arg(format!("nbd://127.0.0.1:{}/disk", n.nbd_port.expect("nbd")))
            .output()
            .expect("qemu-img");
        assert!(out.status.success());
    };
    // At notice, the debug line of an NBD open is not written: a SAVE after it logs
    // "snapshot written", and lines are written in order.
    nbd_open();
    raw(&mut c, &["SET", "a", "1"]).expect("set");
    raw(&mut c, &["SAVE"]).expect("save");
    wait_until("the snapshot line", || read().contains("snapshot written"));
    assert!(read().contains("okapi starting"), "{}", read());
    assert!(!read().contains("NBD export opened"));
    assert!(
        !read().contains('\u{1b}'),
        "colour codes in a file: {}",
        read()
    );

    raw(&mut c, &["CONFIG", "SET", "loglevel", "debug"]).expect("config");
    nbd_open();
    wait_until("the debug line after CONFIG SET loglevel", || {
        read().contains("NBD export opened")
    });
    raw(&mut c, &["SET", "b", "2"]).expect("set");
    assert!(
        !read().contains("openraft"),
        "openraft stays at warn under okapi's debug: {}",
        read()
    );

    // logrotate: the file is moved away, SIGHUP makes the server write a new one.
    let rotated = dir.path().join("okapi.log.1");
    std::fs::rename(&log, &rotated).expect("rotate");
    let hup = Command::new("kill")
        .arg("-HUP")
        .arg(n.pid().expect("running").to_string())
        .status()
        .expect("kill");
    assert!(hup.success());
    wait_until("a new log file after SIGHUP", || {
        read().contains("log file reopened")
    });
    assert!(
        std::fs::read_to_string(&rotated)
            .expect("rotated")
            .contains("okapi starting")
    );
    let _: () = c.set("c", 3).expect("served after SIGHUP");
}

#[test]
fn json_log_lines_carry_the_start_fields() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("okapi.json");
    let n = start(&[
        "--logfile",
        log.to_str().expect("utf-8"),
        "--log-format",
        "json",
    ]);
    let mut c = n.client().expect("connect");
    assert_eq!(
        raw(&mut c, &["CONFIG", "GET", "log-format"]).expect("config"),
        redis::Value::Array(vec![
            redis::Value::BulkString(b"log-format".to_vec()),
            redis::Value::BulkString(b"json".to_vec())
        ])
    );
    wait_until("the start line", || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("okapi starting")
    });
    let text = std::fs::read_to_string(&log).expect("log");
    let start_line = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("every line is JSON"))
        .find(|v| v["fields"]["message"] == "okapi starting: listeners bound, loading the dataset")
        .expect("a start line");
    let fields = &start_line["fields"];
    assert_eq!(fields["pid"], n.pid().expect("pid"));
    assert!(fields["version"].is_string() && fields["commit"].is_string());
    assert_eq!(fields["data_dir"], n.data_dir().display().to_string());
    assert!(
        fields["resp"]
            .as_str()
            .expect("resp")
            .contains(&n.port.to_string()),
        "{fields}"
    );
}
