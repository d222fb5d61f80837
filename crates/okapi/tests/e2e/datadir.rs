//! One server per data directory: a second server on a running one's directory exits
//! at once naming the holder, before it reads or binds anything, and nothing the first
//! acknowledged is lost; `okapi check` on a directory in use checks read-only and
//! refuses to repair.

use std::process::{Command, Stdio};
use std::time::Duration;

use redis::Commands;

use crate::common::start;

/// Runs the binary with `args` to its end (within 30 s) and returns its exit code and
/// everything it printed.
fn run_to_end(args: &[&str]) -> (i32, String) {
    let child = Command::new(env!("CARGO_BIN_EXE_okapi"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts");
    let pid = child.id();
    let (done, wait) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(child.wait_with_output());
    });
    let output = match wait.recv_timeout(Duration::from_secs(30)) {
        Ok(output) => output.expect("output"),
        Err(_) => {
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
            panic!("okapi {args:?} did not exit within 30 s");
        }
    };
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code().unwrap_or(-1), text)
}

#[test]
fn a_second_server_on_the_same_data_dir_exits_and_nothing_is_lost() {
    let mut first = start(&[]);
    let mut c = first.client().expect("connect");
    for i in 0..200 {
        let _: () = c.set(format!("k{i}"), i).expect("acknowledged");
    }
    let dir = first.data_dir();
    let dir_text = dir.display().to_string();
    let ready = first.scratch().join("second-ready.json");
    let (code, said) = run_to_end(&[
        "server",
        "--port",
        "0",
        "--http-port",
        "0",
        "--data-dir",
        &dir_text,
        "--ready-file",
        &ready.display().to_string(),
    ]);
    assert_ne!(code, 0, "the second server must not run: {said}");
    let pid = first.pid().expect("running").to_string();
    assert!(
        said.contains(&dir_text) && said.contains(&pid) && said.contains("in use"),
        "the error names the directory and the holder's pid {pid}: {said}"
    );
    assert!(!ready.exists(), "the second server never became ready");
    // The first still serves and takes writes.
    for i in 200..300 {
        let _: () = c.set(format!("k{i}"), i).expect("acknowledged");
    }
    first.kill();
    first.restart().expect("restarts on its own directory");
    let mut c = first.client().expect("connect");
    for i in 0..300 {
        assert_eq!(
            c.get::<_, Option<i64>>(format!("k{i}")).expect("get"),
            Some(i),
            "acknowledged write k{i} lost"
        );
    }
}

#[test]
fn check_on_a_running_servers_directory_reads_only_and_refuses_repair() {
    let n = start(&[]);
    let mut c = n.client().expect("connect");
    let _: () = c.set("k", "v").expect("set");
    let dir = n.data_dir().display().to_string();
    let (code, said) = run_to_end(&["check", &dir]);
    assert_eq!(code, 0, "{said}");
    assert!(said.contains("in use"), "{said}");
    assert!(said.contains("possibly inconsistent"), "{said}");
    assert!(said.contains("result: OK"), "{said}");
    let (code, said) = run_to_end(&["check", &dir, "--repair"]);
    assert_ne!(
        code, 0,
        "repair on a live directory must be refused: {said}"
    );
    assert!(said.contains("refusing --repair"), "{said}");
    // The server did not notice.
    assert_eq!(c.get::<_, String>("k").expect("get"), "v");
}

#[test]
fn the_lock_is_released_when_the_server_dies() {
    let mut n = start(&[]);
    n.kill();
    let dir = n.data_dir().display().to_string();
    let (code, said) = run_to_end(&["check", &dir]);
    assert_eq!(code, 0, "{said}");
    assert!(
        !said.contains("in use"),
        "a killed server holds no lock: {said}"
    );
    n.restart().expect("a new server takes the directory");
}
