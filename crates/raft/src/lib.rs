//! okapi's Raft groups. Every write is a committed entry of a group's log: openraft
//! runs the protocol, the log lives in the node's shared WAL (`okapi-storage`), and the
//! state machine is the engine, reached through the [`Machine`] trait so this crate
//! stays below the server.
//!
//! Layout:
//! - [`types`] — the openraft type configuration and aliases
//! - [`batch`] — the log payload ([`LogBatch`]) and the callback responder
//! - [`codec`] — how entries, votes, purge points and snapshot metadata are written
//!   (format bytes; okapi's explicit-tag encoding, earlier builds' postcard still read)
//! - [`machine`] — [`Machine`], what a group applies entries to and snapshots
//! - [`log_store`] — openraft log storage over the WAL
//! - `flusher` — the `always` fsync, once per event-loop iteration
//! - [`state_machine`] — openraft state machine over a [`Machine`] and snapshot files
//! - [`transport`] — node-to-node connections shared by all groups, the cluster port
//! - [`network`] — a group's openraft network over the transport
//! - [`group`] — [`Group`]: start, propose, snapshot, shut down one group
//! - [`proposer`] — merges concurrent proposals into one log entry

pub mod batch;
pub mod codec;
pub mod error;
pub(crate) mod flusher;
pub mod group;
pub mod log_store;
pub mod machine;
pub mod network;
pub mod proposer;
pub mod state_machine;
pub mod transport;
pub mod types;

pub use batch::{LogBatch, Part, Writer};
pub use error::RaftError;
pub use flusher::before_park;
pub use group::{Group, GroupConfig, GroupStatus, Membership, Recovered, Role};
pub use machine::{Machine, MachineError};
pub use network::GroupNetwork;
pub use proposer::ProposeError;
