//! One module per subcommand.

pub mod check;
pub mod cli;
pub mod cluster;
pub mod server;
