//! Integration tests of okapi-storage: the WAL (multi-group, truncate/purge,
//! rotation and deletion, group commit), faults injected with `FaultyFs`, snapshots,
//! the checker, and the property that a WAL cut anywhere recovers a prefix.

mod bench;
mod check;
mod common;
mod faults;
mod faulty_fs;
mod group_commit;
mod props;
mod rotation;
mod snapshots;
mod wal;
