//! Values a key can hold, and the bookkeeping every key carries.

use std::collections::VecDeque;

use bytes::Bytes;

use crate::blocks::BlockValue;
use crate::dict::Dict;
use crate::zset::ZSetValue;

/// A string value. Integers that fit in an `i64` and read back identically are kept as
/// numbers (INCR is cheap, small counters small); strings up to 38 bytes are kept
/// inside the table node (no second allocation, no second cache miss on GET); strings
/// under 1 KiB own a growable buffer that replies copy (a copy that short costs less
/// than touching a cold reference count); longer ones live in a reference-counted
/// buffer that replies share without copying — the one they arrived in from 32 KiB up.
#[derive(Clone, PartialEq, Eq)]
pub struct StrValue(Repr);

#[derive(Clone, PartialEq, Eq)]
enum Repr {
    Int(i64),
    Inline { len: u8, bytes: [u8; INLINE] },
    Heap(Vec<u8>),
    Shared(Bytes),
}

/// Longest string kept inline: the inline form is then no bigger than the heap form.
const INLINE: usize = 38;

/// Strings this long and longer are shared with replies instead of copied.
const SHARE_FROM: usize = 1024;

impl StrValue {
    /// Longest decimal text kept as an integer (Redis keeps up to 20 characters).
    const MAX_INT_TEXT: usize = 20;

    /// The empty string.
    pub fn empty() -> Self {
        StrValue(Repr::Inline {
            len: 0,
            bytes: [0; INLINE],
        })
    }

    /// An integer value.
    pub fn int(n: i64) -> Self {
        StrValue(Repr::Int(n))
    }

    /// Stores `bytes`, as an integer when it is one in canonical form. Small values are
    /// copied so they do not pin the (much larger) network buffer they arrived in.
    pub fn from_bytes(bytes: Bytes) -> Self {
        if bytes.len() <= Self::MAX_INT_TEXT
            && let Some(n) = okapi_types::num::parse_i64(&bytes)
        {
            return StrValue(Repr::Int(n));
        }
        if bytes.len() <= INLINE {
            return Self::inline(&bytes);
        }
        if bytes.len() < SHARE_FROM {
            return StrValue(Repr::Heap(bytes.to_vec()));
        }
        StrValue(Repr::Shared(detach(bytes)))
    }

    /// Stores a buffer this value now owns (after APPEND/SETRANGE), without copying it
    /// unless it is short enough to go inline.
    pub fn from_mut(buf: bytes::BytesMut) -> Self {
        if buf.len() <= INLINE {
            return Self::inline(&buf);
        }
        if buf.len() < SHARE_FROM {
            return StrValue(Repr::Heap(Vec::from(buf)));
        }
        StrValue(Repr::Shared(buf.freeze()))
    }

    /// Stores a copy of `bytes` as text, never as an integer: a snapshot restores each
    /// string in the form it had (APPEND can leave `123` as text, and OBJECT ENCODING
    /// tells the difference). The other forms follow from the length, as in
    /// [`StrValue::from_bytes`].
    pub(crate) fn from_text(bytes: &[u8]) -> Self {
        if bytes.len() <= INLINE {
            return Self::inline(bytes);
        }
        if bytes.len() < SHARE_FROM {
            return StrValue(Repr::Heap(bytes.to_vec()));
        }
        StrValue(Repr::Shared(Bytes::copy_from_slice(bytes)))
    }

    fn inline(bytes: &[u8]) -> Self {
        let mut inline = [0u8; INLINE];
        inline[..bytes.len()].copy_from_slice(bytes);
        StrValue(Repr::Inline {
            len: bytes.len() as u8,
            bytes: inline,
        })
    }

    /// The integer, when stored as one.
    pub fn as_int(&self) -> Option<i64> {
        match self.0 {
            Repr::Int(n) => Some(n),
            _ => None,
        }
    }

    /// Calls `f` with the value's bytes (integers formatted on the stack).
    pub fn with_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        match &self.0 {
            Repr::Int(n) => f(itoa::Buffer::new().format(*n).as_bytes()),
            Repr::Inline { len, bytes } => f(&bytes[..usize::from(*len)]),
            Repr::Heap(b) => f(b),
            Repr::Shared(b) => f(b),
        }
    }

    /// The value as bytes: large values share their buffer; the rest are copied, which
    /// costs less than touching a cold reference count.
    pub fn to_bytes(&self) -> Bytes {
        match &self.0 {
            Repr::Shared(b) => b.clone(),
            _ => self.with_bytes(Bytes::copy_from_slice),
        }
    }

    /// Takes the value out as a mutable buffer, without copying a heap buffer nobody
    /// else holds.
    pub fn take_mut(&mut self) -> bytes::BytesMut {
        match std::mem::replace(self, StrValue::empty()).0 {
            // Bytes built from a Vec it owns alone converts back without copying.
            Repr::Heap(vec) => Bytes::from(vec)
                .try_into_mut()
                .unwrap_or_else(|b| bytes::BytesMut::from(&b[..])),
            Repr::Shared(bytes) => bytes
                .try_into_mut()
                .unwrap_or_else(|shared| bytes::BytesMut::from(&shared[..])),
            other => StrValue(other).with_bytes(|b| bytes::BytesMut::from(b)),
        }
    }

    /// Heap bytes the value holds outside its table node.
    pub fn heap_size(&self) -> usize {
        match &self.0 {
            Repr::Int(_) | Repr::Inline { .. } => 0,
            Repr::Heap(v) => v.capacity(),
            Repr::Shared(b) => b.len(),
        }
    }

    /// Length in bytes of the value as text.
    pub fn len(&self) -> usize {
        match &self.0 {
            Repr::Int(n) => itoa::Buffer::new().format(*n).len(),
            Repr::Inline { len, .. } => usize::from(*len),
            Repr::Heap(b) => b.len(),
            Repr::Shared(b) => b.len(),
        }
    }

    /// True for the empty string.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The name `OBJECT ENCODING` replies with.
    pub fn encoding(&self) -> &'static str {
        match self.0 {
            Repr::Int(_) => "int",
            Repr::Inline { .. } => "embstr",
            Repr::Heap(_) | Repr::Shared(_) => "raw",
        }
    }
}

impl std::fmt::Debug for StrValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.with_bytes(|b| write!(f, "StrValue({:?})", b.escape_ascii().to_string()))
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
/// A table: fields in byte order, each with a value.
pub type TableValue = std::collections::BTreeMap<Bytes, Bytes>;

/// A value of any type.
#[derive(Debug, Clone)]
pub enum Value {
    /// A string.
    Str(StrValue),
    /// A hash (boxed: a table is much bigger than a string, and most keys are strings).
    Hash(Box<HashValue>),
    /// A list.
    List(ListValue),
    /// A set (boxed, as hashes).
    Set(Box<SetValue>),
    /// A sorted set.
    ZSet(Box<ZSetValue>),
    /// A table (okapi's ordered map inside one key).
    Table(Box<TableValue>),
    /// A block (okapi's sparse, copy-on-write byte array read and written at offsets).
    Block(BlockValue),
    /// A stream (boxed, as hashes).
    Stream(Box<crate::stream::StreamValue>),
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
            Value::Table(_) => "table",
            Value::Block(_) => "block",
            Value::Stream(_) => "stream",
        }
    }

    /// The name `OBJECT ENCODING` replies with: okapi's real representation.
    pub fn encoding(&self) -> &'static str {
        match self {
            Value::Str(s) => s.encoding(),
            Value::Hash(_) | Value::Set(_) => "hashtable",
            Value::List(_) => "quicklist",
            Value::ZSet(_) => "skiplist",
            Value::Table(_) => "btree",
            Value::Block(_) => "pages",
            Value::Stream(_) => "stream",
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
            Value::Table(t) => t.iter().map(|(f, v)| f.len() + v.len()).sum(),
            Value::Block(b) => b.page_bytes() as usize,
            Value::Stream(s) => s.payload_size(),
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

/// Estimated bytes per element of a collection beyond its payload: the table slot or
/// tree node and the `Bytes` handles (two for a pair), with allocator rounding.
const PER_ELEMENT: [usize; 6] = [
    64, // hash field: chained dict node with two Bytes
    40, // list item: a Bytes in a VecDeque
    48, // set member: chained dict node with one Bytes
    96, // sorted-set entry: dict node plus order-tree node
    80, // table field: B-tree slot with two Bytes
    72, // stream entry: B-tree slot with its ID and a boxed slice of Bytes
];

/// The table node every key takes (see `engine::Key`: keys up to 22 bytes are inside).
const NODE_BYTES: usize = 128;
const INLINE_KEY: usize = 22;

impl Entry {
    /// MEMORY USAGE: the key's node, a long key's bytes and the value's heap bytes. For
    /// a collection, `samples` elements (0: all) are measured and the rest assumed
    /// alike, as Redis samples.
    pub fn memory_usage(&self, key_len: usize, samples: u64) -> usize {
        let key = if key_len > INLINE_KEY { key_len } else { 0 };
        let estimate = |len: usize, per: usize, sizes: &mut dyn Iterator<Item = usize>| {
            let take = if samples == 0 {
                len
            } else {
                len.min(samples as usize)
            };
            let measured: usize = sizes.take(take).sum();
            let payload = (measured * len).checked_div(take).unwrap_or(0);
            payload + per * len
        };
        let value = match &self.value {
            Value::Str(s) => s.heap_size(),
            Value::Hash(h) => estimate(
                h.len(),
                PER_ELEMENT[0],
                &mut h.iter().map(|(f, v)| f.len() + v.len()),
            ),
            Value::List(l) => estimate(l.len(), PER_ELEMENT[1], &mut l.iter().map(Bytes::len)),
            Value::Set(s) => estimate(s.len(), PER_ELEMENT[2], &mut s.keys().map(Bytes::len)),
            Value::ZSet(z) => estimate(
                z.len(),
                PER_ELEMENT[3],
                &mut z.iter().map(|e| e.member.len() + 8),
            ),
            Value::Table(t) => estimate(
                t.len(),
                PER_ELEMENT[4],
                &mut t.iter().map(|(f, v)| f.len() + v.len()),
            ),
            Value::Block(b) => b.page_bytes() as usize,
            Value::Stream(s) => estimate(
                s.len(),
                PER_ELEMENT[5],
                &mut s
                    .iter()
                    .map(|(_, f)| f.iter().map(|b| b.len() + 16).sum::<usize>()),
            ),
        };
        NODE_BYTES + key + value
    }

    /// True once the TTL has passed (Redis: expired when now > expire time).
    pub fn is_expired(&self, now_ms: u64) -> bool {
        self.expire_at != 0 && now_ms > self.expire_at
    }
}
