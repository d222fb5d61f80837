//! okapi's RESP server.
//!
//! Connections read pipelined requests, run them in order against the engine (reads
//! directly, writes through the [`log::ReplicatedLog`]), and reply with one flush per
//! batch. Sessions carry the namespace, protocol, transaction queue, watched keys and
//! subscriptions; pub/sub and blocked clients live in shared registries.
//!
//! Layout:
//! - [`listener`] — TCP/Unix listeners, admission, [`listener::start`]
//! - [`connection`] + [`execute`] + [`admin`]: one client's loop, command dispatch,
//!   connection/server commands
//! - [`shard`] — the node's shards (one per shard group: engine, blocked clients,
//!   log) and the slot layout requests are routed by
//! - [`session`], [`clients`], [`pubsub`], [`blocking`]: per-client and shared state
//! - [`log`] — the write path's seam and the local (in-memory) log
//! - [`service`] — the same reads and writes for the NBD and HTTP front ends
//! - [`settings`], [`info`], [`stats`], [`command_stats`], [`background`]: CONFIG, INFO,
//!   counters (per command and per error code too), expiry
//! - [`cluster`] — CLUSTER commands in Redis's formats; [`cluster::ClusterControl`],
//!   what the node does for them
//! - [`notify`] — keyspace notifications: the setting engines raise events by, and
//!   their publication
//! - [`latency`] — the latency monitor (LATENCY)
//! - [`tracking`] — client-side caching: tracked keys and invalidation messages
//! - [`script_probe`] — a script's probe moved off the event loop (long runs)
//! - [`access`] — password and protected mode, the same for every front end
//! - [`loading`] — the loading state every front end checks; [`logging`] — the log
//!   level and dropped-line count the host's log sink exposes

pub mod access;
pub mod admin;
pub mod background;
pub mod blocking;
pub mod clients;
pub mod clock;
pub mod cluster;
pub mod command_stats;
pub mod connection;
pub mod durability;
pub mod error;
pub mod execute;
pub mod info;
pub mod latency;
pub mod listener;
pub mod loading;
pub mod log;
pub mod logging;
pub mod notify;
pub mod pause;
pub mod pubsub;
pub mod redact;
pub mod script_probe;
pub mod service;
pub mod session;
pub mod settings;
pub mod shard;
pub mod shared;
pub mod slowlog;
pub mod stats;
pub mod tracking;

pub use durability::{BoxFuture, Durability};
pub use error::ServerError;
pub use listener::{ServerHandle, start};
pub use loading::LOADING_ERROR;
pub use log::{LogError, OVER_MEMORY, Pending, ReplicatedLog};
pub use logging::{LogLevel, Logging};
pub use service::Service;
pub use settings::Settings;
pub use shard::{Layout, Shard};
pub use shared::{MemoryProbe, Shared};
