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
const MAGIC: &[u8; 4] = b"OKSH";

/// More namespaces than this can only come from corrupt data.
const MAX_SPACES: u64 = 1 << 16;

impl SnapshotHeader {
    /// The format this build writes and reads.
    pub const FORMAT: u8 = super::record::FORMAT;

    /// A compact encoding (magic, format, seed, then per namespace its last removal
    /// and key count as varints), for callers that store the header as bytes.
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
        out
    }

    /// Decodes [`SnapshotHeader::to_bytes`]; refuses other formats and trailing bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, EngineError> {
        let mut r = Reader::new(bytes);
        if &r.array::<4>()? != MAGIC {
            return Err(corrupt("not a snapshot header"));
        }
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
        if !r.is_empty() {
            return Err(corrupt("trailing bytes after the header"));
        }
        Ok(Self {
            format,
            seed,
            spaces,
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
