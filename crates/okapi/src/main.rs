//! The `okapi` binary: clap subcommands, each in `cmd/`.

mod cmd;

use clap::{Parser, Subcommand};

#[global_allocator]
static ALLOCATOR: okapi_node::sys::alloc::CountingAlloc<mimalloc::MiMalloc> =
    okapi_node::sys::alloc::CountingAlloc(mimalloc::MiMalloc);

/// okapi: a distributed, in-memory-first key-value and block store that speaks the
/// Redis protocol.
#[derive(Debug, Parser)]
#[command(name = "okapi", version, about, long_about = None)]
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
}

fn main() -> anyhow::Result<std::process::ExitCode> {
    let cli = Cli::parse();
    match cli.command {
        Command::Server(args) => cmd::server::run(*args).map(|()| std::process::ExitCode::SUCCESS),
        Command::Check(args) => cmd::check::run(args),
        Command::Cli(args) => cmd::cli::run(args).map(|()| std::process::ExitCode::SUCCESS),
    }
}
