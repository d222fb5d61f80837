//! Clusters of real `okapi server` processes, each node on its own loopback address
//! (127.0.0.2, .3, …), formed with `okapi cluster create` and driven by cluster
//! clients; faults are kill -9, SIGSTOP and network partitions between node
//! addresses.

mod basics;
mod client;
mod faults;
mod membership;
mod replicas;

use okapi_testkit::TestCluster;

/// Starts and forms a cluster of `n` nodes with `create` flags.
pub fn form(n: usize, create: &[&str]) -> TestCluster {
    form_with(n, &[], create)
}

/// Starts `n` nodes with `node` flags each and forms them into a cluster with
/// `create` flags; returns once every slot has a leader.
pub fn form_with(n: usize, node: &[&str], create: &[&str]) -> TestCluster {
    let (cluster, _) =
        TestCluster::form(env!("CARGO_BIN_EXE_okapi"), n, node, create).expect("the cluster forms");
    cluster
        .wait_ok(std::time::Duration::from_secs(20))
        .expect("every slot gets a leader");
    cluster
}

/// A connection to `node` that reads the node's own copy (READONLY), whether it
/// leads the key's group or not.
pub fn replica(node: &okapi_testkit::TestNode) -> redis::Connection {
    let mut c = node.client().expect("connect");
    let _: () = redis::cmd("READONLY").query(&mut c).expect("READONLY");
    c
}

/// Checks `done` every 50 ms until it holds; fails with `what()` after `timeout`.
pub fn eventually(
    timeout: std::time::Duration,
    what: impl Fn() -> String,
    mut done: impl FnMut() -> bool,
) {
    let deadline = std::time::Instant::now() + timeout;
    while !done() {
        assert!(std::time::Instant::now() < deadline, "{}", what());
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// How many of `keys` (with the values they were written with) `c` reads back.
pub fn present(c: &mut redis::Connection, keys: impl Iterator<Item = (String, i64)>) -> usize {
    keys.filter(|(k, v)| {
        redis::cmd("GET")
            .arg(k)
            .query::<Option<i64>>(c)
            .ok()
            .flatten()
            == Some(*v)
    })
    .count()
}
