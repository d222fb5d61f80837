//! `StorageError`: the one error type of the storage crate. Every variant that points
//! at data on disk names the file and, for corruption, the byte offset, so an operator
//! can find the damage with a hex dump.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What can go wrong in the WAL, the snapshot store or the checker.
///
/// Cloneable (the I/O source sits in an `Arc`) because one failed group-commit write
/// answers every append that was waiting on it.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StorageError {
    /// An operating-system call on `path` failed.
    #[error("I/O error on {}: {source}", path.display())]
    Io {
        /// The file or directory the call was about.
        path: PathBuf,
        /// What the operating system (or `FaultyFs`) said.
        #[source]
        source: Arc<io::Error>,
    },
    /// Data on disk is damaged in a way that is not a torn tail: the node refuses to
    /// start until `okapi check --repair` has dropped it.
    #[error(
        "corrupt data in {} at offset {offset}: {reason} (run `okapi check --repair` to see and drop it)",
        file.display()
    )]
    Corrupt {
        /// The damaged file.
        file: PathBuf,
        /// Byte offset of the first damaged record, block or header.
        offset: u64,
        /// What is wrong there.
        reason: String,
    },
    /// An earlier write or fsync failed; the WAL refuses every later write because it
    /// cannot know what reached the disk. The string says which call failed and why.
    #[error("write-ahead log is poisoned and refuses writes: {0}")]
    Poisoned(String),
    /// The caller asked for something the log cannot represent (for example an entry
    /// whose index does not follow the group's last one). Nothing was written and the
    /// WAL stays usable.
    #[error("invalid write-ahead log request: {0}")]
    Invalid(String),
    /// The WAL was closed; nothing was written.
    #[error("write-ahead log is closed")]
    Closed,
    /// Another process (an okapi server) holds the data directory's lock.
    #[error(
        "data directory {} is in use by another okapi process{}",
        dir.display(),
        pid.map(|p| format!(" (pid {p})")).unwrap_or_default()
    )]
    InUse {
        /// The data directory.
        dir: PathBuf,
        /// The holder's PID, as its lock file records it.
        pid: Option<u32>,
    },
}

impl StorageError {
    /// Wraps an `io::Error` with the path it concerns.
    pub fn io(path: &Path, source: io::Error) -> Self {
        StorageError::Io {
            path: path.to_path_buf(),
            source: Arc::new(source),
        }
    }

    /// A corruption error at `offset` of `file`.
    pub fn corrupt(file: &Path, offset: u64, reason: impl Into<String>) -> Self {
        StorageError::Corrupt {
            file: file.to_path_buf(),
            offset,
            reason: reason.into(),
        }
    }
}

/// Adds the path to an `io::Result`, turning it into a storage result.
pub(crate) trait IoContext<T> {
    /// Maps the error to [`StorageError::Io`] naming `path`.
    fn at(self, path: &Path) -> Result<T, StorageError>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn at(self, path: &Path) -> Result<T, StorageError> {
        self.map_err(|e| StorageError::io(path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corrupt_display_names_file_and_offset() {
        let e = StorageError::corrupt(Path::new("/d/wal/1.seg"), 1234, "bad CRC");
        let s = e.to_string();
        assert!(s.contains("/d/wal/1.seg"), "{s}");
        assert!(s.contains("offset 1234"), "{s}");
        assert!(s.contains("bad CRC"), "{s}");
    }

    #[test]
    fn io_display_names_path() {
        let e = StorageError::io(Path::new("/x/y"), io::Error::other("disk on fire"));
        assert!(e.to_string().contains("/x/y: disk on fire"));
    }
}
