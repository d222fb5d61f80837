//! `COMMAND DOCS` end to end: the nested argument maps as a client reads them, and
//! redis-cli building `HELP <command>` and its as-you-type hints from them.

use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use redis::Value;

use crate::common::node;

/// A map reply as (field, value) pairs: a map in RESP3, a flat array in RESP2.
fn fields(value: &Value) -> Vec<(String, &Value)> {
    let text = |v: &Value| match v {
        Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        Value::SimpleString(s) => s.clone(),
        other => panic!("not a string: {other:?}"),
    };
    match value {
        Value::Map(pairs) => pairs.iter().map(|(k, v)| (text(k), v)).collect(),
        Value::Array(flat) if flat.len() % 2 == 0 => {
            flat.chunks(2).map(|kv| (text(&kv[0]), &kv[1])).collect()
        }
        other => panic!("not a map: {other:?}"),
    }
}

fn field<'v>(value: &'v Value, name: &str) -> &'v Value {
    fields(value)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
        .unwrap_or_else(|| panic!("no {name} in {value:?}"))
}

fn string(value: &Value) -> String {
    match value {
        Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        other => panic!("not a bulk string: {other:?}"),
    }
}

fn items(value: &Value) -> &[Value] {
    match value {
        Value::Array(items) | Value::Set(items) => items,
        other => panic!("not an array: {other:?}"),
    }
}

/// Checks `COMMAND DOCS set` field by field against Redis's structure.
fn check_set_docs(reply: &Value) {
    let entries = fields(reply);
    assert_eq!(entries.len(), 1, "{reply:?}");
    let (name, set) = &entries[0];
    assert_eq!(name, "set");
    assert_eq!(string(field(set, "since")), "1.0.0");
    assert_eq!(string(field(set, "group")), "string");
    assert_eq!(string(field(set, "complexity")), "O(1)");
    let args = items(field(set, "arguments"));
    let names: Vec<_> = args.iter().map(|a| string(field(a, "name"))).collect();
    assert_eq!(names, ["key", "value", "condition", "get", "expiration"]);

    assert_eq!(string(field(&args[0], "type")), "key");
    assert_eq!(field(&args[0], "key_spec_index"), &Value::Int(0));

    let condition = &args[2];
    assert_eq!(string(field(condition, "type")), "oneof");
    assert_eq!(
        items(field(condition, "flags")),
        [Value::SimpleString("optional".into())]
    );
    let choices: Vec<_> = items(field(condition, "arguments"))
        .iter()
        .map(|a| (string(field(a, "type")), string(field(a, "token"))))
        .collect();
    assert_eq!(
        choices,
        [
            ("pure-token".to_owned(), "NX".to_owned()),
            ("pure-token".to_owned(), "XX".to_owned())
        ]
    );

    let expiration = items(field(&args[4], "arguments"));
    let ex = &expiration[0];
    assert_eq!(string(field(ex, "name")), "seconds");
    assert_eq!(string(field(ex, "type")), "integer");
    assert_eq!(string(field(ex, "token")), "EX");
    assert_eq!(string(field(&expiration[2], "type")), "unix-time");
    assert_eq!(string(field(&expiration[4], "token")), "KEEPTTL");
}

#[test]
fn command_docs_set_is_nested_like_redis_in_resp2_and_resp3() {
    let n = node();
    for mut con in [n.client().expect("resp2"), n.client_resp3().expect("resp3")] {
        let reply: Value = redis::cmd("COMMAND")
            .arg("DOCS")
            .arg("set")
            .query(&mut con)
            .expect("COMMAND DOCS set");
        check_set_docs(&reply);
    }
}

#[test]
fn command_docs_lists_subcommands_of_containers() {
    let n = node();
    let mut con = n.client_resp3().expect("connect");
    let reply: Value = redis::cmd("COMMAND")
        .arg("DOCS")
        .arg("client")
        .query(&mut con)
        .expect("COMMAND DOCS client");
    let client = field(&reply, "client");
    let subs: Vec<_> = fields(field(client, "subcommands"))
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    for sub in [
        "client|kill",
        "client|list",
        "client|setname",
        "client|help",
    ] {
        assert!(subs.iter().any(|s| s == sub), "{sub} missing from {subs:?}");
    }
}

/// redis-cli with no user rc file and no history file, whatever the machine has.
fn redis_cli() -> Command {
    let found = Command::new("sh")
        .args(["-c", "command -v redis-cli && command -v script"])
        .output()
        .expect("sh");
    assert!(
        found.status.success(),
        "redis-cli or script is missing: install redis-tools and util-linux (.ci/run does)"
    );
    let mut cmd = Command::new("redis-cli");
    cmd.env("REDISCLI_RCFILE", "/dev/null")
        .env("REDISCLI_HISTFILE", "/dev/null");
    cmd
}

/// Text without ANSI colour codes and carriage returns.
fn plain(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\x1b' => {
                // CSI sequences end at their first letter.
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

#[test]
fn redis_cli_help_prints_the_argument_synopsis() {
    let n = node();
    let help = |command: &[&str]| {
        let out = redis_cli()
            .arg("-p")
            .arg(n.port.to_string())
            .arg("help")
            .args(command)
            .output()
            .expect("redis-cli runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        plain(&out.stdout)
    };
    let set = help(&["set"]);
    assert!(
        set.contains(
            "SET key value [NX|XX] [GET] [EX seconds|PX milliseconds|EXAT unix-time-seconds\
             |PXAT unix-time-milliseconds|KEEPTTL]"
        ),
        "{set}"
    );
    assert!(set.contains("since: 1.0.0"), "{set}");
    assert!(set.contains("group: string"), "{set}");
    let kill = help(&["client", "kill"]);
    assert!(
        kill.contains(
            "CLIENT KILL ip:port|[ID client-id]|[TYPE NORMAL|MASTER|SLAVE|REPLICA|PUBSUB]"
        ),
        "{kill}"
    );
    let blmpop = help(&["blmpop"]);
    assert!(
        blmpop.contains("BLMPOP timeout numkeys key [key ...] LEFT|RIGHT [COUNT count]"),
        "{blmpop}"
    );
}

/// An interactive redis-cli in a pseudo-terminal (`script` provides one), read on a
/// thread so waits can have deadlines.
struct Terminal {
    child: Child,
    output: mpsc::Receiver<Vec<u8>>,
    seen: Vec<u8>,
}

impl Terminal {
    fn start(port: u16) -> Terminal {
        // A fixed width stops linenoise asking the (absent) terminal for its size,
        // and is wide enough that no hint is cut.
        let shell = format!("stty cols 500 rows 50; exec redis-cli -p {port}");
        let mut child = Command::new("script")
            .args(["-qfec", &shell, "/dev/null"])
            .env("REDISCLI_RCFILE", "/dev/null")
            .env("REDISCLI_HISTFILE", "/dev/null")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("script starts");
        let mut stdout = child.stdout.take().expect("piped stdout");
        let (tx, output) = mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        Terminal {
            child,
            output,
            seen: Vec::new(),
        }
    }

    fn type_keys(&mut self, keys: &str) {
        let stdin = self.child.stdin.as_mut().expect("piped stdin");
        stdin.write_all(keys.as_bytes()).expect("write keys");
        stdin.flush().expect("flush keys");
    }

    /// Waits until the output since the last wait contains `text`.
    fn wait_for(&mut self, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if plain(&self.seen).contains(text) {
                self.seen.clear();
                return;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.output.recv_timeout(left) {
                Ok(chunk) => self.seen.extend_from_slice(&chunk),
                Err(_) => panic!("no {text:?} in {:?}", plain(&self.seen)),
            }
        }
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn redis_cli_hints_arguments_while_typing() {
    let n = node();
    let mut term = Terminal::start(n.port);
    term.wait_for(&format!("127.0.0.1:{}>", n.port));
    term.type_keys("set ");
    term.wait_for(
        "> set key value [NX|XX] [GET] [EX seconds|PX milliseconds|EXAT unix-time-seconds\
         |PXAT unix-time-milliseconds|KEEPTTL]",
    );
    // Ctrl-U clears the line; the hint for a subcommand comes from its own docs.
    term.type_keys("\x15client list ");
    term.wait_for(
        "> client list [TYPE NORMAL|MASTER|REPLICA|PUBSUB] [ID client-id [client-id ...]]",
    );
    // Arguments already typed drop out of the hint.
    term.type_keys("\x15lpos mylist x ");
    term.wait_for("> lpos mylist x [RANK rank] [COUNT num-matches] [MAXLEN len]");
    // Ctrl-C on the prompt ends redis-cli.
    term.type_keys("\x03");
}
