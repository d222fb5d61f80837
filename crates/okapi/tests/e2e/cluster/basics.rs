//! Forming a cluster and serving cluster clients.

use std::time::Duration;

use okapi_testkit::TestCluster;

use super::{eventually, form, present, replica};
use crate::common::err;

#[test]
fn three_nodes_form_a_cluster_that_cluster_clients_use() {
    let (cluster, out) =
        TestCluster::form(env!("CARGO_BIN_EXE_okapi"), 3, &[], &["--groups", "6"]).expect("forms");
    assert!(
        out.contains("6 shard groups x 3 replicas over 3 nodes"),
        "{out}"
    );
    assert!(out.contains("every slot has a leader"), "{out}");
    assert!(out.contains("┌"), "a table: {out}");
    cluster.wait_ok(Duration::from_secs(20)).expect("ok");

    // The redis crate's cluster client: CLUSTER SLOTS, then MOVED-free routing.
    let mut c = cluster.client().expect("cluster client");
    for i in 0..300 {
        let _: () = redis::cmd("SET")
            .arg(format!("key:{i}"))
            .arg(i)
            .query(&mut c)
            .expect("SET");
    }
    for i in 0..300 {
        let v: i64 = redis::cmd("GET")
            .arg(format!("key:{i}"))
            .query(&mut c)
            .expect("GET");
        assert_eq!(v, i);
    }
    // Every write is on every replica (3 replicas per group on 3 nodes): each node,
    // reading its own copy after READONLY, has all 300 keys, once they applied.
    for node in &cluster.nodes {
        let mut direct = replica(node);
        eventually(
            Duration::from_secs(10),
            || format!("{} lacks some of the 300 keys", node.addr()),
            || present(&mut direct, (0..300).map(|i| (format!("key:{i}"), i))) == 300,
        );
    }

    // Without READONLY, a node that does not lead a key's group redirects to the
    // one that does, as Redis Cluster does.
    let leader = cluster.leader_of("key:1", 0).expect("leader");
    let other = (leader + 1) % 3;
    let mut direct = cluster.nodes[other].client().expect("direct");
    let moved = err(&mut direct, &["GET", "key:1"]);
    let slot = okapi_types::key_slot(b"key:1").0;
    assert_eq!(
        moved,
        format!("MOVED {slot} {}", cluster.nodes[leader].addr())
    );
    let mut at_leader = cluster.nodes[leader].client().expect("direct");
    assert_eq!(
        err(&mut at_leader, &["MSET", "key:1", "a", "key:2", "b"]),
        "CROSSSLOT Keys in request don't hash to the same slot"
    );
    // Keyspace notifications are the node's own: a follower announces the writes
    // its replica applies, the leader (notifications off) announces nothing.
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("notify-keyspace-events")
        .arg("KA")
        .query(&mut direct)
        .expect("CONFIG SET");
    let mut follower_sub = crate::common::Raw::connect(&cluster.nodes[other]);
    follower_sub.call(&["SUBSCRIBE", "__keyspace@0__:key:1"]);
    let mut leader_sub = crate::common::Raw::connect(&cluster.nodes[leader]);
    leader_sub.call(&["PSUBSCRIBE", "*"]);
    // WAIT counts the replicas whose log holds the connection's last write.
    let _: () = redis::cmd("SET")
        .arg("key:1")
        .arg("w")
        .query(&mut at_leader)
        .expect("SET");
    let replicas: i64 = redis::cmd("WAIT")
        .arg(2)
        .arg(5000)
        .query(&mut at_leader)
        .expect("WAIT");
    assert_eq!(replicas, 2, "both followers hold the write");
    assert_eq!(
        follower_sub.read(),
        Some(okapi_resp::Frame::Array(vec![
            crate::common::bulk("message"),
            crate::common::bulk("__keyspace@0__:key:1"),
            crate::common::bulk("set"),
        ])),
        "the follower announced the write it applied"
    );
    let _: i64 = redis::cmd("PUBLISH")
        .arg("after")
        .arg("x")
        .query(&mut at_leader)
        .expect("PUBLISH");
    let first = leader_sub.read().expect("a message");
    assert!(
        format!("{first:?}").contains("after"),
        "the leader, with notifications off, announced nothing first: {first:?}"
    );

    // redis-cli -c follows the redirects.
    let cli = |args: &[&str]| {
        let out = std::process::Command::new("redis-cli")
            .args(["-c", "-h", &cluster.nodes[other].host, "-p"])
            .arg(cluster.nodes[other].port.to_string())
            .args(args)
            .output()
            .expect("redis-cli runs");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    assert_eq!(cli(&["SET", "{user}:name", "okapi"]), "OK");
    assert_eq!(cli(&["GET", "{user}:name"]), "okapi");

    // CLUSTER NODES as redis-benchmark parses it: one master per node, slots shown.
    let mut c0 = cluster.nodes[0].client().expect("direct");
    let nodes: String = redis::cmd("CLUSTER")
        .arg("NODES")
        .query(&mut c0)
        .expect("NODES");
    let lines: Vec<&str> = nodes.lines().collect();
    assert_eq!(lines.len(), 3, "{nodes}");
    assert_eq!(
        lines.iter().filter(|l| l.contains("myself,master")).count(),
        1
    );
    let masters_with_slots = lines.iter().filter(|l| l.split(' ').count() > 8).count();
    assert!(masters_with_slots >= 2, "{nodes}");
    let myid: String = redis::cmd("CLUSTER")
        .arg("MYID")
        .query(&mut c0)
        .expect("MYID");
    assert!(
        nodes.contains(&format!("{myid} {}", cluster.nodes[0].addr())),
        "{nodes}"
    );
    let info: String = redis::cmd("INFO")
        .arg("cluster")
        .query(&mut c0)
        .expect("INFO");
    assert!(info.contains("cluster_enabled:1"), "{info}");
    // INFO replication: this node's role in each of its six groups.
    let replication: String = redis::cmd("INFO")
        .arg("replication")
        .query(&mut c0)
        .expect("INFO");
    let roles: Vec<&str> = replication
        .lines()
        .filter(|l| l.starts_with("okapi_group"))
        .collect();
    assert_eq!(roles.len(), 6, "{replication}");
    let leading = roles.iter().filter(|l| l.contains("role=leader")).count();
    let following = roles.iter().filter(|l| l.contains("role=follower")).count();
    assert_eq!(leading + following, 6, "{replication}");
    assert_eq!(leading, 2, "leaders start spread, two each: {replication}");
    let keyslot: i64 = redis::cmd("CLUSTER")
        .arg("KEYSLOT")
        .arg("key:1")
        .query(&mut c0)
        .expect("KEYSLOT");
    assert_eq!(keyslot, i64::from(slot));

    // A standalone node is no cluster.
    let single = crate::common::node();
    let mut s = single.client().expect("client");
    let info: String = redis::cmd("INFO")
        .arg("cluster")
        .query(&mut s)
        .expect("INFO");
    assert!(info.contains("cluster_enabled:0"), "{info}");
    assert_eq!(
        err(&mut s, &["CLUSTER", "INFO"]),
        "ERR This instance has cluster support disabled"
    );
}

#[test]
fn create_refuses_nodes_that_cannot_form_a_cluster() {
    // A node with keys.
    let cluster = TestCluster::start(env!("CARGO_BIN_EXE_okapi"), 3, &[]).expect("start");
    let mut c = cluster.nodes[1].client().expect("client");
    // Before the map, a cluster node serves no slot.
    let down = err(&mut c, &["SET", "k", "v"]);
    assert_eq!(down, "CLUSTERDOWN Hash slot not served");
    let refused = cluster
        .create(&["--replicas", "4"])
        .expect_err("4 replicas on 3 nodes");
    assert!(
        format!("{refused:#}").contains("at least 4 nodes"),
        "{refused:#}"
    );
    // A standalone node is refused by name.
    let single = crate::common::node();
    let (ok, _, stderr) = cluster
        .okapi(&["cluster", "create", &single.addr()])
        .expect("runs");
    assert!(!ok);
    assert!(stderr.contains("not a cluster node"), "{stderr}");
}

#[test]
fn a_restarted_node_catches_up_and_the_cluster_survives_a_full_restart() {
    let mut cluster = form(3, &["--groups", "3"]);
    let mut c = cluster.client().expect("client");
    for i in 0..100 {
        let _: () = redis::cmd("SET")
            .arg(format!("a:{i}"))
            .arg(i)
            .query(&mut c)
            .expect("SET");
    }
    // One node down: writes go on. Until the groups it led elect new leaders (well
    // under a second), the slot map still names it and its slots refuse
    // connections, as a dead Redis master's do until failover: the client retries.
    cluster.nodes[2].kill();
    drop(c);
    let mut c = cluster.client().expect("client");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    for i in 0..100 {
        loop {
            match redis::cmd("SET")
                .arg(format!("b:{i}"))
                .arg(i)
                .query::<()>(&mut c)
            {
                Ok(()) => break,
                Err(e) if std::time::Instant::now() < deadline => {
                    drop(e);
                    std::thread::sleep(Duration::from_millis(50));
                    c = cluster.client().expect("client");
                }
                Err(e) => panic!("SET b:{i} still fails: {e}"),
            }
        }
    }
    // okapi cluster status shows the node down and how far behind its replicas are.
    let (ok, status, stderr) = cluster
        .okapi(&["cluster", "status", &cluster.nodes[0].addr()])
        .expect("status runs");
    assert!(ok, "{stderr}");
    let dead = format!("{:<22} ", cluster.nodes[2].addr());
    assert!(
        status
            .lines()
            .any(|l| l.contains(&dead) && l.split_whitespace().nth(3) == Some("down")),
        "the dead node is shown down: {status}"
    );
    let lagging = format!("{} (lag ", cluster.nodes[2].addr());
    assert!(
        status
            .split(&lagging)
            .skip(1)
            .any(|rest| rest.split(')').next().is_some_and(|n| n != "0")),
        "the dead node's replicas fall behind: {status}"
    );
    cluster.nodes[2].restart().expect("restart");
    cluster.wait_ok(Duration::from_secs(20)).expect("ok");
    // It catches up: its own copy gets the writes made while it was down.
    let mut direct = replica(&cluster.nodes[2]);
    eventually(
        Duration::from_secs(20),
        || "node 2 did not catch up".into(),
        || present(&mut direct, (0..100).map(|i| (format!("b:{i}"), i))) == 100,
    );
    // Every node killed and restarted: the cluster comes back with everything.
    for node in &mut cluster.nodes {
        node.kill();
    }
    for node in &mut cluster.nodes {
        node.restart().expect("restart");
    }
    cluster
        .wait_ok(Duration::from_secs(30))
        .expect("ok after a full restart");
    let mut c = cluster.client().expect("client");
    for prefix in ["a", "b"] {
        for i in 0..100 {
            let v: i64 = redis::cmd("GET")
                .arg(format!("{prefix}:{i}"))
                .query(&mut c)
                .expect("GET");
            assert_eq!(v, i, "{prefix}:{i}");
        }
    }
}

#[test]
fn a_node_far_behind_catches_up_from_a_streamed_snapshot() {
    // Snapshots every 200 entries (the log keeps 1,000 after one): a follower that
    // misses more than that must be sent a snapshot.
    let (mut cluster, _) = TestCluster::form(
        env!("CARGO_BIN_EXE_okapi"),
        3,
        &["--snapshot-entries", "200"],
        &["--groups", "1"],
    )
    .expect("forms");
    cluster.wait_ok(Duration::from_secs(20)).expect("ok");
    let leader = cluster.leader_of("x", 0).expect("leader");
    let behind = (leader + 1) % 3;
    cluster.nodes[behind].kill();
    let mut c = cluster.nodes[leader].client().expect("leader");
    let field = |info: &str, name: &str| -> u64 {
        info.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    };
    // Write until the leader has snapshotted and purged its log past what the dead
    // follower holds (openraft postpones a purge while a replication stream still
    // reads those entries, so how many writes that takes varies). One write per
    // entry: pipelining would merge them into few entries.
    let mut written = 0;
    loop {
        for i in written..written + 300 {
            let _: () = redis::cmd("SET")
                .arg(format!("s:{i}"))
                .arg(i)
                .query(&mut c)
                .expect("SET");
        }
        written += 300;
        let info: String = redis::cmd("INFO")
            .arg("persistence")
            .query(&mut c)
            .expect("INFO");
        let purged = field(&info, "okapi_log_last_index:")
            .saturating_sub(field(&info, "okapi_log_entries:"));
        if field(&info, "okapi_snapshot_index:") > 1100 && purged > 50 {
            break;
        }
        assert!(written < 9000, "the leader never purged its log: {info}");
    }
    let last = written - 1;
    cluster.nodes[behind].restart().expect("restart");
    let mut direct = replica(&cluster.nodes[behind]);
    let ends = [("s:0".to_owned(), 0), (format!("s:{last}"), last as i64)];
    eventually(
        Duration::from_secs(30),
        || "the restarted node did not catch up".into(),
        || present(&mut direct, ends.clone().into_iter()) == 2,
    );
    // Whoever leads by now sent it (leadership may move during the writes); the
    // restarted node says it restored its group from a received snapshot.
    // Log lines reach the files from a writer thread of their own: wait for them.
    eventually(
        Duration::from_secs(10),
        || {
            format!(
                "caught up by snapshot, not by log: {}",
                cluster.nodes[behind].log()
            )
        },
        || {
            cluster
                .nodes
                .iter()
                .any(|n| n.log().contains("snapshot sent"))
                && cluster.nodes[behind]
                    .log()
                    .contains("restored state from snapshot group=1")
        },
    );
    // It keeps the snapshot it received: restarted again, it still has everything.
    cluster.nodes[behind].restart().expect("restart");
    let mut direct = replica(&cluster.nodes[behind]);
    eventually(
        Duration::from_secs(30),
        || "lost after a restart".into(),
        || present(&mut direct, std::iter::once(("s:1234".to_owned(), 1234))) == 1,
    );
}

#[test]
fn large_values_replicate_in_bounded_appends() {
    let mut cluster = super::form(3, &["--groups", "1"]);
    let leader = cluster.leader_of("x", 0).expect("leader");
    let behind = (leader + 2) % 3;
    cluster.nodes[behind].kill();
    let mut c = cluster.nodes[leader].client().expect("leader");
    // 12 values of 3 MiB: catching up takes several AppendEntries of at most ~8 MiB.
    let value: Vec<u8> = (0..3 << 20).map(|i: u32| (i % 251) as u8).collect();
    for i in 0..12 {
        let _: () = redis::cmd("SET")
            .arg(format!("big:{i}"))
            .arg(&value)
            .query(&mut c)
            .expect("SET");
    }
    cluster.nodes[behind].restart().expect("restart");
    let mut direct = replica(&cluster.nodes[behind]);
    eventually(
        Duration::from_secs(60),
        || "the large values never arrived".into(),
        || {
            redis::cmd("GET")
                .arg("big:11")
                .query::<Option<Vec<u8>>>(&mut direct)
                .expect("GET")
                .as_deref()
                == Some(&value[..])
        },
    );
    let first: Vec<u8> = redis::cmd("GET")
        .arg("big:0")
        .query(&mut direct)
        .expect("GET");
    assert_eq!(first, value);
}

/// The lines of `INFO replication` about the control group, per node.
fn control_lines(cluster: &TestCluster) -> Vec<String> {
    cluster
        .nodes
        .iter()
        .filter(|n| n.pid().is_some())
        .map(|n| {
            let mut c = n.client().expect("client");
            let info: String = redis::cmd("INFO")
                .arg("replication")
                .query(&mut c)
                .expect("INFO");
            info.lines()
                .find(|l| l.starts_with("okapi_control:"))
                .unwrap_or("")
                .to_owned()
        })
        .collect()
}

#[test]
fn five_nodes_share_one_map_through_the_control_group_which_survives_its_leader() {
    let (mut cluster, out) =
        TestCluster::form(env!("CARGO_BIN_EXE_okapi"), 5, &[], &["--groups", "5"]).expect("forms");
    assert!(out.contains("founded the cluster"), "{out}");
    cluster
        .wait_ok(Duration::from_secs(30))
        .expect("every node has the map");
    // Three voters, two learners; all agree on the control leader.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let lines = loop {
        let lines = control_lines(&cluster);
        let voters = lines.iter().filter(|l| l.contains("member=voter")).count();
        let learners = lines
            .iter()
            .filter(|l| l.contains("member=learner"))
            .count();
        if voters == 3 && learners == 2 {
            break lines;
        }
        assert!(std::time::Instant::now() < deadline, "{lines:?}");
        std::thread::sleep(Duration::from_millis(50));
    };
    let leader_field = |l: &str| l.split("leader=").nth(1).unwrap_or("").to_owned();
    let leader = leader_field(&lines[0]);
    assert!(lines.iter().all(|l| leader_field(l) == leader), "{lines:?}");
    // 5 groups x 3 replicas over 5 nodes: each node holds 3 and first leads 1.
    let mut c = cluster.client().expect("cluster client");
    for i in 0..200 {
        let _: () = redis::cmd("SET")
            .arg(format!("k{i}"))
            .arg(i)
            .query(&mut c)
            .expect("SET");
    }
    // The control group's leader dies: the others elect a new one, and the shard
    // groups keep serving.
    let victim = cluster
        .nodes
        .iter()
        .position(|n| {
            let mut c = n.client().expect("client");
            let myid: String = redis::cmd("CLUSTER")
                .arg("MYID")
                .query(&mut c)
                .expect("MYID");
            myid.starts_with(&leader)
        })
        .expect("the control leader is a node");
    cluster.nodes[victim].kill();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let lines = control_lines(&cluster);
        let leaders: std::collections::BTreeSet<String> =
            lines.iter().map(|l| leader_field(l)).collect();
        if leaders.len() == 1 && !leaders.contains(&leader) && !leaders.contains("0000000000000000")
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no new control leader: {lines:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut c = cluster.client().expect("cluster client");
    for i in 0..200 {
        loop {
            match redis::cmd("GET").arg(format!("k{i}")).query::<i64>(&mut c) {
                Ok(v) => {
                    assert_eq!(v, i);
                    break;
                }
                Err(e) => {
                    assert!(std::time::Instant::now() < deadline, "k{i}: {e}");
                    std::thread::sleep(Duration::from_millis(50));
                    c = cluster.client().expect("cluster client");
                }
            }
        }
    }
    // Back, it still has the map (from its own control replica and map file).
    cluster.nodes[victim].restart().expect("restart");
    cluster.wait_ok(Duration::from_secs(30)).expect("ok");
}

#[test]
fn redis_benchmark_runs_against_the_cluster() {
    let cluster = super::form(3, &["--groups", "3"]);
    let node = &cluster.nodes[1];
    let out = std::process::Command::new("redis-benchmark")
        .args(["--cluster", "-h", &node.host, "-p"])
        .arg(node.port.to_string())
        .args(["-t", "set,get", "-n", "3000", "-c", "10", "-q"])
        .output()
        .expect("redis-benchmark runs");
    let stdout = String::from_utf8_lossy(&out.stdout).replace('\r', "\n");
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("Cluster has 3 master nodes"), "{stdout}");
    for test in ["SET: ", "GET: "] {
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with(test) && l.contains("requests per second")),
            "{test}{stdout}"
        );
    }
    // Its writes landed: each node counts the keys of the groups it leads.
    let sizes: i64 = cluster
        .nodes
        .iter()
        .map(|n| {
            let mut d = n.client().expect("direct");
            redis::cmd("DBSIZE").query::<i64>(&mut d).expect("DBSIZE")
        })
        .sum();
    assert!(sizes >= 1, "redis-benchmark's SETs are stored");
}

#[test]
fn bad_cluster_commands_and_strangers_on_the_cluster_port_get_errors() {
    let cluster = super::form(3, &["--groups", "3"]);
    let node = &cluster.nodes[0];
    let mut c = node.client().expect("client");
    assert_eq!(
        err(&mut c, &["CLUSTER", "COUNTKEYSINSLOT", "16384"]),
        "ERR Invalid slot"
    );
    assert_eq!(
        err(&mut c, &["CLUSTER", "COUNTKEYSINSLOT", "x"]),
        "ERR Invalid slot"
    );
    assert_eq!(
        err(&mut c, &["CLUSTER", "GETKEYSINSLOT", "1", "-1"]),
        "ERR Invalid number of keys"
    );
    let unknown = err(&mut c, &["CLUSTER", "FROB"]);
    assert!(
        unknown.starts_with("ERR unknown subcommand 'FROB'"),
        "{unknown}"
    );
    let arity = err(&mut c, &["CLUSTER", "KEYSLOT"]);
    assert!(arity.contains("wrong number of arguments"), "{arity}");
    let garbage = err(&mut c, &["CLUSTER", "OKAPI-SETMAP", "not a map"]);
    assert!(garbage.contains("not a valid cluster map"), "{garbage}");
    // A second create on a formed cluster is refused by name, not half applied.
    let again = cluster.create(&["--groups", "3"]).expect_err("refused");
    assert!(
        format!("{again:#}").contains("this node is in cluster"),
        "{again:#}"
    );

    // Membership commands: bad arguments are refused where they arrive; changes
    // that cannot be made are refused by the control leader, by name.
    assert_eq!(
        err(
            &mut c,
            &["CLUSTER", "OKAPI-ADDNODE", "zz", "127.0.0.9", "1", "2"]
        ),
        "ERR Invalid node id 'zz'"
    );
    assert_eq!(
        err(
            &mut c,
            &[
                "CLUSTER",
                "OKAPI-ADDNODE",
                "00000000000000aa",
                "127.0.0.9",
                "0",
                "2"
            ]
        ),
        "ERR Invalid port '0'"
    );
    assert_eq!(
        err(
            &mut c,
            &["CLUSTER", "OKAPI-ADDNODE", "00000000000000aa", "", "1", "2"]
        ),
        "ERR Invalid host"
    );
    let arity = err(&mut c, &["CLUSTER", "OKAPI-REBALANCE", "now"]);
    assert!(arity.contains("wrong number of arguments"), "{arity}");
    let arity = err(&mut c, &["CLUSTER", "OKAPI-REMOVENODE"]);
    assert!(arity.contains("wrong number of arguments"), "{arity}");
    let at_leader = |args: &[&str]| -> String {
        let mut last = String::new();
        for n in &cluster.nodes {
            let mut c = n.client().expect("client");
            last = err(&mut c, args);
            if !last.starts_with("CONTROLLEADER") {
                return last;
            }
        }
        panic!("no node took {args:?}: {last}");
    };
    let unknown = at_leader(&["CLUSTER", "OKAPI-REMOVENODE", "00000000000000aa"]);
    assert_eq!(unknown, "ERR no node 00000000000000aa in the cluster");
    let map_id = |i: usize| {
        let mut c = cluster.nodes[i].client().expect("client");
        let id: String = redis::cmd("CLUSTER")
            .arg("MYID")
            .query(&mut c)
            .expect("MYID");
        id
    };
    // Node ids as CLUSTER NODES shows them (40 hex digits) or their first 16.
    let active = at_leader(&["CLUSTER", "OKAPI-FORGETNODE", &map_id(1)]);
    assert!(active.contains("is active: remove it first"), "{active}");
    let active = at_leader(&["CLUSTER", "OKAPI-FORGETNODE", &map_id(1)[..16]]);
    assert!(active.contains("is active: remove it first"), "{active}");
    let too_few = at_leader(&["CLUSTER", "OKAPI-REMOVENODE", &map_id(2)[..16]]);
    assert!(too_few.contains("add a node first"), "{too_few}");
    let (taken_host, taken_port) = (cluster.nodes[1].host.clone(), cluster.nodes[1].port);
    let taken = at_leader(&[
        "CLUSTER",
        "OKAPI-ADDNODE",
        "00000000000000aa",
        &taken_host,
        &taken_port.to_string(),
        "40000",
    ]);
    assert!(taken.contains("already has address"), "{taken}");
    let (ok, _, stderr) = cluster
        .okapi(&["cluster", "remove-node", &node.addr(), "127.0.0.9:1"])
        .expect("run remove-node");
    assert!(!ok);
    assert!(stderr.contains("127.0.0.9:1"), "{stderr}");

    // The cluster port closes on whoever is not an okapi peer, and the node goes on.
    let cport = node.cluster_port.expect("cluster port");
    let closed = |payload: &[u8]| {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect((node.host.as_str(), cport)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        s.write_all(payload).expect("write");
        let mut buf = [0u8; 64];
        // Whatever the preamble answer, the connection ends with EOF or a reset.
        let mut total = 0;
        loop {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => return total,
                Ok(n) => total += n,
            }
        }
    };
    closed(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    // A valid preamble, then a frame announcing 4 GiB.
    let mut oversized = b"OKRT\x02".to_vec();
    oversized.extend_from_slice(&7u64.to_le_bytes());
    oversized.extend_from_slice(&u32::MAX.to_le_bytes());
    let answered = closed(&oversized);
    assert_eq!(answered, 13, "the node answers the preamble, then closes");
    // A preamble of another protocol version.
    let mut newer = b"OKRT\x09".to_vec();
    newer.extend_from_slice(&7u64.to_le_bytes());
    assert_eq!(
        closed(&newer),
        0,
        "no answer to a version it does not speak"
    );
    cluster.wait_ok(Duration::from_secs(5)).expect("still ok");
    let mut c = cluster.client().expect("client");
    let _: () = redis::cmd("SET")
        .arg("after")
        .arg("1")
        .query(&mut c)
        .expect("SET");
}

#[test]
fn redis_py_cluster_client_works_unchanged() {
    // Debian's python3 with python3-redis (redis-py 4.3, which has RedisCluster);
    // .ci/run installs it.
    let python = "/usr/bin/python3";
    let has = std::process::Command::new(python)
        .args(["-c", "import redis.cluster"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        has,
        "{python} with redis-py (apt install python3-redis) is needed for this test"
    );
    let cluster = form(3, &["--groups", "6"]);
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/e2e/cluster/redis_py_cluster.py"
    );
    let node = &cluster.nodes[1];
    let out = std::process::Command::new(python)
        .arg(script)
        .arg(&node.host)
        .arg(node.port.to_string())
        .output()
        .expect("run python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "redis-py failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.starts_with("ok 300 keys"), "{stdout}");
    println!("{stdout}");
}
