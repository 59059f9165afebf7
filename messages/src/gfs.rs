//! GFS's wire types: the names a chunk goes by between master, chunkservers and clients
//! (Ghemawat, Gobioff and Leung, "The Google File System", 2003, §2.3 and §4.5). Data only.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A chunk's globally unique, immutable handle, assigned by the master when it creates the
/// chunk (§2.3). Shown as `c<n>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ChunkHandle(pub u64);

impl fmt::Display for ChunkHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "c{}", self.0)
    }
}

/// A chunk's version number: the master increases it each time it grants a new lease, so a
/// replica that missed mutations while down is recognised as stale (§4.5). Shown as `v<n>`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
pub struct ChunkVersion(pub u64);

impl fmt::Display for ChunkVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_and_versions_display_and_order() {
        assert_eq!(ChunkHandle(7).to_string(), "c7");
        assert_eq!(ChunkVersion(3).to_string(), "v3");
        assert!(ChunkHandle(2) < ChunkHandle(10));
        assert!(ChunkVersion(1) < ChunkVersion(2));
    }
}
