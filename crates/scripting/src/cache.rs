//! The node's script cache: SCRIPT LOAD puts scripts here and EVALSHA finds them by
//! SHA1. EVAL adds its script too, as Redis does, so a client may EVALSHA it next.
//! The cache is per node and not replicated: a write sends its whole source through
//! the log, so replicas never need it.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use bytes::Bytes;

/// Scripts by their lower-case hex SHA1.
#[derive(Debug, Default)]
pub struct ScriptCache {
    scripts: Mutex<HashMap<Bytes, Bytes>>,
}

impl ScriptCache {
    /// Remembers `source` under `sha`.
    pub fn insert(&self, sha: Bytes, source: Bytes) {
        self.lock().entry(sha).or_insert(source);
    }

    /// The script named `sha` (any case), if cached.
    pub fn get(&self, sha: &[u8]) -> Option<Bytes> {
        let lower = sha.to_ascii_lowercase();
        self.lock().get(&lower[..]).cloned()
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
        self.lock().values().map(Bytes::len).sum()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Bytes, Bytes>> {
        self.scripts.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
