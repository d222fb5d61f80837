//! A digest of a dataset's contents (DEBUG DIGEST): every key's namespace, name, type,
//! TTL and value, combined so the order keys (and hash or set members) are visited in
//! does not matter. Two replicas that applied the same log have the same digest, and
//! so does a dataset restored from its snapshot; bookkeeping (versions, access times)
//! is left out. It detects divergence; it is not a cryptographic hash.

use crate::engine::Engine;
use crate::snapshot::codec::{put_bytes, put_varint};
use crate::value::Entry;
use crate::value::Value;

/// 160 bits, printed as 40 hex digits like Redis's DEBUG DIGEST; all zeros for an
/// empty dataset, as Redis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Digest([u64; 3]);

impl std::fmt::Display for Digest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:016x}{:016x}{:08x}",
            self.0[0], self.0[1], self.0[2] as u32
        )
    }
}

/// The digest of the union of two disjoint datasets (a node's shard groups).
impl std::ops::Add for Digest {
    type Output = Digest;
    fn add(mut self, other: Digest) -> Digest {
        add(&mut self.0, other.0);
        self
    }
}

/// Three FNV-1a lanes with different offset bases: 160 usable bits.
const BASES: [u64; 3] = [
    0xcbf2_9ce4_8422_2325,
    0x6c62_272e_07bb_0142,
    0x8422_2325_cbf2_9ce4,
];
const PRIME: u64 = 0x0000_0100_0000_01b3;

fn lanes(bytes: &[u8]) -> [u64; 3] {
    BASES.map(|mut h| {
        for &b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(PRIME);
        }
        // A final mix so that sums of lanes do not cancel for similar inputs.
        h ^= h >> 29;
        h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
        h ^ (h >> 32)
    })
}

fn add(into: &mut [u64; 3], lanes: [u64; 3]) {
    for (a, b) in into.iter_mut().zip(lanes) {
        *a = a.wrapping_add(b);
    }
}

/// The canonical bytes of one key, collections' unordered members folded by sum.
fn key_bytes(out: &mut Vec<u8>, db: u32, key: &[u8], entry: &Entry) {
    put_varint(out, u64::from(db));
    put_bytes(out, key);
    put_varint(out, entry.expire_at);
    let unordered = |out: &mut Vec<u8>, sum: [u64; 3]| {
        sum.iter()
            .for_each(|l| out.extend_from_slice(&l.to_le_bytes()));
    };
    match &entry.value {
        Value::Str(s) => {
            out.push(1);
            s.with_bytes(|b| put_bytes(out, b));
        }
        Value::Hash(h) => {
            out.push(2);
            let mut sum = [0u64; 3];
            let mut pair = Vec::new();
            for (field, value) in h.iter() {
                pair.clear();
                put_bytes(&mut pair, field);
                put_bytes(&mut pair, value);
                add(&mut sum, lanes(&pair));
            }
            put_varint(out, h.len() as u64);
            unordered(out, sum);
        }
        Value::List(l) => {
            out.push(3);
            put_varint(out, l.len() as u64);
            l.iter().for_each(|item| put_bytes(out, item));
        }
        Value::Set(s) => {
            out.push(4);
            let mut sum = [0u64; 3];
            s.keys().for_each(|m| add(&mut sum, lanes(m)));
            put_varint(out, s.len() as u64);
            unordered(out, sum);
        }
        Value::ZSet(z) => {
            out.push(5);
            put_varint(out, z.len() as u64);
            for e in z.iter() {
                put_bytes(out, &e.member);
                out.extend_from_slice(&e.score.to_bits().to_le_bytes());
            }
        }
        Value::Table(t) => {
            out.push(6);
            put_varint(out, t.len() as u64);
            for (field, value) in t.iter() {
                put_bytes(out, field);
                put_bytes(out, value);
            }
        }
        Value::Stream(s) => {
            out.push(8);
            crate::snapshot::record::put_stream(out, s);
            crate::snapshot::record::put_groups(out, s);
        }
        Value::Block(b) => {
            out.push(7);
            put_varint(out, b.len());
            for (index, page) in b.pages_from(0) {
                put_varint(out, index);
                put_bytes(out, page.bytes());
            }
        }
    }
}

impl Engine {
    /// The digest of every live key, live as of the latest applied leader time (so
    /// replicas at the same log index agree, whatever their own clocks say).
    pub fn digest(&self) -> Digest {
        let now = self.clock_ms();
        let mut total = [0u64; 3];
        let mut buf = Vec::new();
        for (db, ks) in self.spaces() {
            for (key, entry) in ks.iter(now) {
                buf.clear();
                key_bytes(&mut buf, db.0, key.as_ref(), entry);
                add(&mut total, lanes(&buf));
            }
        }
        for lib in self.libraries.iter() {
            // Tagged apart from keys: no key record starts with this byte string.
            buf.clear();
            buf.extend_from_slice(b"\xffFUNCTION-LIBRARY");
            buf.extend_from_slice(&(lib.code.len() as u64).to_le_bytes());
            buf.extend_from_slice(&lib.code);
            add(&mut total, lanes(&buf));
        }
        Digest(total)
    }
}

#[cfg(test)]
mod tests {
    use crate::strings::{SetCond, SetExpire, StringOp};
    use crate::testing::{TestEngine, b};

    fn set(n: &mut TestEngine, key: &str, value: &str) {
        n.op(StringOp::Set {
            key: b(key),
            value: b(value),
            cond: SetCond::Always,
            get: false,
            expire: SetExpire::Clear,
        });
    }

    #[test]
    fn digest_depends_on_contents_not_on_order() {
        let mut a = TestEngine::new(1, 0);
        let mut c = TestEngine::new(1, 0);
        assert_eq!(a.engine.digest().to_string(), "0".repeat(40));
        set(&mut a, "x", "1");
        set(&mut a, "y", "2");
        set(&mut c, "y", "2");
        set(&mut c, "x", "1");
        assert_eq!(a.engine.digest(), c.engine.digest());
        set(&mut c, "x", "3");
        assert_ne!(a.engine.digest(), c.engine.digest());
        // Swapping values between keys changes it too.
        let mut d = TestEngine::new(1, 0);
        set(&mut d, "x", "2");
        set(&mut d, "y", "1");
        assert_ne!(a.engine.digest(), d.engine.digest());
        assert_eq!(a.engine.digest().to_string().len(), 40);
    }
}
