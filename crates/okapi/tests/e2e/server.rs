//! Connection and server commands end to end: PING/ECHO/HELLO/AUTH/CLIENT/CONFIG/INFO/
//! COMMAND/TIME/QUIT/RESET, listeners, limits and shutdown.

use std::time::Duration;

use okapi_resp::Frame;
use redis::{Commands, Value};

use crate::common::{Raw, bulk, err, error, info_field, node, raw, simple, start};

#[test]
fn ping_echo_time_and_unknown_commands() {
    let n = node();
    let mut c = n.client().expect("connect");
    assert_eq!(
        raw(&mut c, &["PING"]).expect("ping"),
        Value::SimpleString("PONG".into())
    );
    assert_eq!(
        raw(&mut c, &["PING", "hi"]).expect("ping"),
        Value::BulkString(b"hi".to_vec())
    );
    assert_eq!(
        raw(&mut c, &["ECHO", "x y"]).expect("echo"),
        Value::BulkString(b"x y".to_vec())
    );
    let (secs, micros): (u64, u64) = redis::cmd("TIME").query(&mut c).expect("time");
    assert!(secs > 1_600_000_000 && micros < 1_000_000);
    assert_eq!(
        err(&mut c, &["FOO", "bar", "baz"]),
        "ERR unknown command 'FOO', with args beginning with: 'bar' 'baz' "
    );
    assert_eq!(
        err(&mut c, &["PING", "a", "b"]),
        "ERR wrong number of arguments for 'ping' command"
    );
    // The connection survives errors.
    assert_eq!(
        raw(&mut c, &["PING"]).expect("ping"),
        Value::SimpleString("PONG".into())
    );
}

#[test]
fn hello_switches_protocol_and_resp3_types_are_used() {
    let n = node();
    let mut c = Raw::connect(&n);
    assert_eq!(c.call(&["GET", "missing"]), Frame::Null, "RESP2 null bulk");
    let Frame::Map(fields) = c.call(&["HELLO", "3", "SETNAME", "me"]) else {
        panic!("map")
    };
    assert!(fields.contains(&(bulk("proto"), Frame::Integer(3))));
    assert!(fields.iter().any(|(k, _)| *k == bulk("id")));
    c.send(b"*2\r\n$3\r\nGET\r\n$7\r\nmissing\r\n");
    let mut raw_reply = [0u8; 3];
    std::io::Read::read_exact(&mut c.stream, &mut raw_reply).expect("read");
    assert_eq!(&raw_reply, b"_\r\n", "RESP3 null");
    let Frame::Map(config) = c.call(&["CONFIG", "GET", "maxmemory"]) else {
        panic!("CONFIG GET is a map in RESP3")
    };
    assert_eq!(config, vec![(bulk("maxmemory"), bulk("0"))]);
    assert_eq!(c.call(&["CLIENT", "GETNAME"]), bulk("me"));
    assert_eq!(
        c.call(&["HELLO", "4"]),
        error("NOPROTO unsupported protocol version")
    );
    let Frame::Array(flat) = c.call(&["HELLO", "2"]) else {
        panic!("RESP2 sends the map flat")
    };
    assert!(flat.contains(&bulk("proto")) && flat.contains(&Frame::Integer(2)));
    assert_eq!(c.call(&["GET", "missing"]), Frame::Null);
    let mut c3 = n.client_resp3().expect("redis crate speaks RESP3 to okapi");
    let _: () = c3.set("k", "v").expect("set");
    assert_eq!(c3.get::<_, String>("k").expect("get"), "v");
}

#[test]
fn requirepass_gates_every_command_until_auth() {
    let n = start(&["--requirepass", "s3cret"]);
    let mut c = Raw::connect(&n);
    assert_eq!(
        c.call(&["GET", "k"]),
        error("NOAUTH Authentication required.")
    );
    assert_eq!(
        c.call(&["AUTH", "wrong"]),
        error("WRONGPASS invalid username-password pair or user is disabled.")
    );
    assert_eq!(c.call(&["AUTH", "s3cret"]), simple("OK"));
    assert_eq!(c.call(&["SET", "k", "v"]), simple("OK"));
    let mut h = Raw::connect(&n);
    let Frame::Error(e) = h.call(&["HELLO", "3"]) else {
        panic!("HELLO without AUTH must fail")
    };
    assert!(e.starts_with(b"NOAUTH"));
    let Frame::Map(_) = h.call(&["HELLO", "3", "AUTH", "default", "s3cret"]) else {
        panic!("HELLO AUTH works")
    };
    assert_eq!(h.call(&["GET", "k"]), bulk("v"));
    let url = format!("redis://:s3cret@127.0.0.1:{}/", n.port);
    let mut client = redis::Client::open(url)
        .expect("url")
        .get_connection()
        .expect("auth via URL");
    assert_eq!(client.get::<_, String>("k").expect("get"), "v");
    let mut open = node();
    let mut o = open.client().expect("connect");
    assert_eq!(
        err(&mut o, &["AUTH", "x"]),
        "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?"
    );
    open.kill();
}

#[test]
fn client_commands() {
    let n = node();
    let mut a = n.client().expect("connect");
    let mut b = n.client().expect("connect");
    let id: i64 = redis::cmd("CLIENT").arg("ID").query(&mut a).expect("id");
    assert_eq!(
        raw(&mut a, &["CLIENT", "SETNAME", "alpha"]).expect("setname"),
        Value::Okay
    );
    assert_eq!(
        raw(&mut a, &["CLIENT", "GETNAME"]).expect("getname"),
        Value::BulkString(b"alpha".to_vec())
    );
    assert_eq!(
        err(&mut a, &["CLIENT", "SETNAME", "has space"]),
        "ERR Client names cannot contain spaces, newlines or special characters."
    );
    let list: String = redis::cmd("CLIENT")
        .arg("LIST")
        .query(&mut b)
        .expect("list");
    assert!(
        list.contains(&format!("id={id} ")) && list.contains("name=alpha"),
        "{list}"
    );
    assert_eq!(list.lines().count(), 2);
    let info: String = redis::cmd("CLIENT")
        .arg("INFO")
        .query(&mut a)
        .expect("info");
    assert!(info.starts_with(&format!("id={id} ")));
    assert_eq!(
        raw(&mut a, &["CLIENT", "SETINFO", "LIB-NAME", "mylib"]).expect("setinfo"),
        Value::Okay
    );
    assert_eq!(
        raw(&mut b, &["CLIENT", "KILL", "ID", &id.to_string()]).expect("kill"),
        Value::Int(1)
    );
    assert!(
        raw(&mut a, &["PING"]).is_err(),
        "killed client is disconnected"
    );
    assert_eq!(
        raw(&mut b, &["CLIENT", "KILL", "ID", "999999"]).expect("kill"),
        Value::Int(0)
    );
    assert_eq!(
        err(&mut b, &["CLIENT", "KILL", "1.2.3.4:5"]),
        "ERR No such client"
    );
    assert_eq!(
        err(&mut b, &["CLIENT", "NOPE"]),
        "ERR unknown subcommand 'NOPE'. Try CLIENT HELP."
    );
    // CLIENT REPLY OFF silences replies until ON.
    let mut r = Raw::connect(&n);
    r.command(&["CLIENT", "REPLY", "OFF"]);
    r.command(&["SET", "silent", "1"]);
    assert_eq!(r.call(&["CLIENT", "REPLY", "ON"]), simple("OK"));
    assert_eq!(r.call(&["GET", "silent"]), bulk("1"));
}

#[test]
fn config_get_set_and_ignored_parameters() {
    let n = node();
    let mut c = n.client().expect("connect");
    let got: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("save")
        .query(&mut c)
        .expect("get");
    assert_eq!(got, vec!["save".to_owned(), String::new()]);
    assert_eq!(
        raw(
            &mut c,
            &["CONFIG", "SET", "hash-max-listpack-entries", "512"]
        )
        .expect("set"),
        Value::Okay
    );
    let got: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("hash-max-listpack-entries")
        .query(&mut c)
        .expect("get");
    assert_eq!(
        got,
        vec!["hash-max-listpack-entries".to_owned(), "512".to_owned()]
    );
    assert_eq!(
        raw(
            &mut c,
            &["CONFIG", "SET", "maxmemory", "100mb", "timeout", "30"]
        )
        .expect("set"),
        Value::Okay
    );
    let got: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("maxmemory")
        .query(&mut c)
        .expect("get");
    assert_eq!(got[1], (100 * 1024 * 1024).to_string());
    assert!(err(&mut c, &["CONFIG", "SET", "port", "1"]).contains("can't set immutable config"));
    assert!(
        err(&mut c, &["CONFIG", "SET", "no-such-param", "1"]).starts_with("ERR CONFIG SET failed")
    );
    assert!(
        err(&mut c, &["CONFIG", "SET", "maxmemory", "lots"]).starts_with("ERR CONFIG SET failed")
    );
    let all: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("*")
        .query(&mut c)
        .expect("get all");
    assert!(all.len() > 100);
    let ignored = info_field(&mut c, "okapi", "ignored_config");
    assert!(
        ignored.contains("hash-max-listpack-entries") && ignored.contains("lazyfree-lazy-eviction")
    );
}

#[test]
fn info_reports_real_memory_and_stats() {
    let n = node();
    let mut c = n.client().expect("connect");
    let before: u64 = info_field(&mut c, "memory", "used_memory")
        .parse()
        .expect("number");
    assert!(before > 0, "used_memory comes from the allocator");
    let value = "x".repeat(1024);
    let mut pipe = redis::pipe();
    for i in 0..20_000 {
        pipe.set(format!("k{i}"), &value).ignore();
    }
    let _: () = pipe.query(&mut c).expect("load");
    let after: u64 = info_field(&mut c, "memory", "used_memory")
        .parse()
        .expect("number");
    assert!(
        after > before + 20_000 * 1024,
        "20 MB of values show in used_memory: {before} -> {after}"
    );
    let rss: u64 = info_field(&mut c, "memory", "used_memory_rss")
        .parse()
        .expect("number");
    assert!(rss > 0);
    let commands: u64 = info_field(&mut c, "stats", "total_commands_processed")
        .parse()
        .expect("number");
    assert!(commands >= 20_000);
    assert_eq!(
        info_field(&mut c, "keyspace", "db0"),
        "keys=20000,expires=0,avg_ttl=0"
    );
    assert_eq!(info_field(&mut c, "server", "tcp_port"), n.port.to_string());
    let everything: String = redis::cmd("INFO")
        .arg("everything")
        .query(&mut c)
        .expect("info");
    for section in [
        "# Server",
        "# Clients",
        "# Memory",
        "# Persistence",
        "# Stats",
        "# Replication",
        "# CPU",
        "# Keyspace",
    ] {
        assert!(everything.contains(section), "{section}");
    }
}

#[test]
fn command_introspection_drives_from_the_table() {
    let n = node();
    let mut c = n.client().expect("connect");
    let count: i64 = redis::cmd("COMMAND")
        .arg("COUNT")
        .query(&mut c)
        .expect("count");
    assert!(count > 60, "{count}");
    let info: Vec<Value> = redis::cmd("COMMAND")
        .arg("INFO")
        .arg("get")
        .arg("nosuch")
        .query(&mut c)
        .expect("info");
    let Value::Array(get) = &info[0] else {
        panic!("array")
    };
    assert_eq!(get[0], Value::BulkString(b"get".to_vec()));
    assert_eq!(get[1], Value::Int(2));
    assert_eq!(get[3], Value::Int(1));
    assert_eq!(info[1], Value::Nil);
    let keys: Vec<String> = redis::cmd("COMMAND")
        .arg("GETKEYS")
        .arg("MSET")
        .arg("a")
        .arg("1")
        .arg("b")
        .arg("2")
        .query(&mut c)
        .expect("getkeys");
    assert_eq!(keys, vec!["a".to_owned(), "b".to_owned()]);
    let docs: Value = redis::cmd("COMMAND")
        .arg("DOCS")
        .arg("set")
        .query(&mut c)
        .expect("docs");
    assert!(
        matches!(docs, Value::Array(ref v) if v.len() == 2),
        "{docs:?}"
    );
}

#[test]
fn quit_reset_and_unix_socket() {
    let socket = tempfile::tempdir().expect("tmp");
    let path = socket.path().join("okapi.sock");
    let n = start(&["--unixsocket", path.to_str().expect("utf8")]);
    let mut unix = redis::Client::open(format!("unix://{}", path.display()))
        .expect("url")
        .get_connection()
        .expect("unix connect");
    let _: () = unix.set("via", "unix").expect("set");
    let mut tcp = n.client().expect("connect");
    assert_eq!(
        tcp.get::<_, String>("via").expect("same data over TCP"),
        "unix"
    );

    let mut r = Raw::connect(&n);
    assert_eq!(r.call(&["SELECT", "4"]), simple("OK"));
    assert_eq!(r.call(&["MULTI"]), simple("OK"));
    assert_eq!(r.call(&["RESET"]), simple("RESET"));
    assert_eq!(r.call(&["EXEC"]), error("ERR EXEC without MULTI"));
    assert_eq!(r.call(&["GET", "via"]), bulk("unix"), "RESET selects db 0");
    assert_eq!(r.call(&["QUIT"]), simple("OK"));
    assert!(r.closed());
}

#[test]
fn maxclients_and_idle_timeout() {
    let n = start(&["--maxclients", "2", "--timeout", "1"]);
    let mut a = Raw::connect(&n);
    assert_eq!(a.call(&["PING"]), simple("PONG"));
    let mut b = Raw::connect(&n);
    assert_eq!(b.call(&["PING"]), simple("PONG"));
    let mut c = Raw::connect(&n);
    assert_eq!(c.read(), Some(error("ERR max number of clients reached")));
    assert!(c.closed());
    // Idle clients are closed after `timeout` seconds.
    std::thread::sleep(Duration::from_millis(2500));
    assert!(a.closed(), "idle client was closed");
    assert!(b.closed());
    let mut d = Raw::connect(&n);
    assert_eq!(d.call(&["PING"]), simple("PONG"));
}

#[test]
fn sigterm_and_shutdown_stop_the_server_cleanly() {
    let mut n = node();
    let mut c = n.client().expect("connect");
    let _: () = c.set("k", "v").expect("set");
    let status = n
        .terminate(Duration::from_secs(10))
        .expect("exits on SIGTERM");
    assert!(status.success(), "{status}");

    let mut m = node();
    let mut r = Raw::connect(&m);
    r.command(&["SHUTDOWN"]);
    assert!(r.closed());
    let status = m
        .wait_exit(Duration::from_secs(10))
        .expect("exits after SHUTDOWN");
    assert!(status.success(), "{status}");
}

#[test]
fn maxmemory_noeviction_refuses_writes_but_serves_reads() {
    let n = node();
    let mut c = n.client().expect("connect");
    let _: () = c.set("before", "v").expect("set");
    assert_eq!(
        raw(&mut c, &["CONFIG", "SET", "maxmemory", "1"]).expect("set"),
        Value::Okay
    );
    assert_eq!(
        err(&mut c, &["SET", "k", "v"]),
        "OOM command not allowed when used memory > 'maxmemory'."
    );
    assert_eq!(c.get::<_, String>("before").expect("reads still work"), "v");
    assert_eq!(
        raw(&mut c, &["DEL", "before"]).expect("deletes still work"),
        Value::Int(1)
    );
    assert!(
        err(
            &mut c,
            &["CONFIG", "SET", "maxmemory-policy", "allkeys-lru"]
        )
        .starts_with("ERR CONFIG SET failed")
    );
}

#[test]
fn settings_come_from_okapi_toml_and_flags_win() {
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("okapi.toml");
    std::fs::write(
        &file,
        "databases = 4\nrequirepass = \"from-file\"\nhash-max-listpack-entries = 1\n",
    )
    .expect("write");
    let path = file.to_str().expect("utf8");
    let refused = okapi_testkit::TestNode::start(env!("CARGO_BIN_EXE_okapi"), &["--config", path]);
    assert!(refused.is_err(), "unknown keys in okapi.toml are refused");
    std::fs::write(
        &file,
        "databases = 4\nrequirepass = \"from-file\"\ntimeout = 7\n",
    )
    .expect("write");
    let n = start(&["--config", path, "--timeout", "9"]);
    let url = format!("redis://:from-file@127.0.0.1:{}/", n.port);
    let mut c = redis::Client::open(url)
        .expect("url")
        .get_connection()
        .expect("password from the file");
    assert_eq!(
        err(&mut c, &["SELECT", "4"]),
        "ERR DB index is out of range"
    );
    let timeout: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("timeout")
        .query(&mut c)
        .expect("get");
    assert_eq!(
        timeout,
        vec!["timeout".to_owned(), "9".to_owned()],
        "the flag wins over the file"
    );
}

/// `THP_enabled` of a running process, from /proc (0 once PR_SET_THP_DISABLE is set).
fn thp_enabled(pid: u32) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("THP_enabled:"))
        .expect("THP_enabled line")
        .trim()
        .to_owned()
}

#[test]
fn transparent_huge_pages_are_off_unless_told_otherwise() {
    let default = node();
    assert_eq!(thp_enabled(default.pid().expect("pid")), "0");
    let kept = start(&["--disable-thp", "no"]);
    assert_eq!(thp_enabled(kept.pid().expect("pid")), "1");
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("okapi.toml");
    std::fs::write(&file, "disable-thp = false\n").expect("write");
    let from_file = start(&["--config", file.to_str().expect("utf8")]);
    assert_eq!(thp_enabled(from_file.pid().expect("pid")), "1");
    let refused =
        okapi_testkit::TestNode::start(env!("CARGO_BIN_EXE_okapi"), &["--disable-thp", "maybe"]);
    assert!(refused.is_err(), "only yes or no");
}

#[test]
fn slowlog_records_slow_commands_as_redis_does() {
    use redis::Value;
    let n = crate::common::node();
    let mut c = n.client().expect("connect");
    let cmd = |c: &mut redis::Connection, args: &[&str]| {
        crate::common::raw(c, args).unwrap_or_else(|e| panic!("{args:?}: {e}"))
    };
    let len = |c: &mut redis::Connection| match cmd(c, &["SLOWLOG", "LEN"]) {
        Value::Int(n) => n,
        other => panic!("SLOWLOG LEN: {other:?}"),
    };
    cmd(
        &mut c,
        &["CONFIG", "SET", "slowlog-log-slower-than", "100000"],
    );
    cmd(&mut c, &["SLOWLOG", "RESET"]);
    cmd(&mut c, &["PING"]);
    assert_eq!(len(&mut c), 0, "PING is fast");
    cmd(&mut c, &["CLIENT", "SETNAME", "foobar"]);
    cmd(&mut c, &["DEBUG", "SLEEP", "0.2"]);
    assert_eq!(len(&mut c), 1);
    let Value::Array(entries) = cmd(&mut c, &["SLOWLOG", "GET"]) else {
        panic!("entries");
    };
    let Value::Array(e) = &entries[0] else {
        panic!("an entry");
    };
    assert_eq!(e.len(), 6);
    let Value::Int(micros) = e[2] else {
        panic!("a duration");
    };
    assert!(micros > 100_000, "{micros}");
    let words = |v: &Value| match v {
        Value::Array(args) => args
            .iter()
            .map(|a| match a {
                Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
                other => panic!("{other:?}"),
            })
            .collect::<Vec<_>>()
            .join(" "),
        other => panic!("{other:?}"),
    };
    assert_eq!(words(&e[3]), "DEBUG SLEEP 0.2");
    assert_eq!(e[5], Value::BulkString(b"foobar".to_vec()));

    // Everything at threshold 0, capped by slowlog-max-len; writes count their commit.
    cmd(&mut c, &["CONFIG", "SET", "slowlog-log-slower-than", "0"]);
    cmd(&mut c, &["CONFIG", "SET", "slowlog-max-len", "10"]);
    for _ in 0..30 {
        cmd(&mut c, &["SET", "k", "v"]);
    }
    assert_eq!(len(&mut c), 10);
    let Value::Array(five) = cmd(&mut c, &["SLOWLOG", "GET", "5"]) else {
        panic!("entries");
    };
    assert_eq!(five.len(), 5);
    // Credentials never appear.
    cmd(&mut c, &["SLOWLOG", "RESET"]);
    let _ = crate::common::raw(&mut c, &["AUTH", "user", "secret"]);
    cmd(&mut c, &["CONFIG", "SET", "slowlog-log-slower-than", "-1"]);
    let Value::Array(entries) = cmd(&mut c, &["SLOWLOG", "GET", "-1"]) else {
        panic!("entries");
    };
    let logged: Vec<String> = entries
        .iter()
        .map(|e| match e {
            Value::Array(e) => words(&e[3]),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        logged,
        // The CONFIG SET that switched the log off is judged by its new value.
        ["AUTH (redacted) (redacted)", "SLOWLOG RESET"]
    );
    assert_eq!(
        crate::common::err(&mut c, &["SLOWLOG", "GET", "-2"]),
        "ERR count should be greater than or equal to -1"
    );
}
