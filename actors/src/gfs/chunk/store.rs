//! [`ChunkStore`]: a chunkserver's chunks, each with a version and a CRC32 per 64 KB block
//! (§5.2), its metadata persisted through [`ChunkFiles`] after every change, and record append
//! at the chunk level (§3.3).
//!
//! A write goes to the data first, then to the metadata (version, length, checksums), which
//! is replaced atomically. A crash between the two leaves blocks whose bytes do not match
//! their checksums: reads of them report [`ReadOutcome::Corrupt`] and the replica is repaired
//! like any corruption, never served.

use super::record::PAD_BYTE;
use super::{
    AppendOutcome, ChunkConfig, ChunkError, ChunkFiles, ChunkHandle, ChunkVersion, ReadOutcome,
    BLOCK_SIZE,
};
use std::collections::BTreeMap;

const META_MAGIC: &[u8; 4] = b"GFSM";

/// What the store keeps of a chunk besides its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Meta {
    version: ChunkVersion,
    len: u64,
    /// One CRC32 per block of `len` bytes (the last one over its partial content).
    crcs: Vec<u32>,
}

impl Meta {
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(24 + 4 * self.crcs.len());
        out.extend_from_slice(META_MAGIC);
        out.extend_from_slice(&self.version.0.to_le_bytes());
        out.extend_from_slice(&self.len.to_le_bytes());
        out.extend_from_slice(&(self.crcs.len() as u32).to_le_bytes());
        for crc in &self.crcs {
            out.extend_from_slice(&crc.to_le_bytes());
        }
        let sum = crc32fast::hash(&out);
        out.extend_from_slice(&sum.to_le_bytes());
        out
    }

    /// `None` for anything but a whole, consistent metadata file.
    fn decode(bytes: &[u8]) -> Option<Meta> {
        let (body, sum) = bytes.split_at_checked(bytes.len().checked_sub(4)?)?;
        if crc32fast::hash(body) != u32::from_le_bytes(sum.try_into().ok()?) {
            return None;
        }
        let rest = body.strip_prefix(META_MAGIC)?;
        let u64_at = |i: usize| -> Option<u64> {
            Some(u64::from_le_bytes(rest.get(i..i + 8)?.try_into().ok()?))
        };
        let version = ChunkVersion(u64_at(0)?);
        let len = u64_at(8)?;
        let n = u32::from_le_bytes(rest.get(16..20)?.try_into().ok()?) as usize;
        let crcs_bytes = rest.get(20..)?;
        if crcs_bytes.len() != 4 * n || n as u64 != len.div_ceil(BLOCK_SIZE) {
            return None;
        }
        let crcs = crcs_bytes
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        Some(Meta { version, len, crcs })
    }
}

/// A chunkserver's chunks over the files `F`.
#[derive(Debug)]
pub struct ChunkStore<F: ChunkFiles> {
    config: ChunkConfig,
    files: F,
    chunks: BTreeMap<ChunkHandle, Meta>,
    dropped: Vec<ChunkHandle>,
}

impl<F: ChunkFiles> ChunkStore<F> {
    /// Opens the store over `files`, recovering every chunk whose metadata is whole. A chunk
    /// whose metadata is unreadable is left out (see [`ChunkStore::dropped`]): the master,
    /// not hearing of it, re-replicates it from another replica.
    pub fn open(files: F, config: ChunkConfig) -> Result<Self, ChunkError> {
        let mut chunks = BTreeMap::new();
        let mut dropped = Vec::new();
        for handle in files.list()? {
            match files.read_meta(handle)?.as_deref().and_then(Meta::decode) {
                Some(meta) => {
                    chunks.insert(handle, meta);
                }
                None => dropped.push(handle),
            }
        }
        Ok(ChunkStore {
            config,
            files,
            chunks,
            dropped,
        })
    }

    /// The chunks whose metadata could not be read at [`ChunkStore::open`].
    pub fn dropped(&self) -> &[ChunkHandle] {
        &self.dropped
    }

    /// The configuration.
    pub fn config(&self) -> ChunkConfig {
        self.config
    }

    /// The files (to reopen a store over them, as after a restart).
    pub fn into_files(self) -> F {
        self.files
    }

    fn meta(&self, handle: ChunkHandle) -> Result<&Meta, ChunkError> {
        self.chunks
            .get(&handle)
            .ok_or(ChunkError::NoSuchChunk(handle))
    }

    fn save(&mut self, handle: ChunkHandle, meta: Meta) -> Result<(), ChunkError> {
        self.files.write_meta(handle, &meta.encode())?;
        self.chunks.insert(handle, meta);
        Ok(())
    }

    /// Creates the empty chunk `handle` at `version`.
    pub fn create(&mut self, handle: ChunkHandle, version: ChunkVersion) -> Result<(), ChunkError> {
        if self.chunks.contains_key(&handle) {
            return Err(ChunkError::AlreadyExists(handle));
        }
        self.files.write_data(handle, 0, &[])?;
        self.save(
            handle,
            Meta {
                version,
                len: 0,
                crcs: Vec::new(),
            },
        )
    }

    /// The chunk's version.
    pub fn version(&self, handle: ChunkHandle) -> Result<ChunkVersion, ChunkError> {
        Ok(self.meta(handle)?.version)
    }

    /// Sets the chunk's version, durably (when the master grants a new lease, §4.5).
    pub fn set_version(
        &mut self,
        handle: ChunkHandle,
        version: ChunkVersion,
    ) -> Result<(), ChunkError> {
        let meta = Meta {
            version,
            ..self.meta(handle)?.clone()
        };
        self.save(handle, meta)
    }

    /// The chunk's length in bytes.
    pub fn len(&self, handle: ChunkHandle) -> Result<u64, ChunkError> {
        Ok(self.meta(handle)?.len)
    }

    /// Whether the store holds no chunks.
    pub fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }

    /// Deletes the chunk (garbage collection, §4.4).
    pub fn delete(&mut self, handle: ChunkHandle) -> Result<(), ChunkError> {
        self.meta(handle)?;
        self.files.remove(handle)?;
        self.chunks.remove(&handle);
        Ok(())
    }

    /// Every chunk with its version and length: what a heartbeat tells the master (§4.5).
    pub fn report(&self) -> Vec<(ChunkHandle, ChunkVersion, u64)> {
        self.chunks
            .iter()
            .map(|(h, m)| (*h, m.version, m.len))
            .collect()
    }

    /// The block `block`'s bytes and whether they match its checksum.
    fn block(
        &self,
        handle: ChunkHandle,
        meta: &Meta,
        block: u64,
    ) -> Result<(Vec<u8>, bool), ChunkError> {
        let start = block * BLOCK_SIZE;
        let len = (meta.len - start).min(BLOCK_SIZE);
        let bytes = self.files.read_data(handle, start, len)?;
        let good = bytes.len() as u64 == len
            && meta.crcs.get(block as usize) == Some(&crc32fast::hash(&bytes));
        Ok((bytes, good))
    }

    /// Writes `data` at `offset` (a mutation applied by the primary or a secondary); the
    /// chunk grows to its end, zero-filled from its old end if `offset` is past it. Refused if
    /// it would cross the chunk size, or if a block it partly keeps is corrupt.
    pub fn write_at(
        &mut self,
        handle: ChunkHandle,
        offset: u64,
        data: &[u8],
    ) -> Result<(), ChunkError> {
        let chunk_size = self.config.chunk_size;
        let len = data.len() as u64;
        let end = offset.checked_add(len).filter(|e| *e <= chunk_size);
        let Some(end) = end else {
            return Err(ChunkError::OutOfChunk {
                offset,
                len,
                chunk_size,
            });
        };
        let mut meta = self.meta(handle)?.clone();
        if data.is_empty() {
            return Ok(());
        }
        let old_len = meta.len;
        let from_block = offset.min(old_len) / BLOCK_SIZE;
        let last_block = (end - 1) / BLOCK_SIZE;
        // A block that keeps some of its bytes gets a new checksum over them: check them first,
        // so that the new checksum does not hide a corruption (§5.2).
        for block in from_block..=last_block {
            let start = block * BLOCK_SIZE;
            let old_end = (start + BLOCK_SIZE).min(old_len);
            let kept = start < old_len && !(offset <= start && end >= old_end);
            if kept && !self.block(handle, &meta, block)?.1 {
                return Err(ChunkError::Corrupt { handle, block });
            }
        }
        if offset > old_len {
            let gap = vec![PAD_BYTE; (offset - old_len) as usize];
            self.files.write_data(handle, old_len, &gap)?;
        }
        self.files.write_data(handle, offset, data)?;
        meta.len = old_len.max(end);
        meta.crcs.resize(meta.len.div_ceil(BLOCK_SIZE) as usize, 0);
        for block in from_block..=last_block {
            let start = block * BLOCK_SIZE;
            let bytes = self
                .files
                .read_data(handle, start, (meta.len - start).min(BLOCK_SIZE))?;
            meta.crcs[block as usize] = crc32fast::hash(&bytes);
        }
        self.save(handle, meta)
    }

    /// Up to `len` bytes from `offset` (fewer at the chunk's end), every block they touch
    /// verified: a corrupt block gives [`ReadOutcome::Corrupt`] and none of the bytes.
    pub fn read(
        &self,
        handle: ChunkHandle,
        offset: u64,
        len: u64,
    ) -> Result<ReadOutcome, ChunkError> {
        let meta = self.meta(handle)?;
        let end = offset.saturating_add(len).min(meta.len);
        if offset >= end {
            return Ok(ReadOutcome::Data(Vec::new()));
        }
        let mut out = Vec::with_capacity((end - offset) as usize);
        for block in offset / BLOCK_SIZE..=(end - 1) / BLOCK_SIZE {
            let (bytes, good) = self.block(handle, meta, block)?;
            if !good {
                return Ok(ReadOutcome::Corrupt { block });
            }
            let start = block * BLOCK_SIZE;
            let from = (offset.max(start) - start) as usize;
            let to = (end.min(start + BLOCK_SIZE) - start) as usize;
            out.extend_from_slice(&bytes[from..to]);
        }
        Ok(ReadOutcome::Data(out))
    }

    /// The indices of the chunk's blocks that fail their checksums (the idle-time scan, §5.2).
    pub fn scan(&self, handle: ChunkHandle) -> Result<Vec<u64>, ChunkError> {
        let meta = self.meta(handle)?;
        let mut bad = Vec::new();
        for block in 0..meta.crcs.len() as u64 {
            if !self.block(handle, meta, block)?.1 {
                bad.push(block);
            }
        }
        Ok(bad)
    }

    /// Replaces block `block` with `data`, a good copy from another replica, and its checksum.
    /// `data` must be the block's whole length (64 KB, less for a last partial block).
    pub fn repair_block(
        &mut self,
        handle: ChunkHandle,
        block: u64,
        data: &[u8],
    ) -> Result<(), ChunkError> {
        let mut meta = self.meta(handle)?.clone();
        if block >= meta.crcs.len() as u64 {
            return Err(ChunkError::NoSuchBlock { handle, block });
        }
        let start = block * BLOCK_SIZE;
        let expected = (meta.len - start).min(BLOCK_SIZE);
        if data.len() as u64 != expected {
            return Err(ChunkError::BadRepair {
                expected,
                got: data.len() as u64,
            });
        }
        self.files.write_data(handle, start, data)?;
        meta.crcs[block as usize] = crc32fast::hash(data);
        self.save(handle, meta)
    }

    /// Fault injector: flips every bit of the byte at `offset` in the chunk's data, behind the
    /// checksums' back (a disk's silent corruption), for tests and the simulation's nemesis.
    pub fn corrupt_for_test(&mut self, handle: ChunkHandle, offset: u64) -> Result<(), ChunkError> {
        let len = self.meta(handle)?.len;
        if offset >= len {
            return Err(ChunkError::PastEnd {
                handle,
                offset,
                len,
            });
        }
        let byte = self.files.read_data(handle, offset, 1)?;
        let flipped = byte.first().map_or(0xFF, |b| !b);
        self.files.write_data(handle, offset, &[flipped])?;
        Ok(())
    }

    /// Record append at the primary (§3.3): `record` (an encoded record, see
    /// [`super::record::encode_record`]) goes at the chunk's end if it fits; otherwise the rest
    /// of the chunk is padded and the client must retry on the next chunk. A record longer than
    /// `max_record` is refused.
    pub fn append_record(
        &mut self,
        handle: ChunkHandle,
        record: &[u8],
        max_record: u64,
    ) -> Result<AppendOutcome, ChunkError> {
        let len = record.len() as u64;
        if len > max_record {
            return Err(ChunkError::RecordTooLarge {
                len,
                max: max_record,
            });
        }
        let offset = self.len(handle)?;
        if offset + len <= self.config.chunk_size {
            self.write_at(handle, offset, record)?;
            Ok(AppendOutcome::Appended { offset })
        } else {
            self.pad_from(handle, offset)?;
            Ok(AppendOutcome::Padded { from: offset })
        }
    }

    /// Pads the chunk from `from` to its end (a secondary doing what the primary's
    /// [`AppendOutcome::Padded`] did).
    pub fn pad_from(&mut self, handle: ChunkHandle, from: u64) -> Result<(), ChunkError> {
        let size = self.config.chunk_size;
        if from < size {
            self.write_at(handle, from, &vec![PAD_BYTE; (size - from) as usize])?;
        }
        Ok(())
    }

    /// A secondary applies a record at the primary's chosen `offset`: a chunk shorter than
    /// `offset` is padded up to it (an inconsistent region readers skip, §3.3).
    pub fn apply_append_at(
        &mut self,
        handle: ChunkHandle,
        offset: u64,
        record: &[u8],
    ) -> Result<(), ChunkError> {
        self.write_at(handle, offset, record)
    }
}
