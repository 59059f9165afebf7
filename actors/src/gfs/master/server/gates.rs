//! Whether a new lease may be used yet. A new lease bumps the chunk's version; until every
//! replica has acknowledged the new version, a replica that missed it may still serve reads
//! of the old one (until its last heartbeat + `dead_after`), so the lease must neither start
//! (the primary's first `extend`) nor be handed to a client before then.

use crate::gfs::master::ChunkHandle;
use std::collections::BTreeMap;

/// Why a chunk's lease may not be used yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Gate {
    /// The new version is on its way to the replicas; the lease ends at `until` regardless.
    Starting { until: u64 },
    /// A replica did not acknowledge the new version and may serve the old one until `until`.
    Blocked { until: u64 },
}

/// The chunks whose new lease may not be used yet, times in ns.
#[derive(Debug, Clone, Default)]
pub struct LeaseGates {
    gates: BTreeMap<ChunkHandle, Gate>,
}

impl LeaseGates {
    /// A new lease on `handle` (ending at `expiry`) is being announced to its replicas.
    pub fn starting(&mut self, handle: ChunkHandle, expiry: u64) {
        self.gates.insert(handle, Gate::Starting { until: expiry });
    }

    /// Every replica acknowledged: the lease may be used.
    pub fn open(&mut self, handle: ChunkHandle) {
        self.gates.remove(&handle);
    }

    /// The lease on `handle` may not be used before `until`.
    pub fn block(&mut self, handle: ChunkHandle, until: u64) {
        self.gates.insert(handle, Gate::Blocked { until });
    }

    /// If the lease on `handle` may not be used at `now`: when to ask again (`retry` from now
    /// while the new version is still being announced).
    pub fn wait(&mut self, handle: ChunkHandle, now: u64, retry: u64) -> Option<u64> {
        let until = match self.gates.get(&handle)? {
            Gate::Starting { until } => {
                if now < *until {
                    return Some((now + retry).min(*until));
                }
                *until
            }
            Gate::Blocked { until } => *until,
        };
        if now < until {
            return Some(until);
        }
        self.gates.remove(&handle);
        None
    }

    /// Forgets every gate (the leader stepped down).
    pub fn clear(&mut self) {
        self.gates.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: ChunkHandle = ChunkHandle(1);

    #[test]
    fn a_lease_being_announced_waits_a_retry_at_most_until_it_ends() {
        let mut gates = LeaseGates::default();
        assert_eq!(gates.wait(H, 0, 10), None);
        gates.starting(H, 100);
        assert_eq!(gates.wait(H, 0, 10), Some(10));
        assert_eq!(gates.wait(H, 95, 10), Some(100));
        assert_eq!(gates.wait(H, 100, 10), None);
        gates.starting(H, 100);
        gates.open(H);
        assert_eq!(gates.wait(H, 0, 10), None);
    }

    #[test]
    fn a_blocked_lease_waits_until_the_missing_replica_stops_serving() {
        let mut gates = LeaseGates::default();
        gates.block(H, 50);
        assert_eq!(gates.wait(H, 10, 1), Some(50));
        assert_eq!(gates.wait(ChunkHandle(2), 10, 1), None);
        assert_eq!(gates.wait(H, 50, 1), None);
        assert_eq!(gates.wait(H, 0, 1), None, "forgotten once open");
        gates.block(H, 50);
        gates.clear();
        assert_eq!(gates.wait(H, 0, 1), None);
    }
}
