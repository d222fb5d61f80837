//! Node errors.

/// Why a node could not start or stopped abnormally.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// Invalid configuration.
    #[error("configuration error: {0}")]
    Config(String),
    /// The server could not start.
    #[error(transparent)]
    Server(#[from] okapi_server::ServerError),
    /// The WAL, snapshots or Raft group failed to open or recover.
    #[error("{0}")]
    Storage(String),
    /// The data directory cannot be used (another server holds it).
    #[error("{0}")]
    DataDir(#[source] okapi_storage::StorageError),
    /// A file of the node could not be written.
    #[error("{0}: {1}")]
    Io(String, #[source] std::io::Error),
}
