//! `SnapshotWriter`: streams chunks into `<name>.snap.tmp` as checksummed lz4 blocks;
//! `finish` seals the file with the end block, fsyncs it and renames it into place,
//! so a snapshot file either is complete or does not exist under its final name.

use std::path::PathBuf;
use std::sync::Arc;

use okapi_types::GroupId;

use crate::error::{IoContext, StorageError};
use crate::fs::{Fs, FsFile};
use crate::snapshot::SnapshotInfo;
use crate::snapshot::format::{self, MAX_BLOCK};

/// Writes one snapshot; dropping it without [`SnapshotWriter::finish`] removes the
/// temporary file.
pub struct SnapshotWriter {
    pub(crate) fs: Arc<dyn Fs>,
    pub(crate) dir: PathBuf,
    pub(crate) tmp: PathBuf,
    pub(crate) path: PathBuf,
    pub(crate) file: Option<Box<dyn FsFile>>,
    pub(crate) group: GroupId,
    pub(crate) index: u64,
    pub(crate) len: u64,
    pub(crate) blocks: u64,
    pub(crate) bytes: u64,
    pub(crate) crc: u32,
    pub(crate) scratch: Vec<u8>,
}

impl std::fmt::Debug for SnapshotWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnapshotWriter")
            .field("path", &self.tmp)
            .field("len", &self.len)
            .finish()
    }
}

impl SnapshotWriter {
    fn write(&mut self, buf: &[u8]) -> Result<(), StorageError> {
        let file = self.file.as_mut().ok_or(StorageError::Closed)?;
        file.write_all(buf).at(&self.tmp)?;
        self.len += buf.len() as u64;
        Ok(())
    }

    /// Compresses and checksums `data` as one block (1 MiB pieces if bigger) and
    /// writes it. An empty chunk writes nothing.
    pub fn write_chunk(&mut self, data: &[u8]) -> Result<(), StorageError> {
        for piece in data.chunks(MAX_BLOCK) {
            let mut scratch = std::mem::take(&mut self.scratch);
            scratch.clear();
            format::encode_block(piece, &mut scratch);
            let r = self.write(&scratch);
            self.scratch = scratch;
            r?;
            self.blocks += 1;
            self.bytes += piece.len() as u64;
            self.crc = crc32c::crc32c_append(self.crc, piece);
        }
        Ok(())
    }

    /// Writes the end block with the totals, fsyncs, renames the file into place and
    /// fsyncs the directory.
    pub fn finish(mut self) -> Result<SnapshotInfo, StorageError> {
        let mut end = Vec::new();
        format::encode_end(self.blocks, self.bytes, self.crc, &mut end);
        self.write(&end)?;
        let mut file = self.file.take().ok_or(StorageError::Closed)?;
        file.sync().at(&self.tmp)?;
        drop(file);
        self.fs.rename(&self.tmp, &self.path).at(&self.path)?;
        self.fs.sync_dir(&self.dir).at(&self.dir)?;
        Ok(SnapshotInfo {
            group: self.group,
            index: self.index,
            path: self.path.clone(),
            size: self.len,
        })
    }
}

impl Drop for SnapshotWriter {
    fn drop(&mut self) {
        // `finish` takes the file; still holding it means the snapshot was abandoned.
        if self.file.take().is_some()
            && let Err(e) = self.fs.remove_file(&self.tmp)
        {
            tracing::warn!(path = %self.tmp.display(), error = %e, "cannot remove an abandoned snapshot");
        }
    }
}
