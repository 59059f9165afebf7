//! A disk in memory that can lose power: [`PowerLossFs`].
//!
//! A test that kills a process with SIGKILL cannot see a missing fsync: the kernel's page cache
//! outlives the process, so every write it took comes back. This disk keeps two versions of
//! everything, what is durable and what is only written, and a power loss throws the second
//! away:
//!
//! - a file's content is durable as of the last `sync` of one of its handles;
//! - a directory's entries (files created, renamed or removed, subdirectories made) are durable
//!   as of the last `sync_dir` of that directory; a file whose entry was never made durable is
//!   gone after a power loss, whatever was synced into it.
//!
//! [`PowerLossFs::cut_after`] lets the power go off in the middle of the persister's work (in
//! an append, between a write and its fsync, in the middle of a compaction): from then on every
//! operation fails, as on a machine that stopped, until [`PowerLossFs::power_loss`] brings the
//! disk back to its durable state. [`PowerLossFs::power_loss_tearing`] also keeps a random
//! prefix of each file's unsynced appends, the torn write of a real disk.
//!
//! Handles opened before a power loss fail afterwards: the process that held them is gone.

use super::fs::{parent_of, FileHandle, FileSystem};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

/// A disk in memory that forgets, at a power loss, everything not made durable by an fsync of
/// the file or of its directory. Clones share the disk.
#[derive(Clone)]
pub struct PowerLossFs {
    disk: Arc<Mutex<Disk>>,
}

#[derive(Default)]
struct Disk {
    /// Incremented by every power loss; handles from an earlier epoch are dead.
    epoch: u64,
    files: BTreeMap<u64, Inode>,
    next_inode: u64,
    dirs: BTreeMap<PathBuf, Dir>,
    /// Operations left before the power goes off, if a cut is set.
    fuse: Option<u64>,
    off: bool,
    /// Operations that changed something (or tried to), since the disk was made.
    ops: u64,
}

/// A file's content: what is written, and what would survive a power loss.
#[derive(Default)]
struct Inode {
    data: Vec<u8>,
    durable: Vec<u8>,
    /// `data[..clean]` is known to equal `durable[..clean]`: a sync copies only the rest.
    clean: usize,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Entry {
    File(u64),
    Dir,
}

#[derive(Default)]
struct Dir {
    entries: BTreeMap<String, Entry>,
    durable: BTreeMap<String, Entry>,
}

fn error(kind: io::ErrorKind, what: &str) -> io::Error {
    io::Error::new(kind, what.to_string())
}

fn is_root(path: &Path) -> bool {
    path == Path::new("/") || path == Path::new(".")
}

/// The directory and the name of `path`.
fn split(path: &Path) -> io::Result<(&Path, String)> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| error(io::ErrorKind::InvalidInput, "a path without a file name"))?;
    Ok((parent_of(path), name.to_string()))
}

impl Disk {
    /// Counts one operation that changes the disk, and fails it if the power is off or goes
    /// off now.
    fn step(&mut self) -> io::Result<()> {
        self.powered()?;
        match self.fuse {
            Some(0) => {
                self.off = true;
                Err(error(io::ErrorKind::Other, "the power went off"))
            }
            Some(n) => {
                self.fuse = Some(n - 1);
                self.ops += 1;
                Ok(())
            }
            None => {
                self.ops += 1;
                Ok(())
            }
        }
    }

    fn powered(&self) -> io::Result<()> {
        if self.off {
            Err(error(io::ErrorKind::Other, "the power is off"))
        } else {
            Ok(())
        }
    }

    fn dir(&mut self, dir: &Path) -> io::Result<&mut Dir> {
        self.dirs
            .get_mut(dir)
            .ok_or_else(|| error(io::ErrorKind::NotFound, "no such directory"))
    }

    /// The inode of the file at `path`, made empty if `create` says so and it is missing.
    fn file(&mut self, path: &Path, create: bool) -> io::Result<u64> {
        let (dir, name) = split(path)?;
        match self.dir(dir)?.entries.get(&name).copied() {
            Some(Entry::File(id)) => Ok(id),
            Some(Entry::Dir) => Err(error(io::ErrorKind::Other, "is a directory")),
            None if create => {
                let id = self.next_inode;
                self.next_inode += 1;
                self.files.insert(id, Inode::default());
                self.dir(dir)?.entries.insert(name, Entry::File(id));
                Ok(id)
            }
            None => Err(error(io::ErrorKind::NotFound, "no such file")),
        }
    }

    fn handle(disk: &Arc<Mutex<Disk>>, me: &Disk, inode: u64) -> Box<dyn FileHandle> {
        Box::new(PowerLossFile {
            disk: Arc::clone(disk),
            inode,
            epoch: me.epoch,
        })
    }

    /// Brings everything back to its durable state, keeping of each file's unsynced appends a
    /// prefix of the length `tear` picks (none without it).
    fn revert(&mut self, mut tear: Option<&mut ChaCha8Rng>) {
        for dir in self.dirs.values_mut() {
            dir.entries = dir.durable.clone();
        }
        // Parents sort before their children, so a lost directory takes its subtree with it.
        let paths: Vec<PathBuf> = self.dirs.keys().cloned().collect();
        for path in paths {
            if is_root(&path) {
                continue;
            }
            let kept = split(&path).is_ok_and(|(parent, name)| {
                self.dirs
                    .get(parent)
                    .is_some_and(|d| d.entries.get(&name) == Some(&Entry::Dir))
            });
            if !kept {
                self.dirs.remove(&path);
            }
        }
        let live: BTreeSet<u64> = self
            .dirs
            .values()
            .flat_map(|d| d.entries.values())
            .filter_map(|e| match e {
                Entry::File(id) => Some(*id),
                Entry::Dir => None,
            })
            .collect();
        self.files.retain(|id, _| live.contains(id));
        for file in self.files.values_mut() {
            let appended_only = file.clean == file.durable.len();
            let unsynced = file.data.len().saturating_sub(file.clean);
            let keep = match tear.as_deref_mut() {
                Some(rng) if appended_only && unsynced > 0 => rng.gen_range(0..=unsynced),
                _ => 0,
            };
            let (clean, end) = (file.clean, file.clean + keep);
            if appended_only {
                file.durable.extend_from_slice(&file.data[clean..end]);
            }
            file.data = file.durable.clone();
            file.clean = file.data.len();
        }
        self.epoch += 1;
        self.off = false;
        self.fuse = None;
    }
}

impl PowerLossFs {
    /// An empty disk with its power on, holding the directories `/` and `.`.
    pub fn new() -> PowerLossFs {
        let mut disk = Disk::default();
        disk.dirs.insert(PathBuf::from("/"), Dir::default());
        disk.dirs.insert(PathBuf::from("."), Dir::default());
        PowerLossFs {
            disk: Arc::new(Mutex::new(disk)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Disk> {
        // A poisoned lock only means a test thread panicked mid-call; the disk is still whole.
        self.disk.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The power goes off at the operation after the next `ops` operations that change the
    /// disk: that one and every later one fail until [`PowerLossFs::power_loss`].
    pub fn cut_after(&self, ops: u64) {
        self.lock().fuse = Some(ops);
    }

    /// True once a cut set by [`PowerLossFs::cut_after`] has turned the power off.
    pub fn is_off(&self) -> bool {
        self.lock().off
    }

    /// Operations that changed the disk so far (writes, syncs, creates, renames, removes),
    /// over its whole life: the range a test picks its cut points from.
    pub fn operations(&self) -> u64 {
        self.lock().ops
    }

    /// Loses power: every write not covered by an fsync of its file, and every directory
    /// change not covered by an fsync of its directory, is gone. The power is back on when this
    /// returns, and handles opened before are dead.
    pub fn power_loss(&self) {
        self.lock().revert(None);
    }

    /// Like [`PowerLossFs::power_loss`], but a file that was only appended to since its last
    /// sync keeps a prefix of its unsynced bytes, of a length drawn from `seed`: a torn write.
    pub fn power_loss_tearing(&self, seed: u64) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        self.lock().revert(Some(&mut rng));
    }
}

impl Default for PowerLossFs {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for PowerLossFs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let disk = self.lock();
        write!(
            f,
            "PowerLossFs({} files, {} directories, {} operations, epoch {}{})",
            disk.files.len(),
            disk.dirs.len(),
            disk.ops,
            disk.epoch,
            if disk.off { ", power off" } else { "" }
        )
    }
}

impl FileSystem for PowerLossFs {
    fn create_dir(&self, dir: &Path) -> io::Result<()> {
        let mut disk = self.lock();
        disk.step()?;
        let (parent, name) = split(dir)?;
        let parent = disk.dir(parent)?;
        if parent.entries.contains_key(&name) {
            return Err(error(io::ErrorKind::AlreadyExists, "already exists"));
        }
        parent.entries.insert(name, Entry::Dir);
        disk.dirs.insert(dir.to_path_buf(), Dir::default());
        Ok(())
    }

    fn read(&self, path: &Path) -> io::Result<Option<Vec<u8>>> {
        let mut disk = self.lock();
        disk.powered()?;
        match disk.file(path, false) {
            Ok(id) => Ok(disk.files.get(&id).map(|f| f.data.clone())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut disk = self.lock();
        disk.powered()?;
        Ok(disk.dir(dir)?.entries.keys().cloned().collect())
    }

    fn open_append(&self, path: &Path) -> io::Result<Box<dyn FileHandle>> {
        let mut disk = self.lock();
        disk.step()?;
        let id = disk.file(path, true)?;
        Ok(Disk::handle(&self.disk, &disk, id))
    }

    fn create(&self, path: &Path) -> io::Result<Box<dyn FileHandle>> {
        let mut disk = self.lock();
        disk.step()?;
        let id = disk.file(path, true)?;
        if let Some(file) = disk.files.get_mut(&id) {
            file.data.clear();
            file.clean = 0;
        }
        Ok(Disk::handle(&self.disk, &disk, id))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut disk = self.lock();
        disk.step()?;
        let (from_dir, from_name) = split(from)?;
        let (to_dir, to_name) = split(to)?;
        disk.dir(to_dir)?;
        let entry = disk
            .dir(from_dir)?
            .entries
            .remove(&from_name)
            .ok_or_else(|| error(io::ErrorKind::NotFound, "no such file"))?;
        disk.dir(to_dir)?.entries.insert(to_name, entry);
        Ok(())
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        let mut disk = self.lock();
        disk.step()?;
        disk.file(path, false)?;
        let (dir, name) = split(path)?;
        disk.dir(dir)?.entries.remove(&name);
        Ok(())
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let mut disk = self.lock();
        disk.step()?;
        let dir = disk.dir(dir)?;
        dir.durable = dir.entries.clone();
        Ok(())
    }
}

/// An open file of a [`PowerLossFs`].
struct PowerLossFile {
    disk: Arc<Mutex<Disk>>,
    inode: u64,
    epoch: u64,
}

impl PowerLossFile {
    /// Runs `f` on the file if the power is on and the handle outlived no power loss.
    fn with<T>(&self, change: bool, f: impl FnOnce(&mut Inode) -> T) -> io::Result<T> {
        let mut disk = self.disk.lock().unwrap_or_else(|p| p.into_inner());
        if change {
            disk.step()?;
        } else {
            disk.powered()?;
        }
        if disk.epoch != self.epoch {
            return Err(error(
                io::ErrorKind::Other,
                "the file was opened before a power loss",
            ));
        }
        let file = disk
            .files
            .get_mut(&self.inode)
            .ok_or_else(|| error(io::ErrorKind::NotFound, "the file is gone"))?;
        Ok(f(file))
    }
}

impl FileHandle for PowerLossFile {
    fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.with(true, |f| f.data.extend_from_slice(bytes))
    }

    fn truncate(&mut self, len: u64) -> io::Result<()> {
        let len = usize::try_from(len).map_err(|_| error(io::ErrorKind::InvalidInput, "size"))?;
        self.with(true, |f| {
            f.data.resize(len, 0);
            f.clean = f.clean.min(len);
        })
    }

    fn sync(&mut self) -> io::Result<()> {
        self.with(true, |f| {
            let clean = f.clean.min(f.durable.len());
            f.durable.truncate(clean);
            f.durable.extend_from_slice(&f.data[clean..]);
            f.clean = f.data.len();
        })
    }

    fn size(&self) -> io::Result<u64> {
        self.with(false, |f| f.data.len() as u64)
    }
}

#[cfg(test)]
#[path = "power_loss_tests.rs"]
mod tests;
