//! Assembles an okapi node from a [`Config`]: the engine, the write log, the RESP
//! server and background tasks. Also the embedded-mode API: start a node inside your
//! own process with [`Node::start`].
//!
//! Layout:
//! - [`config`] — every setting, `okapi.toml` parsing, validation
//! - [`node`] — [`Node`] start/shutdown, the ready file
//! - [`groups`] — the groups a node runs (shard + Raft group), prepared and started
//! - [`cluster`] — a node of a cluster: its map, its replicas, CLUSTER OKAPI-SETMAP
//! - [`durable`] — the Raft log, the engine as state machine, persistence controls
//! - [`load`] — loading progress (INFO, the log)
//! - [`runtime`] — one single-threaded event loop per worker thread
//! - [`sys`] — the counting allocator and the THP switch (the only `unsafe` code)

pub mod cluster;
pub mod config;
pub mod durable;
pub mod error;
pub mod groups;
pub mod load;
pub mod node;
pub mod runtime;
pub mod sys;

pub use config::Config;
pub use error::NodeError;
pub use node::{Host, Node, Ready};
