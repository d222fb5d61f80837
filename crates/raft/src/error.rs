//! Errors of the raft crate.

use okapi_storage::StorageError;

/// Why a group could not start or act.
#[derive(Debug, thiserror::Error)]
pub enum RaftError {
    /// The WAL or snapshot files failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// openraft stopped (fatal error or shutdown).
    #[error("raft group stopped: {0}")]
    Fatal(String),
    /// Persisted data could not be decoded.
    #[error("cannot decode {what}: {reason}")]
    Decode {
        /// What was being decoded.
        what: &'static str,
        /// The decoder's error.
        reason: String,
    },
    /// The state machine failed to snapshot or restore.
    #[error(transparent)]
    Machine(#[from] crate::machine::MachineError),
    /// Invalid configuration.
    #[error("invalid raft configuration: {0}")]
    Config(String),
}

/// Turns any displayable error into the `io::Error` openraft's storage traits use.
pub(crate) fn io_error(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(e.to_string())
}
