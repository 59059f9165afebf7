//! The chunk's names the master shares with the chunkservers: a handle (a chunk's global,
//! immutable id, §2.5) and a version (§4.5). Stand-ins until `troupe_messages::gfs` holds them.

use serde::{Deserialize, Serialize};

/// A chunk's handle: its immutable, globally unique 64-bit id, assigned by the master (§2.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ChunkHandle(pub u64);

/// A chunk's version number, bumped by the master at each new lease, to tell stale replicas (§4.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ChunkVersion(pub u64);
