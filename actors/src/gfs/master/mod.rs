//! The GFS master's decisions as a plain struct, [`MasterCore`]: no actors, network or clock of
//! its own (time comes in as `now`, in nanoseconds). Calls go in; [`OpRecord`]s to make durable
//! and [`Effect`]s for the shell to carry out come out.
//!
//! What it keeps (§2.6 of the paper): the namespace (full path names to their chunks' handles,
//! §4.1), each chunk's version (§4.5) — both persisted through the operation log (§5.1.3,
//! [`oplog`]) — and, never persisted, where the replicas are (rebuilt from the chunkservers'
//! heartbeats, §2.6.2), which chunkservers are alive, and the leases (§3.1, [`lease`]).
//! Re-replication (§4.3) and garbage collection of deleted files and orphaned chunks (§4.4)
//! come out as effects of [`MasterCore::tick`], [`MasterCore::gc`] and
//! [`MasterCore::heartbeat`] ([`chunks`]).
//!
//! [`server`] is the actor: a `MasterCore` per replica of a Raft group, served by the leader.

pub mod chunks;
pub mod failover;
pub mod ids;
pub mod lease;
pub mod namespace;
pub mod oplog;
pub mod server;
#[cfg(test)]
mod tests;

pub use ids::{ChunkHandle, ChunkVersion};
pub use lease::Lease;
pub use oplog::{Checkpoint, OpRecord};

use chunks::Volatile;
use namespace::Persisted;
use std::collections::BTreeMap;
use troupe_messages::NodeId;

const SECOND: u64 = 1_000_000_000;

/// The master's settings; times in nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// How long a lease lasts once granted or extended (60 s in the paper, §3.1).
    pub lease_length: u64,
    /// A chunkserver silent this long is dead: its replicas no longer count.
    pub dead_after: u64,
    /// How many live, up-to-date replicas each chunk should have (3 by default, §4.2).
    pub target: usize,
    /// How long a replication in flight blocks another one for the same chunk.
    pub replication_timeout: u64,
    /// How long a deleted file keeps its hidden name before it is reclaimed (§4.4.1).
    pub grace: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            lease_length: 60 * SECOND,
            dead_after: 30 * SECOND,
            target: 3,
            replication_timeout: 60 * SECOND,
            grace: 3 * 24 * 3600 * SECOND,
        }
    }
}

/// What the shell must do for the master, in the order given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Make this record durable (operation log, §5.1.3) before carrying out the effects after
    /// it or answering the call that produced it.
    Persist(OpRecord),
    /// Tell `server` to create an empty chunk.
    Create {
        /// The server.
        server: NodeId,
        /// The new chunk.
        handle: ChunkHandle,
        /// Its first version.
        version: ChunkVersion,
    },
    /// Tell `server` its replica now has this version (a new lease was granted, §4.5).
    SetVersion {
        /// The server.
        server: NodeId,
        /// The chunk.
        handle: ChunkHandle,
        /// Its new version.
        version: ChunkVersion,
    },
    /// Tell `server` to delete its replica: stale (§4.5) or orphaned (§4.4).
    Delete {
        /// The server.
        server: NodeId,
        /// The chunk.
        handle: ChunkHandle,
    },
    /// Tell `to` to copy the chunk from `from` (re-replication, §4.3).
    Replicate {
        /// The chunk.
        handle: ChunkHandle,
        /// The version to copy.
        version: ChunkVersion,
        /// A live, up-to-date replica.
        from: NodeId,
        /// A live server without the chunk.
        to: NodeId,
    },
}

/// A refusal the caller acts on (wait, retry elsewhere, give up).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// No such file.
    #[error("no such file")]
    NoSuchFile,
    /// The file has no chunk at that index.
    #[error("the file has no chunk {index}")]
    NoChunkAt {
        /// The index asked for.
        index: usize,
    },
    /// The master knows no chunk by that handle.
    #[error("no such chunk")]
    NoSuchChunk,
    /// No live chunkserver holds an up-to-date replica.
    #[error("no live up-to-date replica")]
    NoLiveReplica,
    /// A lease granted earlier has not expired and its primary is not reachable: no other
    /// primary may be named before `until`.
    #[error("a lease runs until {until}")]
    WaitForLease {
        /// When the current lease expires.
        until: u64,
    },
    /// The chunk is below its replication target and a clone could start: re-replication
    /// goes first (the next scan starts it), then a lease may be granted.
    #[error("below the replication target, a clone goes first")]
    BelowTarget,
    /// The server asking to extend the lease does not hold a valid one.
    #[error("not the primary of a valid lease")]
    NotPrimary,
}

/// The master's failures on its namespace and log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MasterError {
    /// Paths are absolute: they start with `/`, have no empty component and no trailing `/`.
    #[error("`{0}` is not an absolute path")]
    NotAbsolute(String),
    /// The path is taken.
    #[error("`{0}` exists")]
    Exists(String),
    /// No file has this path.
    #[error("no file `{0}`")]
    NoSuchFile(String),
    /// A record being replayed does not fit the state (a corrupt or misordered log).
    #[error("the log does not replay: {0}")]
    BadRecord(String),
}

/// The master: persisted metadata plus what it learns from heartbeats.
#[derive(Debug, Clone)]
pub struct MasterCore {
    config: Config,
    state: Persisted,
    /// Per chunk: replicas, lease, replication in flight (never persisted).
    chunks: BTreeMap<ChunkHandle, Volatile>,
    /// Per chunkserver: when it was last heard from.
    servers: BTreeMap<NodeId, u64>,
    /// No lease is granted before this time (a recovered master's predecessor may have
    /// granted one).
    no_lease_before: u64,
    /// The least chunk handle and version this master hands out: its Raft term in the high
    /// 32 bits ([`MasterCore::in_term`]), so no number a predecessor sent to chunkservers in a
    /// record that never committed is handed out again for something else.
    fresh_from: u64,
    /// The highest version this master handed out (an undone one too, [`MasterCore::undo_version`]):
    /// every later one is above it.
    issued: u64,
}

impl MasterCore {
    /// A master with an empty namespace.
    pub fn new(config: Config) -> Self {
        MasterCore {
            config,
            state: Persisted::default(),
            chunks: BTreeMap::new(),
            servers: BTreeMap::new(),
            no_lease_before: 0,
            fresh_from: 0,
            issued: 0,
        }
    }

    /// The settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Whether `server` has been heard from within `dead_after` of `now`.
    pub fn is_live(&self, server: NodeId, now: u64) -> bool {
        self.servers
            .get(&server)
            .is_some_and(|&seen| now.saturating_sub(seen) < self.config.dead_after)
    }

    /// The chunk's version as the master knows it.
    pub fn version(&self, handle: ChunkHandle) -> Option<ChunkVersion> {
        self.state.versions.get(&handle).copied()
    }

    /// The persisted state, as a checkpoint would hold it (equal masters are equal here).
    pub fn persisted(&self) -> Checkpoint {
        self.checkpoint()
    }

    /// A master with this one's settings and persisted state and nothing else, as a replica
    /// that just became the leader at `now` serves from its committed state: no replica
    /// location, live server, lease or clone (heartbeats refill them), and no lease before
    /// `now + lease_length`.
    pub fn rebuilt(&self, now: u64) -> MasterCore {
        let mut master = MasterCore::new(self.config);
        master.state = self.state.clone();
        master.became_leader(now);
        master
    }

    /// This master leads in Raft term `term`: the chunk handles and versions it hands out are
    /// at least `term << 32`, above any a leader of an earlier term chose. A leader's version
    /// bump goes to the chunkservers before its record is known to commit (the replicas must
    /// not fall behind a record that does commit); if it never commits, the next leader must
    /// not reuse that number, or a replica that took the lost bump would pass for up to date.
    pub fn in_term(mut self, term: u64) -> Self {
        self.fresh_from = term << 32;
        self
    }

    /// A version for the chunk now at `version`: above it and every version handed out
    /// before, and fresh in this term.
    fn next_version(&mut self, version: ChunkVersion) -> ChunkVersion {
        let next = (version.0 + 1).max(self.fresh_from).max(self.issued + 1);
        self.issued = next;
        ChunkVersion(next)
    }

    /// When `server` was last heard from, if ever.
    pub fn last_heard(&self, server: NodeId) -> Option<u64> {
        self.servers.get(&server).copied()
    }

    /// The live chunkservers at `now`, in id order.
    pub fn live_servers(&self, now: u64) -> Vec<NodeId> {
        self.servers
            .keys()
            .copied()
            .filter(|&s| self.is_live(s, now))
            .collect()
    }

    /// How many files the namespace has, deleted (hidden) ones not counted.
    pub fn file_count(&self) -> usize {
        self.state
            .files
            .values()
            .filter(|f| f.deleted_at.is_none())
            .count()
    }

    /// How many chunks the master knows.
    pub fn chunk_count(&self) -> usize {
        self.state.versions.len()
    }

    /// How many chunks have fewer live up-to-date replicas than the target at `now`.
    pub fn under_replicated(&self, now: u64) -> usize {
        self.below_target(now).len()
    }
}
