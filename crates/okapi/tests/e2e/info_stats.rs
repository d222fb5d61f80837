//! INFO commandstats and errorstats: calls, rejected and failed calls per command and
//! subcommand, error replies by code, as Redis counts them; CONFIG RESETSTAT clears
//! them.

use okapi_resp::Frame;

use crate::common::{Raw, node, raw};

fn section(con: &mut redis::Connection, name: &str) -> Vec<String> {
    let text: String = redis::cmd("INFO").arg(name).query(con).expect("info");
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            // Times vary: keep the counts.
            l.split(',')
                .filter(|f| !f.starts_with("usec"))
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect()
}

#[test]
fn commands_and_errors_are_counted_as_redis_counts_them() {
    let n = node();
    let mut c = n.client().expect("connect");
    raw(&mut c, &["CONFIG", "RESETSTAT"]).expect("resetstat");
    raw(&mut c, &["SET", "a", "1"]).expect("set");
    raw(&mut c, &["GET", "a"]).expect("get");
    assert!(raw(&mut c, &["LPUSH", "a", "x"]).is_err(), "WRONGTYPE");
    assert!(raw(&mut c, &["GET"]).is_err(), "arity: rejected");
    raw(&mut c, &["OBJECT", "ENCODING", "a"]).expect("object encoding");
    assert!(raw(&mut c, &["OBJECT", "NOSUCH"]).is_err(), "uncounted");
    // A queued command that fails counts when EXEC runs it.
    let mut txn = Raw::connect(&n);
    for args in [&["MULTI"][..], &["SET", "b", "1"], &["LPUSH", "b", "x"]] {
        txn.call(args);
    }
    let Frame::Array(replies) = txn.call(&["EXEC"]) else {
        panic!("EXEC answers an array");
    };
    assert_eq!(replies[0], crate::common::simple("OK"));
    assert!(
        matches!(&replies[1], Frame::Error(e) if e.starts_with(b"WRONGTYPE")),
        "{replies:?}"
    );
    let stats = section(&mut c, "commandstats");
    let line = |name: &str| {
        stats
            .iter()
            .find(|l| l.starts_with(&format!("cmdstat_{name}:")))
            .cloned()
            .unwrap_or_else(|| panic!("no {name} in {stats:?}"))
    };
    assert_eq!(
        line("set"),
        "cmdstat_set:calls=2,rejected_calls=0,failed_calls=0"
    );
    assert_eq!(
        line("get"),
        "cmdstat_get:calls=1,rejected_calls=1,failed_calls=0"
    );
    assert_eq!(
        line("lpush"),
        "cmdstat_lpush:calls=2,rejected_calls=0,failed_calls=2"
    );
    assert_eq!(
        line("object|encoding"),
        "cmdstat_object|encoding:calls=1,rejected_calls=0,failed_calls=0"
    );
    assert_eq!(
        line("exec"),
        "cmdstat_exec:calls=1,rejected_calls=0,failed_calls=0"
    );
    assert!(
        !stats.iter().any(|l| l.starts_with("cmdstat_object:")),
        "an unknown subcommand is no call: {stats:?}"
    );
    let errors = section(&mut c, "errorstats");
    assert_eq!(
        errors,
        vec![
            "errorstat_ERR:count=2".to_owned(),
            "errorstat_WRONGTYPE:count=2".to_owned()
        ]
    );
    // errorstats is a default section, commandstats is not.
    let default: String = redis::cmd("INFO").query(&mut c).expect("info");
    assert!(default.contains("# Errorstats"), "{default}");
    assert!(!default.contains("# Commandstats"), "{default}");
    raw(&mut c, &["CONFIG", "RESETSTAT"]).expect("resetstat");
    let after = section(&mut c, "commandstats");
    assert_eq!(
        after,
        vec!["cmdstat_config|resetstat:calls=1,rejected_calls=0,failed_calls=0".to_owned()]
    );
    assert!(section(&mut c, "errorstats").is_empty());
}

#[test]
fn latencystats_report_the_configured_percentiles() {
    let n = node();
    let mut c = n.client().expect("connect");
    raw(&mut c, &["CONFIG", "RESETSTAT"]).expect("resetstat");
    for _ in 0..10 {
        raw(&mut c, &["GET", "k"]).expect("get");
    }
    let lines = section(&mut c, "latencystats");
    let get = lines
        .iter()
        .find(|l| l.starts_with("latency_percentiles_usec_get:"))
        .unwrap_or_else(|| panic!("{lines:?}"));
    let values: Vec<(String, f64)> = get
        .split_once(':')
        .expect("fields")
        .1
        .split(',')
        .map(|f| {
            let (k, v) = f.split_once('=').expect("k=v");
            (k.to_owned(), v.parse().expect("a number"))
        })
        .collect();
    let keys: Vec<&str> = values.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, vec!["p50", "p99", "p99.9"], "{get}");
    assert!(values.windows(2).all(|w| w[0].1 <= w[1].1), "{get}");
    assert!(values[0].1 >= 1.0, "{get}");
    raw(
        &mut c,
        &[
            "CONFIG",
            "SET",
            "latency-tracking-info-percentiles",
            "90 99.99",
        ],
    )
    .expect("set");
    let got: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("latency-tracking-info-percentiles")
        .query(&mut c)
        .expect("get");
    assert_eq!(got[1], "90 99.99");
    let lines = section(&mut c, "latencystats");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("latency_percentiles_usec_get:p90=") && l.contains(",p99.99=")),
        "{lines:?}"
    );
    assert!(
        crate::common::err(
            &mut c,
            &["CONFIG", "SET", "latency-tracking-info-percentiles", "101"]
        )
        .contains("between [0.0,100.0]")
    );
    raw(&mut c, &["CONFIG", "SET", "latency-tracking", "no"]).expect("off");
    assert!(section(&mut c, "latencystats").is_empty());
    let default: String = redis::cmd("INFO").query(&mut c).expect("info");
    assert!(!default.contains("# Latencystats"), "not a default section");
}
