//! Honest configuration: CONFIG GET shows every okapi setting with the value the node
//! started with, CONFIG SET changes the ones that can change (and they take effect) and
//! says why for the ones that cannot; a Redis parameter that would switch on a feature
//! okapi lacks is refused rather than silently ignored.

use crate::common::{err, raw, start};

fn get(c: &mut redis::Connection, name: &str) -> String {
    match raw(c, &["CONFIG", "GET", name]).expect("config get") {
        redis::Value::Array(pair) if pair.len() == 2 => match &pair[1] {
            redis::Value::BulkString(v) => String::from_utf8_lossy(v).into_owned(),
            other => panic!("{name}: {other:?}"),
        },
        other => panic!("CONFIG GET {name} gave {other:?}"),
    }
}

#[test]
fn config_get_and_set_round_trip_every_okapi_setting() {
    let scratch = tempfile::tempdir().expect("tempdir");
    let logfile = scratch.path().join("okapi.log");
    let logfile = logfile.to_str().expect("utf-8");
    let n = start(&[
        "--threads",
        "1",
        "--snapshot-log-bytes",
        "123456789",
        "--snapshot-entries",
        "4242",
        "--nbd-port",
        "0",
        "--nbd-bind",
        "127.0.0.1",
        "--http-bind",
        "127.0.0.1",
        "--disable-thp",
        "no",
        "--protected-mode",
        "yes",
        "--logfile",
        logfile,
        "--log-format",
        "text",
        "--loglevel",
        "warning",
        "--key-load-delay",
        "7",
    ]);
    let mut c = n.client().expect("connect");
    let started = [
        ("threads", "1".to_owned()),
        ("snapshot-log-bytes", "123456789".to_owned()),
        ("snapshot-entries", "4242".to_owned()),
        ("nbd-port", "0".to_owned()),
        ("nbd-bind", "127.0.0.1".to_owned()),
        ("http-port", "0".to_owned()),
        ("http-bind", "127.0.0.1".to_owned()),
        ("no-http", "no".to_owned()),
        ("disable-thp", "no".to_owned()),
        ("protected-mode", "yes".to_owned()),
        ("nbd-unauthenticated", "no".to_owned()),
        ("logfile", logfile.to_owned()),
        ("log-format", "text".to_owned()),
        ("loglevel", "warning".to_owned()),
        ("key-load-delay", "7".to_owned()),
        ("dir", n.data_dir().display().to_string()),
        ("ready-file", n.ready_path().display().to_string()),
        ("appendfsync", "everysec".to_owned()),
        ("maxmemory-policy", "noeviction".to_owned()),
    ];
    for (name, value) in &started {
        assert_eq!(&get(&mut c, name), value, "CONFIG GET {name}");
    }

    // What can change at runtime changes, and CONFIG GET shows it.
    for (name, value) in [
        ("snapshot-log-bytes", "1048576"),
        ("loglevel", "verbose"),
        ("protected-mode", "no"),
        ("key-load-delay", "0"),
        ("appendfsync", "always"),
        ("maxmemory", "1073741824"),
        ("hz", "20"),
        ("timeout", "300"),
    ] {
        raw(&mut c, &["CONFIG", "SET", name, value])
            .unwrap_or_else(|e| panic!("CONFIG SET {name} {value}: {e}"));
        assert_eq!(get(&mut c, name), value, "after CONFIG SET {name}");
    }
    assert_eq!(
        crate::common::info_field(&mut c, "persistence", "okapi_appendfsync"),
        "always",
        "CONFIG SET appendfsync reached the WAL"
    );

    // What is fixed at start says so, and why.
    for name in [
        "threads",
        "http-port",
        "http-bind",
        "nbd-port",
        "nbd-bind",
        "no-http",
        "disable-thp",
        "snapshot-entries",
        "logfile",
        "log-format",
        "dir",
        "port",
        "bind",
        "databases",
        "ready-file",
        "nbd-unauthenticated",
    ] {
        let refused = err(&mut c, &["CONFIG", "SET", name, "1"]);
        assert!(
            refused.starts_with("ERR CONFIG SET failed") && refused.contains("immutable"),
            "{name}: {refused}"
        );
        let why = refused.split("immutable config:").nth(1).unwrap_or("");
        assert!(why.trim().len() > 10, "{name} says why: {refused}");
    }
    assert!(err(&mut c, &["CONFIG", "SET", "loglevel", "loud"]).contains("debug, verbose"));
    assert!(err(&mut c, &["CONFIG", "SET", "protected-mode", "maybe"]).contains("yes"));
}

#[test]
fn parameters_that_would_switch_on_a_missing_feature_are_refused() {
    let n = start(&[]);
    let mut c = n.client().expect("connect");
    // Key-miss events are not raised: `m` is refused, the rest of the setting works.
    let refused = err(&mut c, &["CONFIG", "SET", "notify-keyspace-events", "KEm"]);
    assert!(refused.contains("key-miss"), "{refused}");
    assert_eq!(get(&mut c, "notify-keyspace-events"), "");
    raw(&mut c, &["CONFIG", "SET", "notify-keyspace-events", "KEA"]).expect("supported");
    assert_eq!(get(&mut c, "notify-keyspace-events"), "AKE");
    for (name, value) in [
        ("appendonly", "no"),
        ("save", "900 1"),
        ("activedefrag", "yes"),
        ("min-replicas-to-write", "1"),
    ] {
        let refused = err(&mut c, &["CONFIG", "SET", name, value]);
        assert!(refused.contains("refused"), "{name} {value}: {refused}");
    }
    // Harmless compatibility values are still accepted and echoed.
    raw(&mut c, &["CONFIG", "SET", "save", ""]).expect("accepted");
    raw(
        &mut c,
        &["CONFIG", "SET", "hash-max-listpack-entries", "256"],
    )
    .expect("accepted");
    assert_eq!(get(&mut c, "hash-max-listpack-entries"), "256");
    assert_eq!(get(&mut c, "appendonly"), "yes");
}
