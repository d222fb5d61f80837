//! The `okapi` binary: clap subcommands, each in `cmd/`.

mod cmd;
mod logging;

use clap::{Parser, Subcommand};

#[global_allocator]
static ALLOCATOR: okapi_node::sys::alloc::CountingAlloc<mimalloc::MiMalloc> =
    okapi_node::sys::alloc::CountingAlloc(mimalloc::MiMalloc);

/// `okapi --version`: the crate version and the git commit built from.
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("OKAPI_GIT_COMMIT"),
    ")"
);

/// okapi: a distributed, in-memory-first key-value and block store that speaks the
/// Redis protocol.
#[derive(Debug, Parser)]
#[command(name = "okapi", version = VERSION, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a node (single-node store on 127.0.0.1:6379 with no flags).
    Server(Box<cmd::server::ServerArgs>),
    /// Verify a stopped node's data directory (WAL segments, snapshots); --repair cuts
    /// the log at the first corruption.
    Check(cmd::check::CheckArgs),
    /// Client tools against a running node: `block put FILE KEY`, `block get KEY FILE`,
    /// `block info KEY`.
    Cli(cmd::cli::CliArgs),
    /// Cluster tools: `create HOST:PORT...` forms a cluster from running empty nodes,
    /// `status [HOST:PORT]` shows its groups, leaders and slots.
    Cluster(cmd::cluster::ClusterArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Server(args) => cmd::server::run(*args).map(|()| std::process::ExitCode::SUCCESS),
        Command::Check(args) => cmd::check::run(args),
        Command::Cli(args) => cmd::cli::run(args).map(|()| std::process::ExitCode::SUCCESS),
        Command::Cluster(args) => cmd::cluster::run(args).map(|()| std::process::ExitCode::SUCCESS),
    };
    result.unwrap_or_else(|e| {
        // Not eprintln!: with standard error closed it would panic instead of exiting.
        use std::io::Write;
        let _ = writeln!(std::io::stderr(), "Error: {}", describe(&e));
        std::process::ExitCode::FAILURE
    })
}

/// An error and its causes on one line, leaving out a cause whose text the message
/// before it already includes (many errors print their source themselves).
pub(crate) fn describe(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let part = cause.to_string();
        if !text.contains(&part) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&part);
        }
    }
    text
}
