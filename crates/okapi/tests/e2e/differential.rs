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

/// Every command and subcommand okapi shares with redis-server answers COMMAND INFO
/// with Redis's ACL categories, tips and key specs (a stale `redis_meta` table, one
/// generated before a command was added, fails here), and containers list the
/// subcommands okapi has.
#[test]
fn command_info_carries_redis_metadata_for_every_shared_command() {
    assert!(
        differential::redis_available(),
        "redis-server is needed (Debian: apt-get install redis-server)"
    );
    let redis = RedisServer::start().expect("redis-server starts");
    let node = common::node();
    let mut r = differential::Conn::connect(&redis.addr).expect("connect to redis-server");
    let mut o = differential::Conn::connect(&node.addr()).expect("connect to okapi");
    let names = |conn: &mut differential::Conn| -> Vec<Vec<u8>> {
        match conn
            .call(&[b"COMMAND".to_vec(), b"LIST".to_vec()])
            .expect("COMMAND LIST")
        {
            differential::Value::Array(items) => items
                .into_iter()
                .filter_map(|v| match v {
                    differential::Value::Bulk(b) => Some(b),
                    _ => None,
                })
                .collect(),
            other => panic!("{other}"),
        }
    };
    let ours = names(&mut o);
    let shared: Vec<Vec<u8>> = names(&mut r)
        .into_iter()
        .filter(|n| ours.contains(n))
        .collect();
    let info = |conn: &mut differential::Conn, name: &[u8]| -> Vec<differential::Value> {
        let mut argv = vec![b"COMMAND".to_vec(), b"INFO".to_vec()];
        argv.push(name.to_vec());
        match conn.call(&argv).expect("COMMAND INFO") {
            differential::Value::Array(mut entries) => match entries.pop() {
                Some(differential::Value::Array(fields)) => fields,
                other => panic!("{other:?}"),
            },
            other => panic!("{other}"),
        }
    };
    let mut compared = 0;
    for name in shared.iter().filter(|n| !n.contains(&b'|')) {
        let (want, got) = (info(&mut r, name), info(&mut o, name));
        let shown = String::from_utf8_lossy(name);
        assert_eq!(got[6], want[6], "{shown}: ACL categories");
        assert_eq!(got[7], want[7], "{shown}: tips");
        assert_eq!(got[8], want[8], "{shown}: key specs");
        let subs = |fields: &[differential::Value]| -> Vec<differential::Value> {
            match &fields[9] {
                differential::Value::Array(subs) => {
                    let mut names: Vec<_> = subs
                        .iter()
                        .filter_map(|s| match s {
                            differential::Value::Array(f) => f.first().cloned(),
                            _ => None,
                        })
                        .filter(|n| match n {
                            differential::Value::Bulk(b) => ours.contains(b),
                            _ => false,
                        })
                        .collect();
                    names.sort();
                    names
                }
                _ => Vec::new(),
            }
        };
        assert_eq!(subs(&got), subs(&want), "{shown}: subcommands okapi has");
        compared += 1;
    }
    assert!(compared > 200, "only {compared} commands compared");
}
