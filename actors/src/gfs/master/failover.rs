//! What failover the master sees due, for GFS's failover supervisor (supervisors/), which
//! decides when to act on it: chunkservers that stopped answering, chunks below their replica
//! target, and leases whose primary is gone and whose lease has run out. The master's own
//! rules still hold whoever asks: a lease moves only once it has expired, a clone only while
//! no lease runs.

use super::{ChunkHandle, MasterCore};
use troupe_messages::NodeId;

impl MasterCore {
    /// Known chunkservers silent for longer than `dead_after` at `now`.
    pub fn down_servers(&self, now: u64) -> Vec<NodeId> {
        self.servers
            .keys()
            .copied()
            .filter(|&s| !self.is_live(s, now))
            .collect()
    }

    /// Chunks with fewer live up-to-date replicas than the target at `now`.
    pub fn below_target(&self, now: u64) -> Vec<ChunkHandle> {
        self.state
            .versions
            .keys()
            .copied()
            .filter(|&h| self.up_to_date(h, now).len() < self.config.target)
            .collect()
    }

    /// Chunks in use whose primary is gone: the last lease ran out within the last lease
    /// length, its primary is not live, and a live up-to-date replica could take over. With
    /// that primary.
    pub fn leases_to_move(&self, now: u64) -> Vec<(ChunkHandle, NodeId)> {
        self.chunks
            .iter()
            .filter_map(|(&handle, chunk)| {
                let (primary, expiry) = chunk.lease?;
                let expired =
                    expiry <= now && now < expiry.saturating_add(self.config.lease_length);
                let orphaned = expired
                    && !self.is_live(primary, now)
                    && !self.up_to_date(handle, now).is_empty();
                orphaned.then_some((handle, primary))
            })
            .collect()
    }
}
