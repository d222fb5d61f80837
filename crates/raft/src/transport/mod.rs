//! Node-to-node transport for every group of a node: [`peers`] sends (one connection
//! per peer node, shared by all groups), [`inbound`] serves the cluster port and
//! dispatches to the groups registered there, [`frame`] is the versioned wire format.
//! Mutual TLS and node certificates (security issue) wrap the streams of `peers` and
//! `inbound` without changing what travels over them.

pub mod frame;
pub mod inbound;
pub mod peers;

pub use inbound::{Inbound, Registered};
pub use peers::{LinkError, Peers};
