//! Snapshot files: `SnapshotStore` manages `DATA_DIR/snapshots/`, one file per
//! (group, index) named `g<group>-<index>.snap` (zero-padded), `.tmp` while written.
//!
//! Layout: `format` (the bytes), [`writer`] (`SnapshotWriter`), [`reader`]
//! (`SnapshotReader`).

pub(crate) mod format;
pub mod reader;
pub mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use okapi_types::GroupId;

pub use reader::SnapshotReader;
pub use writer::SnapshotWriter;

use crate::error::{IoContext, StorageError};
use crate::fs::{Fs, list_parsed};

/// Subdirectory of the data directory holding the snapshots.
pub const SNAPSHOT_DIR: &str = "snapshots";
const TMP_SUFFIX: &str = ".tmp";

/// A snapshot file on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotInfo {
    /// The group it belongs to.
    pub group: GroupId,
    /// Last log index it covers.
    pub index: u64,
    /// The file.
    pub path: PathBuf,
    /// File size in bytes.
    pub size: u64,
}

/// File name of the snapshot of `group` at `index`.
pub(crate) fn snapshot_name(group: GroupId, index: u64) -> String {
    format!("g{:020}-{index:020}.snap", group.0)
}

/// `(group, index)` from a snapshot file name.
pub(crate) fn parse_snapshot_name(name: &str) -> Option<(GroupId, u64)> {
    let (g, i) = name
        .strip_prefix('g')?
        .strip_suffix(".snap")?
        .split_once('-')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(g) || !digits(i) {
        return None;
    }
    Some((GroupId(g.parse().ok()?), i.parse().ok()?))
}

/// Whether a file name is a snapshot still being written (or abandoned by a crash).
pub(crate) fn is_tmp_name(name: &str) -> bool {
    name.strip_suffix(TMP_SUFFIX)
        .is_some_and(|n| parse_snapshot_name(n).is_some())
}

/// The snapshots of one data directory. Cheap to clone.
#[derive(Clone)]
pub struct SnapshotStore {
    fs: Arc<dyn Fs>,
    dir: PathBuf,
}

impl std::fmt::Debug for SnapshotStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnapshotStore")
            .field("dir", &self.dir)
            .finish()
    }
}

impl SnapshotStore {
    /// Opens (or creates) `data_dir/snapshots/`, removing temporary files left by a
    /// crash in the middle of writing a snapshot. Call it once per process.
    pub fn open(fs: Arc<dyn Fs>, data_dir: &Path) -> Result<SnapshotStore, StorageError> {
        let dir = data_dir.join(SNAPSHOT_DIR);
        fs.create_dir_all(&dir).at(&dir)?;
        let mut removed = false;
        for name in fs.list(&dir).at(&dir)? {
            if is_tmp_name(&name) {
                let path = dir.join(&name);
                tracing::info!(path = %path.display(), "removing an unfinished snapshot");
                fs.remove_file(&path).at(&path)?;
                removed = true;
            }
        }
        if removed {
            fs.sync_dir(&dir).at(&dir)?;
        }
        Ok(SnapshotStore { fs, dir })
    }

    /// The directory holding the snapshots.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Starts writing the snapshot of `group` at `index`; `meta` is the caller's
    /// encoded snapshot metadata, returned by [`SnapshotReader::meta`].
    pub fn create(
        &self,
        group: GroupId,
        index: u64,
        meta: &[u8],
    ) -> Result<SnapshotWriter, StorageError> {
        if meta.len() > format::MAX_META {
            return Err(StorageError::Invalid(format!(
                "snapshot metadata of {} bytes exceeds {} bytes",
                meta.len(),
                format::MAX_META
            )));
        }
        let name = snapshot_name(group, index);
        let path = self.dir.join(&name);
        let tmp = self.dir.join(format!("{name}{TMP_SUFFIX}"));
        let file = self.fs.create(&tmp).at(&tmp)?;
        let mut w = SnapshotWriter {
            fs: Arc::clone(&self.fs),
            dir: self.dir.clone(),
            tmp,
            path,
            file: Some(file),
            group,
            index,
            len: 0,
            blocks: 0,
            bytes: 0,
            crc: 0,
            scratch: Vec::new(),
        };
        let header = format::encode_header(group, index, meta);
        let file = w.file.as_mut().ok_or(StorageError::Closed)?;
        file.write_all(&header).at(&w.tmp)?;
        w.len = header.len() as u64;
        Ok(w)
    }

    /// The newest snapshot of `group` whose header and end block are valid (damaged
    /// newer ones are skipped with a warning). Data blocks are checked while reading.
    pub fn latest(&self, group: GroupId) -> Result<Option<SnapshotReader>, StorageError> {
        let mut infos: Vec<_> = self
            .list()?
            .into_iter()
            .filter(|i| i.group == group)
            .collect();
        infos.sort_by_key(|i| std::cmp::Reverse(i.index));
        for info in infos {
            match self.open_reader(&info) {
                Ok(r) => return Ok(Some(r)),
                Err(e @ StorageError::Corrupt { .. }) => {
                    tracing::warn!(error = %e, "skipping a damaged snapshot");
                }
                Err(e) => return Err(e),
            }
        }
        Ok(None)
    }

    /// Opens one listed snapshot for reading.
    pub fn open_reader(&self, info: &SnapshotInfo) -> Result<SnapshotReader, StorageError> {
        SnapshotReader::open(&self.fs, &info.path, Some((info.group, info.index)))
    }

    /// Reads a whole snapshot, checking every block and the totals.
    pub fn verify(&self, info: &SnapshotInfo) -> Result<(), StorageError> {
        self.open_reader(info)?.verify().map(|_| ())
    }

    /// Every finished snapshot file, sorted by group then index.
    pub fn list(&self) -> Result<Vec<SnapshotInfo>, StorageError> {
        list_in(&self.fs, &self.dir).map(|(infos, _)| infos)
    }

    /// Removes the snapshots of `group` older than `keep_index`.
    pub fn remove_older(&self, group: GroupId, keep_index: u64) -> Result<(), StorageError> {
        let mut removed = false;
        for info in self.list()? {
            if info.group == group && info.index < keep_index {
                self.fs.remove_file(&info.path).at(&info.path)?;
                removed = true;
            }
        }
        if removed {
            self.fs.sync_dir(&self.dir).at(&self.dir)?;
        }
        Ok(())
    }
}

/// Snapshots in `dir` (sorted by group, index) and the names of other files there.
/// A missing directory holds nothing.
pub(crate) fn list_in(
    fs: &Arc<dyn Fs>,
    dir: &Path,
) -> Result<(Vec<SnapshotInfo>, Vec<String>), StorageError> {
    let (found, others) = list_parsed(fs, dir, parse_snapshot_name)?;
    let mut infos = Vec::with_capacity(found.len());
    for ((group, index), path) in found {
        let size = fs.len(&path).at(&path)?;
        infos.push(SnapshotInfo {
            group,
            index,
            path,
            size,
        });
    }
    infos.sort_by_key(|i| (i.group, i.index));
    Ok((infos, others))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_names_round_trip() {
        let n = snapshot_name(GroupId(3), 17);
        assert_eq!(n, "g00000000000000000003-00000000000000000017.snap");
        assert_eq!(parse_snapshot_name(&n), Some((GroupId(3), 17)));
        assert_eq!(parse_snapshot_name("g3-17.snap"), Some((GroupId(3), 17)));
        assert_eq!(parse_snapshot_name("g3-17.snap.tmp"), None);
        assert!(is_tmp_name(&format!("{n}.tmp")));
        assert!(!is_tmp_name("other.tmp"));
    }
}
