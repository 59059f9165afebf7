//! The file operations the file persister uses, behind a trait: the real filesystem
//! ([`StdFs`], the default) or a simulated disk that loses power ([`super::power_loss`]).
//!
//! The persister's durability rests on the order of its writes, fsyncs, renames and directory
//! fsyncs. A process killed with SIGKILL cannot show a missing fsync (the kernel's page cache
//! outlives the process); only a disk that forgets what was not synced can. Going through this
//! trait lets the same persister code run over such a disk in tests, and over `std::fs`,
//! unchanged, on real nodes.
//!
//! What is durable, on any implementation: a file's content once one of its handles was
//! synced; a directory's entries (created, renamed or removed files, created subdirectories)
//! once the directory was synced.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::Path;

/// The file operations of the file persister.
pub trait FileSystem: Send + Sync {
    /// Creates the directory `dir` in an existing parent; fails with
    /// [`io::ErrorKind::AlreadyExists`] if it is there, [`io::ErrorKind::NotFound`] if its
    /// parent is not.
    fn create_dir(&self, dir: &Path) -> io::Result<()>;
    /// The whole content of the file at `path`, or `None` if there is no such file.
    fn read(&self, path: &Path) -> io::Result<Option<Vec<u8>>>;
    /// The names of the entries of `dir`.
    fn list(&self, dir: &Path) -> io::Result<Vec<String>>;
    /// Opens the file at `path` to append to it, creating it empty if it is missing.
    fn open_append(&self, path: &Path) -> io::Result<Box<dyn FileHandle>>;
    /// Creates the file at `path` empty (emptying it if it exists), to write to it.
    fn create(&self, path: &Path) -> io::Result<Box<dyn FileHandle>>;
    /// Renames `from` to `to`, replacing `to` if it exists.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Removes the file at `path`.
    fn remove(&self, path: &Path) -> io::Result<()>;
    /// Makes the entries of `dir` durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
}

/// An open file of a [`FileSystem`].
pub trait FileHandle: Send {
    /// Writes all of `bytes` at the end of the file.
    fn append(&mut self, bytes: &[u8]) -> io::Result<()>;
    /// Cuts the file to `len` bytes.
    fn truncate(&mut self, len: u64) -> io::Result<()>;
    /// Makes the file's content durable (fsync).
    fn sync(&mut self) -> io::Result<()>;
    /// The file's size in bytes.
    fn size(&self) -> io::Result<u64>;
}

/// The real filesystem, through `std::fs`.
#[derive(Debug, Clone, Copy, Default)]
pub struct StdFs;

/// A file of [`StdFs`].
struct StdFile {
    file: File,
    /// Sync with `fsync` (a created file) rather than `fdatasync` (an appended log).
    full: bool,
}

impl FileSystem for StdFs {
    fn create_dir(&self, dir: &Path) -> io::Result<()> {
        fs::create_dir(dir)
    }

    fn read(&self, path: &Path) -> io::Result<Option<Vec<u8>>> {
        match File::open(path) {
            Ok(mut f) => {
                let mut bytes = Vec::new();
                f.read_to_end(&mut bytes)?;
                Ok(Some(bytes))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in fs::read_dir(dir)? {
            if let Some(name) = entry?.file_name().to_str() {
                names.push(name.to_string());
            }
        }
        Ok(names)
    }

    fn open_append(&self, path: &Path) -> io::Result<Box<dyn FileHandle>> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(Box::new(StdFile { file, full: false }))
    }

    fn create(&self, path: &Path) -> io::Result<Box<dyn FileHandle>> {
        let file = File::create(path)?;
        Ok(Box::new(StdFile { file, full: true }))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        fs::remove_file(path)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }
}

impl FileHandle for StdFile {
    fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.file.write_all(bytes)
    }

    fn truncate(&mut self, len: u64) -> io::Result<()> {
        self.file.set_len(len)
    }

    fn sync(&mut self) -> io::Result<()> {
        if self.full {
            self.file.sync_all()
        } else {
            // fdatasync also writes the file's size, which an append or a truncation changed.
            self.file.sync_data()
        }
    }

    fn size(&self) -> io::Result<u64> {
        Ok(self.file.metadata()?.len())
    }
}

/// Creates `dir` and any missing parents, each durably: after a new directory is made, its
/// parent is synced, so that a power loss cannot take the directory (and every file in it)
/// away.
pub fn create_dir_durably(fs: &dyn FileSystem, dir: &Path) -> io::Result<()> {
    let made = match fs.create_dir(dir) {
        Ok(()) => true,
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => false,
        Err(e) if e.kind() == io::ErrorKind::NotFound => match dir.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => {
                create_dir_durably(fs, parent)?;
                match fs.create_dir(dir) {
                    Ok(()) => true,
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => false,
                    Err(e) => return Err(e),
                }
            }
            _ => return Err(e),
        },
        Err(e) => return Err(e),
    };
    if made {
        fs.sync_dir(parent_of(dir))?;
    }
    Ok(())
}

/// The directory holding `path` (`.` for a bare name).
pub fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}
