//! `SnapshotHeader`: everything a restore needs besides the key records — what
//! `apply` depends on that no key carries.

use super::codec::{Reader, corrupt, put_varint};
use crate::error::EngineError;

/// Taken by [`Engine::snapshot_begin`](crate::Engine::snapshot_begin) at the snapshot
/// point; the caller stores it with the chunks (and the log index it belongs to).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SnapshotHeader {
    /// Format of this header and of every chunk; see [`SnapshotHeader::FORMAT`].
    pub format: u8,
    /// The engine's hash seed: "random" picks (SPOP, RANDOMKEY) depend on it.
    pub seed: u64,
    /// One entry per namespace, in order.
    pub spaces: Vec<SpaceHeader>,
    /// The latest leader time applied (see [`crate::Engine::apply_clock`]); 0 in
    /// headers written before it was kept.
    pub clock_ms: u64,
    /// The code of every function library (FUNCTION LOAD), in name order; none in
    /// headers written before libraries existed.
    #[serde(default)]
    pub libraries: Vec<bytes::Bytes>,
}

/// What a restore needs to know about one namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SpaceHeader {
    /// Log index of the last explicit removal: WATCH stamps of absent keys carry it,
    /// so a restored replica must agree on it.
    pub last_removal: u64,
    /// Keys stored at the snapshot point, expired ones not yet removed included: the
    /// restore presizes with it and checks that every key arrived.
    pub keys: u64,
}

/// First bytes of an encoded header.
const MAGIC: &[u8; 4] = b"OKS3";
/// First bytes of the headers of builds before function libraries.
const MAGIC_NO_LIBRARIES: &[u8; 4] = b"OKS2";
/// First bytes of the headers of earlier builds, which kept no apply clock.
const MAGIC_NO_CLOCK: &[u8; 4] = b"OKSH";
/// More library code than this in one header can only come from corrupt data.
const MAX_LIBRARY_BYTES: u64 = 1 << 30;

/// More namespaces than this can only come from corrupt data.
const MAX_SPACES: u64 = 1 << 16;

impl SnapshotHeader {
    /// The format this build writes and reads.
    pub const FORMAT: u8 = super::record::FORMAT;

    /// A compact encoding (magic, format, seed, then per namespace its last removal
    /// and key count as varints, then the apply clock), for callers that store the
    /// header as bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 + 8 * self.spaces.len());
        out.extend_from_slice(MAGIC);
        out.push(self.format);
        out.extend_from_slice(&self.seed.to_le_bytes());
        put_varint(&mut out, self.spaces.len() as u64);
        for space in &self.spaces {
            put_varint(&mut out, space.last_removal);
            put_varint(&mut out, space.keys);
        }
        put_varint(&mut out, self.clock_ms);
        put_varint(&mut out, self.libraries.len() as u64);
        for code in &self.libraries {
            put_varint(&mut out, code.len() as u64);
            out.extend_from_slice(code);
        }
        out
    }

    /// Decodes [`SnapshotHeader::to_bytes`]; refuses other formats and trailing bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, EngineError> {
        let mut r = Reader::new(bytes);
        let (has_clock, has_libraries) = match &r.array::<4>()? {
            m if m == MAGIC => (true, true),
            m if m == MAGIC_NO_LIBRARIES => (true, false),
            m if m == MAGIC_NO_CLOCK => (false, false),
            _ => return Err(corrupt("not a snapshot header")),
        };
        let format = r.u8()?;
        if format != Self::FORMAT {
            return Err(corrupt("unknown snapshot format"));
        }
        let seed = u64::from_le_bytes(r.array::<8>()?);
        let count = r.varint()?;
        if count == 0 || count > MAX_SPACES {
            return Err(corrupt("bad namespace count"));
        }
        let spaces = (0..count)
            .map(|_| {
                Ok(SpaceHeader {
                    last_removal: r.varint()?,
                    keys: r.varint()?,
                })
            })
            .collect::<Result<Vec<_>, EngineError>>()?;
        let clock_ms = if has_clock { r.varint()? } else { 0 };
        let mut libraries = Vec::new();
        if has_libraries {
            let count = r.varint()?;
            let mut total = 0u64;
            for _ in 0..count {
                let len = r.varint()?;
                total = total.saturating_add(len);
                if total > MAX_LIBRARY_BYTES {
                    return Err(corrupt("library code too large"));
                }
                libraries.push(bytes::Bytes::copy_from_slice(r.slice(len as usize)?));
            }
        }
        if !r.is_empty() {
            return Err(corrupt("trailing bytes after the header"));
        }
        Ok(Self {
            format,
            seed,
            spaces,
            clock_ms,
            libraries,
        })
    }

    /// Refuses headers a restore cannot use.
    pub(crate) fn check(&self) -> Result<(), EngineError> {
        if self.format != Self::FORMAT {
            return Err(corrupt("unknown snapshot format"));
        }
        if self.spaces.is_empty() || self.spaces.len() as u64 > MAX_SPACES {
            return Err(corrupt("bad namespace count"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(clock_ms: u64) -> SnapshotHeader {
        SnapshotHeader {
            format: SnapshotHeader::FORMAT,
            seed: 42,
            spaces: vec![
                SpaceHeader {
                    last_removal: 7,
                    keys: 3,
                },
                SpaceHeader {
                    last_removal: 0,
                    keys: 0,
                },
            ],
            clock_ms,
            libraries: vec![bytes::Bytes::from_static(b"#!lua name=l\nreturn 1")],
        }
    }

    #[test]
    fn the_apply_clock_and_libraries_travel_with_the_header_and_old_headers_read_without() {
        let h = header(1_790_000_000_000);
        assert_eq!(
            SnapshotHeader::from_bytes(&h.to_bytes()).expect("decodes"),
            h
        );
        let without = |clock_ms| SnapshotHeader {
            libraries: Vec::new(),
            ..header(clock_ms)
        };
        // The previous build's header: its own magic, no library count at the end.
        let mut previous = without(77).to_bytes();
        previous.pop();
        previous[..4].copy_from_slice(MAGIC_NO_LIBRARIES);
        assert_eq!(
            SnapshotHeader::from_bytes(&previous).expect("decodes"),
            without(77)
        );
        // An earlier build's header: no clock either.
        let mut old = without(0).to_bytes();
        old.truncate(old.len() - 2);
        old[..4].copy_from_slice(MAGIC_NO_CLOCK);
        assert_eq!(
            SnapshotHeader::from_bytes(&old).expect("decodes"),
            without(0)
        );
        let mut trailing = h.to_bytes();
        trailing.push(0);
        assert!(SnapshotHeader::from_bytes(&trailing).is_err());
        // A library count that promises more than there is.
        let mut short = h.to_bytes();
        short.truncate(short.len() - 3);
        assert!(SnapshotHeader::from_bytes(&short).is_err());
    }
}
