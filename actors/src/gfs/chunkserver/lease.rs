//! [`Leases`]: what a chunkserver knows of the leases it holds as primary (§3.1), and how long
//! its versions are confirmed by the master for reads. A plain struct: time comes in as `now`
//! (nanoseconds on the server's clock).
//!
//! A lease goes through three states. The master names the server primary with a new version
//! (`NewVersion { primary_of: Some(..) }`): the lease is *pending*, and the server does not act
//! on it yet. The next heartbeat asks to extend it, and the master's answer starts it: it then
//! runs until the heartbeat's send time plus the lease's length, so it ends no later than the
//! master believes. Later answers extend it the same way; without them it *expires*. A held
//! lease is put in a heartbeat's `extend` when it had a mutation since its last extension
//! (the paper's piggy-backed extension request) or when less than half of it remains.

use std::collections::BTreeMap;
use troupe_messages::gfs::{ChunkHandle, ChunkVersion, LeaseHeld};
use troupe_messages::NodeId;

/// One chunk's lease at this server.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Lease {
    version: ChunkVersion,
    secondaries: Vec<NodeId>,
    /// When the master named this server primary.
    named_at: u64,
    /// `Some(until)` once started, `None` while pending.
    until: Option<u64>,
    /// The send time of the heartbeat that last extended (or started) it.
    extended_from: u64,
    /// When the last mutation under it was applied.
    last_mutation: Option<u64>,
    /// Its entry in the history, once started.
    history: Option<usize>,
}

/// Whether this server may act as a chunk's primary now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrimaryState {
    /// It holds a running lease: order mutations at `version` and forward them to
    /// `secondaries`.
    Holds {
        /// The version under the lease.
        version: ChunkVersion,
        /// The secondaries the master named.
        secondaries: Vec<NodeId>,
    },
    /// It was named primary, and waits for the master to start the lease.
    Pending,
    /// It holds no lease on the chunk (never had one, or it ran out).
    No,
}

/// A chunkserver's leases and its read confirmation.
#[derive(Debug, Clone)]
pub struct Leases {
    leases: BTreeMap<ChunkHandle, Lease>,
    history: Vec<LeaseHeld>,
    /// A lease's length, as the master last said (ns).
    lease_ns: u64,
    /// Reads are served until then (ns).
    confirmed_until: u64,
}

impl Leases {
    /// No lease, nothing confirmed; leases last `lease_ns` until the master says otherwise.
    pub fn new(lease_ns: u64) -> Self {
        Leases {
            leases: BTreeMap::new(),
            history: Vec::new(),
            lease_ns,
            confirmed_until: 0,
        }
    }

    /// The master named this server the chunk's primary at `version`, with `secondaries`:
    /// the lease is pending until a heartbeat's answer starts it. Naming it again at the
    /// version of a lease that still runs (or is pending) changes only the secondaries.
    pub fn named_primary(
        &mut self,
        handle: ChunkHandle,
        version: ChunkVersion,
        secondaries: Vec<NodeId>,
        now: u64,
    ) {
        if let Some(lease) = self.leases.get_mut(&handle) {
            let running = lease.until.is_none_or(|until| now < until);
            if lease.version == version && running {
                lease.secondaries = secondaries;
                return;
            }
        }
        self.leases.insert(
            handle,
            Lease {
                version,
                secondaries,
                named_at: now,
                until: None,
                extended_from: 0,
                last_mutation: None,
                history: None,
            },
        );
    }

    /// The chunk's lease, if any, is over (a new version without this server as primary, or
    /// the chunk was deleted).
    pub fn forget(&mut self, handle: ChunkHandle) {
        self.leases.remove(&handle);
    }

    /// Whether this server may act as the chunk's primary at `now`.
    pub fn primary(&self, handle: ChunkHandle, now: u64) -> PrimaryState {
        match self.leases.get(&handle) {
            Some(lease) => match lease.until {
                None => PrimaryState::Pending,
                Some(until) if now < until => PrimaryState::Holds {
                    version: lease.version,
                    secondaries: lease.secondaries.clone(),
                },
                Some(_) => PrimaryState::No,
            },
            None => PrimaryState::No,
        }
    }

    /// Whether the chunk's lease is pending (named, not yet started).
    pub fn is_pending(&self, handle: ChunkHandle) -> bool {
        self.leases.get(&handle).is_some_and(|l| l.until.is_none())
    }

    /// A mutation was applied under the chunk's lease at `now`.
    pub fn mutated(&mut self, handle: ChunkHandle, now: u64) {
        if let Some(lease) = self.leases.get_mut(&handle) {
            lease.last_mutation = Some(now);
        }
    }

    /// The chunks whose lease the next heartbeat (sent at `now`) asks to extend: pending ones,
    /// and running ones that had a mutation since their last extension or have less than half
    /// a lease left. Forgets pending leases that the master did not start within a lease's
    /// length, and leases that ran out.
    pub fn to_extend(&mut self, now: u64) -> Vec<ChunkHandle> {
        let lease_ns = self.lease_ns;
        self.leases.retain(|_, l| match l.until {
            None => now < l.named_at.saturating_add(lease_ns),
            Some(until) => now < until,
        });
        self.leases
            .iter()
            .filter(|(_, l)| match l.until {
                None => true,
                Some(until) => {
                    l.last_mutation.is_some_and(|m| m >= l.extended_from)
                        || until.saturating_sub(now) < lease_ns / 2
                }
            })
            .map(|(h, _)| *h)
            .collect()
    }

    /// The chunks whose lease runs at `now`.
    pub fn running(&self, now: u64) -> Vec<ChunkHandle> {
        self.leases
            .iter()
            .filter(|(_, l)| l.until.is_some_and(|until| now < until))
            .map(|(h, _)| *h)
            .collect()
    }

    /// The master answered a heartbeat sent at `sent_at`, at `now`: the leases it `extended`
    /// start or run until `sent_at + lease_ns`, and reads are confirmed until
    /// `sent_at + serve_ns`.
    pub fn answered(
        &mut self,
        sent_at: u64,
        extended: &[ChunkHandle],
        lease_ns: u64,
        serve_ns: u64,
        now: u64,
    ) {
        self.lease_ns = lease_ns;
        self.confirmed_until = self.confirmed_until.max(sent_at.saturating_add(serve_ns));
        let until = sent_at.saturating_add(lease_ns);
        for handle in extended {
            let Some(lease) = self.leases.get_mut(handle) else {
                continue;
            };
            // A heartbeat sent before the server was named primary does not start the lease.
            if sent_at < lease.named_at || until <= now {
                continue;
            }
            match (lease.until, lease.history) {
                (Some(old), Some(i)) => {
                    let new = old.max(until);
                    lease.until = Some(new);
                    lease.extended_from = lease.extended_from.max(sent_at);
                    if let Some(held) = self.history.get_mut(i) {
                        held.until_ns = new;
                    }
                }
                _ => {
                    lease.until = Some(until);
                    lease.extended_from = sent_at;
                    lease.history = Some(self.history.len());
                    self.history.push(LeaseHeld {
                        handle: *handle,
                        version: lease.version,
                        from_ns: now,
                        until_ns: until,
                    });
                }
            }
        }
    }

    /// Whether the master confirmed this server's versions recently enough to serve reads.
    pub fn confirmed(&self, now: u64) -> bool {
        now < self.confirmed_until
    }

    /// Until when reads are served (ns).
    pub fn confirmed_until(&self) -> u64 {
        self.confirmed_until
    }

    /// Every lease held, in the order started.
    pub fn history(&self) -> &[LeaseHeld] {
        &self.history
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;
    const H: ChunkHandle = ChunkHandle(1);

    fn leases() -> Leases {
        Leases::new(2_000 * MS)
    }

    #[test]
    fn a_lease_starts_with_the_answer_and_runs_from_the_send_time() {
        let mut l = leases();
        assert_eq!(l.primary(H, 0), PrimaryState::No);
        l.named_primary(H, ChunkVersion(2), vec![NodeId(3)], 10 * MS);
        assert_eq!(l.primary(H, 10 * MS), PrimaryState::Pending);
        assert_eq!(l.to_extend(11 * MS), vec![H]);
        l.answered(11 * MS, &[H], 2_000 * MS, 600 * MS, 15 * MS);
        assert_eq!(
            l.primary(H, 15 * MS),
            PrimaryState::Holds {
                version: ChunkVersion(2),
                secondaries: vec![NodeId(3)]
            }
        );
        assert_eq!(l.primary(H, 2_011 * MS), PrimaryState::No);
        assert_eq!(
            l.history(),
            &[LeaseHeld {
                handle: H,
                version: ChunkVersion(2),
                from_ns: 15 * MS,
                until_ns: 2_011 * MS
            }]
        );
    }

    #[test]
    fn an_answer_to_an_older_heartbeat_does_not_start_a_lease() {
        let mut l = leases();
        l.named_primary(H, ChunkVersion(2), vec![], 10 * MS);
        l.answered(5 * MS, &[H], 2_000 * MS, 600 * MS, 12 * MS);
        assert_eq!(l.primary(H, 12 * MS), PrimaryState::Pending);
        assert!(l.history().is_empty());
    }

    #[test]
    fn extension_is_asked_after_a_mutation_or_near_the_end() {
        let mut l = leases();
        l.named_primary(H, ChunkVersion(1), vec![], 0);
        l.answered(0, &[H], 2_000 * MS, 600 * MS, MS);
        assert!(l.to_extend(100 * MS).is_empty());
        l.mutated(H, 150 * MS);
        assert_eq!(l.to_extend(200 * MS), vec![H]);
        l.answered(200 * MS, &[H], 2_000 * MS, 600 * MS, 201 * MS);
        assert!(l.to_extend(300 * MS).is_empty());
        // Less than half a lease left.
        assert_eq!(l.to_extend(1_300 * MS), vec![H]);
        assert_eq!(l.history().len(), 1);
        assert_eq!(l.history()[0].until_ns, 2_200 * MS);
        assert_eq!(l.history()[0].from_ns, MS);
    }

    #[test]
    fn a_lease_not_extended_expires_and_is_forgotten() {
        let mut l = leases();
        l.named_primary(H, ChunkVersion(1), vec![], 0);
        l.answered(0, &[H], 2_000 * MS, 600 * MS, MS);
        l.answered(1_500 * MS, &[], 2_000 * MS, 600 * MS, 1_501 * MS);
        assert_eq!(l.primary(H, 2_000 * MS), PrimaryState::No);
        assert!(l.to_extend(2_001 * MS).is_empty());
        assert_eq!(l.primary(H, 2_001 * MS), PrimaryState::No);
        // A pending lease the master never starts is dropped after a lease's length.
        l.named_primary(H, ChunkVersion(2), vec![], 3_000 * MS);
        assert_eq!(l.to_extend(3_001 * MS), vec![H]);
        assert!(l.to_extend(5_001 * MS).is_empty());
        assert_eq!(l.primary(H, 5_001 * MS), PrimaryState::No);
    }

    #[test]
    fn a_new_version_replaces_the_lease_and_forgetting_ends_it() {
        let mut l = leases();
        l.named_primary(H, ChunkVersion(1), vec![NodeId(2)], 0);
        l.answered(0, &[H], 2_000 * MS, 600 * MS, MS);
        l.named_primary(H, ChunkVersion(1), vec![NodeId(4)], 2 * MS);
        assert!(
            matches!(l.primary(H, 3 * MS), PrimaryState::Holds { secondaries, .. } if secondaries == vec![NodeId(4)])
        );
        l.named_primary(H, ChunkVersion(2), vec![], 4 * MS);
        assert!(l.is_pending(H));
        l.answered(4 * MS, &[H], 2_000 * MS, 600 * MS, 5 * MS);
        // Named again at the same version once that lease ran out: pending again.
        l.named_primary(H, ChunkVersion(2), vec![], 2_100 * MS);
        assert_eq!(l.primary(H, 2_100 * MS), PrimaryState::Pending);
        l.forget(H);
        assert_eq!(l.primary(H, 5 * MS), PrimaryState::No);
    }

    #[test]
    fn reads_are_confirmed_for_serve_time_after_the_send() {
        let mut l = leases();
        assert!(!l.confirmed(0));
        l.answered(100 * MS, &[], 2_000 * MS, 600 * MS, 105 * MS);
        assert!(l.confirmed(699 * MS));
        assert!(!l.confirmed(700 * MS));
        // An older answer arriving late does not move it back.
        l.answered(50 * MS, &[], 2_000 * MS, 600 * MS, 710 * MS);
        assert_eq!(l.confirmed_until(), 700 * MS);
    }
}
