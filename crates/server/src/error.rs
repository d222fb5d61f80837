//! Server errors (startup failures; command errors are replies, not these).

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// A listen address could not be bound.
    #[error("cannot listen on {0}: {1}")]
    Bind(String, #[source] std::io::Error),
    /// A bind address is not an IP address.
    #[error("invalid bind address '{0}'")]
    BadAddress(String),
}
