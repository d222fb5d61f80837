//! Test helpers: [`TestNode`] runs the real `okapi` binary on a free loopback port with
//! a temporary data directory, waits for its ready file, and kills it on drop;
//! [`TestCluster`] runs several, each on its own loopback address, formed into a
//! cluster with `okapi cluster create`; [`linearizability`] checks recorded histories;
//! [`differential`] compares okapi's replies with a real Redis's.

pub mod cluster;
pub mod differential;
pub mod linearizability;
pub mod node;

pub use cluster::TestCluster;
pub use node::TestNode;
