//! WAL segment files: naming, the header, and scanning one segment's records.
//!
//! A segment is `wal/<seq>.seg` (`seq` zero-padded to 20 digits, consecutive from 1).
//! Header (20 bytes): `magic "OKWL" | version u8 | 3 zero bytes | seq u64 LE |
//! crc32c u32 LE` of the first 16 bytes. Records follow back to back (see
//! [`crate::record`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{IoContext, StorageError};
use crate::fs::{Fs, list_parsed};
use crate::record::{self, Decoded, WalRecord};

/// Magic at the start of every segment.
pub(crate) const SEGMENT_MAGIC: [u8; 4] = *b"OKWL";
/// Version of the segment header format.
pub(crate) const SEGMENT_VERSION: u8 = 1;
/// Size of the segment header.
pub(crate) const HEADER_LEN: usize = 20;
/// Subdirectory of the data directory holding the segments.
pub const WAL_DIR: &str = "wal";

/// File name of segment `seq`.
pub(crate) fn segment_name(seq: u64) -> String {
    format!("{seq:020}.seg")
}

/// The sequence number in a segment file name, if it is one.
pub(crate) fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".seg")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Appends the header of segment `seq` to `out`.
pub(crate) fn encode_header(seq: u64, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&SEGMENT_MAGIC);
    out.push(SEGMENT_VERSION);
    out.extend_from_slice(&[0; 3]);
    out.extend_from_slice(&seq.to_le_bytes());
    let crc = crc32c::crc32c(&out[start..]);
    out.extend_from_slice(&crc.to_le_bytes());
}

/// A segment file found on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SegmentFile {
    /// Sequence number from the file name.
    pub seq: u64,
    /// Full path.
    pub path: PathBuf,
}

/// Segments in `wal_dir` in order, plus names of files that are not segments.
/// A missing directory is an empty log.
pub(crate) fn list_segments(
    fs: &Arc<dyn Fs>,
    wal_dir: &Path,
) -> Result<(Vec<SegmentFile>, Vec<String>), StorageError> {
    let (found, others) = list_parsed(fs, wal_dir, parse_segment_name)?;
    let mut segs: Vec<_> = found
        .into_iter()
        .map(|(seq, path)| SegmentFile { seq, path })
        .collect();
    segs.sort_by_key(|s| s.seq);
    Ok((segs, others))
}

/// Why scanning a segment stopped before its end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Stop {
    /// Damage at the end of the last segment with nothing valid after: a torn write.
    Torn {
        /// Where the torn record (or header) starts.
        offset: u64,
        /// What was found there.
        reason: String,
    },
    /// Anything else.
    Corrupt {
        /// Where the damage starts.
        offset: u64,
        /// What was found there.
        reason: String,
    },
}

/// Result of scanning one segment.
#[derive(Debug)]
pub(crate) struct SegmentScan {
    /// File length.
    pub len: u64,
    /// Bytes up to the end of the last valid record (or header).
    pub valid_len: u64,
    /// Valid records read.
    pub records: u64,
    /// Where and why it stopped early, if it did.
    pub stop: Option<Stop>,
}

/// Reads segment `seg` and feeds its records to `apply` (which may refuse a record,
/// e.g. an index gap, with a reason: that is corruption at the record's offset).
/// `is_last` enables the torn-tail rule.
pub(crate) fn scan_segment(
    fs: &Arc<dyn Fs>,
    seg: &SegmentFile,
    is_last: bool,
    mut apply: impl FnMut(u64, WalRecord) -> Result<(), String>,
) -> Result<SegmentScan, StorageError> {
    let buf = fs.read(&seg.path).at(&seg.path)?;
    let len = buf.len() as u64;
    let mut scan = SegmentScan {
        len,
        valid_len: 0,
        records: 0,
        stop: None,
    };
    if buf.len() < HEADER_LEN {
        let reason = format!("segment header is {} bytes, needs {HEADER_LEN}", buf.len());
        scan.stop = Some(if is_last {
            Stop::Torn { offset: 0, reason }
        } else {
            Stop::Corrupt { offset: 0, reason }
        });
        return Ok(scan);
    }
    if let Err(reason) = check_header(&buf[..HEADER_LEN], seg.seq) {
        scan.stop = Some(Stop::Corrupt { offset: 0, reason });
        return Ok(scan);
    }
    let mut pos = HEADER_LEN;
    scan.valid_len = pos as u64;
    while pos < buf.len() {
        let offset = pos as u64;
        let (reason, maybe_torn) = match record::decode(&buf[pos..]) {
            Decoded::Record(rec, n) => match apply(offset, rec) {
                Ok(()) => {
                    pos += n;
                    scan.valid_len = pos as u64;
                    scan.records += 1;
                    continue;
                }
                Err(reason) => (reason, false),
            },
            Decoded::Incomplete(r) | Decoded::BadFrame(r) => (r, true),
            Decoded::Malformed(r) => (r, false),
        };
        let torn = maybe_torn && is_last && !valid_frame_after(&buf, pos);
        scan.stop = Some(if torn {
            Stop::Torn { offset, reason }
        } else {
            Stop::Corrupt { offset, reason }
        });
        break;
    }
    Ok(scan)
}

fn check_header(h: &[u8], seq: u64) -> Result<(), String> {
    let mut expect = Vec::with_capacity(HEADER_LEN);
    if h[..4] != SEGMENT_MAGIC {
        return Err("not a WAL segment (bad magic)".to_string());
    }
    if h[4] != SEGMENT_VERSION {
        return Err(format!("unsupported segment version {}", h[4]));
    }
    encode_header(seq, &mut expect);
    if h != expect.as_slice() {
        return Err(format!("segment header damaged or not for segment {seq}"));
    }
    Ok(())
}

/// Whether any checksummed frame starts after `pos`: if one does, the damage at
/// `pos` is not a torn tail. A byte-by-byte search, but only run once, on damage.
pub(crate) fn valid_frame_after(buf: &[u8], pos: usize) -> bool {
    (pos + 1..buf.len()).any(|p| record::frame_at(buf, p).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_names_round_trip_and_sort() {
        assert_eq!(segment_name(42), "00000000000000000042.seg");
        assert_eq!(parse_segment_name(&segment_name(42)), Some(42));
        assert_eq!(parse_segment_name("42.seg.tmp"), None);
        assert_eq!(parse_segment_name("x.seg"), None);
        assert!(segment_name(9) < segment_name(10));
    }

    #[test]
    fn header_checks_magic_version_and_seq() {
        let mut h = Vec::new();
        encode_header(7, &mut h);
        assert_eq!(h.len(), HEADER_LEN);
        assert!(check_header(&h, 7).is_ok());
        assert!(check_header(&h, 8).is_err());
        h[4] = 9;
        assert!(
            check_header(&h, 7)
                .expect_err("bad version")
                .contains("version 9")
        );
    }
}
