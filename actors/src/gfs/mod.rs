//! GFS: the Google File System of Ghemawat, Gobioff and Leung (2003), on troupe's actors.
//!
//! The plain cores come first, each deciding without actors, network or clock of its own:
//! the chunkserver's storage (chunks with a checksum per 64 KB block, versions, record append
//! with padding) and the master's state (namespace, chunk versions, leases, re-replication and
//! garbage collection, an operation log to recover from). The actors, the client library,
//! `troupe sim gfs` and real processes build on them.
//!
//! - [`chunk`]: the chunkserver's storage core (chunks, versions, block checksums, record
//!   append and the record format).
//! - [`chunkserver`]: the chunkserver actor: heartbeats and leases, data pushed along a chain,
//!   mutations ordered at the primary, verified reads, repair and clones.
//! - [`client`]: the client library: reads, writes and record append.
//! - [`gateway`]: a real node's client port, which runs each remote file operation with a
//!   client of its own.
//! - [`master`]: the master's core (namespace, chunk table, leases, re-replication, garbage
//!   collection, operation log and checkpoints).
//!
//! [`GfsPlan`] says where every role runs and how fast it moves; every actor of the system
//! is started from one.

pub mod chunk;
pub mod chunkserver;
pub mod client;
pub mod gateway;
pub mod master;

use chunk::ChunkConfig;
use std::time::Duration;
use troupe_messages::NodeId;

/// The actor name of a master replica (on each node of the master's Raft group).
pub const MASTER: &str = "gfs-master";

/// The actor name of a chunkserver.
pub const CHUNKSERVER: &str = "gfs-chunkserver";

/// How fast a GFS deployment moves. The paper's values are [`GfsTiming::paper`]; the
/// simulation and the tests use [`GfsTiming::fast`], scaled down so that a lease expires and
/// a dead chunkserver is noticed within a minute-long run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GfsTiming {
    /// How often a chunkserver sends its heartbeat to every master replica.
    pub heartbeat: Duration,
    /// How long a lease lasts from its grant or extension (60 s in the paper, §3.1).
    pub lease: Duration,
    /// A chunkserver not heard from for this long is dead to the master, and a chunkserver
    /// whose last heartbeat the master answered was sent this long ago serves no read.
    pub dead_after: Duration,
    /// How long the master waits for a clone before it may try another (§4.3).
    pub replication_timeout: Duration,
    /// How long a deleted file keeps its hidden name (3 days in the paper, §4.4.1).
    pub grace: Duration,
    /// How often the master looks for under-replicated chunks and garbage.
    pub scan: Duration,
}

impl GfsTiming {
    /// The paper's timing: 60 s leases, 3 days of grace; heartbeats every second.
    pub fn paper() -> Self {
        GfsTiming {
            heartbeat: Duration::from_secs(1),
            lease: Duration::from_secs(60),
            dead_after: Duration::from_secs(10),
            replication_timeout: Duration::from_secs(60),
            grace: Duration::from_secs(3 * 24 * 3600),
            scan: Duration::from_secs(1),
        }
    }

    /// Scaled for simulation and tests: heartbeats every 100 ms, 2 s leases, a chunkserver
    /// dead after 600 ms of silence, 10 s of grace.
    pub fn fast() -> Self {
        GfsTiming {
            heartbeat: Duration::from_millis(100),
            lease: Duration::from_secs(2),
            dead_after: Duration::from_millis(600),
            replication_timeout: Duration::from_secs(2),
            grace: Duration::from_secs(10),
            scan: Duration::from_millis(200),
        }
    }
}

/// One GFS deployment: where its master replicas and chunkservers run, its timing, its chunk
/// size and how many replicas each chunk gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GfsPlan {
    /// The master's Raft group.
    pub masters: Vec<NodeId>,
    /// The chunkservers.
    pub chunkservers: Vec<NodeId>,
    /// How fast it moves.
    pub timing: GfsTiming,
    /// The chunk size.
    pub chunk: ChunkConfig,
    /// How many replicas each chunk should have (3 in the paper, §4.2).
    pub replicas: usize,
}

impl GfsPlan {
    /// `masters` and `chunkservers` with the fast timing, 1 MB chunks and 3 replicas.
    pub fn new(masters: Vec<NodeId>, chunkservers: Vec<NodeId>) -> Self {
        GfsPlan {
            masters,
            chunkservers,
            timing: GfsTiming::fast(),
            chunk: ChunkConfig::new(1 << 20),
            replicas: 3,
        }
    }

    /// The master core's settings under this plan.
    pub fn master_config(&self) -> master::Config {
        let ns = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        master::Config {
            lease_length: ns(self.timing.lease),
            dead_after: ns(self.timing.dead_after),
            target: self.replicas,
            replication_timeout: ns(self.timing.replication_timeout),
            grace: ns(self.timing.grace),
        }
    }
}
