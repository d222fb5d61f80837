//! Values a key can hold, and the bookkeeping every key carries.

use std::collections::VecDeque;

use bytes::Bytes;

use crate::dict::Dict;
use crate::zset::ZSetValue;

/// A string value. Integers that fit in an `i64` and read back identically are kept as
/// numbers, which makes INCR cheap and small counters small.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StrValue {
    /// A canonical decimal integer.
    Int(i64),
    /// Any other bytes.
    Raw(Bytes),
}

impl StrValue {
    /// Longest decimal text kept as an integer (Redis keeps up to 20 characters).
    const MAX_INT_TEXT: usize = 20;

    /// Stores `bytes`, as an integer when it is one in canonical form. Small values are
    /// copied so they do not pin the (much larger) network buffer they arrived in.
    pub fn from_bytes(bytes: Bytes) -> Self {
        if bytes.len() <= Self::MAX_INT_TEXT
            && let Some(n) = okapi_types::num::parse_i64(&bytes)
        {
            return StrValue::Int(n);
        }
        StrValue::Raw(detach(bytes))
    }

    /// The value as bytes (integers are formatted).
    pub fn to_bytes(&self) -> Bytes {
        match self {
            StrValue::Int(n) => Bytes::copy_from_slice(itoa::Buffer::new().format(*n).as_bytes()),
            StrValue::Raw(b) => b.clone(),
        }
    }

    /// Length in bytes of the value as text.
    pub fn len(&self) -> usize {
        match self {
            StrValue::Int(n) => itoa::Buffer::new().format(*n).len(),
            StrValue::Raw(b) => b.len(),
        }
    }

    /// True for the empty string.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Values below this size are copied out of network buffers; above it the copy costs
/// more than the slack the shared buffer keeps alive.
const DETACH_BELOW: usize = 32 * 1024;

/// Copies small byte strings so they do not keep a large shared buffer alive.
pub fn detach(bytes: Bytes) -> Bytes {
    if bytes.len() < DETACH_BELOW {
        Bytes::copy_from_slice(&bytes)
    } else {
        bytes
    }
}

/// A hash: field → value.
pub type HashValue = Dict<Bytes, Bytes>;
/// A list.
pub type ListValue = VecDeque<Bytes>;
/// A set of members.
pub type SetValue = Dict<Bytes, ()>;

/// A value of any type.
#[derive(Debug, Clone)]
pub enum Value {
    /// A string.
    Str(StrValue),
    /// A hash.
    Hash(HashValue),
    /// A list.
    List(ListValue),
    /// A set.
    Set(SetValue),
    /// A sorted set.
    ZSet(Box<ZSetValue>),
}

impl Value {
    /// The name `TYPE` replies with.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
            Value::Hash(_) => "hash",
            Value::List(_) => "list",
            Value::Set(_) => "set",
            Value::ZSet(_) => "zset",
        }
    }

    /// The name `OBJECT ENCODING` replies with: okapi's real representation.
    pub fn encoding(&self) -> &'static str {
        match self {
            Value::Str(StrValue::Int(_)) => "int",
            Value::Str(StrValue::Raw(_)) => "raw",
            Value::Hash(_) | Value::Set(_) => "hashtable",
            Value::List(_) => "quicklist",
            Value::ZSet(_) => "skiplist",
        }
    }

    /// Approximate bytes of payload held (keys, fields, members, values).
    pub fn payload_size(&self) -> usize {
        match self {
            Value::Str(s) => s.len(),
            Value::Hash(h) => h.iter().map(|(f, v)| f.len() + v.len()).sum(),
            Value::List(l) => l.iter().map(Bytes::len).sum(),
            Value::Set(s) => s.keys().map(Bytes::len).sum(),
            Value::ZSet(z) => z.payload_size(),
        }
    }
}

/// A stored key's value and metadata.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The value.
    pub value: Value,
    /// Absolute expiry time in Unix milliseconds; 0 means no TTL.
    pub expire_at: u64,
    /// When the key was created (leader time, Unix ms).
    pub created_ms: u64,
    /// When the value last changed (leader time, Unix ms).
    pub updated_ms: u64,
    /// When the value was last read on this node (local observation, not replicated).
    pub read_ms: u64,
    /// Log index of the last change; WATCH compares it.
    pub version: u64,
}

impl Entry {
    /// True once the TTL has passed (Redis: expired when now > expire time).
    pub fn is_expired(&self, now_ms: u64) -> bool {
        self.expire_at != 0 && now_ms > self.expire_at
    }
}
