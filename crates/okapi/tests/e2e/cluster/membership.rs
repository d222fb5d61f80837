//! Nodes joining and leaving a running cluster, under write load: `okapi cluster
//! add-node`, `rebalance` and `remove-node`, and a node down past
//! `cluster-node-timeout` replaced automatically. After each, every acknowledged
//! write is there with its value.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use okapi_cluster::{ClusterMap, NodeState};
use okapi_testkit::{TestCluster, TestNode};

use super::client::Scored;
use super::{eventually, form, form_with};

/// The cluster map `node` follows.
fn map_of(node: &TestNode) -> ClusterMap {
    let mut c = node.client().expect("connect");
    let bytes: Vec<u8> = redis::cmd("CLUSTER")
        .arg("OKAPI-MAP")
        .query(&mut c)
        .expect("CLUSTER OKAPI-MAP");
    ClusterMap::decode_versioned(&bytes).expect("a map")
}

/// Node ids of the groups `node` runs a replica of, from INFO replication.
fn replicas_on(node: &TestNode) -> usize {
    let mut c = node.client().expect("connect");
    let info: String = redis::cmd("INFO")
        .arg("replication")
        .query(&mut c)
        .expect("INFO");
    info.lines()
        .filter(|l| l.starts_with("okapi_group"))
        .count()
}

/// Whether every group's leader (among running nodes) reports exactly the map's
/// members as its voters and no learner.
fn settled(cluster: &TestCluster, map: &ClusterMap) -> bool {
    let mut done = std::collections::BTreeSet::new();
    for (id, voters, learners) in led_groups(cluster).into_iter().flatten() {
        let Some(group) = map.groups.iter().find(|g| g.id == id) else {
            continue;
        };
        let mut voters: Vec<u64> = voters
            .iter()
            .filter_map(|v| u64::from_str_radix(v.get(..16)?, 16).ok())
            .collect();
        voters.sort_unstable();
        let mut want = group.members.clone();
        want.sort_unstable();
        if learners.is_empty() && voters == want {
            done.insert(id);
        }
    }
    done.len() == map.groups.len()
}

type LedGroups = Vec<(u64, Vec<String>, Vec<String>)>;

/// The shard groups each running node leads now, with their voters and learners.
fn led_groups(cluster: &TestCluster) -> Vec<LedGroups> {
    cluster
        .nodes
        .iter()
        .filter(|n| n.pid().is_some())
        .map(|node| {
            node.client()
                .ok()
                .and_then(|mut c| {
                    redis::cmd("CLUSTER")
                        .arg("OKAPI-GROUPS")
                        .query::<LedGroups>(&mut c)
                        .ok()
                })
                .unwrap_or_default()
        })
        .collect()
}

/// How many shard groups each running node leads now.
fn led_per_node(cluster: &TestCluster) -> Vec<usize> {
    led_groups(cluster).iter().map(Vec::len).collect()
}
/// Writes `m:{i}` = i through a scoring cluster client until stopped.
struct Load {
    stop: Arc<AtomicBool>,
    acked: Arc<AtomicUsize>,
    thread: JoinHandle<Vec<i64>>,
}

impl Load {
    fn start(cluster: &TestCluster) -> Self {
        let addrs: Vec<String> = cluster.nodes.iter().map(TestNode::addr).collect();
        let stop = Arc::new(AtomicBool::new(false));
        let acked = Arc::new(AtomicUsize::new(0));
        let thread = std::thread::spawn({
            let (stop, acked) = (stop.clone(), acked.clone());
            move || {
                let mut client = Scored::new(addrs, Instant::now());
                let mut done = Vec::new();
                let mut i = 0i64;
                while !stop.load(Ordering::Relaxed) {
                    if client.write(&format!("m:{i}"), &i.to_string()) {
                        done.push(i);
                        acked.store(done.len(), Ordering::Relaxed);
                    }
                    i += 1;
                }
                done
            }
        });
        let load = Self {
            stop,
            acked,
            thread,
        };
        load.wait_for(50);
        load
    }

    fn acked(&self) -> usize {
        self.acked.load(Ordering::Relaxed)
    }

    /// Waits until `more` further writes are acknowledged (the cluster serves).
    fn wait_for(&self, more: usize) {
        let target = self.acked() + more;
        eventually(
            Duration::from_secs(30),
            || format!("writes stalled at {} acknowledged", self.acked()),
            || self.acked() >= target,
        );
    }

    fn finish(self) -> Vec<i64> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("the writer ends")
    }
}

/// Every acknowledged write reads back with its value.
fn assert_present(cluster: &TestCluster, acked: &[i64]) {
    let addrs: Vec<String> = cluster
        .nodes
        .iter()
        .filter(|n| n.pid().is_some())
        .map(TestNode::addr)
        .collect();
    let mut check = Scored::new(addrs, Instant::now());
    for i in acked {
        assert_eq!(
            check.read(&format!("m:{i}")),
            Some(Some(i.to_string())),
            "acknowledged write m:{i} is there"
        );
    }
}

#[test]
fn a_node_added_under_load_takes_an_even_share_and_nothing_is_lost() {
    let mut cluster = form(3, &["--groups", "6"]);
    let load = Load::start(&cluster);
    let new = cluster.start_node(&[]).expect("a fourth node");
    let (ok, out, err) = cluster
        .okapi(&[
            "cluster",
            "add-node",
            &cluster.nodes[new].addr(),
            &cluster.nodes[0].addr(),
        ])
        .expect("run add-node");
    assert!(ok, "add-node failed: {err}{out}");
    assert!(out.contains("is serving"), "{out}");
    load.wait_for(50);
    let (ok, out, err) = cluster
        .okapi(&["cluster", "rebalance", &cluster.nodes[0].addr()])
        .expect("run rebalance");
    assert!(ok, "rebalance failed: {err}{out}");
    assert!(out.contains("balanced after"), "{out}");
    load.wait_for(50);
    let acked = load.finish();

    let map = map_of(&cluster.nodes[0]);
    let id = map.nodes[new].id;
    assert_eq!(map.nodes.len(), 4);
    let counts: Vec<usize> = map
        .nodes
        .iter()
        .map(|n| map.groups_on(n.id).count())
        .collect();
    assert!(
        counts.iter().all(|&c| (4..=5).contains(&c)),
        "18 replicas spread over 4 nodes: {counts:?}"
    );
    assert!(map.groups.iter().all(|g| g.members.len() == 3));
    eventually(
        Duration::from_secs(20),
        || {
            format!(
                "the new node runs {} replicas",
                replicas_on(&cluster.nodes[new])
            )
        },
        || replicas_on(&cluster.nodes[new]) == map.groups_on(id).count(),
    );
    assert!(
        settled(&cluster, &map),
        "every group's voters are the map's"
    );
    // Leaders follow the map's preferred leaders: 6 groups over 4 nodes, the new
    // one included, none leading more than two.
    eventually(
        Duration::from_secs(30),
        || format!("leaders per node: {:?}", led_groups(&cluster)),
        || {
            let led = led_per_node(&cluster);
            led.iter().sum::<usize>() == 6 && led.iter().all(|&n| (1..=2).contains(&n))
        },
    );
    println!("{} writes acknowledged while the node joined", acked.len());
    assert_present(&cluster, &acked);
}

#[test]
fn a_removed_node_hands_over_its_replicas_under_load() {
    let cluster = form(4, &["--groups", "4"]);
    let load = Load::start(&cluster);
    // Node 0 founded the cluster: a control voter, likely its leader, and a founder.
    let gone = map_of(&cluster.nodes[0]).nodes[0].id;
    let (ok, out, err) = cluster
        .okapi(&[
            "cluster",
            "remove-node",
            &cluster.nodes[1].addr(),
            &cluster.nodes[0].addr(),
        ])
        .expect("run remove-node");
    assert!(ok, "remove-node failed: {err}{out}");
    assert!(out.contains("removed from the cluster"), "{out}");
    load.wait_for(50);
    let acked = load.finish();

    let map = map_of(&cluster.nodes[1]);
    assert!(map.node(gone).is_none(), "the node left the map");
    assert!(
        map.groups
            .iter()
            .all(|g| g.members.len() == 3 && !g.members.contains(&gone))
    );
    assert!(settled(&cluster, &map));
    eventually(
        Duration::from_secs(20),
        || {
            format!(
                "the removed node still runs {} replicas",
                replicas_on(&cluster.nodes[0])
            )
        },
        || replicas_on(&cluster.nodes[0]) == 0,
    );
    let rest = cluster.nodes_except(0);
    let mut check = Scored::new(rest, Instant::now());
    for i in &acked {
        assert_eq!(
            check.read(&format!("m:{i}")),
            Some(Some(i.to_string())),
            "acknowledged write m:{i} is there"
        );
    }
    println!("{} writes acknowledged while the node left", acked.len());
}

#[test]
fn a_node_down_past_the_timeout_is_replaced_and_comes_back_empty() {
    let mut cluster = form_with(4, &["--cluster-node-timeout", "2000"], &["--groups", "4"]);
    let load = Load::start(&cluster);
    // Node 1 is a control group voter: it is replaced there too.
    let victim = 1;
    let id = map_of(&cluster.nodes[0]).nodes[victim].id;
    let held = map_of(&cluster.nodes[0]).groups_on(id).count();
    assert!(held > 0);
    cluster.nodes[victim].kill();
    let killed = Instant::now();
    eventually(
        Duration::from_secs(40),
        || {
            format!(
                "node {id:016x} not replaced: {:?}",
                map_of(&cluster.nodes[0])
            )
        },
        || {
            let map = map_of(&cluster.nodes[0]);
            map.node(id).is_some_and(|n| n.state == NodeState::Failed)
                && map.groups_on(id).count() == 0
                && settled(&cluster, &map)
        },
    );
    let map = map_of(&cluster.nodes[0]);
    println!(
        "{held} replicas of the dead node re-created elsewhere {:?} after the kill (timeout 2 s)",
        killed.elapsed()
    );
    assert!(map.groups.iter().all(|g| g.members.len() == 3));
    load.wait_for(50);

    cluster.nodes[victim].restart().expect("restart");
    eventually(
        Duration::from_secs(30),
        || "the node that came back is not active with no replica".into(),
        || {
            let map = map_of(&cluster.nodes[0]);
            map.node(id).is_some_and(|n| n.state == NodeState::Active)
                && replicas_on(&cluster.nodes[victim]) == 0
        },
    );
    load.wait_for(50);
    let acked = load.finish();
    assert_present(&cluster, &acked);
}

#[test]
fn a_standalone_node_with_data_grows_into_a_cluster_and_keeps_it() {
    let mut cluster = TestCluster::start(env!("CARGO_BIN_EXE_okapi"), 3, &[]).expect("nodes");
    // Node 0 first runs standalone (the same address and directory) and takes data.
    let clustered: Vec<String> = cluster.nodes[0].args().to_vec();
    let standalone: Vec<&str> = clustered
        .iter()
        .map(String::as_str)
        .filter(|a| *a != "--cluster-enabled")
        .collect();
    cluster.nodes[0].set_args(&standalone);
    cluster.nodes[0].restart().expect("standalone");
    let mut c = cluster.nodes[0].client().expect("connect");
    let info: String = redis::cmd("INFO")
        .arg("cluster")
        .query(&mut c)
        .expect("INFO");
    assert!(info.contains("cluster_enabled:0"), "{info}");
    let mut pipe = redis::pipe();
    for i in 0..2000 {
        pipe.cmd("SET").arg(format!("s:{i}")).arg(i).ignore();
    }
    pipe.cmd("HSET").arg("h").arg("f").arg("v").ignore();
    pipe.cmd("RPUSH").arg("l").arg("a").arg("b").ignore();
    let () = pipe.query(&mut c).expect("writes");
    let () = redis::cmd("SELECT").arg(3).query(&mut c).expect("SELECT");
    let () = redis::cmd("SET")
        .arg("in3")
        .arg("x")
        .query(&mut c)
        .expect("SET");
    drop(c);
    cluster.nodes[0]
        .terminate(Duration::from_secs(10))
        .expect("stops");

    // Restarted as a cluster node: the data is kept (DBSIZE counts it) but not
    // served until the node is in a cluster.
    let clustered: Vec<&str> = clustered.iter().map(String::as_str).collect();
    cluster.nodes[0].set_args(&clustered);
    cluster.nodes[0].restart().expect("cluster-enabled");
    let mut c = cluster.nodes[0].client().expect("connect");
    let keys: i64 = redis::cmd("DBSIZE").query(&mut c).expect("DBSIZE");
    assert_eq!(keys, 2002);
    let err = redis::cmd("GET")
        .arg("s:1")
        .query::<Option<String>>(&mut c)
        .expect_err("no cluster yet");
    assert_eq!(err.code(), Some("CLUSTERDOWN"), "{err}");

    // A node with data of its own is refused.
    let a = cluster.nodes[0].addr();
    let (ok, out, err) = cluster
        .okapi(&[
            "cluster",
            "create",
            &a,
            &cluster.nodes[1].addr(),
            "--groups",
            "3",
        ])
        .expect("run create");
    assert!(!ok, "{out}");
    assert!(err.contains("one shard group"), "{err}");

    let (ok, out, err) = cluster
        .okapi(&["cluster", "add-node", &cluster.nodes[1].addr(), &a])
        .expect("run add-node");
    assert!(ok, "add-node failed: {err}{out}");
    assert!(out.contains("founds one first"), "{out}");
    assert!(out.contains("adopts them"), "{out}");
    let load = Load::start(&cluster);
    let (ok, out, err) = cluster
        .okapi(&["cluster", "add-node", &cluster.nodes[2].addr(), &a])
        .expect("run add-node");
    assert!(ok, "add-node failed: {err}{out}");
    load.wait_for(50);
    let acked = load.finish();

    let map = map_of(&cluster.nodes[0]);
    assert_eq!(map.groups.len(), 1);
    assert_eq!(map.groups[0].id, 0, "the standalone group is the cluster's");
    assert_eq!(map.groups[0].members.len(), 3);
    eventually(
        Duration::from_secs(30),
        || "group 0 has not reached every node".into(),
        || settled(&cluster, &map) && cluster.nodes.iter().all(|n| replicas_on(n) == 1),
    );
    // The node that held the data dies: the other two serve all of it.
    cluster.nodes[0].kill();
    let rest = cluster.nodes_except(0);
    let mut check = Scored::new(rest.clone(), Instant::now());
    for i in 0..2000 {
        assert_eq!(
            check.read(&format!("s:{i}")),
            Some(Some(i.to_string())),
            "s:{i} kept"
        );
    }
    for i in &acked {
        assert_eq!(check.read(&format!("m:{i}")), Some(Some(i.to_string())));
    }
    // Namespaces and types came along: ask whichever survivor leads now.
    let found = eventually_value(Duration::from_secs(10), || {
        rest.iter().find_map(|addr| {
            let mut c = redis::Client::open(format!("redis://{addr}/3"))
                .ok()?
                .get_connection()
                .ok()?;
            let v: Option<String> = redis::cmd("GET").arg("in3").query(&mut c).ok()?;
            let _: () = redis::cmd("SELECT").arg(0).query(&mut c).ok()?;
            let h: Option<String> = redis::cmd("HGET").arg("h").arg("f").query(&mut c).ok()?;
            let l: Vec<String> = redis::cmd("LRANGE")
                .arg("l")
                .arg(0)
                .arg(-1)
                .query(&mut c)
                .ok()?;
            Some((v, h, l))
        })
    });
    assert_eq!(
        found,
        (
            Some("x".to_owned()),
            Some("v".to_owned()),
            vec!["a".to_owned(), "b".to_owned()]
        )
    );
    println!(
        "2002 keys adopted; {} writes acknowledged while the cluster grew",
        acked.len()
    );
}

/// Polls `f` until it gives a value, for up to `timeout`.
fn eventually_value<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "no value within {timeout:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
