//! `okapi check DATA_DIR [--repair]`: verifies a data directory offline.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;

/// Flags of `okapi check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The data directory of a node (a running node's is checked read-only).
    data_dir: PathBuf,
    /// Cut the log at the first corruption and say exactly what was dropped.
    #[arg(long)]
    repair: bool,
}

/// Checks every WAL segment and snapshot; exits non-zero when problems remain.
pub fn run(args: CheckArgs) -> anyhow::Result<std::process::ExitCode> {
    // A mistyped path would otherwise read as an empty, healthy data directory.
    let dir = &args.data_dir;
    if !dir.is_dir() {
        anyhow::bail!("{} is not a directory", dir.display());
    }
    if !dir.join(okapi_storage::WAL_DIR).is_dir() && !dir.join(okapi_storage::SNAPSHOT_DIR).is_dir()
    {
        anyhow::bail!(
            "{} holds no okapi data (neither {}/ nor {}/)",
            dir.display(),
            okapi_storage::WAL_DIR,
            okapi_storage::SNAPSHOT_DIR
        );
    }
    // Held while checking, so no server starts on the directory meanwhile. A running
    // server holds it already: then a read-only check still runs, but the server may be
    // writing while it reads, and a repair would cut a log that is in use.
    let lock = match okapi_storage::DirLock::acquire(dir) {
        Ok(lock) => Some(lock),
        Err(in_use @ okapi_storage::StorageError::InUse { .. }) => {
            if args.repair {
                anyhow::bail!("{in_use}: refusing --repair; stop the server first");
            }
            println!(
                "warning: {in_use}; checking read-only, and the result may be inconsistent while it writes"
            );
            None
        }
        Err(e) => return Err(e.into()),
    };
    let fs: Arc<dyn okapi_storage::Fs> = Arc::new(okapi_storage::OsFs);
    let report = okapi_storage::check(fs, &args.data_dir, args.repair)?;
    println!("{report}");
    if lock.is_none() {
        println!("note: checked while in use by a running server (possibly inconsistent)");
    }
    // After a repair the directory is checked again: what remains decides.
    Ok(if report.is_ok() {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    })
}
