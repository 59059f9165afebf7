//! What `troupe sim gfs` watches as the run goes, from a node of its own: every chunkserver's
//! lease history and counters (each incarnation's kept, since a crash forgets them), and which
//! master replica serves. At the end it finds lease overlaps in the histories and asks the
//! serving master how many chunks are below their target replica count.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;
use troupe::systems::gfs::{Gfs, CHUNKSERVER, MASTER};
use troupe_messages::gfs::{
    ChunkHandle, ChunkVersion, ChunkserverStatus, InspectChunkserver, InspectMaster,
};
use troupe_runtime::{ActorPath, Node, NodeId};

/// How often the watcher looks.
const EVERY: Duration = Duration::from_millis(200);

/// How long one inspection may take.
const INSPECT: Duration = Duration::from_millis(100);

/// A lease as one incarnation of a chunkserver held it: (server, incarnation, chunk, version,
/// from) → until (the latest extension seen).
type LeaseKey = (NodeId, u64, ChunkHandle, ChunkVersion, u64);

/// The watcher's findings, shared with the run.
#[derive(Clone)]
pub struct Watch {
    system: Gfs,
    node: Node,
    watching: Rc<Cell<bool>>,
    leases: Rc<RefCell<BTreeMap<LeaseKey, u64>>>,
    /// Each chunkserver incarnation's last status.
    stats: Rc<RefCell<BTreeMap<(NodeId, u64), ChunkserverStatus>>>,
    /// The serving master last seen, and how many times it changed.
    serving: Rc<Cell<(Option<NodeId>, u64)>>,
    /// The chunkservers that held a running lease at the last look.
    primaries: Rc<RefCell<Vec<NodeId>>>,
}

/// Lease overlaps found in the histories.
pub struct Overlaps {
    /// Pairs of leases of one chunk, held by two servers at one instant.
    pub overlaps: u64,
    /// Leases seen in all.
    pub leases: u64,
    /// The first overlap, described.
    pub example: String,
}

/// Counters summed over every chunkserver incarnation.
#[derive(Default)]
pub struct Totals {
    /// Corrupt blocks repaired.
    pub repaired: u64,
    /// Chunks cloned.
    pub cloned: u64,
}

impl Watch {
    /// A watcher of `system` from `node`.
    pub fn new(system: Gfs, node: Node) -> Self {
        Watch {
            system,
            node,
            watching: Rc::new(Cell::new(true)),
            leases: Rc::default(),
            stats: Rc::default(),
            serving: Rc::new(Cell::new((None, 0))),
            primaries: Rc::default(),
        }
    }

    /// Looks every [`EVERY`] until [`Watch::stop`].
    pub async fn run(self) {
        while self.watching.get() {
            self.look().await;
            tokio::time::sleep(EVERY).await;
        }
        self.look().await;
    }

    /// Stops the watcher after one more look.
    pub fn stop(&self) {
        self.watching.set(false);
    }

    /// The chunkservers that held a running lease at the last look: the nemesis cuts them off
    /// first, where a master that names a second primary too early does harm.
    pub fn primaries(&self) -> Vec<NodeId> {
        self.primaries.borrow().clone()
    }

    async fn look(&self) {
        let now = self.node.now_ns();
        let mut primaries = Vec::new();
        for &server in self.system.chunkservers() {
            let path = ActorPath::new(server, CHUNKSERVER);
            let Ok(status) = self.node.call(&path, InspectChunkserver, INSPECT).await else {
                continue;
            };
            let mut leases = self.leases.borrow_mut();
            for lease in &status.leases {
                let key = (
                    server,
                    status.incarnation,
                    lease.handle,
                    lease.version,
                    lease.from_ns,
                );
                let until = leases.entry(key).or_insert(lease.until_ns);
                *until = (*until).max(lease.until_ns);
            }
            if status.leases.iter().any(|l| l.until_ns > now) {
                primaries.push(server);
            }
            self.stats
                .borrow_mut()
                .insert((server, status.incarnation), status);
        }
        *self.primaries.borrow_mut() = primaries;
        if let Some(serving) = self.serving_master().await {
            let (last, changes) = self.serving.get();
            if last != Some(serving) {
                let changes = changes + u64::from(last.is_some());
                self.serving.set((Some(serving), changes));
            }
        }
    }

    /// The master replica that serves now, if one answers so.
    async fn serving_master(&self) -> Option<NodeId> {
        for &master in self.system.masters() {
            let path = ActorPath::new(master, MASTER);
            if let Ok(status) = self.node.call(&path, InspectMaster, INSPECT).await {
                if status.serving {
                    return Some(master);
                }
            }
        }
        None
    }

    /// How many times the serving master changed.
    pub fn master_changes(&self) -> u64 {
        self.serving.get().1
    }

    /// The serving master's count of under-replicated chunks, asked until it is zero or
    /// `deadline` passes (re-replication takes some heartbeats); None if no master served.
    pub async fn under_replicated_at_end(&self, deadline: Duration) -> Option<u64> {
        let end = tokio::time::Instant::now() + deadline;
        let mut last = None;
        loop {
            for &master in self.system.masters() {
                let path = ActorPath::new(master, MASTER);
                if let Ok(status) = self.node.call(&path, InspectMaster, INSPECT).await {
                    if status.serving {
                        last = Some(status.under_replicated);
                    }
                }
            }
            if last == Some(0) || tokio::time::Instant::now() >= end {
                return last;
            }
            tokio::time::sleep(EVERY).await;
        }
    }

    /// Pairs of leases of one chunk held by two different servers over intersecting times.
    pub fn lease_overlaps(&self) -> Overlaps {
        let leases = self.leases.borrow();
        let mut by_chunk: BTreeMap<ChunkHandle, Vec<(NodeId, ChunkVersion, u64, u64)>> =
            BTreeMap::new();
        for (&(server, _, handle, version, from), &until) in leases.iter() {
            by_chunk
                .entry(handle)
                .or_default()
                .push((server, version, from, until));
        }
        let mut overlaps = 0;
        let mut example = String::new();
        for (handle, held) in &by_chunk {
            for (i, a) in held.iter().enumerate() {
                for b in &held[i + 1..] {
                    if a.0 != b.0 && a.2 < b.3 && b.2 < a.3 {
                        overlaps += 1;
                        if example.is_empty() {
                            example = format!(
                                "{handle}: {} held {} from {:.3}s to {:.3}s, {} held {} from \
                                 {:.3}s to {:.3}s",
                                a.0,
                                a.1,
                                a.2 as f64 / 1e9,
                                a.3 as f64 / 1e9,
                                b.0,
                                b.1,
                                b.2 as f64 / 1e9,
                                b.3 as f64 / 1e9
                            );
                        }
                    }
                }
            }
        }
        Overlaps {
            overlaps,
            leases: leases.len() as u64,
            example,
        }
    }

    /// The chunkservers' counters, summed over their incarnations.
    pub fn chunkserver_totals(&self) -> Totals {
        let mut totals = Totals::default();
        for status in self.stats.borrow().values() {
            totals.repaired += status.repaired;
            totals.cloned += status.cloned;
        }
        totals
    }
}
