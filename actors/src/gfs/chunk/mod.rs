//! The chunkserver's storage core: a chunkserver's chunks, their versions and their block
//! checksums, as a plain struct over a small trait of where the bytes live.
//!
//! GFS (Ghemawat, Gobioff and Leung, 2003) stores each chunk as a plain file on a chunkserver
//! (§2.5) with a version number the master uses to detect stale replicas (§4.5). Each 64 KB
//! block carries a 32-bit checksum, updated on every write and verified on every read, so a
//! chunkserver never returns corrupt bytes: it reports the block, and the master has the
//! replica repaired from a good copy (§5.2). Record append (§3.3) appends at an offset the
//! primary chooses, and pads the rest of the chunk when a record does not fit; [`record`]
//! is the self-describing record format that lets readers skip padding, torn regions and
//! duplicates.
//!
//! [`ChunkStore`] decides; [`ChunkFiles`] holds bytes: [`MemChunkFiles`] for the simulation
//! and the tests, [`DirChunkFiles`] for a real chunkserver's directory. No clock, no network.

mod files;
pub mod record;
mod store;
#[cfg(test)]
mod tests;

pub use files::{ChunkFiles, DirChunkFiles, MemChunkFiles};
pub use store::ChunkStore;
pub use troupe_messages::gfs::{ChunkHandle, ChunkVersion};

/// The size of a checksummed block: 64 KB (§5.2).
pub const BLOCK_SIZE: u64 = 64 * 1024;

/// The nominal chunk size: 64 MB (§2.5).
pub const NOMINAL_CHUNK_SIZE: u64 = 64 * 1024 * 1024;

/// How a [`ChunkStore`] is sized.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkConfig {
    /// The most bytes a chunk may hold.
    pub chunk_size: u64,
}

impl ChunkConfig {
    /// A configuration with chunks of `chunk_size` bytes.
    pub fn new(chunk_size: u64) -> Self {
        ChunkConfig { chunk_size }
    }

    /// The largest record append accepts: a quarter of the chunk size (§3.3), so that padding
    /// wastes at most that much of a chunk.
    pub fn max_record(&self) -> u64 {
        self.chunk_size / 4
    }
}

impl Default for ChunkConfig {
    fn default() -> Self {
        ChunkConfig::new(NOMINAL_CHUNK_SIZE)
    }
}

/// What a read found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadOutcome {
    /// The bytes asked for, every block of them verified (shorter than asked at the chunk's end).
    Data(Vec<u8>),
    /// The block `block` (its index in the chunk) failed its checksum: nothing is returned. The
    /// chunkserver tells the master, which has the replica repaired (§5.2).
    Corrupt {
        /// The index of the first corrupt block the read touched.
        block: u64,
    },
}

/// What a record append did at the primary (§3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppendOutcome {
    /// The record was written at `offset`; the secondaries apply it there too.
    Appended {
        /// Where the record starts in the chunk.
        offset: u64,
    },
    /// The record did not fit: the chunk was padded from `from` to its end (the secondaries
    /// pad too) and the client must retry on the next chunk.
    Padded {
        /// Where the padding starts.
        from: u64,
    },
}

/// A chunk store's failures and refusals.
#[derive(Debug, thiserror::Error)]
pub enum ChunkError {
    /// No chunk with this handle is stored here.
    #[error("no chunk {0}")]
    NoSuchChunk(ChunkHandle),
    /// A chunk with this handle is already stored here.
    #[error("chunk {0} already exists")]
    AlreadyExists(ChunkHandle),
    /// A write would reach past the chunk size.
    #[error("write of {len} bytes at {offset} crosses the chunk size {chunk_size}")]
    OutOfChunk {
        /// Where the write starts.
        offset: u64,
        /// How long it is.
        len: u64,
        /// The chunk size.
        chunk_size: u64,
    },
    /// A record append larger than the largest record allowed.
    #[error("record of {len} bytes is larger than the maximum {max}")]
    RecordTooLarge {
        /// The record's length.
        len: u64,
        /// The maximum.
        max: u64,
    },
    /// A block that a partial write must keep failed its checksum: the write was refused so
    /// that a new checksum does not hide the corruption (§5.2).
    #[error("chunk {handle} block {block} is corrupt")]
    Corrupt {
        /// The chunk.
        handle: ChunkHandle,
        /// The corrupt block.
        block: u64,
    },
    /// A repair named a block past the chunk's end.
    #[error("chunk {handle} has no block {block}")]
    NoSuchBlock {
        /// The chunk.
        handle: ChunkHandle,
        /// The block asked for.
        block: u64,
    },
    /// A repair's bytes are not the block's length.
    #[error("repair of a {expected}-byte block with {got} bytes")]
    BadRepair {
        /// The block's length.
        expected: u64,
        /// The bytes given.
        got: u64,
    },
    /// A byte offset past the chunk's end (fault injection).
    #[error("offset {offset} is past the end {len} of chunk {handle}")]
    PastEnd {
        /// The chunk.
        handle: ChunkHandle,
        /// The offset asked for.
        offset: u64,
        /// The chunk's length.
        len: u64,
    },
    /// The files failed.
    #[error("chunk files: {0}")]
    Io(#[from] std::io::Error),
}
