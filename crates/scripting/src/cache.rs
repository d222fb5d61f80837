//! The node's script cache: SCRIPT LOAD puts scripts here and EVALSHA finds them by
//! SHA1. EVAL adds its script too, as Redis does, so a client may EVALSHA it next.
//! The cache is per node and not replicated: a write sends its whole source through
//! the log, so replicas never need it.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use bytes::Bytes;

/// Probes in a row that ended at a write before a script's probe is skipped: such a
/// script goes straight to the log (its probe would only stop at the write).
const WRITES_BEFORE_SKIPPING: u32 = 8;
/// Of the calls of a script whose probe is skipped, one in this many is probed again,
/// so a script that stopped writing gets its fast read path back.
const REPROBE_EVERY: u32 = 64;

#[derive(Debug)]
struct Entry {
    source: Bytes,
    /// Consecutive probes that met a write, and calls since the last probe.
    writes_in_a_row: u32,
    skipped: u32,
}

/// Scripts by their lower-case hex SHA1.
#[derive(Debug, Default)]
pub struct ScriptCache {
    scripts: Mutex<HashMap<Bytes, Entry>>,
}

impl ScriptCache {
    /// Remembers `source` under `sha`.
    pub fn insert(&self, sha: Bytes, source: Bytes) {
        self.lock().entry(sha).or_insert(Entry {
            source,
            writes_in_a_row: 0,
            skipped: 0,
        });
    }

    /// The script named `sha` (any case), if cached.
    pub fn get(&self, sha: &[u8]) -> Option<Bytes> {
        let lower = sha.to_ascii_lowercase();
        self.get_lower(&lower)
    }

    /// The script named `sha`, already in lower case (EVALSHA's parser lowers it).
    pub fn get_lower(&self, sha: &[u8]) -> Option<Bytes> {
        self.lock().get(sha).map(|e| e.source.clone())
    }

    /// Whether to probe the script `sha` before the log, or send it there at once
    /// (it wrote every time it was probed lately).
    pub fn should_probe(&self, sha: &[u8]) -> bool {
        let mut scripts = self.lock();
        let Some(entry) = scripts.get_mut(sha) else {
            return true;
        };
        if entry.writes_in_a_row < WRITES_BEFORE_SKIPPING {
            return true;
        }
        entry.skipped += 1;
        if entry.skipped >= REPROBE_EVERY {
            entry.skipped = 0;
            return true;
        }
        false
    }

    /// Records how the probe of `sha` ended.
    pub fn probed(&self, sha: &[u8], wrote: bool) {
        if let Some(entry) = self.lock().get_mut(sha) {
            entry.writes_in_a_row = if wrote {
                entry.writes_in_a_row.saturating_add(1)
            } else {
                0
            };
        }
    }

    /// True if the script named `sha` (any case) is cached.
    pub fn contains(&self, sha: &[u8]) -> bool {
        self.get(sha).is_some()
    }

    /// Forgets every script (SCRIPT FLUSH), and the compiled functions of every thread.
    pub fn flush(&self) {
        self.lock().clear();
        crate::vm::forget_compiled();
    }

    /// Number of cached scripts.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes of source held (INFO's `used_memory_scripts_eval`).
    pub fn source_bytes(&self) -> usize {
        self.lock().values().map(|e| e.source.len()).sum()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Bytes, Entry>> {
        self.scripts.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_script_that_always_writes_skips_its_probe_but_is_probed_again_now_and_then() {
        let cache = ScriptCache::default();
        let sha = Bytes::from_static(b"abc");
        cache.insert(sha.clone(), Bytes::from_static(b"return 1"));
        for _ in 0..WRITES_BEFORE_SKIPPING {
            assert!(cache.should_probe(&sha));
            cache.probed(&sha, true);
        }
        let probed = (0..REPROBE_EVERY * 2)
            .filter(|_| cache.should_probe(&sha))
            .count();
        assert_eq!(probed, 2);
        // Once a probe answers without the log, every call is probed again.
        cache.probed(&sha, false);
        assert!((0..10).all(|_| cache.should_probe(&sha)));
    }
}
