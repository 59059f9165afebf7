//! The chunk table's volatile half and what the master does with it: replica locations learnt
//! from heartbeats (§2.6.2), stale replicas (§4.5), orphaned chunks (§4.4), re-replication
//! (§4.3) and the replicas a client may read from (§2.7).
//!
//! A replica counts only if its server is live and its version is the master's: a lower one is
//! stale — never given to a client, never a primary, and its server is told to delete it. A
//! higher one means the master failed after granting a lease (the bump was on the replicas but
//! not in its log): the master takes the higher version, logging it.

use super::{ChunkHandle, ChunkVersion, Effect, MasterCore, OpRecord, Refusal};
use std::collections::BTreeMap;
use troupe_messages::NodeId;

/// What the master knows of a chunk and never persists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Volatile {
    /// Servers holding a replica, with the version each reported.
    pub replicas: BTreeMap<NodeId, ChunkVersion>,
    /// The current lease's primary and expiry (ns), if one was granted.
    pub lease: Option<(NodeId, u64)>,
    /// The current lease's secondaries, as its primary was told (the replicas it forwards
    /// every mutation to).
    pub group: Vec<NodeId>,
    /// A lease the master revoked (its primary and the expiry it had): until then, only that
    /// primary may be named again (the lease histories chunkservers keep show no overlap),
    /// however many leases it is granted meanwhile.
    pub revoked: Option<(NodeId, u64)>,
    /// The current lease was named over a running one (only the planted bug
    /// `new-primary-before-lease-expiry` does that): it goes ahead below the target, neither
    /// revoked nor refused an extension for a clone.
    pub hasty: bool,
    /// A replication in flight: the target, the version copied, and when it was asked for.
    pub replicating: Option<(NodeId, ChunkVersion, u64)>,
    /// Servers the master told to hold the chunk at its current version (created, new
    /// version, cloned), and when: a heartbeat sent before the order arrived may still come.
    pub told: BTreeMap<NodeId, u64>,
}

impl MasterCore {
    /// A heartbeat from `server` at `now`, with every chunk it holds: records the server as
    /// live and its replicas' locations. The effects, in order: records to persist (a higher
    /// version than the master's), then deletions of stale and orphaned replicas.
    pub fn heartbeat(
        &mut self,
        server: NodeId,
        report: Vec<(ChunkHandle, ChunkVersion)>,
        now: u64,
    ) -> Vec<Effect> {
        self.servers.insert(server, now);
        // What the master told the server lately stands until a report could reflect it.
        let dead_after = self.config.dead_after;
        let recent = move |told: &BTreeMap<NodeId, u64>| {
            told.get(&server)
                .is_some_and(|&at| now.saturating_sub(at) < dead_after)
        };
        for chunk in self.chunks.values_mut() {
            if !recent(&chunk.told) {
                chunk.told.remove(&server);
                chunk.replicas.remove(&server);
            }
        }
        let mut effects = Vec::new();
        for (handle, reported) in report {
            let Some(known) = self.version(handle) else {
                tracing::debug!(%server, %handle, "orphaned replica: no file has it");
                effects.push(Effect::Delete { server, handle });
                continue;
            };
            if reported < known {
                // Sent before the server heard of the new version: not stale yet.
                let told = self.chunks.get(&handle).is_some_and(|c| recent(&c.told));
                if !told {
                    tracing::debug!(%server, %handle, %reported, %known, "stale replica");
                    effects.push(Effect::Delete { server, handle });
                }
                continue;
            }
            if reported > known {
                let record = OpRecord::SetVersion {
                    handle,
                    version: reported,
                };
                if self.apply(&record).is_ok() {
                    effects.insert(0, Effect::Persist(record));
                }
            }
            let chunk = self.chunks.entry(handle).or_default();
            chunk.replicas.insert(server, reported);
            if chunk.replicating.is_some_and(|(to, _, _)| to == server) {
                chunk.replicating = None;
            }
        }
        effects
    }

    /// The live servers holding the chunk at the master's version, in id order.
    pub fn up_to_date(&self, handle: ChunkHandle, now: u64) -> Vec<NodeId> {
        let (Some(version), Some(chunk)) = (self.version(handle), self.chunks.get(&handle)) else {
            return Vec::new();
        };
        chunk
            .replicas
            .iter()
            .filter(|&(&server, &v)| v == version && self.is_live(server, now))
            .map(|(&server, _)| server)
            .collect()
    }

    /// Up to `count` live servers not in `except`, fewest replicas (and replications in
    /// flight) first, ties by id.
    pub(super) fn emptiest_live(&self, now: u64, except: &[NodeId], count: usize) -> Vec<NodeId> {
        let mut load: BTreeMap<NodeId, usize> = self
            .servers
            .keys()
            .filter(|&&s| self.is_live(s, now) && !except.contains(&s))
            .map(|&s| (s, 0))
            .collect();
        for chunk in self.chunks.values() {
            let inflight = chunk.replicating.map(|(to, _, _)| to);
            for server in chunk.replicas.keys().chain(inflight.iter()) {
                if let Some(n) = load.get_mut(server) {
                    *n += 1;
                }
            }
        }
        let mut by_load: Vec<(usize, NodeId)> = load.into_iter().map(|(s, n)| (n, s)).collect();
        by_load.sort();
        by_load.into_iter().take(count).map(|(_, s)| s).collect()
    }

    /// Re-replication (§4.3): for each chunk with fewer live up-to-date replicas than the
    /// target, most urgent first, one copy from a live up-to-date replica to the emptiest live
    /// server without the chunk. At most one per chunk in flight, forgotten after
    /// `replication_timeout`; none for a chunk whose lease still runs, and none at all while a
    /// lease a predecessor granted may still run (a new leader knows no leases).
    pub fn tick(&mut self, now: u64) -> Vec<Effect> {
        let timeout = self.config.replication_timeout;
        let mut short: Vec<(usize, ChunkHandle)> = Vec::new();
        for chunk in self.chunks.values_mut() {
            if chunk
                .replicating
                .is_some_and(|(_, _, since)| now.saturating_sub(since) >= timeout)
            {
                chunk.replicating = None;
            }
        }
        for (&handle, chunk) in &self.chunks {
            // A clone copied while a primary appends would miss later appends yet carry the
            // current version: no clone while a lease runs (extensions are refused meanwhile,
            // see `extend_lease`, so it runs out).
            let leased =
                now < self.no_lease_before || chunk.lease.is_some_and(|(_, expiry)| now < expiry);
            let live = self.up_to_date(handle, now).len();
            if live > 0 && live < self.config.target && chunk.replicating.is_none() && !leased {
                short.push((live, handle));
            }
        }
        short.sort();
        let mut effects = self.recreate_empty(now);
        for (_, handle) in short {
            let Some(version) = self.version(handle) else {
                continue;
            };
            let sources = self.up_to_date(handle, now);
            let holders: Vec<NodeId> = self
                .chunks
                .get(&handle)
                .map(|c| c.replicas.keys().copied().collect())
                .unwrap_or_default();
            let (Some(&from), Some(&to)) = (
                sources.first(),
                self.emptiest_live(now, &holders, 1).first(),
            ) else {
                continue;
            };
            if let Some(chunk) = self.chunks.get_mut(&handle) {
                chunk.replicating = Some((to, version, now));
            }
            effects.push(Effect::Replicate {
                handle,
                version,
                from,
                to,
            });
        }
        effects
    }

    /// Chunks never written (still at their first version: no lease was ever granted on
    /// them) that no server holds, because none took the order to create them: created anew
    /// on the emptiest live servers. Without this, a file whose last chunk went so could
    /// never be appended to again.
    fn recreate_empty(&mut self, now: u64) -> Vec<Effect> {
        let first = ChunkVersion(1);
        let empty: Vec<ChunkHandle> = self
            .chunks
            .iter()
            .filter(|(_, c)| c.replicas.is_empty() && c.replicating.is_none())
            .map(|(&h, _)| h)
            .chain(
                self.state
                    .versions
                    .keys()
                    .copied()
                    .filter(|h| !self.chunks.contains_key(h)),
            )
            .filter(|&h| self.version(h) == Some(first))
            .collect();
        empty
            .into_iter()
            .flat_map(|handle| self.place_new(handle, first, now))
            .collect()
    }

    /// Places an empty chunk at `version` on the target count of emptiest live servers: they
    /// count as its replicas (told now), and the effects tell each to create it.
    pub(super) fn place_new(
        &mut self,
        handle: ChunkHandle,
        version: ChunkVersion,
        now: u64,
    ) -> Vec<Effect> {
        let mut effects = Vec::new();
        for server in self.emptiest_live(now, &[], self.config.target) {
            let chunk = self.chunks.entry(handle).or_default();
            chunk.replicas.insert(server, version);
            chunk.told.insert(server, now);
            effects.push(Effect::Create {
                server,
                handle,
                version,
            });
        }
        effects
    }

    /// Whether the chunk is below the target and a clone could start: a live server holds no
    /// replica of it.
    pub fn could_clone(&self, handle: ChunkHandle, now: u64) -> bool {
        if self.up_to_date(handle, now).len() >= self.config.target {
            return false;
        }
        let holders: Vec<NodeId> = self
            .chunks
            .get(&handle)
            .map(|c| c.replicas.keys().copied().collect())
            .unwrap_or_default();
        !self.emptiest_live(now, &holders, 1).is_empty()
    }

    /// `server` did not acknowledge the master's order on `handle` (create it, or take a new
    /// version): its replica no longer counts, and a report of a lower version from it is stale
    /// at once.
    pub fn not_told(&mut self, handle: ChunkHandle, server: NodeId) {
        if let Some(chunk) = self.chunks.get_mut(&handle) {
            chunk.told.remove(&server);
            chunk.replicas.remove(&server);
        }
    }

    /// The copy of `handle` to `to` is done: `to` holds it at the version copied (if the
    /// version moved on meanwhile, the copy is stale and not recorded).
    pub fn replicated(&mut self, handle: ChunkHandle, to: NodeId, now: u64) {
        let Some(version) = self.version(handle) else {
            return;
        };
        if let Some(chunk) = self.chunks.get_mut(&handle) {
            if let Some((target, copied, _)) = chunk.replicating {
                if target == to {
                    chunk.replicating = None;
                    if copied == version {
                        chunk.replicas.insert(to, version);
                        chunk.told.insert(to, now);
                    }
                }
            }
        }
    }

    /// Where a client reads chunk `chunk_index` of `path` (§2.7): its handle, version and the
    /// live servers holding it at that version.
    pub fn locations(
        &self,
        path: &str,
        chunk_index: usize,
        now: u64,
    ) -> Result<(ChunkHandle, ChunkVersion, Vec<NodeId>), Refusal> {
        let file = match self.state.files.get(path) {
            Some(file) if file.deleted_at.is_none() => file,
            _ => return Err(Refusal::NoSuchFile),
        };
        let handle = *file
            .chunks
            .get(chunk_index)
            .ok_or(Refusal::NoChunkAt { index: chunk_index })?;
        let version = self.version(handle).ok_or(Refusal::NoSuchChunk)?;
        let servers = self.up_to_date(handle, now);
        if servers.is_empty() {
            tracing::debug!(%handle, %version, replicas = ?self.chunks.get(&handle).map(|c| &c.replicas), "located no live up-to-date replica");
            return Err(Refusal::NoLiveReplica);
        }
        Ok((handle, version, servers))
    }
}
