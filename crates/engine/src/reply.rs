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
    /// A binary-safe string held in several buffers (block pages), written out without
    /// joining them.
    Pieces(Vec<Bytes>),
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
    /// Key/value pairs as XREAD answers them: a map in RESP3, an array of two-element
    /// arrays in RESP2.
    Keyed(Vec<(Reply, Reply)>),
    /// A float printed as Redis's `addReplyHumanLongDouble` prints it (`%.17Lf`, the
    /// trailing zeros cut): geo coordinates. A double in RESP3, a bulk in RESP2.
    HumanDouble(f64),
    /// Text for humans (INFO ...): verbatim in RESP3, bulk in RESP2.
    Text(String),
    /// A command error; the connection goes on.
    Error(EngineError),
    /// A status line made at run time (a script's `{ok = ...}`), CR and LF already
    /// replaced.
    StatusText(String),
    /// A boolean: `#t`/`#f` in RESP3, `:1` / nil in RESP2 (a RESP3 script's `true`).
    Bool(bool),
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

impl serde::Serialize for Reply {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        wire::Reply::from(self.clone()).serialize(serializer)
    }
}

impl<'de> serde::Deserialize<'de> for Reply {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        wire::Reply::deserialize(deserializer).map(Into::into)
    }
}

/// The serialised form of a reply: statuses travel as owned text.
mod wire {
    use super::EngineError;

    #[derive(serde::Serialize, serde::Deserialize)]
    pub(super) enum Reply {
        Ok,
        Status(String),
        Int(i64),
        Bulk(bytes::Bytes),
        Nil,
        NilArray,
        Array(Vec<Reply>),
        Map(Vec<(Reply, Reply)>),
        Set(Vec<Reply>),
        Pairs(Vec<(Reply, Reply)>),
        Double(f64),
        Text(String),
        Error(EngineError),
        // Variants are numbered in declaration order: new ones go last.
        HumanDouble(f64),
        Keyed(Vec<(Reply, Reply)>),
        StatusText(String),
        Bool(bool),
    }

    fn pairs_in(pairs: Vec<(super::Reply, super::Reply)>) -> Vec<(Reply, Reply)> {
        pairs
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect()
    }

    fn pairs_out(pairs: Vec<(Reply, Reply)>) -> Vec<(super::Reply, super::Reply)> {
        pairs
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect()
    }

    impl From<super::Reply> for Reply {
        fn from(r: super::Reply) -> Self {
            match r {
                super::Reply::Ok => Reply::Ok,
                super::Reply::Status(s) => Reply::Status(s.to_owned()),
                super::Reply::Int(n) => Reply::Int(n),
                super::Reply::Bulk(b) => Reply::Bulk(b),
                // Sharing buffers only matters on this node; the wire has one string.
                super::Reply::Pieces(pieces) => Reply::Bulk(pieces.concat().into()),
                super::Reply::Nil => Reply::Nil,
                super::Reply::NilArray => Reply::NilArray,
                super::Reply::Array(v) => Reply::Array(v.into_iter().map(Into::into).collect()),
                super::Reply::Map(p) => Reply::Map(pairs_in(p)),
                super::Reply::Set(v) => Reply::Set(v.into_iter().map(Into::into).collect()),
                super::Reply::Pairs(p) => Reply::Pairs(pairs_in(p)),
                super::Reply::Double(d) => Reply::Double(d),
                super::Reply::Text(t) => Reply::Text(t),
                super::Reply::Error(e) => Reply::Error(e),
                super::Reply::HumanDouble(d) => Reply::HumanDouble(d),
                super::Reply::Keyed(p) => Reply::Keyed(pairs_in(p)),
                super::Reply::StatusText(t) => Reply::StatusText(t),
                super::Reply::Bool(b) => Reply::Bool(b),
            }
        }
    }

    impl From<Reply> for super::Reply {
        fn from(r: Reply) -> Self {
            match r {
                Reply::Ok => super::Reply::Ok,
                Reply::Status(s) => super::Reply::Status(super::intern_status(s)),
                Reply::Int(n) => super::Reply::Int(n),
                Reply::Bulk(b) => super::Reply::Bulk(b),
                Reply::Nil => super::Reply::Nil,
                Reply::NilArray => super::Reply::NilArray,
                Reply::Array(v) => super::Reply::Array(v.into_iter().map(Into::into).collect()),
                Reply::Map(p) => super::Reply::Map(pairs_out(p)),
                Reply::Set(v) => super::Reply::Set(v.into_iter().map(Into::into).collect()),
                Reply::Pairs(p) => super::Reply::Pairs(pairs_out(p)),
                Reply::Double(d) => super::Reply::Double(d),
                Reply::Text(t) => super::Reply::Text(t),
                Reply::Error(e) => super::Reply::Error(e),
                Reply::HumanDouble(d) => super::Reply::HumanDouble(d),
                Reply::Keyed(p) => super::Reply::Keyed(pairs_out(p)),
                Reply::StatusText(t) => super::Reply::StatusText(t),
                Reply::Bool(b) => super::Reply::Bool(b),
            }
        }
    }
}

/// Status texts are compile-time strings; one read off the wire is interned once, so a
/// decoded reply holds it as `&'static str` and repeated decoding leaks nothing more.
fn intern_status(text: String) -> &'static str {
    use std::collections::HashSet;
    use std::sync::{Mutex, OnceLock, PoisonError};
    static INTERNED: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let mut set = INTERNED
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if let Some(existing) = set.get(text.as_str()) {
        return existing;
    }
    let leaked: &'static str = Box::leak(text.into_boxed_str());
    set.insert(leaked);
    leaked
}
