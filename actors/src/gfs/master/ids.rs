//! The chunk's names the master shares with the chunkservers, from the wire types: a handle (a
//! chunk's global, immutable id, §2.5) and a version (§4.5).

pub use troupe_messages::gfs::{ChunkHandle, ChunkVersion};
