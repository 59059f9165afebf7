//! [`PersistedChunkFiles`]: a simulated chunkserver's disk, kept in its node's persister so
//! that its chunks survive a crash and a restart of the node.
//!
//! Every chunk's data is cut into fixed-size pages, each under its own key
//! (`gfs/chunk/<n>/p<i>`), beside its data length (`gfs/chunk/<n>/len`) and the store's
//! metadata (`gfs/chunk/<n>/meta`). A write rewrites only the pages it touches, and the length
//! with them in one atomic batch: a small record append costs one page, not the whole chunk.

use crate::gfs::chunk::{ChunkFiles, ChunkHandle};
use std::io;
use std::sync::Arc;
use troupe_runtime::Persister;

/// The page size of [`PersistedChunkFiles`]: 16 KB.
pub const PAGE_SIZE: u64 = 16 * 1024;

const PREFIX: &str = "gfs/chunk/";

/// Chunk files over a node's persister, in pages of a fixed size.
#[derive(Clone)]
pub struct PersistedChunkFiles {
    persister: Arc<dyn Persister>,
    page: u64,
}

impl std::fmt::Debug for PersistedChunkFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PersistedChunkFiles")
            .field("page", &self.page)
            .finish_non_exhaustive()
    }
}

fn io_error(e: troupe_runtime::Error) -> io::Error {
    io::Error::other(e.to_string())
}

fn to_usize(n: u64) -> io::Result<usize> {
    usize::try_from(n).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "offset too large"))
}

fn chunk_dir(handle: ChunkHandle) -> String {
    format!("{PREFIX}{}/", handle.0)
}

fn meta_key(handle: ChunkHandle) -> String {
    format!("{}meta", chunk_dir(handle))
}

fn len_key(handle: ChunkHandle) -> String {
    format!("{}len", chunk_dir(handle))
}

/// The persister key of page `page` of the chunk's data (what a disk fault would damage).
pub fn page_key(handle: ChunkHandle, page: u64) -> String {
    format!("{}p{page}", chunk_dir(handle))
}

impl PersistedChunkFiles {
    /// Chunk files in `persister`, in pages of [`PAGE_SIZE`].
    pub fn new(persister: Arc<dyn Persister>) -> Self {
        Self::with_page_size(persister, PAGE_SIZE)
    }

    /// Chunk files in `persister`, in pages of `page` bytes (at least 1).
    pub fn with_page_size(persister: Arc<dyn Persister>, page: u64) -> Self {
        PersistedChunkFiles {
            persister,
            page: page.max(1),
        }
    }

    fn data_len(&self, handle: ChunkHandle) -> io::Result<u64> {
        match self.persister.load(&len_key(handle)).map_err(io_error)? {
            None => Ok(0),
            Some(bytes) => {
                let bytes: [u8; 8] = bytes.as_slice().try_into().map_err(|_| {
                    io::Error::new(io::ErrorKind::InvalidData, "chunk length is not 8 bytes")
                })?;
                Ok(u64::from_le_bytes(bytes))
            }
        }
    }

    /// The page's bytes: as long as the data reaches into it (zeros where a page is missing).
    fn load_page(&self, handle: ChunkHandle, page: u64, data_len: u64) -> io::Result<Vec<u8>> {
        let start = page * self.page;
        let want = to_usize(data_len.saturating_sub(start).min(self.page))?;
        let mut bytes = self
            .persister
            .load(&page_key(handle, page))
            .map_err(io_error)?
            .unwrap_or_default();
        bytes.resize(want, 0);
        Ok(bytes)
    }
}

impl ChunkFiles for PersistedChunkFiles {
    fn list(&self) -> io::Result<Vec<ChunkHandle>> {
        let keys = self.persister.keys(PREFIX).map_err(io_error)?;
        let mut handles: Vec<ChunkHandle> = keys
            .iter()
            .filter_map(|k| k.strip_prefix(PREFIX)?.strip_suffix("/meta")?.parse().ok())
            .map(ChunkHandle)
            .collect();
        handles.sort();
        handles.dedup();
        Ok(handles)
    }

    fn read_meta(&self, handle: ChunkHandle) -> io::Result<Option<Vec<u8>>> {
        self.persister.load(&meta_key(handle)).map_err(io_error)
    }

    fn write_meta(&mut self, handle: ChunkHandle, bytes: &[u8]) -> io::Result<()> {
        self.persister
            .save(&meta_key(handle), bytes)
            .map_err(io_error)
    }

    fn read_data(&self, handle: ChunkHandle, offset: u64, len: u64) -> io::Result<Vec<u8>> {
        let data_len = self.data_len(handle)?;
        let end = offset.saturating_add(len).min(data_len);
        if offset >= end {
            return Ok(Vec::new());
        }
        let mut out = Vec::with_capacity(to_usize(end - offset)?);
        for page in offset / self.page..=(end - 1) / self.page {
            let start = page * self.page;
            let bytes = self.load_page(handle, page, data_len)?;
            let from = to_usize(offset.max(start) - start)?;
            let to = to_usize(end.min(start + self.page) - start)?.min(bytes.len());
            out.extend_from_slice(bytes.get(from..to).unwrap_or_default());
        }
        Ok(out)
    }

    fn write_data(&mut self, handle: ChunkHandle, offset: u64, data: &[u8]) -> io::Result<()> {
        let old_len = self.data_len(handle)?;
        let end = offset
            .checked_add(data.len() as u64)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "write past u64"))?;
        let new_len = old_len.max(end);
        let mut pages: Vec<(String, Vec<u8>)> = Vec::new();
        if end > offset {
            for page in offset / self.page..=(end - 1) / self.page {
                let start = page * self.page;
                let mut bytes = self.load_page(handle, page, old_len)?;
                let page_end = to_usize(end.min(start + self.page) - start)?;
                if bytes.len() < page_end {
                    bytes.resize(page_end, 0);
                }
                let from = to_usize(offset.max(start) - start)?;
                let src_from = to_usize(start.max(offset) - offset)?;
                let src_to = src_from + (page_end - from);
                bytes[from..page_end].copy_from_slice(&data[src_from..src_to]);
                pages.push((page_key(handle, page), bytes));
            }
        }
        let len = new_len.to_le_bytes();
        let len_key = len_key(handle);
        let mut puts: Vec<(&str, &[u8])> = pages
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_slice()))
            .collect();
        puts.push((len_key.as_str(), &len));
        self.persister.write_batch(&puts, &[]).map_err(io_error)
    }

    fn remove(&mut self, handle: ChunkHandle) -> io::Result<()> {
        let keys = self.persister.keys(&chunk_dir(handle)).map_err(io_error)?;
        let removes: Vec<&str> = keys.iter().map(String::as_str).collect();
        if removes.is_empty() {
            return Ok(());
        }
        self.persister.write_batch(&[], &removes).map_err(io_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gfs::chunk::{ChunkConfig, ChunkStore, ChunkVersion, ReadOutcome};
    use troupe_runtime::MemPersister;

    fn files(page: u64) -> (Arc<MemPersister>, PersistedChunkFiles) {
        let mem = Arc::new(MemPersister::new());
        let files = PersistedChunkFiles::with_page_size(mem.clone(), page);
        (mem, files)
    }

    #[test]
    fn bytes_read_back_across_pages_and_short_at_the_end() {
        let (_, mut f) = files(4);
        let h = ChunkHandle(1);
        f.write_data(h, 0, b"hello world").unwrap();
        assert_eq!(f.read_data(h, 0, 100).unwrap(), b"hello world");
        assert_eq!(f.read_data(h, 3, 5).unwrap(), b"lo wo");
        assert_eq!(f.read_data(h, 11, 5).unwrap(), b"");
        f.write_data(h, 9, b"LD!!").unwrap();
        assert_eq!(f.read_data(h, 0, 100).unwrap(), b"hello worLD!!");
        // A write past the end leaves zeros between.
        f.write_data(h, 15, b"x").unwrap();
        assert_eq!(f.read_data(h, 12, 10).unwrap(), b"!\0\0x");
        assert_eq!(f.read_data(ChunkHandle(2), 0, 10).unwrap(), b"");
    }

    #[test]
    fn a_small_append_rewrites_one_page() {
        let (mem, mut f) = files(1024);
        let h = ChunkHandle(3);
        f.write_data(h, 0, &vec![1; 8 * 1024]).unwrap();
        let before = mem.bytes_written();
        f.write_data(h, 8 * 1024, &[2; 10]).unwrap();
        let written = mem.bytes_written() - before;
        assert!(
            written < 1100,
            "{written} bytes written for a 10-byte append"
        );
    }

    #[test]
    fn chunks_are_listed_by_their_metadata_and_removed_whole() {
        let (mem, mut f) = files(8);
        f.write_meta(ChunkHandle(7), b"m7").unwrap();
        f.write_data(ChunkHandle(7), 0, b"0123456789").unwrap();
        f.write_meta(ChunkHandle(12), b"m12").unwrap();
        f.write_data(ChunkHandle(70), 0, b"no meta").unwrap();
        assert_eq!(f.list().unwrap(), vec![ChunkHandle(7), ChunkHandle(12)]);
        assert_eq!(
            f.read_meta(ChunkHandle(7)).unwrap().as_deref(),
            Some(&b"m7"[..])
        );
        f.remove(ChunkHandle(7)).unwrap();
        f.remove(ChunkHandle(99)).unwrap();
        assert_eq!(f.list().unwrap(), vec![ChunkHandle(12)]);
        assert!(mem.keys("gfs/chunk/7/").unwrap().is_empty());
        assert_eq!(mem.keys("gfs/chunk/70/").unwrap().len(), 2);
    }

    #[test]
    fn a_store_over_them_survives_reopening() {
        let (mem, files) = files(PAGE_SIZE);
        let config = ChunkConfig::new(1 << 20);
        let mut store = ChunkStore::open(files, config).unwrap();
        let h = ChunkHandle(5);
        store.create(h, ChunkVersion(2)).unwrap();
        store.write_at(h, 0, &vec![9; 100_000]).unwrap();
        drop(store);
        let again = PersistedChunkFiles::new(mem);
        let store = ChunkStore::open(again, config).unwrap();
        assert!(store.dropped().is_empty());
        assert_eq!(store.version(h).unwrap(), ChunkVersion(2));
        assert_eq!(
            store.read(h, 99_990, 100).unwrap(),
            ReadOutcome::Data(vec![9; 10])
        );
    }
}
