//! `WalRecord` and its framing on disk.
//!
//! Frame: `len u32 LE | crc u32 LE | body`, where `len` counts the body and `crc` is
//! CRC32C over the four length bytes and the body, so a damaged length is caught too.
//! Body: `version u8 | kind u8 | group u64 LE | kind fields`:
//! - kind 1 `Entry`: `index u64 | payload…`
//! - kind 2 `HardState`: `payload…`
//! - kind 3 `TruncateAfter`: `present u8 (0|1) | after u64`
//! - kind 4 `Purge`: `upto u64 | payload…`
//! - kind 5 `Reset`: nothing more
//!
//! Kinds are append-only: a new kind gets a new number, old numbers never change.
//!
//! Record version 2 (written today): payloads start with the caller's own format byte.
//! Version 1 records predate that; they are still read, and their payloads are handed
//! out with [`LEGACY_PAYLOAD`] in front, so a caller always finds a format byte first
//! and knows the rest is in the encoding it used before it had one.

use bytes::Bytes;
use okapi_types::GroupId;

/// One record of the write-ahead log. Payloads are opaque bytes encoded by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WalRecord {
    /// A log entry of `group` at `index`; must follow the group's last entry.
    Entry {
        /// The Raft group.
        group: GroupId,
        /// Log index of the entry.
        index: u64,
        /// The encoded entry.
        payload: Bytes,
    },
    /// The group's hard state (vote, committed); the latest one wins.
    HardState {
        /// The Raft group.
        group: GroupId,
        /// The encoded hard state.
        payload: Bytes,
    },
    /// Drops the group's entries with index > `after` (`None`: all of them).
    TruncateAfter {
        /// The Raft group.
        group: GroupId,
        /// Last index kept.
        after: Option<u64>,
    },
    /// Entries with index <= `upto` are gone (a snapshot covers them).
    Purge {
        /// The Raft group.
        group: GroupId,
        /// Last purged index.
        upto: u64,
        /// The caller's encoded last-purged log id.
        payload: Bytes,
    },
    /// The group's entries and purge point are gone: its replica left this node. Its
    /// hard state stays (a vote is never forgotten); a later one replaces it.
    Reset {
        /// The Raft group.
        group: GroupId,
    },
}

impl WalRecord {
    /// The group the record belongs to.
    pub fn group(&self) -> GroupId {
        match self {
            WalRecord::Entry { group, .. }
            | WalRecord::HardState { group, .. }
            | WalRecord::TruncateAfter { group, .. }
            | WalRecord::Purge { group, .. }
            | WalRecord::Reset { group } => *group,
        }
    }
}

/// Bytes before the body: length and CRC.
pub(crate) const FRAME_HEADER: usize = 8;
/// Version byte of every record body written today.
pub(crate) const RECORD_VERSION: u8 = 2;
/// The record version before payloads carried a format byte.
const RECORD_VERSION_1: u8 = 1;
/// The format byte put in front of the payloads of version 1 records.
pub const LEGACY_PAYLOAD: u8 = 0;
/// Largest body accepted; bigger lengths are treated as damage.
pub(crate) const MAX_BODY: usize = 1 << 30;
/// version + kind + group.
const MIN_BODY: usize = 10;

const KIND_ENTRY: u8 = 1;
const KIND_HARD_STATE: u8 = 2;
const KIND_TRUNCATE_AFTER: u8 = 3;
const KIND_PURGE: u8 = 4;
const KIND_RESET: u8 = 5;

/// Size of the record once framed.
pub(crate) fn encoded_len(rec: &WalRecord) -> usize {
    FRAME_HEADER
        + MIN_BODY
        + match rec {
            WalRecord::Entry { payload, .. } | WalRecord::Purge { payload, .. } => {
                8 + payload.len()
            }
            WalRecord::HardState { payload, .. } => payload.len(),
            WalRecord::TruncateAfter { .. } => 9,
            WalRecord::Reset { .. } => 0,
        }
}

/// Appends the framed record to `out`. The caller keeps bodies under [`MAX_BODY`].
pub(crate) fn encode(rec: &WalRecord, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&[0; FRAME_HEADER]);
    out.push(RECORD_VERSION);
    match rec {
        WalRecord::Entry {
            group,
            index,
            payload,
        } => {
            out.push(KIND_ENTRY);
            out.extend_from_slice(&group.0.to_le_bytes());
            out.extend_from_slice(&index.to_le_bytes());
            out.extend_from_slice(payload);
        }
        WalRecord::HardState { group, payload } => {
            out.push(KIND_HARD_STATE);
            out.extend_from_slice(&group.0.to_le_bytes());
            out.extend_from_slice(payload);
        }
        WalRecord::TruncateAfter { group, after } => {
            out.push(KIND_TRUNCATE_AFTER);
            out.extend_from_slice(&group.0.to_le_bytes());
            out.push(u8::from(after.is_some()));
            out.extend_from_slice(&after.unwrap_or(0).to_le_bytes());
        }
        WalRecord::Purge {
            group,
            upto,
            payload,
        } => {
            out.push(KIND_PURGE);
            out.extend_from_slice(&group.0.to_le_bytes());
            out.extend_from_slice(&upto.to_le_bytes());
            out.extend_from_slice(payload);
        }
        WalRecord::Reset { group } => {
            out.push(KIND_RESET);
            out.extend_from_slice(&group.0.to_le_bytes());
        }
    }
    let body_len = out.len() - start - FRAME_HEADER;
    let len = u32::try_from(body_len).expect("bodies are checked against MAX_BODY before encoding");
    let len_bytes = len.to_le_bytes();
    let crc = crc32c::crc32c_append(crc32c::crc32c(&len_bytes), &out[start + FRAME_HEADER..]);
    out[start..start + 4].copy_from_slice(&len_bytes);
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

/// What sits at the start of a buffer.
#[derive(Debug)]
pub(crate) enum Decoded {
    /// A valid record and the size of its frame.
    Record(WalRecord, usize),
    /// The buffer ends inside the frame (a torn write, if nothing valid follows).
    Incomplete(String),
    /// The length is impossible or the CRC does not match.
    BadFrame(String),
    /// The CRC matches but the body makes no sense: written that way, never torn.
    Malformed(String),
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(x)
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut x = [0u8; 4];
    x.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(x)
}

/// Decodes the frame at the start of `buf` (payloads are copied out, so the buffer
/// can be dropped).
pub(crate) fn decode(buf: &[u8]) -> Decoded {
    if buf.len() < FRAME_HEADER {
        return Decoded::Incomplete(format!("{} bytes left, a record header needs 8", buf.len()));
    }
    let len = u32_at(buf, 0) as usize;
    if !(MIN_BODY..=MAX_BODY).contains(&len) {
        return Decoded::BadFrame(format!("impossible record length {len}"));
    }
    let Some(frame) = buf.get(..FRAME_HEADER + len) else {
        return Decoded::Incomplete(format!(
            "record of {len} bytes extends past the end of the file ({} bytes left)",
            buf.len() - FRAME_HEADER
        ));
    };
    let stored = u32_at(frame, 4);
    let actual = crc32c::crc32c_append(crc32c::crc32c(&frame[..4]), &frame[FRAME_HEADER..]);
    if stored != actual {
        return Decoded::BadFrame(format!(
            "CRC32C mismatch (stored {stored:#010x}, computed {actual:#010x})"
        ));
    }
    match decode_body(&frame[FRAME_HEADER..]) {
        Ok(rec) => Decoded::Record(rec, frame.len()),
        Err(reason) => Decoded::Malformed(reason),
    }
}

fn decode_body(body: &[u8]) -> Result<WalRecord, String> {
    let payload = match body[0] {
        RECORD_VERSION => |bytes: &[u8]| Bytes::copy_from_slice(bytes),
        RECORD_VERSION_1 => |bytes: &[u8]| {
            let mut with_format = Vec::with_capacity(bytes.len() + 1);
            with_format.push(LEGACY_PAYLOAD);
            with_format.extend_from_slice(bytes);
            Bytes::from(with_format)
        },
        other => return Err(format!("unsupported record version {other}")),
    };
    let kind = body[1];
    let group = GroupId(u64_at(body, 2));
    let rest = &body[MIN_BODY..];
    let need = |n: usize| {
        if rest.len() < n {
            Err(format!(
                "record of kind {kind} is {} bytes, needs at least {n}",
                body.len()
            ))
        } else {
            Ok(())
        }
    };
    match kind {
        KIND_ENTRY => {
            need(8)?;
            Ok(WalRecord::Entry {
                group,
                index: u64_at(rest, 0),
                payload: payload(&rest[8..]),
            })
        }
        KIND_HARD_STATE => Ok(WalRecord::HardState {
            group,
            payload: payload(rest),
        }),
        KIND_TRUNCATE_AFTER => {
            if rest.len() != 9 || rest[0] > 1 {
                return Err("malformed truncate record".to_string());
            }
            Ok(WalRecord::TruncateAfter {
                group,
                after: (rest[0] == 1).then(|| u64_at(rest, 1)),
            })
        }
        KIND_PURGE => {
            need(8)?;
            Ok(WalRecord::Purge {
                group,
                upto: u64_at(rest, 0),
                payload: payload(&rest[8..]),
            })
        }
        KIND_RESET if rest.is_empty() => Ok(WalRecord::Reset { group }),
        KIND_RESET => Err("malformed reset record".to_string()),
        other => Err(format!("unknown record kind {other}")),
    }
}

/// Whether a checksummed frame (even a malformed one) starts at `pos`: used to tell
/// a torn tail (nothing valid after the damage) from corruption in the middle.
pub(crate) fn frame_at(buf: &[u8], pos: usize) -> Option<usize> {
    let rest = buf.get(pos..)?;
    match decode(rest) {
        Decoded::Record(_, n) => Some(n),
        Decoded::Malformed(_) => Some(FRAME_HEADER + u32_at(rest, 0) as usize),
        Decoded::Incomplete(_) | Decoded::BadFrame(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_1_payloads_come_out_behind_the_legacy_format_byte() {
        let rec = WalRecord::Entry {
            group: GroupId(4),
            index: 9,
            payload: Bytes::from_static(b"old"),
        };
        let mut buf = Vec::new();
        encode(&rec, &mut buf);
        // Rewrite it as a version-1 record, checksum included.
        buf[FRAME_HEADER] = RECORD_VERSION_1;
        let crc = crc32c::crc32c_append(crc32c::crc32c(&buf[..4]), &buf[FRAME_HEADER..]);
        buf[4..8].copy_from_slice(&crc.to_le_bytes());
        match decode(&buf) {
            Decoded::Record(WalRecord::Entry { payload, index, .. }, _) => {
                assert_eq!(index, 9);
                assert_eq!(payload.as_ref(), b"\0old");
            }
            other => panic!("{other:?}"),
        }
        buf[FRAME_HEADER] = 3;
        let crc = crc32c::crc32c_append(crc32c::crc32c(&buf[..4]), &buf[FRAME_HEADER..]);
        buf[4..8].copy_from_slice(&crc.to_le_bytes());
        assert!(matches!(decode(&buf), Decoded::Malformed(_)));
    }

    fn samples() -> Vec<WalRecord> {
        vec![
            WalRecord::Entry {
                group: GroupId(7),
                index: 42,
                payload: Bytes::from_static(b"payload"),
            },
            WalRecord::HardState {
                group: GroupId(1),
                payload: Bytes::new(),
            },
            WalRecord::TruncateAfter {
                group: GroupId(2),
                after: Some(9),
            },
            WalRecord::TruncateAfter {
                group: GroupId(2),
                after: None,
            },
            WalRecord::Purge {
                group: GroupId(u64::MAX),
                upto: 3,
                payload: Bytes::from_static(b"id"),
            },
        ]
    }

    #[test]
    fn every_kind_round_trips() {
        for rec in samples() {
            let mut buf = Vec::new();
            encode(&rec, &mut buf);
            assert_eq!(buf.len(), encoded_len(&rec));
            match decode(&buf) {
                Decoded::Record(got, n) => {
                    assert_eq!(got, rec);
                    assert_eq!(n, buf.len());
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn a_cut_record_is_incomplete_and_a_flipped_bit_is_a_bad_frame() {
        let mut buf = Vec::new();
        encode(&samples()[0], &mut buf);
        for cut in 0..buf.len() {
            assert!(matches!(
                decode(&buf[..cut]),
                Decoded::Incomplete(_) | Decoded::BadFrame(_)
            ));
        }
        for i in 0..buf.len() {
            let mut bad = buf.clone();
            bad[i] ^= 0x10;
            assert!(
                !matches!(decode(&bad), Decoded::Record(..)),
                "flip at {i} went unnoticed"
            );
        }
    }

    #[test]
    fn a_checksummed_unknown_kind_is_malformed_not_torn() {
        let mut buf = Vec::new();
        encode(&samples()[1], &mut buf);
        buf[FRAME_HEADER + 1] = 99;
        let crc = crc32c::crc32c_append(crc32c::crc32c(&buf[..4]), &buf[FRAME_HEADER..]);
        buf[4..8].copy_from_slice(&crc.to_le_bytes());
        assert!(matches!(decode(&buf), Decoded::Malformed(_)));
        assert_eq!(frame_at(&buf, 0), Some(buf.len()));
    }
}
