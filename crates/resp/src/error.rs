//! Decoding errors. Their text follows Redis (`Protocol error: ...`); the server sends
//! `-ERR <text>` and closes the offending connection.

/// Why a byte stream is not valid RESP, or breaks a configured limit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// An aggregate length that is not a number, is negative where not allowed, or is
    /// above the array limit.
    #[error("Protocol error: invalid multibulk length")]
    InvalidMultibulkLength,
    /// A bulk length that is not a number, is negative, or is above
    /// `proto-max-bulk-len`.
    #[error("Protocol error: invalid bulk length")]
    InvalidBulkLength,
    /// A request array element that is not a bulk string.
    #[error("Protocol error: expected '$', got '{}'", char::from(*.0))]
    ExpectedBulk(u8),
    /// A length line with no CRLF within a sane distance.
    #[error("Protocol error: too big mbulk count string")]
    LengthLineTooLong,
    /// An inline command longer than the inline limit.
    #[error("Protocol error: too big inline request")]
    InlineTooLong,
    /// An inline command with an unclosed quote.
    #[error("Protocol error: unbalanced quotes in request")]
    UnbalancedQuotes,
    /// A byte that does not start any RESP type.
    #[error("Protocol error: invalid frame type byte '{}'", (*.0).escape_ascii())]
    InvalidTypeByte(u8),
    /// Aggregates nested deeper than the limit.
    #[error("Protocol error: nesting deeper than {0} levels")]
    TooDeep(usize),
    /// A malformed integer, double, boolean or line terminator.
    #[error("Protocol error: {0}")]
    Malformed(&'static str),
}
