//! Errors an op or a read can reply with. The text is exactly Redis's, prefix included,
//! because clients and conformance tests match on it. Variants are only ever appended:
//! replies travel in postcard, which numbers them by position.

/// A command failed; the connection goes on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
pub enum EngineError {
    /// The key holds another type.
    #[error("WRONGTYPE Operation against a key holding the wrong kind of value")]
    WrongType,
    /// A string or argument is not a 64-bit integer.
    #[error("ERR value is not an integer or out of range")]
    NotInteger,
    /// A string or argument is not a float.
    #[error("ERR value is not a valid float")]
    NotFloat,
    /// A hash field is not an integer.
    #[error("ERR hash value is not an integer")]
    HashNotInteger,
    /// A hash field is not a float.
    #[error("ERR hash value is not a float")]
    HashNotFloat,
    /// Integer arithmetic would leave the 64-bit range.
    #[error("ERR increment or decrement would overflow")]
    Overflow,
    /// Float arithmetic would produce NaN or an infinity.
    #[error("ERR increment would produce NaN or Infinity")]
    NanOrInfinity,
    /// A score operation produced NaN.
    #[error("ERR resulting score is not a number (NaN)")]
    ScoreNan,
    /// The key does not exist (RENAME, LSET ...).
    #[error("ERR no such key")]
    NoSuchKey,
    /// A list index outside the list.
    #[error("ERR index out of range")]
    IndexOutOfRange,
    /// A string would grow past the largest allowed value.
    #[error("ERR string exceeds maximum allowed size (proto-max-bulk-len)")]
    StringTooLong,
    /// A malformed argument combination.
    #[error("ERR syntax error")]
    Syntax,
    /// A namespace number outside the configured range.
    #[error("ERR DB index is out of range")]
    DbIndexOutOfRange,
    /// Source and destination are the same where Redis forbids it.
    #[error("ERR source and destination objects are the same")]
    SameObject,
    /// Any other error, already formatted with its prefix.
    #[error("{0}")]
    Other(String),
    /// A snapshot was begun while another one is still under way (one at a time).
    #[error("ERR a snapshot is already in progress")]
    SnapshotInProgress,
    /// Snapshot data that cannot be restored: truncated, corrupt, or of an unknown format.
    #[error("ERR corrupt snapshot: {0}")]
    CorruptSnapshot(String),
    /// SORT without ALPHA met a key that is not a number.
    #[error("ERR One or more scores can't be converted into double")]
    SortScore,
    /// A geo search from a member the sorted set does not hold.
    #[error("ERR could not decode requested zset member")]
    GeoMember,
}
