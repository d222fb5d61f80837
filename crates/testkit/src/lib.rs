//! Test helpers: [`TestNode`] runs the real `okapi` binary on a free loopback port with
//! a temporary data directory, waits for its ready file, and kills it on drop.

pub mod node;

pub use node::TestNode;
