//! Protocol-neutral replies. The engine answers with these; the command layer writes
//! them as RESP2 or RESP3 for the connection that asked.

use bytes::Bytes;

use crate::error::EngineError;

/// The answer to an op or a read.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// `+OK`
    Ok,
    /// A status line such as `PONG`, `QUEUED` or a type name.
    Status(&'static str),
    /// An integer.
    Int(i64),
    /// A binary-safe string.
    Bulk(Bytes),
    /// The missing string (`$-1` / `_`).
    Nil,
    /// The missing aggregate (`*-1` / `_`).
    NilArray,
    /// An ordered list of replies.
    Array(Vec<Reply>),
    /// Field/value pairs: a map in RESP3, a flat array in RESP2.
    Map(Vec<(Reply, Reply)>),
    /// Unordered distinct members: a set in RESP3, an array in RESP2.
    Set(Vec<Reply>),
    /// Member/score pairs: an array of two-element arrays in RESP3, flat in RESP2
    /// (ZRANGE WITHSCORES and friends).
    Pairs(Vec<(Reply, Reply)>),
    /// A float: a double in RESP3, a bulk string in RESP2.
    Double(f64),
    /// Text for humans (INFO ...): verbatim in RESP3, bulk in RESP2.
    Text(String),
    /// A command error; the connection goes on.
    Error(EngineError),
}

impl Reply {
    /// A bulk reply copying `bytes`.
    pub fn bulk(bytes: &[u8]) -> Self {
        Reply::Bulk(Bytes::copy_from_slice(bytes))
    }

    /// A bulk reply holding the decimal form of `n`.
    pub fn bulk_int(n: i64) -> Self {
        Reply::Bulk(Bytes::copy_from_slice(
            itoa::Buffer::new().format(n).as_bytes(),
        ))
    }

    /// 1 for true, 0 for false, as Redis's boolean-like integer replies.
    pub fn flag(value: bool) -> Self {
        Reply::Int(i64::from(value))
    }

    /// `Nil` for `None`, the bulk otherwise.
    pub fn opt_bulk(value: Option<Bytes>) -> Self {
        value.map_or(Reply::Nil, Reply::Bulk)
    }

    /// An array of bulk strings.
    pub fn bulks<I: IntoIterator<Item = Bytes>>(items: I) -> Self {
        Reply::Array(items.into_iter().map(Reply::Bulk).collect())
    }

    /// True for error replies.
    pub fn is_error(&self) -> bool {
        matches!(self, Reply::Error(_))
    }
}

impl From<EngineError> for Reply {
    fn from(e: EngineError) -> Self {
        Reply::Error(e)
    }
}

impl From<Result<Reply, EngineError>> for Reply {
    fn from(r: Result<Reply, EngineError>) -> Self {
        r.unwrap_or_else(Reply::Error)
    }
}
