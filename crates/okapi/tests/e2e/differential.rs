//! okapi against a real `redis-server` 7, command for command: generated streams per
//! family, in RESP2 and RESP3, replies compared exactly (testkit's `differential`).
//! CI runs a bounded number of commands per family; `OKAPI_DIFF_COMMANDS=N` (and
//! `OKAPI_DIFF_SEED=S`) runs longer, e.g.
//! `OKAPI_DIFF_COMMANDS=20000 cargo nextest run -p okapi differential --no-capture`.

use okapi_testkit::differential::{self, Family, RedisServer};

use crate::common;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn compare(families: &[Family], protocols: &[u8], events: bool) {
    assert!(
        differential::redis_available(),
        "redis-server is needed (Debian: apt-get install redis-server)"
    );
    let redis = RedisServer::start().expect("redis-server starts");
    let node = common::node();
    let count = env_or("OKAPI_DIFF_COMMANDS", 400) as usize;
    let seed = env_or("OKAPI_DIFF_SEED", 1);
    let mut failures = Vec::new();
    for &family in families {
        for &protocol in protocols {
            let report = differential::run_family_with(
                &redis.addr,
                &node.addr(),
                family,
                protocol,
                count,
                seed + u64::from(protocol),
                events,
            )
            .expect("both servers answer");
            eprintln!(
                "{:<8} RESP{}: {} commands compared, {} mismatches, {} intentional differences",
                family.name(),
                protocol,
                report.compared,
                report.mismatches.len(),
                report.intentional.len()
            );
            assert_eq!(
                report.compared, count,
                "every generated command was compared"
            );
            for m in report.mismatches.iter().take(20) {
                eprintln!("  {m}");
            }
            for (m, why) in report.intentional.iter().take(3) {
                eprintln!("  intentional ({}): {m}", why.reason);
            }
            if !report.mismatches.is_empty() {
                failures.push(format!("{} RESP{}", family.name(), protocol));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "replies differ from Redis in: {failures:?}"
    );
}

/// Every family, in both protocols: replies match Redis's exactly, apart from the
/// documented intentional differences (`differential::INTENTIONAL`), which are counted
/// and printed but do not fail the run.
#[test]
fn every_family_matches_redis() {
    compare(&Family::ALL, &[2, 3], false);
}

/// Every family with keyspace notifications on (`notify-keyspace-events AKEn` on both
/// servers): each command publishes the same events, in the same order, as in Redis.
#[test]
fn every_family_announces_what_redis_announces() {
    compare(&Family::ALL, &[2], true);
}
