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

/// `redis-cli --memkeys` sizes keys with MEMORY USAGE: it reports real sizes, the
/// biggest key of each type, and MEMORY USAGE grows with the value.
#[test]
fn redis_cli_memkeys_reports_sizes_from_memory_usage() {
    let n = node();
    let mut c = n.client().expect("connect");
    let _: () = redis::cmd("SET")
        .arg("small")
        .arg("x")
        .query(&mut c)
        .expect("SET");
    let _: () = redis::cmd("SET")
        .arg("big")
        .arg("y".repeat(10_000))
        .query(&mut c)
        .expect("SET");
    for i in 0..1000 {
        let _: () = redis::cmd("HSET")
            .arg("h")
            .arg(format!("field:{i}"))
            .arg("value")
            .query(&mut c)
            .expect("HSET");
    }
    let usage = |c: &mut redis::Connection, key: &str, extra: &[&str]| -> Option<i64> {
        redis::cmd("MEMORY")
            .arg("USAGE")
            .arg(key)
            .arg(extra)
            .query(c)
            .expect("MEMORY USAGE")
    };
    let small = usage(&mut c, "small", &[]).expect("exists");
    let big = usage(&mut c, "big", &[]).expect("exists");
    let hash = usage(&mut c, "h", &["SAMPLES", "0"]).expect("exists");
    assert!(small > 0 && big >= small + 10_000, "{small} {big}");
    assert!(hash > 1000 * 14, "every field counted: {hash}");
    assert_eq!(usage(&mut c, "missing", &[]), None);
    for (args, want) in [
        (
            &["MEMORY", "USAGE", "big", "SAMPLES", "x"][..],
            "ERR value is not an integer or out of range",
        ),
        (
            &["MEMORY", "USAGE", "big", "COUNT", "1"],
            "ERR syntax error",
        ),
        (
            &["MEMORY", "NOPE"],
            "ERR unknown subcommand 'NOPE'. Try MEMORY HELP.",
        ),
    ] {
        assert_eq!(crate::common::err(&mut c, args), want, "{args:?}");
    }
    let stats: redis::Value = redis::cmd("MEMORY")
        .arg("STATS")
        .query(&mut c)
        .expect("STATS");
    assert!(format!("{stats:?}").contains("keys.count"), "{stats:?}");

    let out = tool("redis-cli")
        .arg("-p")
        .arg(n.port.to_string())
        .arg("--memkeys")
        .output()
        .expect("redis-cli runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains(&format!(
            "Biggest string found so far '\"big\"' with {big} bytes"
        )),
        "{text}"
    );
    assert!(
        text.contains("Biggest hash   found so far '\"h\"'"),
        "{text}"
    );
}
