//! Where a chunkserver's bytes live: one data file and one small metadata file per chunk
//! (§2.5: a chunk is a plain Linux file). [`MemChunkFiles`] keeps them in memory for the
//! simulation and the tests; [`DirChunkFiles`] keeps them in a directory, the metadata
//! replaced atomically (write a temporary file, fsync it, rename it over, fsync the directory).

use super::ChunkHandle;
use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// The files of a chunkserver's chunks. The metadata is opaque bytes to it; the store encodes
/// it.
pub trait ChunkFiles {
    /// The chunks that have a metadata file.
    fn list(&self) -> io::Result<Vec<ChunkHandle>>;
    /// The chunk's metadata, `None` if it has none.
    fn read_meta(&self, handle: ChunkHandle) -> io::Result<Option<Vec<u8>>>;
    /// Replaces the chunk's metadata atomically and durably.
    fn write_meta(&mut self, handle: ChunkHandle, bytes: &[u8]) -> io::Result<()>;
    /// Up to `len` bytes of the chunk's data from `offset` (fewer at its end).
    fn read_data(&self, handle: ChunkHandle, offset: u64, len: u64) -> io::Result<Vec<u8>>;
    /// Writes `data` at `offset` in the chunk's data, durably, creating the data if missing.
    fn write_data(&mut self, handle: ChunkHandle, offset: u64, data: &[u8]) -> io::Result<()>;
    /// Removes the chunk's data and metadata (missing ones are not an error).
    fn remove(&mut self, handle: ChunkHandle) -> io::Result<()>;
}

/// Chunk files in memory: survive a "restart" by being handed to a new store.
#[derive(Debug, Clone, Default)]
pub struct MemChunkFiles {
    data: BTreeMap<ChunkHandle, Vec<u8>>,
    meta: BTreeMap<ChunkHandle, Vec<u8>>,
}

impl MemChunkFiles {
    /// No chunks.
    pub fn new() -> Self {
        Self::default()
    }
}

fn to_usize(n: u64) -> io::Result<usize> {
    usize::try_from(n).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "offset too large"))
}

impl ChunkFiles for MemChunkFiles {
    fn list(&self) -> io::Result<Vec<ChunkHandle>> {
        Ok(self.meta.keys().copied().collect())
    }

    fn read_meta(&self, handle: ChunkHandle) -> io::Result<Option<Vec<u8>>> {
        Ok(self.meta.get(&handle).cloned())
    }

    fn write_meta(&mut self, handle: ChunkHandle, bytes: &[u8]) -> io::Result<()> {
        self.meta.insert(handle, bytes.to_vec());
        Ok(())
    }

    fn read_data(&self, handle: ChunkHandle, offset: u64, len: u64) -> io::Result<Vec<u8>> {
        let data = self.data.get(&handle).map(Vec::as_slice).unwrap_or(&[]);
        let start = to_usize(offset)?.min(data.len());
        let end = start.saturating_add(to_usize(len)?).min(data.len());
        Ok(data[start..end].to_vec())
    }

    fn write_data(&mut self, handle: ChunkHandle, offset: u64, bytes: &[u8]) -> io::Result<()> {
        let data = self.data.entry(handle).or_default();
        let start = to_usize(offset)?;
        let end = start + bytes.len();
        if data.len() < end {
            data.resize(end, 0);
        }
        data[start..end].copy_from_slice(bytes);
        Ok(())
    }

    fn remove(&mut self, handle: ChunkHandle) -> io::Result<()> {
        self.data.remove(&handle);
        self.meta.remove(&handle);
        Ok(())
    }
}

/// Chunk files in a directory: `c<n>.chunk` (the data) and `c<n>.meta` (the metadata) per
/// chunk. Opening it removes temporary metadata files a crash left behind (`*.tmp`).
#[derive(Debug, Clone)]
pub struct DirChunkFiles {
    dir: PathBuf,
}

impl DirChunkFiles {
    /// Opens (creating it if missing) the directory `dir`, removing torn metadata writes.
    pub fn open(dir: impl Into<PathBuf>) -> io::Result<Self> {
        let dir = dir.into();
        fs::create_dir_all(&dir)?;
        let mut removed = false;
        for entry in fs::read_dir(&dir)? {
            let entry = entry?;
            if entry
                .file_name()
                .to_str()
                .is_some_and(|n| n.ends_with(".tmp"))
            {
                fs::remove_file(entry.path())?;
                removed = true;
            }
        }
        if removed {
            sync_dir(&dir)?;
        }
        Ok(DirChunkFiles { dir })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn data_path(&self, handle: ChunkHandle) -> PathBuf {
        self.dir.join(format!("{handle}.chunk"))
    }

    fn meta_path(&self, handle: ChunkHandle) -> PathBuf {
        self.dir.join(format!("{handle}.meta"))
    }
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

fn remove_if_there(path: &Path) -> io::Result<bool> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

impl ChunkFiles for DirChunkFiles {
    fn list(&self) -> io::Result<Vec<ChunkHandle>> {
        let mut handles = Vec::new();
        for entry in fs::read_dir(&self.dir)? {
            let name = entry?.file_name();
            let Some(name) = name.to_str() else { continue };
            let parsed = name
                .strip_suffix(".meta")
                .and_then(|n| n.strip_prefix('c'))
                .and_then(|n| n.parse::<u64>().ok());
            if let Some(n) = parsed {
                handles.push(ChunkHandle(n));
            }
        }
        handles.sort();
        Ok(handles)
    }

    fn read_meta(&self, handle: ChunkHandle) -> io::Result<Option<Vec<u8>>> {
        match fs::read(self.meta_path(handle)) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn write_meta(&mut self, handle: ChunkHandle, bytes: &[u8]) -> io::Result<()> {
        let path = self.meta_path(handle);
        let tmp = self.dir.join(format!("{handle}.meta.tmp"));
        let mut file = File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, &path)?;
        sync_dir(&self.dir)
    }

    fn read_data(&self, handle: ChunkHandle, offset: u64, len: u64) -> io::Result<Vec<u8>> {
        let mut file = match File::open(self.data_path(handle)) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        file.seek(SeekFrom::Start(offset))?;
        let mut out = Vec::new();
        file.take(len).read_to_end(&mut out)?;
        Ok(out)
    }

    fn write_data(&mut self, handle: ChunkHandle, offset: u64, data: &[u8]) -> io::Result<()> {
        let path = self.data_path(handle);
        let existed = path.exists();
        let mut file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(false)
            .open(&path)?;
        file.seek(SeekFrom::Start(offset))?;
        file.write_all(data)?;
        file.sync_data()?;
        if !existed {
            sync_dir(&self.dir)?;
        }
        Ok(())
    }

    fn remove(&mut self, handle: ChunkHandle) -> io::Result<()> {
        // The metadata first: a chunk without metadata is not listed, whatever data is left.
        let meta = remove_if_there(&self.meta_path(handle))?;
        let data = remove_if_there(&self.data_path(handle))?;
        if meta || data {
            sync_dir(&self.dir)?;
        }
        Ok(())
    }
}
