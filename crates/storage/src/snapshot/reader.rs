//! `SnapshotReader`: streams a snapshot's chunks back, checking every block's
//! checksum and, at the end, the totals. Every error names the file and offset.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use okapi_types::GroupId;

use crate::error::{IoContext, StorageError};
use crate::fs::{Fs, FsReader};
use crate::snapshot::format::{self, BLOCK_HEADER, END_BLOCK, FLAG_END, HEADER_FIXED};

/// Reads one snapshot file. Opening checks the header and the end block (so the
/// file is complete); [`SnapshotReader::next_chunk`] checks each block as it goes.
pub struct SnapshotReader {
    file: Box<dyn FsReader>,
    path: PathBuf,
    group: GroupId,
    index: u64,
    meta: Vec<u8>,
    pos: u64,
    end_pos: u64,
    totals: (u64, u64, u32),
    blocks: u64,
    bytes: u64,
    crc: u32,
    done: bool,
}

impl std::fmt::Debug for SnapshotReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnapshotReader")
            .field("path", &self.path)
            .field("group", &self.group)
            .field("index", &self.index)
            .field("pos", &self.pos)
            .finish()
    }
}

impl SnapshotReader {
    /// Opens `path`, checking the header, that it belongs to `expect` (group, index)
    /// when given, and the end block.
    pub(crate) fn open(
        fs: &Arc<dyn Fs>,
        path: &Path,
        expect: Option<(GroupId, u64)>,
    ) -> Result<Self, StorageError> {
        let mut file = fs.open_read(path).at(path)?;
        let len = file.len();
        let corrupt = |offset: u64, reason: String| StorageError::corrupt(path, offset, reason);
        let mut fixed = [0u8; HEADER_FIXED];
        if len < (HEADER_FIXED + 4 + END_BLOCK) as u64 {
            return Err(corrupt(
                0,
                format!("snapshot file of {len} bytes is too short"),
            ));
        }
        file.read_exact_at(0, &mut fixed).at(path)?;
        let (group, index, meta_len, version) =
            format::parse_fixed_header(&fixed).map_err(|r| corrupt(0, r))?;
        let header_len = (HEADER_FIXED + meta_len + 4) as u64;
        if header_len + END_BLOCK as u64 > len {
            return Err(corrupt(
                0,
                format!("metadata of {meta_len} bytes does not fit in the file"),
            ));
        }
        let mut rest = vec![0u8; meta_len + 4];
        file.read_exact_at(HEADER_FIXED as u64, &mut rest)
            .at(path)?;
        let stored = format::u32_at(&rest, meta_len);
        let actual = crc32c::crc32c_append(crc32c::crc32c(&fixed), &rest[..meta_len]);
        if stored != actual {
            return Err(corrupt(0, "snapshot header checksum mismatch".to_string()));
        }
        if let Some((g, i)) = expect
            && (g, i) != (group, index)
        {
            return Err(corrupt(
                0,
                format!(
                    "file holds group {group} index {index}, its name says group {g} index {i}"
                ),
            ));
        }
        rest.truncate(meta_len);
        if version == format::VERSION_1 {
            rest.insert(0, crate::record::LEGACY_PAYLOAD);
        }
        let end_pos = len - END_BLOCK as u64;
        let mut end = [0u8; END_BLOCK];
        file.read_exact_at(end_pos, &mut end).at(path)?;
        let mut h = [0u8; BLOCK_HEADER];
        h.copy_from_slice(&end[..BLOCK_HEADER]);
        let missing_end = |why: String| {
            corrupt(
                end_pos,
                format!("no valid end block ({why}): the file is incomplete or damaged"),
            )
        };
        let b = format::parse_block_header(&h).map_err(missing_end)?;
        if b.flags != FLAG_END || b.size != format::END_DATA {
            return Err(missing_end(format!(
                "flags {:#04x}, size {}",
                b.flags, b.size
            )));
        }
        let data = format::open_block(&h, &b, &end[BLOCK_HEADER..]).map_err(missing_end)?;
        Ok(SnapshotReader {
            file,
            path: path.to_path_buf(),
            group,
            index,
            meta: rest,
            pos: header_len,
            end_pos,
            totals: format::parse_end(&data),
            blocks: 0,
            bytes: 0,
            crc: 0,
            done: false,
        })
    }

    /// The caller's metadata given to [`crate::SnapshotStore::create`].
    pub fn meta(&self) -> &[u8] {
        &self.meta
    }

    /// Last log index the snapshot covers.
    pub fn index(&self) -> u64 {
        self.index
    }

    /// The group the snapshot belongs to.
    pub fn group(&self) -> GroupId {
        self.group
    }

    /// The file being read.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The next chunk, decompressed, or `None` after the last one (once the totals
    /// have been checked). Chunks up to 1 MiB come back as they were written; bigger
    /// ones in 1 MiB pieces.
    pub fn next_chunk(&mut self) -> Result<Option<Bytes>, StorageError> {
        if self.done {
            return Ok(None);
        }
        let at = self.pos;
        let corrupt = |reason: String| StorageError::corrupt(&self.path, at, reason);
        if at == self.end_pos {
            let (blocks, bytes, crc) = self.totals;
            if (blocks, bytes, crc) != (self.blocks, self.bytes, self.crc) {
                return Err(corrupt(format!(
                    "end block says {blocks} blocks / {bytes} bytes / crc {crc:#010x}, \
                     read {} / {} / {:#010x}",
                    self.blocks, self.bytes, self.crc
                )));
            }
            self.done = true;
            return Ok(None);
        }
        if at + BLOCK_HEADER as u64 > self.end_pos {
            return Err(corrupt("block header runs into the end block".to_string()));
        }
        let mut h = [0u8; BLOCK_HEADER];
        self.file.read_exact_at(at, &mut h).at(&self.path)?;
        let b = format::parse_block_header(&h).map_err(corrupt)?;
        if b.flags & FLAG_END != 0 {
            return Err(corrupt("end block before the end of the file".to_string()));
        }
        let data_at = at + BLOCK_HEADER as u64;
        if data_at + b.size as u64 > self.end_pos {
            return Err(corrupt(format!(
                "block of {} bytes runs into the end block",
                b.size
            )));
        }
        let mut data = vec![0u8; b.size];
        self.file.read_exact_at(data_at, &mut data).at(&self.path)?;
        let raw = format::open_block(&h, &b, &data).map_err(corrupt)?;
        self.pos = data_at + b.size as u64;
        self.blocks += 1;
        self.bytes += raw.len() as u64;
        self.crc = crc32c::crc32c_append(self.crc, &raw);
        Ok(Some(Bytes::from(raw)))
    }

    /// Reads every remaining chunk, checking them, and returns the data size read.
    pub fn verify(mut self) -> Result<u64, StorageError> {
        while self.next_chunk()?.is_some() {}
        Ok(self.bytes)
    }
}
