//! The GFS client library (§2.4, §2.7, §3 of the paper): what an application links to read,
//! write and record-append files. It asks the master only for metadata (where a chunk is,
//! who holds its lease) and caches the answers; data flows between the client and the
//! chunkservers alone.
//!
//! - [`GfsClient`]: namespace calls to the master (following its leader), with retries.
//! - [`read`]: reads from one replica at the version the master named, falling back to the
//!   next replica, and record reading that skips padding and duplicates.
//! - [`write`]: data pushed along a chain of the chunk's replicas (§3.2), then the mutation
//!   sent to the primary (§3.1); record append retried until it succeeds (§3.3: at least once,
//!   so the record may appear more than once, and readers drop duplicates by record id).
//! - [`lease`]: who holds the lease of a file's last chunk (for inspection and tests).

pub mod lease;
pub mod read;
pub mod write;

use std::collections::BTreeMap;
use std::time::Duration;
use tokio::time::Instant;
use troupe_messages::gfs::{
    ChunkHandle, ChunkLocation, LeaseInfo, MasterOp, MasterRefusal, MasterReply, MasterRequest,
};
use troupe_messages::{ActorPath, ClientId, NodeId};
use troupe_runtime::Node;

use super::{GfsPlan, MASTER};

/// How a client paces itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientTiming {
    /// How long one call to a chunkserver may take.
    pub call: Duration,
    /// How long one call to a master replica may take: its answer waits for a Raft commit
    /// and, for a new chunk or lease, for the chunkservers' acknowledgements.
    pub master_call: Duration,
    /// How long to pause after every server failed once (an election, a lease to wait for).
    pub pause: Duration,
    /// How long a cached chunk location is trusted before the master is asked again.
    pub cache_ttl: Duration,
}

impl ClientTiming {
    /// Chunkserver calls of half a second, master calls of 1 s, 50 ms pauses, locations
    /// cached for 1 s.
    pub fn fast() -> Self {
        ClientTiming {
            call: Duration::from_millis(300),
            master_call: Duration::from_millis(400),
            pause: Duration::from_millis(50),
            cache_ttl: Duration::from_secs(1),
        }
    }

    /// Scaled to a plan's timing: a cached location lives at most a heartbeat-silence long.
    pub fn for_plan(plan: &GfsPlan) -> Self {
        ClientTiming {
            cache_ttl: plan.timing.dead_after,
            ..Self::fast()
        }
    }
}

/// Why a client call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GfsError {
    /// The master refused, and retrying would not help (no such file, the path is taken, a
    /// bad path).
    #[error("{0}")]
    Refused(MasterRefusal),
    /// The deadline passed. `maybe_applied`: a mutation may have taken effect (a record
    /// append may then be found, once or more).
    #[error("deadline passed (the operation {})", if *maybe_applied { "may have taken effect" } else { "did not take effect" })]
    Timeout {
        /// Whether it may have taken effect.
        maybe_applied: bool,
    },
    /// A record larger than a quarter of a chunk (§3.3).
    #[error("record of {len} bytes over the maximum {max}")]
    TooLarge {
        /// Its length.
        len: u64,
        /// The maximum.
        max: u64,
    },
    /// The call failed after an earlier attempt of it may have taken effect: a record append
    /// that ends so may be in the file (once or more) or not.
    #[error("{0}, after an earlier attempt that may have taken effect")]
    InDoubt(Box<GfsError>),
    /// A chunk of the file has no readable replica: every replica refused or failed.
    #[error("chunk {index} of the file has no readable replica")]
    Unreadable {
        /// The chunk's index.
        index: u64,
    },
}

/// What asking every master replica found.
enum Asked {
    /// The first answer other than `NotLeader` (from the leader, or one about to lead).
    Answer(MasterReply),
    /// Every replica said `NotLeader`, or did not answer (`silent`) in time.
    NoLeader { silent: bool },
}

/// A cached answer and when it stops being trusted.
#[derive(Debug, Clone)]
struct Cached<T> {
    value: T,
    until: Instant,
}

/// A GFS client on `node`.
pub struct GfsClient {
    node: Node,
    masters: Vec<NodeId>,
    /// The master replica that answered last (tried first).
    leader: usize,
    id: ClientId,
    /// The number of the next data push.
    push_seq: u64,
    /// The number of the next record.
    record_seq: u64,
    /// The largest record and the chunk size.
    chunk_size: u64,
    timing: ClientTiming,
    /// (path, chunk index) → location.
    locations: BTreeMap<(String, u64), Cached<ChunkLocation>>,
    /// Chunk → its lease's primary and secondaries (dropped at the first refusal).
    leases: BTreeMap<ChunkHandle, LeaseInfo>,
    /// Each file's last chunk index, as this client last appended to it.
    last_chunk: BTreeMap<String, u64>,
    /// Which replica to read first: rotated so that readers spread over replicas.
    read_turn: usize,
}

impl GfsClient {
    /// A client of the deployment `plan` on `node`, with the id `id` (its record ids and data
    /// names are made from it, so two clients must not share one).
    pub fn new(node: Node, plan: &GfsPlan, id: impl Into<ClientId>) -> Self {
        let id = id.into();
        GfsClient {
            node,
            masters: plan.masters.clone(),
            leader: 0,
            read_turn: (id.seed_bits() % 3) as usize,
            id,
            push_seq: 0,
            record_seq: 0,
            chunk_size: plan.chunk.chunk_size,
            timing: ClientTiming::for_plan(plan),
            locations: BTreeMap::new(),
            leases: BTreeMap::new(),
            last_chunk: BTreeMap::new(),
        }
    }

    /// The same client with other timing.
    pub fn with_timing(mut self, timing: ClientTiming) -> Self {
        self.timing = timing;
        self
    }

    /// The node the client runs on.
    pub fn node(&self) -> &Node {
        &self.node
    }

    /// The client's id.
    pub fn id(&self) -> ClientId {
        self.id
    }

    /// Creates an empty file. A retry that finds the file made by an earlier try of this call
    /// succeeds.
    pub async fn create(&mut self, path: &str, deadline: Duration) -> Result<(), GfsError> {
        let op = MasterOp::Create {
            path: path.to_string(),
        };
        match self.master(op, deadline).await {
            Ok((MasterReply::Done, _)) => Ok(()),
            Err((MasterRefusal::Exists(_), true)) => Ok(()),
            Err((refusal, _)) => Err(GfsError::Refused(refusal)),
            Ok(_) => Err(GfsError::Timeout {
                maybe_applied: true,
            }),
        }
    }

    /// Deletes a file (it is reclaimed after the grace period, §4.4). A retry that finds it
    /// gone after an earlier try of this call succeeds.
    pub async fn delete(&mut self, path: &str, deadline: Duration) -> Result<(), GfsError> {
        let op = MasterOp::Delete {
            path: path.to_string(),
        };
        self.locations.retain(|(p, _), _| p != path);
        self.last_chunk.remove(path);
        match self.master(op, deadline).await {
            Ok((MasterReply::Done, _)) => Ok(()),
            Err((MasterRefusal::NoSuchFile(_), true)) => Ok(()),
            Err((refusal, _)) => Err(GfsError::Refused(refusal)),
            Ok(_) => Err(GfsError::Timeout {
                maybe_applied: true,
            }),
        }
    }

    /// The files under `dir`, sorted.
    pub async fn list(&mut self, dir: &str, deadline: Duration) -> Result<Vec<String>, GfsError> {
        let op = MasterOp::List {
            dir: dir.to_string(),
        };
        match self.master(op, deadline).await {
            Ok((MasterReply::Listed(files), _)) => Ok(files),
            Err((refusal, _)) => Err(GfsError::Refused(refusal)),
            Ok(_) => Err(GfsError::Timeout {
                maybe_applied: false,
            }),
        }
    }

    /// How many chunks the file has.
    pub async fn chunks(&mut self, path: &str, deadline: Duration) -> Result<u64, GfsError> {
        let op = MasterOp::Stat {
            path: path.to_string(),
        };
        match self.master(op, deadline).await {
            Ok((MasterReply::Stat { chunks }, _)) => Ok(chunks),
            Err((refusal, _)) => Err(GfsError::Refused(refusal)),
            Ok(_) => Err(GfsError::Timeout {
                maybe_applied: false,
            }),
        }
    }

    /// Where chunk `index` of `path` is: from the cache while it is fresh, else from the
    /// master. With `add`, a chunk missing at the file's end is created (§3.3: a record append
    /// that filled the last chunk goes on in a new one).
    async fn locate(
        &mut self,
        path: &str,
        index: u64,
        add: bool,
        deadline: Duration,
    ) -> Result<ChunkLocation, GfsError> {
        let key = (path.to_string(), index);
        if let Some(cached) = self.locations.get(&key) {
            if Instant::now() < cached.until {
                return Ok(cached.value.clone());
            }
        }
        let path = path.to_string();
        let op = if add {
            MasterOp::AddChunk { path, index }
        } else {
            MasterOp::Locate { path, index }
        };
        match self.master(op, deadline).await {
            Ok((MasterReply::Located(location), _)) => {
                let until = Instant::now() + self.timing.cache_ttl;
                self.locations.insert(
                    key,
                    Cached {
                        value: location.clone(),
                        until,
                    },
                );
                Ok(location)
            }
            Err((refusal, _)) => Err(GfsError::Refused(refusal)),
            Ok(_) => Err(GfsError::Timeout { maybe_applied: add }),
        }
    }

    /// Forgets a cached location (a replica refused it).
    fn forget(&mut self, path: &str, index: u64) {
        self.locations.remove(&(path.to_string(), index));
    }

    /// Calls the master with `op` until it answers something other than a refusal a retry
    /// could change, or `deadline` passes. Answers the reply or the final refusal, with
    /// whether an earlier try may have taken effect (it timed out, or its log entry did not
    /// commit in time).
    ///
    /// Each try goes to every master replica at once: only the serving leader acts on it, the
    /// others answer `NotLeader` at once, so no time is spent finding the leader after a
    /// failover (one try costs a message per replica, and master calls are metadata only).
    async fn master(
        &mut self,
        op: MasterOp,
        deadline: Duration,
    ) -> Result<(MasterReply, bool), (MasterRefusal, bool)> {
        let end = Instant::now() + deadline;
        let mut maybe = false;
        loop {
            let now = Instant::now();
            if now >= end {
                return Err((MasterRefusal::Unavailable, maybe));
            }
            let timeout = self.timing.master_call.min(end - now);
            let mut wait = None;
            let asked = self.ask_every_master(&op, timeout).await;
            if let Asked::Answer(MasterReply::Refused(refusal)) = &asked {
                tracing::trace!(client = %self.id, "master refused: {refusal}");
            }
            match asked {
                Asked::Answer(MasterReply::Refused(refusal)) => match refusal {
                    MasterRefusal::Unavailable => maybe = true,
                    MasterRefusal::NotReady | MasterRefusal::NoLiveReplica => {}
                    MasterRefusal::WaitForLease { ms } => {
                        wait = Some(Duration::from_millis(ms.clamp(1, 1_000)));
                    }
                    MasterRefusal::NotLeader { .. } => {}
                    other => return Err((other, maybe)),
                },
                Asked::Answer(reply) => return Ok((reply, maybe)),
                // Some replica did not answer: it may be the leader, and may have acted.
                Asked::NoLeader { silent: true } => maybe = true,
                Asked::NoLeader { silent: false } => {}
            }
            let left = end.saturating_duration_since(Instant::now());
            tokio::time::sleep(wait.unwrap_or(self.timing.pause).min(left)).await;
        }
    }

    /// Sends `op` to every master replica and waits (up to `timeout`) for the first answer
    /// other than `NotLeader`, or for every replica to answer or time out.
    async fn ask_every_master(&mut self, op: &MasterOp, timeout: Duration) -> Asked {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        for (i, &master) in self.masters.iter().enumerate() {
            let node = self.node.clone();
            let request = MasterRequest { op: op.clone() };
            let tx = tx.clone();
            self.node.spawn_task(async move {
                let path = ActorPath::new(master, MASTER);
                let answer = node.call(&path, request, timeout).await;
                // The caller may have stopped listening.
                let _ = tx.send((i, answer));
            });
        }
        drop(tx);
        let mut silent = false;
        while let Some((i, answer)) = rx.recv().await {
            match answer {
                Ok(MasterReply::Refused(MasterRefusal::NotLeader { .. })) => {}
                Ok(reply) => {
                    self.leader = i;
                    return Asked::Answer(reply);
                }
                Err(e) => {
                    tracing::debug!(client = %self.id, "master call failed: {e}");
                    silent = true;
                }
            }
        }
        Asked::NoLeader { silent }
    }
}
