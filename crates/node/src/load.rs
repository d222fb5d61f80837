//! Loading progress: how much of the snapshot and the log a starting node has been
//! through, fed into the server's [`okapi_server::loading::Loading`] (INFO, the log).
//! Snapshot progress is counted in keys (the header announces how many), log replay in
//! entries, and both are weighed by their bytes on disk, so one percentage covers the
//! whole load.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use okapi_server::Shared;

/// What there is to load and how far the load got.
#[derive(Debug, Default)]
pub struct LoadMeter {
    snapshot_bytes: AtomicU64,
    log_bytes: AtomicU64,
    /// Index of the snapshot restored (replay starts after it).
    replay_from: AtomicU64,
    /// Index of the last logged entry (replay ends there).
    replay_to: AtomicU64,
}

impl LoadMeter {
    /// Sets the sizes on disk of the newest snapshot and of the log.
    pub fn set_sizes(&self, snapshot_bytes: u64, log_bytes: u64) {
        self.snapshot_bytes.store(snapshot_bytes, Ordering::Relaxed);
        self.log_bytes.store(log_bytes, Ordering::Relaxed);
    }

    /// Sets the range of entries replay will apply.
    pub fn set_replay(&self, from: u64, to: u64) {
        self.replay_from.store(from, Ordering::Relaxed);
        self.replay_to.store(to, Ordering::Relaxed);
    }

    /// Bytes of the newest snapshot.
    pub fn snapshot_bytes(&self) -> u64 {
        self.snapshot_bytes.load(Ordering::Relaxed)
    }

    /// Bytes to load in all.
    pub fn total(&self) -> u64 {
        self.snapshot_bytes.load(Ordering::Relaxed) + self.log_bytes.load(Ordering::Relaxed)
    }

    /// Bytes done once `restored` of `expected` snapshot keys are in.
    pub fn snapshot_done(&self, restored: u64, expected: u64) -> u64 {
        fraction(
            self.snapshot_bytes.load(Ordering::Relaxed),
            restored,
            expected,
        )
    }

    /// Bytes done once entry `index` of the replay has applied.
    pub fn replay_done(&self, index: u64) -> u64 {
        let from = self.replay_from.load(Ordering::Relaxed);
        let to = self.replay_to.load(Ordering::Relaxed);
        self.snapshot_bytes.load(Ordering::Relaxed)
            + fraction(
                self.log_bytes.load(Ordering::Relaxed),
                index.saturating_sub(from),
                to.saturating_sub(from),
            )
    }
}

fn fraction(bytes: u64, done: u64, of: u64) -> u64 {
    if of == 0 {
        return bytes;
    }
    (u128::from(bytes) * u128::from(done.min(of)) / u128::from(of)) as u64
}

/// Bytes of the files directly in `dir` whose names end with `suffix` (0 when the
/// directory does not exist yet).
pub fn bytes_of(dir: &Path, suffix: &str) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(suffix))
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum()
}

/// Size of the newest snapshot file of group 0 in `dir` (`g<group>-<index>.snap`).
pub fn newest_snapshot_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let (group, index) = name
                .strip_prefix('g')?
                .strip_suffix(".snap")?
                .split_once('-')?;
            if group.parse::<u64>().ok()? != 0 {
                return None;
            }
            Some((index.parse::<u64>().ok()?, e.metadata().ok()?.len()))
        })
        .max()
        .map_or(0, |(_, len)| len)
}

/// Logs the loading progress every `every` until loading ends.
pub async fn report(shared: Arc<Shared>, every: Duration) {
    loop {
        tokio::time::sleep(every).await;
        if !shared.loading.is_loading() {
            return;
        }
        let p = shared.loading.progress();
        let eta = p.eta_seconds(okapi_server::clock::now_ms());
        tracing::info!(
            percent = format!("{:.1}", p.percent()),
            loaded_bytes = p.loaded_bytes,
            total_bytes = p.total_bytes,
            keys = p.keys,
            eta_seconds = eta.map_or(-1, |s| s as i64),
            "loading the dataset"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_weighs_snapshot_keys_and_replayed_entries_by_their_bytes() {
        let meter = LoadMeter::default();
        meter.set_sizes(1_000, 500);
        meter.set_replay(100, 200);
        assert_eq!(meter.total(), 1_500);
        assert_eq!(meter.snapshot_done(25, 100), 250);
        assert_eq!(meter.replay_done(150), 1_250);
        assert_eq!(meter.replay_done(500), 1_500, "never past the end");
        assert_eq!(
            meter.snapshot_done(0, 0),
            1_000,
            "an empty snapshot is done"
        );
    }
}
