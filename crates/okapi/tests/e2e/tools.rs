//! Redis's own tools against okapi: redis-cli and redis-benchmark work unchanged.
//! `.ci/run` installs them (Debian package redis-tools).

use std::process::Command;

use crate::common::node;

fn tool(name: &str) -> Command {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {name}"))
        .output()
        .expect("sh");
    assert!(
        found.status.success(),
        "{name} is missing: install redis-tools (.ci/run does)"
    );
    Command::new(name)
}

#[test]
fn redis_cli_works_unchanged() {
    let n = node();
    let port = n.port.to_string();
    let run = |args: &[&str]| {
        let out = tool("redis-cli")
            .arg("-p")
            .arg(&port)
            .args(args)
            .output()
            .expect("redis-cli runs");
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim_end().to_owned()
    };
    assert_eq!(run(&["set", "greeting", "hello"]), "OK");
    assert_eq!(run(&["get", "greeting"]), "hello");
    assert_eq!(run(&["incrby", "n", "5"]), "5");
    assert_eq!(run(&["dbsize"]), "2");
    assert!(run(&["info", "server"]).contains("redis_version:"));
    assert_eq!(run(&["-3", "ping"]), "PONG");
    // Piped input, as in `redis-cli < commands.txt`.
    let mut child = tool("redis-cli")
        .arg("-p")
        .arg(&port)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    std::io::Write::write_all(
        child.stdin.as_mut().expect("stdin"),
        b"set a 1\nincr a\nget a\n",
    )
    .expect("write");
    let out = child.wait_with_output().expect("wait");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "OK\n2\n2\n");
}

#[test]
fn redis_benchmark_runs_against_okapi() {
    let n = node();
    let out = tool("redis-benchmark")
        .args([
            "-p",
            &n.port.to_string(),
            "-t",
            "set,get,incr,lpush,lpop,mset",
            "-n",
            "2000",
            "-c",
            "10",
            "-q",
            "--csv",
        ])
        .output()
        .expect("redis-benchmark runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for test in ["\"SET\"", "\"GET\"", "\"INCR\"", "\"MSET (10 keys)\""] {
        assert!(text.contains(test), "{test} missing from:\n{text}");
    }
    let mut c = n.client().expect("connect");
    let size: i64 = redis::cmd("DBSIZE").query(&mut c).expect("dbsize");
    assert!(size > 0, "the benchmark wrote keys");
}
