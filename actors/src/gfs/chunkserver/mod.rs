//! The GFS chunkserver actor (§2.5, §3, §4.5, §5.2): it stores chunks in a [`ChunkStore`],
//! tells every master replica what it holds with a heartbeat, keeps the data clients push,
//! orders mutations of the chunks it holds a lease on, applies the primary's mutations as a
//! secondary, serves verified reads, repairs corrupt blocks and clones chunks for
//! re-replication.
//!
//! The actor is a thin shell over plain parts:
//! - [`lease`]: the leases it holds as primary and how long its reads are confirmed.
//! - [`buffer`]: the pushed data, bounded.
//! - [`persisted_files`]: a simulated disk over the node's persister.
//!
//! and its handlers, by topic: `heartbeat` (the heartbeat and the master's orders),
//! `mutation` (data push, mutations at the primary and at the secondaries), `replica`
//! (reads, fetches, repairs of corrupt blocks, clones).

pub mod buffer;
mod heartbeat;
pub mod lease;
mod mutation;
pub mod persisted_files;
mod replica;
#[cfg(test)]
mod tests;

use super::chunk::{ChunkError, ChunkFiles, ChunkHandle, ChunkStore, DirChunkFiles};
use super::{GfsPlan, CHUNKSERVER};
use actix::{Actor, Context, Handler, Message, ResponseActFuture};
use buffer::PushBuffer;
use lease::Leases;
use persisted_files::PersistedChunkFiles;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::oneshot;
use troupe_messages::gfs::{
    ApplyMutation, ChunkAck, ChunkRefusal, ChunkserverStatus, CloneChunk, CreateChunk,
    DeleteChunks, FetchChunk, InspectChunkserver, Mutate, MutateReply, NewVersion, PushData,
    PushReply, ReadChunk, ReadReply, RevokeLease,
};
use troupe_messages::NodeId;
use troupe_runtime::{ActorHandle, ActorPath, Error, Node, Spawned, Wire};

/// Where a chunkserver keeps its chunks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChunkserverFiles {
    /// In the node's persister ([`PersistedChunkFiles`]): a simulated disk that survives a
    /// crash and a restart of the node.
    Persisted,
    /// In a directory of a real machine ([`DirChunkFiles`]).
    Dir(PathBuf),
}

/// The files a running chunkserver stores into.
#[derive(Debug)]
enum Files {
    Persisted(PersistedChunkFiles),
    Dir(DirChunkFiles),
}

impl ChunkFiles for Files {
    fn list(&self) -> io::Result<Vec<ChunkHandle>> {
        match self {
            Files::Persisted(f) => f.list(),
            Files::Dir(f) => f.list(),
        }
    }

    fn read_meta(&self, handle: ChunkHandle) -> io::Result<Option<Vec<u8>>> {
        match self {
            Files::Persisted(f) => f.read_meta(handle),
            Files::Dir(f) => f.read_meta(handle),
        }
    }

    fn write_meta(&mut self, handle: ChunkHandle, bytes: &[u8]) -> io::Result<()> {
        match self {
            Files::Persisted(f) => f.write_meta(handle, bytes),
            Files::Dir(f) => f.write_meta(handle, bytes),
        }
    }

    fn read_data(&self, handle: ChunkHandle, offset: u64, len: u64) -> io::Result<Vec<u8>> {
        match self {
            Files::Persisted(f) => f.read_data(handle, offset, len),
            Files::Dir(f) => f.read_data(handle, offset, len),
        }
    }

    fn write_data(&mut self, handle: ChunkHandle, offset: u64, data: &[u8]) -> io::Result<()> {
        match self {
            Files::Persisted(f) => f.write_data(handle, offset, data),
            Files::Dir(f) => f.write_data(handle, offset, data),
        }
    }

    fn remove(&mut self, handle: ChunkHandle) -> io::Result<()> {
        match self {
            Files::Persisted(f) => f.remove(handle),
            Files::Dir(f) => f.remove(handle),
        }
    }
}

/// Fault injection, local only (never from the network): flip the byte at `offset` of the
/// chunk behind its checksums, as a disk's silent corruption would.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<(), String>")]
pub struct InjectCorruption {
    /// The chunk.
    pub handle: ChunkHandle,
    /// The byte to flip.
    pub offset: u64,
}

/// What a chunkserver counts since it started.
#[derive(Debug, Clone, Copy, Default)]
struct Counters {
    reads: u64,
    corrupt_found: u64,
    repaired: u64,
    cloned: u64,
}

/// The chunkserver actor, registered as [`CHUNKSERVER`].
pub struct Chunkserver {
    node: Node,
    plan: GfsPlan,
    store: ChunkStore<Files>,
    buffer: PushBuffer,
    leases: Leases,
    counters: Counters,
    /// Per chunk with a mutation under way at the primary: the mutations waiting for their
    /// turn, in arrival order.
    turns: BTreeMap<ChunkHandle, VecDeque<oneshot::Sender<()>>>,
    /// Mutations waiting for a pending lease to start.
    lease_waiters: Vec<(ChunkHandle, oneshot::Sender<()>)>,
    /// The answers to the mutations this primary applied lately, by their data: a duplicate
    /// of one (the network may deliver a request twice) gets the same answer, not a second
    /// application.
    applied: mutation::Applied,
    /// Corrupt blocks being repaired.
    repairing: BTreeSet<(ChunkHandle, u64)>,
}

fn ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// A chunk store's failure as the refusal a peer or a client acts on.
fn refusal(e: ChunkError) -> ChunkRefusal {
    match e {
        ChunkError::NoSuchChunk(_) => ChunkRefusal::NoSuchChunk,
        ChunkError::OutOfChunk { .. } => ChunkRefusal::OutOfChunk,
        ChunkError::RecordTooLarge { len, max } => ChunkRefusal::TooLarge { len, max },
        ChunkError::Corrupt { block, .. } => ChunkRefusal::Corrupt { block },
        other => {
            tracing::warn!("chunk storage failed: {other}");
            ChunkRefusal::Storage
        }
    }
}

impl Chunkserver {
    /// Starts the chunkserver of `plan` on `node`, its chunks in `files`, registered as
    /// [`CHUNKSERVER`] and accepting every chunkserver message of the wire protocol.
    pub fn spawn(
        node: &Node,
        plan: GfsPlan,
        files: ChunkserverFiles,
    ) -> troupe_runtime::Result<ActorHandle> {
        Ok(Self::start(node, plan, files)?.into_handle())
    }

    /// As [`Chunkserver::spawn`], keeping the actor's address (for [`InjectCorruption`]).
    pub fn start(
        node: &Node,
        plan: GfsPlan,
        files: ChunkserverFiles,
    ) -> troupe_runtime::Result<Spawned<Chunkserver>> {
        let files = match files {
            ChunkserverFiles::Persisted => {
                Files::Persisted(PersistedChunkFiles::new(node.persister().clone()))
            }
            ChunkserverFiles::Dir(dir) => Files::Dir(
                DirChunkFiles::open(&dir)
                    .map_err(|e| Error::persist(format!("chunk directory {dir:?}"), e))?,
            ),
        };
        let store = ChunkStore::open(files, plan.chunk)
            .map_err(|e| Error::persist("the chunkserver's chunks", e))?;
        if !store.dropped().is_empty() {
            tracing::warn!(
                node = %node.id(),
                dropped = ?store.dropped(),
                "chunks with torn metadata were dropped; the master re-replicates them"
            );
        }
        let server = Chunkserver {
            node: node.clone(),
            buffer: PushBuffer::new(plan.chunk.chunk_size.saturating_mul(4)),
            leases: Leases::new(ns(plan.timing.lease)),
            plan,
            store,
            counters: Counters::default(),
            turns: BTreeMap::new(),
            applied: Default::default(),
            lease_waiters: Vec::new(),
            repairing: BTreeSet::new(),
        };
        Ok(node
            .spawn_named(CHUNKSERVER, server)?
            .accept::<CreateChunk>()
            .accept::<NewVersion>()
            .accept::<DeleteChunks>()
            .accept::<RevokeLease>()
            .accept::<CloneChunk>()
            .accept::<PushData>()
            .accept::<Mutate>()
            .accept::<ApplyMutation>()
            .accept::<ReadChunk>()
            .accept::<FetchChunk>()
            .accept::<InspectChunkserver>())
    }

    /// Now, on this node's clock (ns).
    fn now(&self) -> u64 {
        self.node.now_ns()
    }

    /// How long to wait for a peer's or a master's answer: three heartbeats (300 ms in the fast
    /// timing), and never less than 50 ms.
    fn call_timeout(&self) -> Duration {
        (self.plan.timing.heartbeat * 3).max(Duration::from_millis(50))
    }

    /// Calls the actor `name` on every node of `targets` at once, and gives each answer (None
    /// for no answer in `timeout`) in the order of `targets`. A call that goes unanswered is
    /// made again, `tries` times in all, each within `timeout` (for idempotent messages only).
    fn call_all<M>(
        &self,
        targets: &[NodeId],
        name: &'static str,
        make: impl Fn(NodeId) -> M,
        timeout: Duration,
        tries: u32,
    ) -> impl Future<Output = Vec<(NodeId, Option<M::Result>)>> + 'static
    where
        M: Wire + Clone,
        M::Result: serde::Serialize + serde::de::DeserializeOwned + Send + 'static,
    {
        let mut answers = Vec::with_capacity(targets.len());
        for &target in targets {
            let (tx, rx) = oneshot::channel();
            let node = self.node.clone();
            let msg = make(target);
            self.node.spawn_task(async move {
                let path = ActorPath::new(target, name);
                let mut answer = None;
                for _ in 0..tries.max(1) {
                    answer = node.call(&path, msg.clone(), timeout).await.ok();
                    if answer.is_some() {
                        break;
                    }
                }
                // The caller may have stopped waiting.
                let _ = tx.send(answer);
            });
            answers.push((target, rx));
        }
        async move {
            let mut out = Vec::with_capacity(answers.len());
            for (target, rx) in answers {
                out.push((target, rx.await.ok().flatten()));
            }
            out
        }
    }

    fn status(&self) -> ChunkserverStatus {
        ChunkserverStatus {
            incarnation: self.node.incarnation(),
            chunks: self.store.report(),
            leases: self.leases.history().to_vec(),
            reads: self.counters.reads,
            corrupt_found: self.counters.corrupt_found,
            repaired: self.counters.repaired,
            cloned: self.counters.cloned,
        }
    }
}

impl Actor for Chunkserver {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.heartbeat(ctx);
        let every = self.plan.timing.heartbeat;
        let node = self.node.clone();
        troupe_runtime::timer::run_interval(ctx, &node, "gfs-heartbeat", every, |act, ctx| {
            act.heartbeat(ctx)
        });
    }
}

impl Handler<CreateChunk> for Chunkserver {
    type Result = ChunkAck;
    fn handle(&mut self, msg: CreateChunk, _: &mut Context<Self>) -> ChunkAck {
        self.on_create(msg)
    }
}

impl Handler<NewVersion> for Chunkserver {
    type Result = ChunkAck;
    fn handle(&mut self, msg: NewVersion, ctx: &mut Context<Self>) -> ChunkAck {
        self.on_new_version(msg, ctx)
    }
}

impl Handler<DeleteChunks> for Chunkserver {
    type Result = ChunkAck;
    fn handle(&mut self, msg: DeleteChunks, _: &mut Context<Self>) -> ChunkAck {
        self.on_delete(msg)
    }
}

impl Handler<RevokeLease> for Chunkserver {
    type Result = ResponseActFuture<Self, ChunkAck>;
    fn handle(&mut self, msg: RevokeLease, _: &mut Context<Self>) -> Self::Result {
        self.on_revoke(msg)
    }
}

impl Handler<CloneChunk> for Chunkserver {
    type Result = ResponseActFuture<Self, ChunkAck>;
    fn handle(&mut self, msg: CloneChunk, _: &mut Context<Self>) -> Self::Result {
        self.on_clone(msg)
    }
}

impl Handler<PushData> for Chunkserver {
    type Result = ResponseActFuture<Self, PushReply>;
    fn handle(&mut self, msg: PushData, _: &mut Context<Self>) -> Self::Result {
        self.on_push(msg)
    }
}

impl Handler<Mutate> for Chunkserver {
    type Result = ResponseActFuture<Self, MutateReply>;
    fn handle(&mut self, msg: Mutate, ctx: &mut Context<Self>) -> Self::Result {
        self.on_mutate(msg, ctx)
    }
}

impl Handler<ApplyMutation> for Chunkserver {
    type Result = ChunkAck;
    fn handle(&mut self, msg: ApplyMutation, _: &mut Context<Self>) -> ChunkAck {
        self.on_apply(msg)
    }
}

impl Handler<ReadChunk> for Chunkserver {
    type Result = ReadReply;
    fn handle(&mut self, msg: ReadChunk, ctx: &mut Context<Self>) -> ReadReply {
        self.on_read(msg, ctx)
    }
}

impl Handler<FetchChunk> for Chunkserver {
    type Result = ReadReply;
    fn handle(&mut self, msg: FetchChunk, ctx: &mut Context<Self>) -> ReadReply {
        self.on_fetch(msg, ctx)
    }
}

impl Handler<InspectChunkserver> for Chunkserver {
    type Result = ChunkserverStatus;
    fn handle(&mut self, _: InspectChunkserver, _: &mut Context<Self>) -> ChunkserverStatus {
        self.status()
    }
}

impl Handler<InjectCorruption> for Chunkserver {
    type Result = Result<(), String>;
    fn handle(&mut self, msg: InjectCorruption, _: &mut Context<Self>) -> Self::Result {
        self.store
            .corrupt_for_test(msg.handle, msg.offset)
            .map_err(|e| e.to_string())
    }
}
