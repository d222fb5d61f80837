//! `DirLock`: one server per data directory. A running node holds an advisory
//! `flock` on `DATA_DIR/okapi.lock` for its whole life; a second process that tries
//! to open the same directory finds the lock taken and learns the holder's PID from the
//! file. The lock dies with the process (even on `kill -9`), so a stale file never
//! keeps a directory locked.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::error::{IoContext, StorageError};

/// Name of the lock file inside the data directory.
pub const LOCK_FILE: &str = "okapi.lock";

/// An exclusive hold on a data directory, released when dropped (or when the process
/// ends, however it ends).
#[derive(Debug)]
pub struct DirLock {
    /// Kept open: closing the file would release the lock.
    _file: File,
    path: PathBuf,
}

impl DirLock {
    /// Takes the lock on `dir` (which must exist) without waiting, and records this
    /// process's PID in the lock file. Fails with [`StorageError::InUse`] when another
    /// process holds it.
    pub fn acquire(dir: &Path) -> Result<Self, StorageError> {
        let path = dir.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .at(&path)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(StorageError::InUse {
                    dir: dir.to_path_buf(),
                    pid: read_pid(&mut file),
                });
            }
            Err(TryLockError::Error(e)) => return Err(StorageError::io(&path, e)),
        }
        // Only the holder writes the file, so a reader never sees another's PID.
        file.set_len(0).at(&path)?;
        file.seek(SeekFrom::Start(0)).at(&path)?;
        file.write_all(format!("{}\n", std::process::id()).as_bytes())
            .at(&path)?;
        Ok(Self { _file: file, path })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn read_pid(file: &mut File) -> Option<u32> {
    let mut text = String::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    file.read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_directory_is_refused_with_the_holders_pid() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = DirLock::acquire(dir.path()).expect("first lock");
        match DirLock::acquire(dir.path()) {
            Err(StorageError::InUse { dir: d, pid }) => {
                assert_eq!(d, dir.path());
                assert_eq!(pid, Some(std::process::id()));
            }
            other => panic!("second lock was not refused: {other:?}"),
        }
        drop(first);
        DirLock::acquire(dir.path()).expect("free again once the holder is gone");
    }

    #[test]
    fn the_in_use_error_names_the_directory_and_pid() {
        let e = StorageError::InUse {
            dir: PathBuf::from("/srv/okapi"),
            pid: Some(4242),
        };
        let text = e.to_string();
        assert!(
            text.contains("/srv/okapi") && text.contains("4242"),
            "{text}"
        );
    }
}
