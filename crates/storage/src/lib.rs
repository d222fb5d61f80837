//! okapi's durable storage, shared by every Raft group of a node. It knows nothing
//! about Raft or the engine: payloads are opaque bytes encoded by the caller.
//!
//! Layout:
//! - [`wal`] — `Wal`: segmented write-ahead log with group commit (`DATA_DIR/wal/`)
//! - `writer` — the WAL's state under its lock (validation, rotation, deletion)
//! - [`record`] — `WalRecord` and its framing (length, CRC32C, version)
//! - `segment` — segment files: names, header, scanning
//! - `group_state` — the rules records follow (index continuity, truncate, purge)
//! - [`recovery`] — replaying segments: `Recovered`, torn-tail detection
//! - [`snapshot`] — `SnapshotStore`, `SnapshotWriter`, `SnapshotReader`
//!   (`DATA_DIR/snapshots/`, checksummed lz4 blocks)
//! - [`dir_lock`] — `DirLock`: one process per data directory (`okapi.lock`)
//! - [`mod@check`] — the offline checker behind `okapi check [--repair]`
//! - [`fs`] — the `Fs` trait and `OsFs`; [`faulty_fs`] — `FaultyFs` for tests
//! - [`options`], [`error`]

pub mod check;
pub(crate) mod check_report;
pub mod dir_lock;
pub mod error;
pub mod faulty_fs;
pub mod fs;
pub(crate) mod group_state;
pub mod options;
pub mod record;
pub mod recovery;
pub(crate) mod segment;
pub mod snapshot;
pub mod wal;
pub(crate) mod writer;

pub use check::{
    CheckReport, DropAction, EntryRange, GroupSummary, SegmentSummary, SnapshotSummary, check,
};
pub use dir_lock::{DirLock, LOCK_FILE};
pub use error::StorageError;
pub use faulty_fs::FaultyFs;
pub use fs::{Fs, FsFile, FsReader, OsFs};
pub use okapi_types::GroupId;
pub use options::{DEFAULT_SEGMENT_BYTES, FsyncPolicy, ParseFsyncPolicyError, WalOptions};
pub use record::{LEGACY_PAYLOAD, WalRecord};
pub use recovery::{Recovered, RecoveredGroup, TornTail};
pub use segment::WAL_DIR;
pub use snapshot::{SNAPSHOT_DIR, SnapshotInfo, SnapshotReader, SnapshotStore, SnapshotWriter};
pub use wal::{Wal, WalStatus};
