//! The `Fs` trait: every byte the storage crate reads or writes goes through it, so
//! tests can swap the operating system for [`crate::FaultyFs`]. [`OsFs`] is the real
//! implementation over `std::fs`.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::StorageError;

/// A file opened for writing: bytes go to its end.
pub trait FsFile: Send {
    /// Appends all of `buf` (one `write(2)` loop).
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()>;
    /// Makes everything written so far durable (`fsync(2)`).
    fn sync(&mut self) -> io::Result<()>;
    /// A second handle to the same open file, so one thread can fsync while another
    /// keeps appending (as `dup(2)`).
    fn try_clone(&self) -> io::Result<Box<dyn FsFile>>;
}

/// A file opened for positional reads.
pub trait FsReader: Send {
    /// Fills `buf` from `offset`; an error if the file is shorter.
    fn read_exact_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()>;
    /// The file's length when it was opened.
    fn len(&self) -> u64;
    /// Whether the file was empty when it was opened.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// File-system operations the storage crate needs; nothing else touches files.
///
/// Durability contract (what `FaultyFs` simulates on power loss): file contents are
/// durable once the file was `sync`ed; creations, renames and removals are durable
/// once the parent directory was `sync_dir`ed.
pub trait Fs: Send + Sync + 'static {
    /// Creates a directory and its parents (no error if it exists).
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// Names of the files in `dir`, sorted; `NotFound` if it does not exist.
    fn list(&self, dir: &Path) -> io::Result<Vec<String>>;
    /// Whether `path` exists.
    fn exists(&self, path: &Path) -> bool;
    /// Creates a new empty file for writing; `AlreadyExists` if it exists.
    fn create(&self, path: &Path) -> io::Result<Box<dyn FsFile>>;
    /// Opens an existing file for appending at its end.
    fn open_append(&self, path: &Path) -> io::Result<Box<dyn FsFile>>;
    /// Opens an existing file for positional reads.
    fn open_read(&self, path: &Path) -> io::Result<Box<dyn FsReader>>;
    /// Reads a whole file.
    fn read(&self, path: &Path) -> io::Result<Vec<u8>>;
    /// Length of a file in bytes.
    fn len(&self, path: &Path) -> io::Result<u64>;
    /// Cuts a file to `len` bytes and makes the new length durable.
    fn truncate(&self, path: &Path, len: u64) -> io::Result<()>;
    /// Renames a file, replacing `to` if it exists.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Removes a file.
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    /// Makes the directory's entries (creations, renames, removals) durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
}

/// The real file system (`std::fs`).
#[derive(Debug, Clone, Copy, Default)]
pub struct OsFs;

struct OsFile(File);

impl FsFile for OsFile {
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.0.write_all(buf)
    }

    fn sync(&mut self) -> io::Result<()> {
        // fdatasync is enough: the WAL never relies on mtime, and the length change
        // is data-relevant metadata that fdatasync does flush.
        self.0.sync_data()
    }

    fn try_clone(&self) -> io::Result<Box<dyn FsFile>> {
        Ok(Box::new(OsFile(self.0.try_clone()?)))
    }
}

struct OsReader {
    file: File,
    len: u64,
}

impl FsReader for OsReader {
    fn read_exact_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        self.file.seek(SeekFrom::Start(offset))?;
        self.file.read_exact(buf)
    }

    fn len(&self) -> u64 {
        self.len
    }
}

impl Fs for OsFs {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        fs::create_dir_all(dir)
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            if entry.file_type()?.is_file() {
                names.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
        names.sort();
        Ok(names)
    }

    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }

    fn create(&self, path: &Path) -> io::Result<Box<dyn FsFile>> {
        let file = OpenOptions::new().write(true).create_new(true).open(path)?;
        Ok(Box::new(OsFile(file)))
    }

    fn open_append(&self, path: &Path) -> io::Result<Box<dyn FsFile>> {
        let file = OpenOptions::new().append(true).open(path)?;
        Ok(Box::new(OsFile(file)))
    }

    fn open_read(&self, path: &Path) -> io::Result<Box<dyn FsReader>> {
        let file = File::open(path)?;
        let len = file.metadata()?.len();
        Ok(Box::new(OsReader { file, len }))
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        fs::read(path)
    }

    fn len(&self, path: &Path) -> io::Result<u64> {
        Ok(fs::metadata(path)?.len())
    }

    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        let file = OpenOptions::new().write(true).open(path)?;
        file.set_len(len)?;
        file.sync_all()
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        fs::remove_file(path)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }
}

/// What [`list_parsed`] found: `(parsed name, path)` of the files it accepted, and
/// the names of the others.
pub(crate) type Listing<T> = (Vec<(T, PathBuf)>, Vec<String>);

/// The files of `dir` whose names `parse` accepts, with what it parsed and their
/// paths, and the names of the others. A missing directory holds nothing.
pub(crate) fn list_parsed<T>(
    fs: &Arc<dyn Fs>,
    dir: &Path,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<Listing<T>, StorageError> {
    let names = match fs.list(dir) {
        Ok(n) => n,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((Vec::new(), Vec::new())),
        Err(e) => return Err(StorageError::io(dir, e)),
    };
    let mut parsed = Vec::new();
    let mut others = Vec::new();
    for name in names {
        match parse(&name) {
            Some(value) => parsed.push((value, dir.join(&name))),
            None => others.push(name),
        }
    }
    Ok((parsed, others))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_fs_round_trips_a_file() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let fs = OsFs;
        let dir = tmp.path().join("a/b");
        fs.create_dir_all(&dir).expect("mkdir");
        let path = dir.join("f");
        let mut f = fs.create(&path).expect("create");
        f.write_all(b"hello").expect("write");
        f.sync().expect("sync");
        drop(f);
        assert!(fs.create(&path).is_err(), "create is exclusive");
        let mut f = fs.open_append(&path).expect("append");
        f.write_all(b" world").expect("write");
        drop(f);
        assert_eq!(fs.read(&path).expect("read"), b"hello world");
        let mut r = fs.open_read(&path).expect("open_read");
        let mut buf = [0u8; 5];
        r.read_exact_at(6, &mut buf).expect("read_at");
        assert_eq!(&buf, b"world");
        fs.truncate(&path, 5).expect("truncate");
        assert_eq!(fs.len(&path).expect("len"), 5);
        assert_eq!(fs.list(&dir).expect("list"), vec!["f".to_string()]);
        fs.rename(&path, &dir.join("g")).expect("rename");
        fs.sync_dir(&dir).expect("sync_dir");
        assert!(!fs.exists(&path));
        fs.remove_file(&dir.join("g")).expect("remove");
        assert!(fs.list(&dir).expect("list").is_empty());
    }
}
