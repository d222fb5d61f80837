//! The latency monitor: LATENCY LATEST/HISTORY/GRAPH/RESET/DOCTOR/HISTOGRAM against
//! requests that crossed `latency-monitor-threshold`.

use crate::common::{err, node, raw};

#[test]
fn slow_requests_become_latency_samples() {
    let n = node();
    let mut c = n.client().expect("connect");
    // Off (the default): nothing is sampled.
    raw(&mut c, &["DEBUG", "SLEEP", "0.03"]).expect("sleep");
    let latest: Vec<redis::Value> = redis::cmd("LATENCY")
        .arg("LATEST")
        .query(&mut c)
        .expect("latest");
    assert!(latest.is_empty(), "{latest:?}");
    let doctor: String = redis::cmd("LATENCY")
        .arg("DOCTOR")
        .query(&mut c)
        .expect("doctor");
    assert!(doctor.contains("disabled"), "{doctor}");

    raw(
        &mut c,
        &["CONFIG", "SET", "latency-monitor-threshold", "10"],
    )
    .expect("config");
    raw(&mut c, &["DEBUG", "SLEEP", "0.03"]).expect("sleep");
    raw(&mut c, &["GET", "fast"]).expect("a fast command under the threshold");
    let latest: Vec<(String, i64, i64, i64)> = redis::cmd("LATENCY")
        .arg("LATEST")
        .query(&mut c)
        .expect("latest");
    assert_eq!(latest.len(), 1, "{latest:?}");
    let (event, time, last, max) = &latest[0];
    assert_eq!(event, "command");
    assert!(*last >= 30 && max >= last, "{latest:?}");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    assert!((now - time).abs() < 60, "{time} vs {now}");
    let history: Vec<(i64, i64)> = redis::cmd("LATENCY")
        .arg("HISTORY")
        .arg("command")
        .query(&mut c)
        .expect("history");
    assert_eq!(history, vec![(*time, *last)]);
    let graph: String = redis::cmd("LATENCY")
        .arg("GRAPH")
        .arg("command")
        .query(&mut c)
        .expect("graph");
    assert!(graph.starts_with("command - high "), "{graph}");
    assert_eq!(
        err(&mut c, &["LATENCY", "GRAPH", "nosuch"]),
        "ERR No samples available for event 'nosuch'"
    );
    let doctor: String = redis::cmd("LATENCY")
        .arg("DOCTOR")
        .query(&mut c)
        .expect("doctor");
    assert!(doctor.contains("1. command: 1 latency spikes"), "{doctor}");
    let reset: i64 = redis::cmd("LATENCY")
        .arg("RESET")
        .arg("command")
        .arg("nosuch")
        .query(&mut c)
        .expect("reset");
    assert_eq!(reset, 1);
    let latest: Vec<redis::Value> = redis::cmd("LATENCY")
        .arg("LATEST")
        .query(&mut c)
        .expect("latest");
    assert!(latest.is_empty());
    assert_eq!(
        err(&mut c, &["LATENCY", "NOSUCH"]),
        "ERR unknown subcommand 'NOSUCH'. Try LATENCY HELP."
    );
    assert_eq!(
        err(&mut c, &["LATENCY", "HISTORY"]),
        "ERR wrong number of arguments for 'latency|history' command"
    );
}

#[test]
fn the_histogram_counts_every_call_by_power_of_two_microseconds() {
    let n = node();
    let mut c = n.client().expect("connect");
    raw(&mut c, &["CONFIG", "RESETSTAT"]).expect("resetstat");
    for i in 0..5 {
        raw(&mut c, &["SET", "k", &i.to_string()]).expect("set");
    }
    raw(&mut c, &["GET", "k"]).expect("get");
    let histogram: redis::Value = redis::cmd("LATENCY")
        .arg("HISTOGRAM")
        .arg("SET")
        .arg("nosuch")
        .query(&mut c)
        .expect("histogram");
    let redis::Value::Array(items) = histogram else {
        panic!("a map (flat in RESP2): {histogram:?}");
    };
    assert_eq!(items.len(), 2, "only SET: {items:?}");
    assert_eq!(items[0], redis::Value::BulkString(b"set".to_vec()));
    let redis::Value::Array(fields) = &items[1] else {
        panic!("{items:?}");
    };
    assert_eq!(fields[0], redis::Value::BulkString(b"calls".to_vec()));
    assert_eq!(fields[1], redis::Value::Int(5));
    let redis::Value::Array(buckets) = &fields[3] else {
        panic!("{fields:?}");
    };
    // Cumulative counts at power-of-two buckets, ending at every call.
    let pairs: Vec<(i64, i64)> = buckets
        .chunks(2)
        .map(|p| match p {
            [redis::Value::Int(b), redis::Value::Int(n)] => (*b, *n),
            other => panic!("{other:?}"),
        })
        .collect();
    assert!(
        pairs.iter().all(|(b, _)| (*b as u64).is_power_of_two()),
        "{pairs:?}"
    );
    assert!(
        pairs.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 < w[1].1),
        "{pairs:?}"
    );
    assert_eq!(pairs.last().map(|p| p.1), Some(5));
}
