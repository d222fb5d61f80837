//! Clusters of real `okapi server` processes, each node on its own loopback address
//! (127.0.0.2, .3, …), formed with `okapi cluster create` and driven by cluster
//! clients; faults are kill -9, SIGSTOP and network partitions between node
//! addresses.

mod basics;
mod client;
mod faults;

use okapi_testkit::TestCluster;

/// Starts and forms a cluster of `n` nodes with `create` flags.
pub fn form(n: usize, create: &[&str]) -> TestCluster {
    let (cluster, _) =
        TestCluster::form(env!("CARGO_BIN_EXE_okapi"), n, &[], create).expect("the cluster forms");
    cluster
        .wait_ok(std::time::Duration::from_secs(20))
        .expect("every slot gets a leader");
    cluster
}
