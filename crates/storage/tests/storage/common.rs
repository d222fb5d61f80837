//! Helpers shared by the storage tests.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use okapi_storage::{
    FaultyFs, Fs, FsyncPolicy, GroupId, Recovered, StorageError, Wal, WalOptions, WalRecord,
};

/// The data directory used on a `FaultyFs`.
pub fn data_dir() -> PathBuf {
    PathBuf::from("/data")
}

/// A fresh in-memory file system, as itself and as `Arc<dyn Fs>`.
pub fn faulty() -> (Arc<FaultyFs>, Arc<dyn Fs>) {
    let fs = Arc::new(FaultyFs::new());
    let dynfs: Arc<dyn Fs> = fs.clone();
    (fs, dynfs)
}

/// Options with `policy` and a segment size.
pub fn opts(fsync: FsyncPolicy, segment_bytes: u64) -> WalOptions {
    WalOptions {
        fsync,
        segment_bytes,
    }
}

/// Opens the WAL of `/data`, panicking on error.
pub fn open(fs: &Arc<dyn Fs>, options: WalOptions) -> (Wal, Recovered) {
    Wal::open(Arc::clone(fs), &data_dir(), options).expect("open the WAL")
}

/// A recognisable payload for entry `index` of `group`.
pub fn payload(group: u64, index: u64) -> Bytes {
    Bytes::from(format!("group {group} entry {index}"))
}

/// An entry record with [`payload`].
pub fn entry(group: u64, index: u64) -> WalRecord {
    WalRecord::Entry {
        group: GroupId(group),
        index,
        payload: payload(group, index),
    }
}

/// A hard-state record.
pub fn hard_state(group: u64, text: &str) -> WalRecord {
    WalRecord::HardState {
        group: GroupId(group),
        payload: Bytes::from(text.to_string()),
    }
}

/// A purge record whose payload names the index.
pub fn purge(group: u64, upto: u64) -> WalRecord {
    WalRecord::Purge {
        group: GroupId(group),
        upto,
        payload: Bytes::from(format!("purged {upto}")),
    }
}

/// `(index, payload)` list of entries `range` of `group`.
pub fn expected(group: u64, range: std::ops::RangeInclusive<u64>) -> Vec<(u64, Bytes)> {
    range.map(|i| (i, payload(group, i))).collect()
}

/// Entries recovered for `group` (empty if the group is unknown).
pub fn entries_of(rec: &Recovered, group: u64) -> Vec<(u64, Bytes)> {
    rec.groups
        .get(&GroupId(group))
        .map(|g| g.entries.clone())
        .unwrap_or_default()
}

/// The WAL segment files on `fs`, in order.
pub fn segments(fs: &FaultyFs) -> Vec<PathBuf> {
    let wal = data_dir().join("wal");
    fs.files()
        .into_iter()
        .filter(|p| p.parent() == Some(wal.as_path()))
        .collect()
}

/// The only (or last) segment.
pub fn last_segment(fs: &FaultyFs) -> PathBuf {
    segments(fs).pop().expect("at least one segment")
}

/// Length of a file on an `Fs`.
pub fn len(fs: &Arc<dyn Fs>, path: &Path) -> u64 {
    fs.len(path).expect("file length")
}

/// The file, offset and reason of a `Corrupt` error; panics on any other error.
pub fn corruption(err: &StorageError) -> (&Path, u64, &str) {
    match err {
        StorageError::Corrupt {
            file,
            offset,
            reason,
        } => (file.as_path(), *offset, reason.as_str()),
        other => panic!("expected Corrupt, got {other}"),
    }
}
