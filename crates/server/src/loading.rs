//! `Loading`: whether the node is still loading its dataset, and how far it got. While
//! it loads, the listeners are already up: RESP answers `-LOADING`, HTTP 503 and NBD
//! refuses exports, and `INFO persistence` shows the progress.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::clock::now_ms;

/// The error a RESP client gets for a command it cannot run while the node loads.
pub const LOADING_ERROR: &str = "LOADING okapi is loading the dataset in memory";

/// Loading state and progress, updated by the loader and read by every front end.
#[derive(Debug, Default)]
pub struct Loading {
    active: AtomicBool,
    started_ms: AtomicU64,
    total_bytes: AtomicU64,
    loaded_bytes: AtomicU64,
    keys: AtomicU64,
}

/// A copy of the progress, for INFO and the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// When loading began, Unix ms.
    pub started_ms: u64,
    /// Bytes to load (snapshot and log), as far as known.
    pub total_bytes: u64,
    /// Bytes loaded so far.
    pub loaded_bytes: u64,
    /// Keys loaded so far.
    pub keys: u64,
}

impl Progress {
    /// Percent done, 0 to 100.
    pub fn percent(&self) -> f64 {
        if self.total_bytes == 0 {
            return 0.0;
        }
        (self.loaded_bytes as f64 * 100.0 / self.total_bytes as f64).min(100.0)
    }

    /// Seconds still to go at the rate so far (`None` until something loaded).
    pub fn eta_seconds(&self, now_ms: u64) -> Option<u64> {
        let elapsed = now_ms.saturating_sub(self.started_ms);
        if self.loaded_bytes == 0 || elapsed == 0 {
            return None;
        }
        let left = self.total_bytes.saturating_sub(self.loaded_bytes);
        Some((left as f64 * elapsed as f64 / self.loaded_bytes as f64 / 1000.0).ceil() as u64)
    }
}

impl Loading {
    /// Marks the node as loading, from now.
    pub fn begin(&self) {
        self.started_ms.store(now_ms(), Ordering::Relaxed);
        self.total_bytes.store(0, Ordering::Relaxed);
        self.loaded_bytes.store(0, Ordering::Relaxed);
        self.keys.store(0, Ordering::Relaxed);
        self.active.store(true, Ordering::Release);
    }

    /// Sets how many bytes there are to load.
    pub fn set_total(&self, bytes: u64) {
        self.total_bytes.store(bytes, Ordering::Relaxed);
    }

    /// Records progress: bytes loaded and keys in memory so far.
    pub fn set_progress(&self, loaded_bytes: u64, keys: u64) {
        self.loaded_bytes.store(loaded_bytes, Ordering::Relaxed);
        self.keys.store(keys, Ordering::Relaxed);
    }

    /// Marks loading as over: clients are served.
    pub fn finish(&self) {
        self.loaded_bytes
            .store(self.total_bytes.load(Ordering::Relaxed), Ordering::Relaxed);
        self.active.store(false, Ordering::Release);
    }

    /// True while the dataset is loading.
    pub fn is_loading(&self) -> bool {
        self.active.load(Ordering::Acquire)
    }

    /// The progress so far.
    pub fn progress(&self) -> Progress {
        Progress {
            started_ms: self.started_ms.load(Ordering::Relaxed),
            total_bytes: self.total_bytes.load(Ordering::Relaxed),
            loaded_bytes: self.loaded_bytes.load(Ordering::Relaxed),
            keys: self.keys.load(Ordering::Relaxed),
        }
    }

    /// `INFO persistence` loading fields, as Redis names them (plus okapi's keys).
    pub fn info(&self) -> Vec<(&'static str, String)> {
        let mut fields = vec![
            ("loading", u8::from(self.is_loading()).to_string()),
            ("async_loading", "0".to_owned()),
        ];
        if self.is_loading() {
            let p = self.progress();
            fields.extend([
                ("loading_start_time", (p.started_ms / 1000).to_string()),
                ("loading_total_bytes", p.total_bytes.to_string()),
                ("loading_loaded_bytes", p.loaded_bytes.to_string()),
                ("loading_loaded_perc", format!("{:.2}", p.percent())),
                (
                    "loading_eta_seconds",
                    p.eta_seconds(now_ms())
                        .map_or("-1".to_owned(), |s| s.to_string()),
                ),
                ("okapi_loading_keys", p.keys.to_string()),
            ]);
        }
        fields
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eta_follows_the_rate_so_far() {
        let p = Progress {
            started_ms: 1_000,
            total_bytes: 1_000,
            loaded_bytes: 250,
            keys: 10,
        };
        // A quarter in 2 s: three quarters left take 6 s.
        assert_eq!(p.eta_seconds(3_000), Some(6));
        assert_eq!(p.percent(), 25.0);
        let none = Progress {
            loaded_bytes: 0,
            ..p
        };
        assert_eq!(none.eta_seconds(3_000), None);
    }

    #[test]
    fn info_shows_progress_only_while_loading() {
        let loading = Loading::default();
        assert_eq!(loading.info().len(), 2);
        loading.begin();
        loading.set_total(100);
        loading.set_progress(40, 7);
        let info = loading.info();
        assert!(info.contains(&("loading", "1".to_owned())));
        assert!(info.contains(&("loading_loaded_perc", "40.00".to_owned())));
        assert!(info.contains(&("okapi_loading_keys", "7".to_owned())));
        loading.finish();
        assert!(!loading.is_loading());
        assert!(loading.info().contains(&("loading", "0".to_owned())));
    }
}
