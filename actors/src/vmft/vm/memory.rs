//! The VM's memory: bytes, every access bounds-checked (a bad address is a [`VmError`], never a
//! panic), with per-page dirty tracking so that the state hash only rehashes the 4 KiB pages
//! written since it was last taken.

use super::{VmError, PAGE_SIZE};

/// Byte-addressed memory with a crc32 per page, kept fresh lazily.
#[derive(Clone)]
pub struct Memory {
    bytes: Vec<u8>,
    /// Per page: written since its hash was last computed.
    dirty: Vec<bool>,
    /// Per page: its crc32, valid where `dirty` is false.
    hashes: Vec<u32>,
}

impl std::fmt::Debug for Memory {
    /// The size and the pages to rehash, not the bytes.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Memory")
            .field("bytes", &self.bytes.len())
            .field("dirty_pages", &self.dirty_pages())
            .finish()
    }
}

impl Memory {
    /// `bytes` as memory (its length a multiple of PAGE_SIZE), every page to hash.
    pub fn from_bytes(bytes: Vec<u8>) -> Memory {
        let pages = bytes.len() / PAGE_SIZE;
        Memory {
            bytes,
            dirty: vec![true; pages],
            hashes: vec![0; pages],
        }
    }

    /// Zeroed memory of `len` bytes (a multiple of PAGE_SIZE).
    pub fn zeroed(len: usize) -> Memory {
        Memory::from_bytes(vec![0; len])
    }

    /// The size in bytes.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether the memory has no bytes.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// All the bytes (for snapshots).
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The range `addr..addr + len` as indices, if it lies inside memory.
    #[inline]
    fn range(&self, addr: u64, len: u64) -> Result<std::ops::Range<usize>, VmError> {
        let end = addr.checked_add(len);
        match end {
            Some(end) if end <= self.bytes.len() as u64 => Ok(addr as usize..end as usize),
            _ => Err(VmError::BadAddress { addr, len }),
        }
    }

    #[inline]
    fn mark(&mut self, range: &std::ops::Range<usize>) {
        if range.is_empty() {
            return;
        }
        let (first, last) = (range.start / PAGE_SIZE, (range.end - 1) / PAGE_SIZE);
        for page in &mut self.dirty[first..=last] {
            *page = true;
        }
    }

    /// The byte at `addr`.
    #[inline]
    pub fn read_u8(&self, addr: u64) -> Result<u8, VmError> {
        match self.bytes.get(addr as usize) {
            Some(&b) if addr <= usize::MAX as u64 => Ok(b),
            _ => Err(VmError::BadAddress { addr, len: 1 }),
        }
    }

    /// The u64 (little endian) at `addr`.
    #[inline]
    pub fn read_u64(&self, addr: u64) -> Result<u64, VmError> {
        let range = self.range(addr, 8)?;
        let mut word = [0u8; 8];
        word.copy_from_slice(&self.bytes[range]);
        Ok(u64::from_le_bytes(word))
    }

    /// Writes the byte `value` at `addr`.
    #[inline]
    pub fn write_u8(&mut self, addr: u64, value: u8) -> Result<(), VmError> {
        let range = self.range(addr, 1)?;
        self.dirty[range.start / PAGE_SIZE] = true;
        self.bytes[range.start] = value;
        Ok(())
    }

    /// Writes `value` (little endian) at `addr`.
    #[inline]
    pub fn write_u64(&mut self, addr: u64, value: u64) -> Result<(), VmError> {
        let range = self.range(addr, 8)?;
        self.mark(&range);
        self.bytes[range].copy_from_slice(&value.to_le_bytes());
        Ok(())
    }

    /// The `len` bytes at `addr`.
    pub fn slice(&self, addr: u64, len: u64) -> Result<&[u8], VmError> {
        let range = self.range(addr, len)?;
        Ok(&self.bytes[range])
    }

    /// Writes `data` at `addr`.
    pub fn write(&mut self, addr: u64, data: &[u8]) -> Result<(), VmError> {
        let range = self.range(addr, data.len() as u64)?;
        self.mark(&range);
        self.bytes[range].copy_from_slice(data);
        Ok(())
    }

    /// Copies `len` bytes from `src` to `dst` (the ranges may overlap).
    pub fn copy(&mut self, dst: u64, src: u64, len: u64) -> Result<(), VmError> {
        let from = self.range(src, len)?;
        let to = self.range(dst, len)?;
        self.mark(&to);
        self.bytes.copy_within(from, to.start);
        Ok(())
    }

    /// Whether the `len` bytes at `a` and at `b` are equal.
    pub fn equal(&self, a: u64, b: u64, len: u64) -> Result<bool, VmError> {
        let a = self.range(a, len)?;
        let b = self.range(b, len)?;
        Ok(self.bytes[a] == self.bytes[b])
    }

    /// Every page's crc32, rehashing only the pages written since the last call.
    pub fn page_hashes(&mut self) -> &[u32] {
        for (page, dirty) in self.dirty.iter_mut().enumerate() {
            if *dirty {
                let start = page * PAGE_SIZE;
                self.hashes[page] = crc32fast::hash(&self.bytes[start..start + PAGE_SIZE]);
                *dirty = false;
            }
        }
        &self.hashes
    }

    /// How many pages are waiting to be rehashed.
    pub fn dirty_pages(&self) -> usize {
        self.dirty.iter().filter(|&&d| d).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accesses_outside_memory_are_errors_not_panics() {
        let mut m = Memory::zeroed(PAGE_SIZE);
        let end = PAGE_SIZE as u64;
        assert!(m.read_u8(end).is_err());
        assert!(m.read_u64(end - 7).is_err());
        assert!(m.read_u64(u64::MAX).is_err());
        assert!(m.write_u64(u64::MAX - 3, 1).is_err());
        assert!(m.copy(0, end - 4, 8).is_err());
        assert!(m.slice(u64::MAX, 2).is_err());
        m.write_u64(end - 8, 0x0102).expect("in range");
        assert_eq!(m.read_u64(end - 8), Ok(0x0102));
        assert_eq!(m.read_u8(end - 7), Ok(1));
    }

    #[test]
    fn only_written_pages_are_rehashed_and_the_hashes_match_fresh_ones() {
        let mut m = Memory::zeroed(4 * PAGE_SIZE);
        m.page_hashes();
        assert_eq!(m.dirty_pages(), 0);
        // A u64 across the boundary of pages 1 and 2 dirties both.
        m.write_u64(2 * PAGE_SIZE as u64 - 4, u64::MAX)
            .expect("in range");
        assert_eq!(m.dirty_pages(), 2);
        let incremental = m.page_hashes().to_vec();
        let mut fresh = Memory::from_bytes(m.bytes().to_vec());
        assert_eq!(incremental, fresh.page_hashes());
        m.copy(0, 2 * PAGE_SIZE as u64 - 4, 8).expect("in range");
        assert_eq!(m.dirty_pages(), 1);
        assert!(m.equal(0, 2 * PAGE_SIZE as u64 - 4, 8).expect("in range"));
    }
}
