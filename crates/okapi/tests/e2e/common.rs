//! Shared helpers for the end-to-end tests.

use okapi_testkit::TestNode;

/// Starts the binary under test with `extra` flags.
pub fn start(extra: &[&str]) -> TestNode {
    TestNode::start(env!("CARGO_BIN_EXE_okapi"), extra).expect("okapi starts")
}

/// Starts a default node.
pub fn node() -> TestNode {
    start(&[])
}

/// Runs a command and returns its reply as a `redis::Value`.
pub fn raw(con: &mut redis::Connection, args: &[&str]) -> redis::RedisResult<redis::Value> {
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd.query(con)
}

/// Runs a command expected to fail and returns the error text (code and message).
pub fn err(con: &mut redis::Connection, args: &[&str]) -> String {
    match raw(con, args) {
        Ok(v) => panic!("{args:?} succeeded with {v:?}"),
        Err(e) => {
            let code = e.code().unwrap_or("").to_owned();
            let detail = e.detail().unwrap_or("").to_owned();
            if code.is_empty() {
                e.to_string()
            } else {
                format!("{code} {detail}")
            }
        }
    }
}
