//! Replicas agree: after a run of writes of every new family (bitmaps, long-double
//! counters, HyperLogLogs), each group's replicas hold the same data, compared by the digest every
//! node reports for each group replica it holds (DEBUG DIGEST-GROUPS), also after a
//! leader is killed, writes go on without it, and it restarts and catches up.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::{eventually, form};

/// Group id → digest of this node's replica of it.
fn group_digests(node: &okapi_testkit::TestNode) -> BTreeMap<i64, String> {
    let Ok(mut c) = node.client() else {
        return BTreeMap::new();
    };
    let rows: Vec<(i64, String)> = redis::cmd("DEBUG")
        .arg("DIGEST-GROUPS")
        .query(&mut c)
        .unwrap_or_default();
    rows.into_iter().collect()
}

/// Waits until every group's replicas on every node report one digest, and returns
/// the digests by group.
fn agreed(cluster: &okapi_testkit::TestCluster, groups: usize) -> BTreeMap<i64, String> {
    let last = RefCell::new(Vec::new());
    eventually(
        Duration::from_secs(20),
        || format!("replicas never agreed: {:?}", last.borrow()),
        || {
            let now: Vec<_> = cluster.nodes.iter().map(group_digests).collect();
            let done =
                now.iter().all(|d| d.len() == groups) && now.windows(2).all(|w| w[0] == w[1]);
            *last.borrow_mut() = now;
            done
        },
    );
    last.into_inner().swap_remove(0)
}

/// One round of writes through the cluster client: SETBIT, BITFIELD, BITOP,
/// INCRBYFLOAT, PFADD, PFCOUNT, SORT … STORE, GEOADD, GEOSEARCHSTORE, XADD, DUMP/RESTORE and
/// the consumer-group writes (XGROUP, XREADGROUP, XACK, XCLAIM, XAUTOCLAIM) and scripts
/// (EVAL with SPOP and math.random inside, FUNCTION LOAD and FCALL) over keys spread
/// across the groups.
/// Returns the writes acknowledged.
fn writes(
    c: &mut redis::cluster::ClusterConnection,
    round: u64,
    bits: &mut BTreeMap<String, BTreeSet<u64>>,
) -> usize {
    let mut acked = 0;
    for i in 0..120u64 {
        let key = format!("bm:{}", i % 12);
        let offset = (i * 37 + round * 101) % 4000;
        let _: i64 = redis::cmd("SETBIT")
            .arg(&key)
            .arg(offset)
            .arg(1)
            .query(c)
            .expect("SETBIT");
        bits.entry(key).or_default().insert(offset);
        let _: Vec<Option<i64>> = redis::cmd("BITFIELD")
            .arg(format!("bf:{}", i % 6))
            .arg("OVERFLOW")
            .arg("SAT")
            .arg("INCRBY")
            .arg("i8")
            .arg(format!("#{}", i % 4))
            .arg(50)
            .query(c)
            .expect("BITFIELD");
        let _: String = redis::cmd("INCRBYFLOAT")
            .arg(format!("f:{}", i % 5))
            .arg("0.1")
            .query(c)
            .expect("INCRBYFLOAT");
        let _: i64 = redis::cmd("PFADD")
            .arg(format!("hll:{}", i % 4))
            .arg(format!("e{}", i + round * 1000))
            .arg(format!("x{}", i * 7 + round))
            .query(c)
            .expect("PFADD");
        // Stream IDs come from the leader's clock; `~` trims whole nodes: replicas
        // must agree on both.
        let _: String = redis::cmd("XADD")
            .arg(format!("xs:{}", i % 3))
            .arg(&["MAXLEN", "~", "150", "*", "i"])
            .arg(i)
            .query(c)
            .expect("XADD");
        acked += 5;
    }
    for tag in 0..4 {
        let _: i64 = redis::cmd("BITOP")
            .arg("XOR")
            .arg(format!("{{t{tag}}}dst"))
            .arg(format!("{{t{tag}}}dst"))
            .arg(format!("{{t{tag}}}src"))
            .query(c)
            .expect("BITOP");
        let _: i64 = redis::cmd("SETBIT")
            .arg(format!("{{t{tag}}}src"))
            .arg(round * 8 + tag)
            .arg(1)
            .query(c)
            .expect("SETBIT");
        // A set sorted BY a pattern, and one stored unsorted: replicas hash the set
        // with different seeds, so only a stored order independent of hash order
        // (Redis sorts it by bytes) keeps them equal.
        for m in 0..5 {
            let member = format!("m{}", round * 5 + m);
            let _: i64 = redis::cmd("SADD")
                .arg(format!("{{t{tag}}}set"))
                .arg(&member)
                .query(c)
                .expect("SADD");
            let _: () = redis::cmd("SET")
                .arg(format!("{{t{tag}}}w_{member}"))
                .arg((m * 7 + tag) % 5)
                .query(c)
                .expect("SET");
            let _: i64 = redis::cmd("GEOADD")
                .arg(format!("{{t{tag}}}geo"))
                .arg(13.0 + (round * 5 + m) as f64 * 0.1)
                .arg(37.0 + tag as f64 * 0.1)
                .arg(&member)
                .query(c)
                .expect("GEOADD");
            acked += 3;
        }
        let near: i64 = redis::cmd("GEOSEARCHSTORE")
            .arg(format!("{{t{tag}}}near"))
            .arg(format!("{{t{tag}}}geo"))
            .arg(&[
                "FROMLONLAT",
                "13",
                "37",
                "BYRADIUS",
                "500",
                "km",
                "STOREDIST",
            ])
            .query(c)
            .expect("GEOSEARCHSTORE");
        assert_eq!(near as u64, 5 * (round + 1), "every point is within 500 km");
        let sorted: i64 = redis::cmd("SORT")
            .arg(format!("{{t{tag}}}set"))
            .arg("BY")
            .arg(format!("{{t{tag}}}w_*"))
            .arg("GET")
            .arg("#")
            .arg("GET")
            .arg(format!("{{t{tag}}}w_*"))
            .arg("STORE")
            .arg(format!("{{t{tag}}}by_weight"))
            .query(c)
            .expect("SORT BY STORE");
        assert_eq!(sorted as u64, 10 * (round + 1));
        let plain: i64 = redis::cmd("SORT")
            .arg(format!("{{t{tag}}}set"))
            .arg("BY")
            .arg("nosort")
            .arg("STORE")
            .arg(format!("{{t{tag}}}plain"))
            .query(c)
            .expect("SORT nosort STORE");
        assert_eq!(plain as u64, 5 * (round + 1));
        // RESTORE decodes the payload on every replica, into its own hash seed.
        let payload: Vec<u8> = redis::cmd("DUMP")
            .arg(format!("{{t{tag}}}set"))
            .query(c)
            .expect("DUMP");
        let _: () = redis::cmd("RESTORE")
            .arg(format!("{{t{tag}}}copy"))
            .arg(0)
            .arg(payload)
            .arg("REPLACE")
            .query(c)
            .expect("RESTORE");
        acked += 6;
    }
    // PFCOUNT writes the cached cardinality into the value: replicas must agree on it.
    for h in 0..4 {
        let _: i64 = redis::cmd("PFCOUNT")
            .arg(format!("hll:{h}"))
            .query(c)
            .expect("PFCOUNT");
        acked += 1;
    }
    // Consumer groups: one group per round, reads by two consumers, acks and claims.
    // Delivery times come from the leader's clock: replicas must hold the same PELs.
    type Served = Vec<(String, Vec<(String, Vec<String>)>)>;
    for s in 0..3 {
        let key = format!("xs:{s}");
        let group = format!("g{round}");
        let _: () = redis::cmd("XGROUP")
            .arg(&["CREATE", &key, &group, "0"])
            .query(c)
            .expect("XGROUP CREATE");
        let mut delivered = Vec::new();
        for consumer in ["c1", "c2"] {
            let served: Served = redis::cmd("XREADGROUP")
                .arg(&[
                    "GROUP", &group, consumer, "COUNT", "20", "STREAMS", &key, ">",
                ])
                .query(c)
                .expect("XREADGROUP");
            let entries = &served[0].1;
            assert_eq!(entries.len(), 20, "{key} {group} {consumer}");
            delivered.extend(entries.iter().map(|(id, _)| id.clone()));
        }
        let acked_now: i64 = redis::cmd("XACK")
            .arg(&key)
            .arg(&group)
            .arg(&delivered[..10])
            .query(c)
            .expect("XACK");
        assert_eq!(acked_now, 10);
        let claimed: Vec<String> = redis::cmd("XCLAIM")
            .arg(&[&key, &group, "c3", "0"])
            .arg(&delivered[10..15])
            .arg("JUSTID")
            .query(c)
            .expect("XCLAIM");
        assert_eq!(claimed, delivered[10..15].to_vec());
        let auto: (String, Vec<String>, Vec<String>) = redis::cmd("XAUTOCLAIM")
            .arg(&[&key, &group, "c4", "0", "0", "COUNT", "5", "JUSTID"])
            .query(c)
            .expect("XAUTOCLAIM");
        assert_eq!(auto.1.len(), 5);
        acked += 6;
    }
    // Scripts run on every replica from the log: SPOP inside picks by the entry's seed,
    // math.random by the entry's, so replicas must still agree.
    let script = "redis.call('sadd', KEYS[3], 'a'..ARGV[1], 'b'..ARGV[1], 'c'..ARGV[1]) \
                  local popped = redis.call('spop', KEYS[3]) \
                  redis.call('rpush', KEYS[2], popped, tostring(math.random(1000000))) \
                  return {redis.call('incr', KEYS[1]), popped}";
    for t in 0..4 {
        let keys = [
            format!("{{t{t}}}script:n"),
            format!("{{t{t}}}script:l"),
            format!("{{t{t}}}script:s"),
        ];
        let (n, popped): (i64, String) = redis::cmd("EVAL")
            .arg(script)
            .arg(3)
            .arg(&keys)
            .arg(round)
            .query(c)
            .expect("EVAL");
        assert_eq!(n, round as i64 + 1, "{keys:?}");
        // Earlier rounds' members are still there: any of them may come out.
        assert!(popped.starts_with(['a', 'b', 'c']), "{popped}");
        acked += 1;
    }
    // Functions: the library is replicated state of every group (FUNCTION LOAD goes to
    // every primary), FCALL runs on every replica from the log.
    let _: () = redis::cmd("FUNCTION")
        .arg("LOAD")
        .arg("REPLACE")
        .arg(
            "#!lua name=replicated\nredis.register_function('stamp', function(keys, args) \
             redis.call('hset', keys[1], args[1], math.random(1000000)) \
             return redis.call('hlen', keys[1]) end)",
        )
        .query(c)
        .expect("FUNCTION LOAD");
    for t in 0..4 {
        let fields: i64 = redis::cmd("FCALL")
            .arg("stamp")
            .arg(1)
            .arg(format!("{{t{t}}}function:h"))
            .arg(format!("round{round}"))
            .query(c)
            .expect("FCALL");
        assert_eq!(fields, round as i64 + 1);
        acked += 1;
    }
    acked
}

/// Waits until every key the writes use answers a read through the cluster client:
/// after a kill, until the dead node's groups have new leaders and the client knows.
fn reachable(cluster: &okapi_testkit::TestCluster) -> redis::cluster::ClusterConnection {
    let keys: Vec<String> = (0..12)
        .map(|i| format!("bm:{i}"))
        .chain((0..6).map(|i| format!("bf:{i}")))
        .chain((0..5).map(|i| format!("f:{i}")))
        .chain((0..4).map(|i| format!("hll:{i}")))
        .chain((0..4).flat_map(|t| [format!("{{t{t}}}dst"), format!("{{t{t}}}src")]))
        .collect();
    let last = RefCell::new(String::new());
    let mut client = None;
    eventually(
        Duration::from_secs(20),
        || format!("keys unreachable after the kill: {}", last.borrow()),
        || {
            let Ok(mut c) = cluster.client() else {
                return false;
            };
            match keys
                .iter()
                .try_for_each(|k| redis::cmd("STRLEN").arg(k).query::<i64>(&mut c).map(|_| ()))
            {
                Ok(()) => {
                    client = Some(c);
                    true
                }
                Err(e) => {
                    *last.borrow_mut() = e.to_string();
                    false
                }
            }
        },
    );
    client.expect("set when reachable")
}

#[test]
fn replicas_of_every_group_agree_after_writes_a_failover_and_a_restart() {
    let groups = 3;
    let mut cluster = form(3, &["--groups", "3"]);
    let mut bits: BTreeMap<String, BTreeSet<u64>> = BTreeMap::new();
    let empty = agreed(&cluster, groups);
    assert!(empty.values().all(|d| d == &"0".repeat(40)), "{empty:?}");

    let mut c = cluster.client().expect("client");
    assert_eq!(writes(&mut c, 0, &mut bits), 714);
    let first = agreed(&cluster, groups);
    assert!(
        first.values().all(|d| d != &"0".repeat(40)),
        "every group got data: {first:?}"
    );

    // Kill the node leading bm:0's group; the rest elect leaders and take writes.
    let victim = cluster.leader_of("bm:0", 0).expect("leader");
    cluster.nodes[victim].kill();
    let mut c = reachable(&cluster);
    assert_eq!(writes(&mut c, 1, &mut bits), 714);
    // The dead node's replicas are missing from the comparison until it is back.
    cluster.nodes[victim].restart().expect("restart");
    cluster.wait_ok(Duration::from_secs(20)).expect("ok");
    let second = agreed(&cluster, groups);
    assert_ne!(first, second, "the second round changed every group");

    // The agreed state is the one the writes made.
    let mut c = cluster.client().expect("client");
    for (key, offsets) in &bits {
        let count: i64 = redis::cmd("BITCOUNT")
            .arg(key)
            .query(&mut c)
            .expect("BITCOUNT");
        assert_eq!(count as usize, offsets.len(), "{key}");
    }
    // Each f:i took 0.1 24 times a round, in long double as Redis: 4.8 exactly.
    for i in 0..5 {
        let v: String = redis::cmd("GET")
            .arg(format!("f:{i}"))
            .query(&mut c)
            .expect("GET");
        assert_eq!(v, "4.8", "f:{i}");
    }
    // SORT … BY nosort STORE of a set stored its members in byte order; the RESTOREd
    // copy of the set holds its members.
    for tag in 0..4 {
        let copied: i64 = redis::cmd("SCARD")
            .arg(format!("{{t{tag}}}copy"))
            .query(&mut c)
            .expect("SCARD");
        assert_eq!(copied, 10, "{{t{tag}}}copy");
        let plain: Vec<String> = redis::cmd("LRANGE")
            .arg(format!("{{t{tag}}}plain"))
            .arg(0)
            .arg(-1)
            .query(&mut c)
            .expect("LRANGE");
        let mut members: Vec<String> = (0..10).map(|m| format!("m{m}")).collect();
        members.sort();
        assert_eq!(plain, members, "{{t{tag}}}plain");
    }
    // GEOSEARCHSTORE scored the points by distance: nearest first, the same on all.
    for tag in 0..4 {
        let near: Vec<String> = redis::cmd("ZRANGE")
            .arg(format!("{{t{tag}}}near"))
            .arg(0)
            .arg(-1)
            .query(&mut c)
            .expect("ZRANGE");
        let by_longitude: Vec<String> = (0..10).map(|m| format!("m{m}")).collect();
        assert_eq!(near, by_longitude, "{{t{tag}}}near");
    }
    // 40 XADDs per stream and round, never trimmed below 150.
    for s in 0..3 {
        let len: i64 = redis::cmd("XLEN")
            .arg(format!("xs:{s}"))
            .query(&mut c)
            .expect("XLEN");
        assert_eq!(len, 80, "xs:{s}");
        // Per round's group: 40 delivered, 10 acknowledged, the rest pending.
        for round in 0..2 {
            let pending: (i64, String, String, Vec<(String, String)>) = redis::cmd("XPENDING")
                .arg(format!("xs:{s}"))
                .arg(format!("g{round}"))
                .query(&mut c)
                .expect("XPENDING");
            assert_eq!(pending.0, 30, "xs:{s} g{round}");
        }
    }
    // 480 distinct elements went into the four HLLs (two per PFADD, two rounds).
    let count: i64 = redis::cmd("PFCOUNT")
        .arg("hll:0")
        .query(&mut c)
        .expect("PFCOUNT");
    assert!(
        (110..=130).contains(&count),
        "hll:0 holds 120 distinct elements: {count}"
    );
}
