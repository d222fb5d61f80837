//! Test helper: the whole replicated state of an engine as plain comparable data —
//! every stored key (expired ones not yet removed included) with its value, string
//! form, container seeds and metadata, plus each namespace's `last_removal` and the
//! engine seed. Two engines with equal dumps answer every op identically.

use std::collections::{BTreeMap, BTreeSet};

use crate::engine::Engine;
use crate::value::{Entry, Value};

/// A value, with what its behaviour depends on beyond the contents.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum DumpValue {
    /// A string stored as an integer.
    Int(i64),
    /// A string stored as text.
    Text(Vec<u8>),
    Hash {
        seed: u64,
        fields: BTreeMap<Vec<u8>, Vec<u8>>,
    },
    List(Vec<Vec<u8>>),
    Set {
        seed: u64,
        members: BTreeSet<Vec<u8>>,
    },
    /// Members with their scores' bits, in order.
    ZSet {
        seed: u64,
        entries: Vec<(Vec<u8>, u64)>,
    },
    /// Fields and values, in order.
    Table(Vec<(Vec<u8>, Vec<u8>)>),
    /// A stream, compared through its Debug form (entries, nodes and metadata).
    Stream(String),
    /// Length and stored pages (index, bytes), in order.
    Block {
        len: u64,
        pages: Vec<(u64, Vec<u8>)>,
    },
}

/// A key's value and metadata (`read_ms` is local and left out).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DumpEntry {
    pub(crate) value: DumpValue,
    pub(crate) expire_at: u64,
    pub(crate) created_ms: u64,
    pub(crate) updated_ms: u64,
    pub(crate) version: u64,
}

/// The state of an engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Dump {
    pub(crate) seed: u64,
    pub(crate) last_removal: Vec<u64>,
    /// `(namespace, key)` → entry.
    pub(crate) keys: BTreeMap<(u32, Vec<u8>), DumpEntry>,
}

/// Dumps `engine`.
pub(crate) fn dump(engine: &Engine) -> Dump {
    let mut keys = BTreeMap::new();
    for (db, ks) in engine.spaces() {
        for (key, entry) in ks.dict().iter() {
            keys.insert((db.0, key.as_bytes().to_vec()), dump_entry(entry));
        }
    }
    Dump {
        seed: engine.seed(),
        last_removal: engine.spaces().map(|(_, ks)| ks.last_removal()).collect(),
        keys,
    }
}

fn dump_entry(entry: &Entry) -> DumpEntry {
    let value = match &entry.value {
        Value::Str(s) => match s.as_int() {
            Some(n) => DumpValue::Int(n),
            None => DumpValue::Text(s.with_bytes(<[u8]>::to_vec)),
        },
        Value::Hash(h) => DumpValue::Hash {
            seed: h.seed(),
            fields: h.iter().map(|(f, v)| (f.to_vec(), v.to_vec())).collect(),
        },
        Value::List(l) => DumpValue::List(l.iter().map(|i| i.to_vec()).collect()),
        Value::Set(s) => DumpValue::Set {
            seed: s.seed(),
            members: s.keys().map(|m| m.to_vec()).collect(),
        },
        Value::ZSet(z) => DumpValue::ZSet {
            seed: z.seed(),
            entries: z
                .iter()
                .map(|e| (e.member.to_vec(), e.score.to_bits()))
                .collect(),
        },
        Value::Table(t) => {
            DumpValue::Table(t.iter().map(|(f, v)| (f.to_vec(), v.to_vec())).collect())
        }
        Value::Stream(s) => DumpValue::Stream(format!("{s:?}")),
        Value::Block(b) => DumpValue::Block {
            len: b.len(),
            pages: b
                .pages_from(0)
                .map(|(i, p)| (i, p.bytes().to_vec()))
                .collect(),
        },
    };
    DumpEntry {
        value,
        expire_at: entry.expire_at,
        created_ms: entry.created_ms,
        updated_ms: entry.updated_ms,
        version: entry.version,
    }
}
