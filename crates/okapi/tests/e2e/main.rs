//! End-to-end tests: the real `okapi` binary on loopback, driven by real clients.
//! Each module covers one area; all share one test binary (linking is slow).

mod access;
mod bitmaps;
mod blocks;
mod client;
mod cluster;
mod common;
mod config;
mod datadir;
mod differential;
mod docs;
mod dump;
mod durability;
mod formats;
mod geo;
mod hashes;
mod http;
mod keys;
mod lists;
mod log_sink;
mod nbd;
mod protocol;
mod pubsub;
mod readme;
mod server;
mod sets;
mod shard_groups;
mod sort;
mod startup;
mod stream_groups;
mod streams;
mod strings;
mod tables;
mod tools;
mod txn;
mod zsets;
