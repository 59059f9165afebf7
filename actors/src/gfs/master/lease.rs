//! Leases (§3.1 of the paper): the master names one replica of a chunk the primary, which
//! orders the chunk's mutations, for `lease_length` (60 s). While a lease may still run no
//! other primary is named — not even when the primary is dead or unreachable, since it may be
//! alive and serving behind a partition: the master waits for the expiry (no split brain).
//! A new lease bumps the chunk's version (§4.5), logged before anyone hears of it, and every
//! up-to-date replica is told the new version, so replicas that miss it show up as stale.

use super::{ChunkHandle, ChunkVersion, Effect, MasterCore, OpRecord, Refusal};
use troupe_messages::NodeId;
use troupe_runtime::plant::{armed, Bug};

/// A chunk's lease, as the master tells clients and the primary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The replica that orders mutations.
    pub primary: NodeId,
    /// The other live up-to-date replicas, in id order.
    pub secondaries: Vec<NodeId>,
    /// The chunk's version under this lease.
    pub version: ChunkVersion,
    /// When the lease runs out (ns).
    pub expiry: u64,
}

impl MasterCore {
    /// The chunk's lease at `now`: the current one if it still runs (same primary), else,
    /// once it has expired, a new one on a live up-to-date replica with a bumped version. The
    /// effects of a new lease, in order: the record to persist, then the new version to every
    /// up-to-date replica; none for a lease that still runs. No new lease while a clone of the
    /// chunk is in flight, nor while one could start (re-replication goes first).
    pub fn lease(
        &mut self,
        handle: ChunkHandle,
        now: u64,
    ) -> Result<(Lease, Vec<Effect>), Refusal> {
        let version = self.version(handle).ok_or(Refusal::NoSuchChunk)?;
        let mut live = self.up_to_date(handle, now);
        let current = self.chunks.get(&handle).and_then(|c| c.lease);
        let mut named_over_a_lease = None;
        if let Some((primary, expiry)) = current {
            let gone = !live.contains(&primary);
            if now < expiry {
                if !gone {
                    let lease = Lease {
                        primary,
                        secondaries: live.into_iter().filter(|&s| s != primary).collect(),
                        version,
                        expiry,
                    };
                    return Ok((lease, Vec::new()));
                }
                // The primary may be alive behind a partition, still serving under its lease.
                if !armed(Bug::NewPrimaryBeforeLeaseExpiry) {
                    return Err(Refusal::WaitForLease { until: expiry });
                }
                // The planted bug takes a silent primary for gone: its lease is dropped, and a
                // new primary is named at once (below the target or not) while it still
                // serves.
                if let Some(chunk) = self.chunks.get_mut(&handle) {
                    chunk.lease = None;
                    chunk.group.clear();
                }
                named_over_a_lease = Some(primary);
                live.retain(|&s| s != primary);
                tracing::debug!(%handle, old = %primary, now_ms = now / 1_000_000, expiry_ms = expiry / 1_000_000, "planted bug: a new primary over a running lease");
            }
        }
        // A clone in flight copies the chunk as it is now: a primary's later appends would be
        // missing from it although it carries the current version. (The planted bug does not
        // wait for it either: it names the new primary at once.)
        let cloning = self.chunks.get(&handle).and_then(|c| c.replicating);
        if let Some((_, _, since)) = cloning
            .filter(|&(_, _, since)| now < since.saturating_add(self.config.replication_timeout))
            .filter(|_| named_over_a_lease.is_none())
        {
            return Err(Refusal::WaitForLease {
                until: since + self.config.replication_timeout,
            });
        }
        // A chunk still at its first version never had a lease (a lease starts only once its
        // version bump is committed), so no predecessor's lease can run on it. (The planted bug
        // forgets that a predecessor's lease may run.)
        if now < self.no_lease_before
            && version != ChunkVersion(1)
            && !armed(Bug::NewPrimaryBeforeLeaseExpiry)
        {
            return Err(Refusal::WaitForLease {
                until: self.no_lease_before,
            });
        }
        // Until a revoked lease would have run out, only its primary is named again.
        let revoked = self
            .chunks
            .get(&handle)
            .and_then(|c| c.revoked)
            .filter(|&(_, expiry)| now < expiry);
        let primary = match revoked {
            Some((holder, _)) if live.contains(&holder) => holder,
            Some((_, expiry)) if !armed(Bug::NewPrimaryBeforeLeaseExpiry) => {
                return Err(Refusal::WaitForLease { until: expiry });
            }
            _ => match live.iter().find(|&&s| Some(s) != named_over_a_lease) {
                Some(&first) => first,
                None => {
                    tracing::debug!(%handle, %version, replicas = ?self.chunks.get(&handle).map(|c| &c.replicas), "no live up-to-date replica");
                    return Err(Refusal::NoLiveReplica);
                }
            },
        };
        // Such a lease would never be extended, and would hold the clone back while it runs.
        if named_over_a_lease.is_none() && self.could_clone(handle, now) {
            return Err(Refusal::BelowTarget);
        }
        let new = self.next_version(version);
        let record = OpRecord::SetVersion {
            handle,
            version: new,
        };
        self.apply(&record).map_err(|_| Refusal::NoSuchChunk)?;
        let expiry = now + self.config.lease_length;
        let chunk = self.chunks.entry(handle).or_default();
        chunk.lease = Some((primary, expiry));
        chunk.hasty = named_over_a_lease.is_some();
        chunk.group = live.iter().copied().filter(|&s| s != primary).collect();
        // A revoked lease's end still stands: if this one never starts, only its primary (the
        // revoked one's) may be named again before then.
        let mut effects = vec![Effect::Persist(record)];
        for &server in &live {
            chunk.replicas.insert(server, new);
            chunk.told.insert(server, now);
            effects.push(Effect::SetVersion {
                server,
                handle,
                version: new,
            });
        }
        let lease = Lease {
            primary,
            secondaries: live.into_iter().filter(|&s| s != primary).collect(),
            version: new,
            expiry,
        };
        Ok((lease, effects))
    }

    /// This replica just became the master's leader at `now`: a lease its predecessor granted
    /// may still run, so it grants none before `now + lease_length`.
    pub fn became_leader(&mut self, now: u64) {
        self.no_lease_before = self.no_lease_before.max(now + self.config.lease_length);
    }

    /// `server` says it holds a running lease on `handle`. A new leader, which knows no lease
    /// and would otherwise grant none for a lease length (its predecessor's may run), takes
    /// its word: the lease is recorded as running for a lease length from `now` (no earlier
    /// than it can end), so no other primary is named meanwhile and the holder's extensions
    /// are granted. Only while that wait lasts, only for a chunk this leader has no lease
    /// for, and only from a live replica at the current version. Answers whether it adopted.
    /// Safe because leases never overlap: no other server can hold one on the chunk now.
    pub fn adopt_lease(&mut self, handle: ChunkHandle, server: NodeId, now: u64) -> bool {
        if now >= self.no_lease_before || !self.up_to_date(handle, now).contains(&server) {
            return false;
        }
        let expiry = now + self.config.lease_length;
        // The group as the primary was told is not known here: the other live up-to-date
        // replicas stand for it (a member gone since is caught when the primary's mutations
        // fail and the chunk falls below the target).
        let group: Vec<NodeId> = self
            .up_to_date(handle, now)
            .into_iter()
            .filter(|&s| s != server)
            .collect();
        match self.chunks.get_mut(&handle) {
            Some(chunk) if chunk.lease.is_none() => {
                chunk.lease = Some((server, expiry));
                chunk.group = group;
                true
            }
            _ => false,
        }
    }

    /// No replica acknowledged the version `bumped` that a new lease gave `handle`, and its
    /// record was never proposed: the serving core goes back to `before` and drops the lease,
    /// as if it had never been granted. Nothing was written under `bumped` (its primary did
    /// not acknowledge it, and the master holds such a lease back until it would have run
    /// out); a replica that took it without its acknowledgement arriving reports a higher
    /// version, which the master adopts. Answers whether it undid anything.
    pub fn undo_version(
        &mut self,
        handle: ChunkHandle,
        bumped: ChunkVersion,
        before: ChunkVersion,
    ) -> bool {
        if self.version(handle) != Some(bumped) {
            return false;
        }
        let record = OpRecord::SetVersion {
            handle,
            version: before,
        };
        if self.apply(&record).is_err() {
            return false;
        }
        if let Some(chunk) = self.chunks.get_mut(&handle) {
            chunk.lease = None;
            chunk.group.clear();
            chunk.told.clear();
            for version in chunk.replicas.values_mut() {
                if *version == bumped {
                    *version = before;
                }
            }
        }
        true
    }

    /// The leases to revoke at `now` (chunk, primary): each runs, with a live primary, and
    /// either a member of its group is no longer a live up-to-date replica (every mutation
    /// would fail forwarding to it) or the chunk is below the target and a clone could bring
    /// it back. Left to run, such a lease stalls the chunk's mutations, for good while its
    /// primary keeps extending it; revoked, the clone or a lease with the right group follows
    /// at once.
    pub fn to_revoke(&self, now: u64) -> Vec<(ChunkHandle, NodeId)> {
        self.chunks
            .iter()
            .filter_map(|(&handle, chunk)| match chunk.lease {
                Some((primary, expiry)) if now < expiry && self.is_live(primary, now) => {
                    let current = self.up_to_date(handle, now);
                    let lost = chunk.group.iter().any(|s| !current.contains(s));
                    let clone_first = !chunk.hasty && self.could_clone(handle, now);
                    (lost || clone_first).then_some((handle, primary))
                }
                _ => None,
            })
            .collect()
    }

    /// A new lease on `handle` will not start (a replica missed its version, so its primary
    /// was told a group with a member that no longer counts): it is dropped, and the next
    /// lease is granted afresh, with a group of the replicas that count.
    pub fn lease_not_started(&mut self, handle: ChunkHandle) {
        if let Some(chunk) = self.chunks.get_mut(&handle) {
            chunk.lease = None;
            chunk.group.clear();
        }
    }

    /// `primary` dropped its lease on `handle` at the master's word: it is over, and a clone
    /// or a new lease may follow at once.
    pub fn revoked(&mut self, handle: ChunkHandle, primary: NodeId) {
        if let Some(chunk) = self.chunks.get_mut(&handle) {
            if chunk.lease.is_some_and(|(holder, _)| holder == primary) {
                chunk.revoked = chunk.lease.take();
                chunk.group.clear();
            }
        }
    }

    /// Renews the lease of `primary` on `handle` for another `lease_length` from `now` (piggy-
    /// backed on its heartbeats, §3.1). Refused unless it holds a lease that still runs, and
    /// refused while the chunk is below the target and a clone could start (the lease then
    /// runs out, and re-replication copies a chunk nobody mutates).
    pub fn extend_lease(
        &mut self,
        handle: ChunkHandle,
        primary: NodeId,
        now: u64,
    ) -> Result<Lease, Refusal> {
        let version = self.version(handle).ok_or(Refusal::NoSuchChunk)?;
        let secondaries: Vec<NodeId> = self
            .up_to_date(handle, now)
            .into_iter()
            .filter(|&s| s != primary)
            .collect();
        let length = self.config.lease_length;
        // Below the target with a clone possible: let the lease run out so the clone goes ahead.
        let hasty = self.chunks.get(&handle).is_some_and(|c| c.hasty);
        if !hasty && self.could_clone(handle, now) {
            return Err(Refusal::NotPrimary);
        }
        let chunk = self.chunks.get_mut(&handle).ok_or(Refusal::NotPrimary)?;
        match chunk.lease {
            Some((holder, expiry)) if holder == primary && now < expiry => {
                let expiry = now + length;
                chunk.lease = Some((primary, expiry));
                Ok(Lease {
                    primary,
                    secondaries,
                    version,
                    expiry,
                })
            }
            _ => Err(Refusal::NotPrimary),
        }
    }
}
