//! `okapi cli`: client-side tools against a running node — for now, moving files in
//! and out of blocks with a progress bar.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

/// Flags of `okapi cli`, named as redis-cli's (`-h` is the host, so help is `--help`).
#[derive(Debug, Args)]
#[command(disable_help_flag = true)]
pub struct CliArgs {
    /// Host of the node.
    #[arg(short = 'h', long, default_value = "127.0.0.1")]
    host: String,
    /// RESP port of the node.
    #[arg(short, long, default_value_t = 6379)]
    port: u16,
    /// Unix socket of the node (instead of host and port).
    #[arg(short, long, value_name = "PATH")]
    socket: Option<PathBuf>,
    /// Password of the default user.
    #[arg(
        short = 'a',
        long = "pass",
        env = "OKAPI_PASSWORD",
        hide_env_values = true
    )]
    pass: Option<String>,
    /// Print help.
    #[arg(long, action = clap::ArgAction::Help)]
    help: Option<bool>,
    #[command(subcommand)]
    command: CliCommand,
}

#[derive(Debug, Subcommand)]
enum CliCommand {
    /// Blocks.
    #[command(subcommand)]
    Block(BlockCommand),
}

#[derive(Debug, Subcommand)]
enum BlockCommand {
    /// Uploads FILE into a new block KEY of the file's length (replacing KEY), and
    /// checks the block's CRC-32C against the file's.
    Put {
        /// Local file.
        file: PathBuf,
        /// Block key.
        key: String,
    },
    /// Downloads block KEY into FILE (zero ranges become holes), checked by CRC-32C.
    Get {
        /// Block key.
        key: String,
        /// Local file (created or truncated).
        file: PathBuf,
    },
    /// Prints a block's length, pages in use, shared pages, memory and CRC-32C.
    Info {
        /// Block key.
        key: String,
    },
}

/// A file transfer's progress bar (hidden when `quiet`) and clock.
struct Transfer {
    bar: ProgressBar,
    started: std::time::Instant,
}

impl Transfer {
    fn start(quiet: bool) -> Self {
        let bar = if quiet {
            ProgressBar::hidden()
        } else {
            let bar = ProgressBar::new(0);
            bar.set_style(
                ProgressStyle::with_template(
                    "{bar:40} {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} eta {eta}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar
        };
        Self {
            bar,
            started: std::time::Instant::now(),
        }
    }

    /// The client's progress callback, moving the bar.
    fn progress(&self) -> impl FnMut(u64, u64) + Send + '_ {
        |done, total| {
            self.bar.set_length(total);
            self.bar.set_position(done);
        }
    }

    /// Clears the bar and prints what moved, how fast.
    fn finish(self, what: &str, bytes: u64) {
        self.bar.finish_and_clear();
        let secs = self.started.elapsed().as_secs_f64().max(1e-9);
        println!(
            "{what} {bytes} bytes in {secs:.2} s ({:.1} MB/s), CRC-32C verified",
            bytes as f64 / secs / 1e6
        );
    }
}

/// Runs the client command on a small runtime of its own.
pub fn run(args: CliArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the client runtime")?;
    runtime.block_on(async move {
        let mut client = match &args.socket {
            Some(path) => okapi_client::Client::connect_unix(path)
                .await
                .with_context(|| format!("connecting to {}", path.display()))?,
            None => {
                let addr = if args.host.contains(':') {
                    format!("[{}]:{}", args.host, args.port)
                } else {
                    format!("{}:{}", args.host, args.port)
                };
                okapi_client::Client::connect(&addr)
                    .await
                    .with_context(|| format!("connecting to {addr}"))?
            }
        };
        if let Some(password) = &args.pass {
            client.auth(password).await.context("authenticating")?;
        }
        // No bar when stderr is not a terminal (scripts, tests).
        let quiet = !std::io::IsTerminal::is_terminal(&std::io::stderr());
        match args.command {
            CliCommand::Block(BlockCommand::Put { file, key }) => {
                let transfer = Transfer::start(quiet);
                let bytes = client
                    .upload_file(&file, key.as_str(), &mut transfer.progress())
                    .await
                    .with_context(|| format!("uploading {}", file.display()))?;
                transfer.finish("uploaded", bytes);
            }
            CliCommand::Block(BlockCommand::Get { key, file }) => {
                let transfer = Transfer::start(quiet);
                let bytes = client
                    .download_file(key.as_str(), &file, &mut transfer.progress())
                    .await
                    .with_context(|| format!("downloading {key}"))?;
                transfer.finish("downloaded", bytes);
            }
            CliCommand::Block(BlockCommand::Info { key }) => {
                let info = client
                    .block_info(key.as_str())
                    .await?
                    .with_context(|| format!("no block named {key}"))?;
                println!(
                    "length {}\npage_size {}\npages {}\nshared_pages {}\nmemory {}\ncrc32c {:08x}",
                    info.length,
                    info.page_size,
                    info.pages,
                    info.shared_pages,
                    info.memory,
                    info.crc32c
                );
            }
        }
        Ok(())
    })
}
