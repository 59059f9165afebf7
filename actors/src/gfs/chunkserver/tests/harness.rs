//! The chunkserver tests' cluster: three chunkservers (n2, n3, n4) and a fake master on n1
//! that answers heartbeats as the test says and records what it heard. The tests call the
//! chunkservers from n1, as the master and a client would.

use super::super::{Chunkserver, ChunkserverFiles};
use crate::gfs::chunk::record::encode_record;
use crate::gfs::{GfsPlan, CHUNKSERVER, MASTER};
use actix::{Actor, Addr, Context, Handler};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;
use troupe_messages::gfs::{
    ChunkAck, ChunkHandle, ChunkRefusal, ChunkVersion, ChunkserverStatus, CreateChunk, DataId,
    Heartbeat, HeartbeatReply, InspectChunkserver, Mutate, MutateReply, MutationKind, NewVersion,
    PushData, PushReply, ReadChunk, ReadReply, RepairFrom, ReportCorrupt,
};
use troupe_messages::{ClientId, NodeId};
use troupe_runtime::testkit::Cluster;
use troupe_runtime::{ActorPath, Node, Wire};

/// The chunk of every test.
pub const H: ChunkHandle = ChunkHandle(1);
/// Its first version.
pub const V1: ChunkVersion = ChunkVersion(1);
/// Its version once a lease is granted.
pub const V2: ChunkVersion = ChunkVersion(2);

/// What the fake master does and saw.
pub struct Book {
    /// Answer heartbeats as the leader (else NotLeader).
    pub leader: bool,
    /// Extend (and start) the leases asked for.
    pub extend: bool,
    /// Replicas to delete, in every answer.
    pub delete: Vec<ChunkHandle>,
    /// The chunks' current versions, for repairs.
    pub versions: BTreeMap<ChunkHandle, ChunkVersion>,
    pub heartbeats: Vec<Heartbeat>,
    pub corrupt: Vec<ReportCorrupt>,
}

/// The book, shared by the fake master and the test.
pub type Shared = Rc<RefCell<Book>>;

struct FakeMaster {
    book: Shared,
}

impl Actor for FakeMaster {
    type Context = Context<Self>;
}

impl Handler<Heartbeat> for FakeMaster {
    type Result = HeartbeatReply;
    fn handle(&mut self, msg: Heartbeat, _: &mut Context<Self>) -> HeartbeatReply {
        let mut book = self.book.borrow_mut();
        let extended = if book.extend {
            msg.extend.clone()
        } else {
            Vec::new()
        };
        book.heartbeats.push(msg);
        if !book.leader {
            return HeartbeatReply::NotLeader;
        }
        HeartbeatReply::Ack {
            delete: book.delete.clone(),
            extended,
            lease_ms: 2_000,
            serve_ms: 600,
        }
    }
}

impl Handler<ReportCorrupt> for FakeMaster {
    type Result = RepairFrom;
    fn handle(&mut self, msg: ReportCorrupt, _: &mut Context<Self>) -> RepairFrom {
        let mut book = self.book.borrow_mut();
        let reply = match book.versions.get(&msg.handle) {
            Some(version) => RepairFrom::Replicas {
                version: *version,
                replicas: [2, 3, 4]
                    .map(NodeId)
                    .into_iter()
                    .filter(|n| *n != msg.server)
                    .collect(),
            },
            None => RepairFrom::Unknown,
        };
        book.corrupt.push(msg);
        reply
    }
}

/// The cluster, the fake master's book, and each chunkserver's address (updated at restarts).
pub struct Gfs {
    pub cluster: Cluster,
    pub book: Shared,
    pub servers: Rc<RefCell<BTreeMap<NodeId, Addr<Chunkserver>>>>,
}

/// The cluster, its chunkservers' chunks in their nodes' persisters.
pub fn gfs(seed: u64, book: Book) -> Gfs {
    gfs_over(seed, book, |_| ChunkserverFiles::Persisted)
}

/// As [`gfs`], each chunkserver's chunks in `files(node)`.
pub fn gfs_over(
    seed: u64,
    book: Book,
    files: impl Fn(NodeId) -> ChunkserverFiles + 'static,
) -> Gfs {
    let book = Rc::new(RefCell::new(book));
    let servers: Rc<RefCell<BTreeMap<NodeId, Addr<Chunkserver>>>> = Rc::default();
    let plan = GfsPlan::new(vec![NodeId(1)], vec![NodeId(2), NodeId(3), NodeId(4)]);
    let (b, s) = (book.clone(), servers.clone());
    let cluster = Cluster::builder(seed)
        .nodes(4)
        .topology(move |node: &Node| {
            if node.id() == NodeId(1) {
                node.spawn_named(MASTER, FakeMaster { book: b.clone() })
                    .expect("the master's name is free")
                    .accept::<Heartbeat>()
                    .accept::<ReportCorrupt>();
            } else {
                let spawned = Chunkserver::start(node, plan.clone(), files(node.id()))
                    .expect("the chunkserver starts");
                s.borrow_mut().insert(node.id(), spawned.addr().clone());
            }
        })
        .build();
    Gfs {
        cluster,
        book,
        servers,
    }
}

/// A master that leads and extends every lease asked for.
pub fn leader() -> Book {
    Book {
        leader: true,
        extend: true,
        delete: Vec::new(),
        versions: BTreeMap::new(),
        heartbeats: Vec::new(),
        corrupt: Vec::new(),
    }
}

impl Gfs {
    /// Calls chunkserver `n` from n1.
    pub async fn call<M>(&self, n: u32, msg: M) -> M::Result
    where
        M: Wire,
        M::Result: serde::Serialize + serde::de::DeserializeOwned + Send + 'static,
    {
        let path = ActorPath::new(NodeId(n), CHUNKSERVER);
        self.cluster
            .up(1)
            .call(&path, msg, Duration::from_secs(3))
            .await
            .unwrap_or_else(|e| panic!("chunkserver n{n} did not answer: {e}"))
    }

    /// Chunkserver `n`'s status.
    pub async fn status(&self, n: u32) -> ChunkserverStatus {
        self.call(n, InspectChunkserver).await
    }

    /// Creates the chunk at v1 on `replicas`, then makes v2 with `primary` as primary of the
    /// others, and waits for its lease to start if the master extends leases.
    pub async fn chunk(&self, primary: u32, replicas: &[u32]) {
        for &n in replicas {
            let created = self
                .call(
                    n,
                    CreateChunk {
                        handle: H,
                        version: V1,
                    },
                )
                .await;
            assert_eq!(created, ChunkAck::Done);
        }
        self.book.borrow_mut().versions.insert(H, V2);
        let secondaries: Vec<NodeId> = replicas
            .iter()
            .filter(|n| **n != primary)
            .map(|n| NodeId(*n))
            .collect();
        for &n in replicas {
            let primary_of = (n == primary).then(|| secondaries.clone());
            let bumped = NewVersion {
                handle: H,
                version: V2,
                primary_of,
            };
            assert_eq!(self.call(n, bumped).await, ChunkAck::Done);
        }
        if self.book.borrow().extend {
            self.wait_for(primary, "the lease to start", |s| !s.leases.is_empty())
                .await;
        }
    }

    /// Waits until chunkserver `n`'s status satisfies `pred`.
    pub async fn wait_for(&self, n: u32, what: &str, pred: impl Fn(&ChunkserverStatus) -> bool) {
        let pred = &pred;
        self.cluster
            .wait_for(
                what,
                Duration::from_secs(5),
                Duration::from_millis(10),
                || async move { pred(&self.status(n).await) },
            )
            .await
            .unwrap_or_else(|e| panic!("n{n}: {e}"));
    }

    /// Waits until chunkserver `n` serves reads.
    pub async fn wait_confirmed(&self, n: u32) {
        self.cluster
            .wait_for(
                "reads confirmed",
                Duration::from_secs(5),
                Duration::from_millis(10),
                || async move {
                    !matches!(
                        self.read(n, 0, 0).await,
                        ReadReply::Failed(ChunkRefusal::Unconfirmed)
                    )
                },
            )
            .await
            .unwrap_or_else(|e| panic!("n{n}: {e}"));
    }

    /// Pushes `data` as push `seq` along `chain`, expecting it stored.
    pub async fn push(&self, seq: u64, data: &[u8], chain: &[u32]) {
        let push = PushData {
            id: data_id(seq),
            data: data.to_vec(),
            forward: chain[1..].iter().map(|n| NodeId(*n)).collect(),
        };
        assert_eq!(self.call(chain[0], push).await, PushReply::Stored);
    }

    /// Record append of push `seq` at `primary`.
    pub async fn append(&self, primary: u32, seq: u64) -> MutateReply {
        let mutate = Mutate {
            handle: H,
            version: V2,
            data: data_id(seq),
            kind: MutationKind::Append,
        };
        self.call(primary, mutate).await
    }

    /// Reads the chunk at v2 from chunkserver `n`.
    pub async fn read(&self, n: u32, offset: u64, len: u64) -> ReadReply {
        let read = ReadChunk {
            handle: H,
            version: V2,
            offset,
            len,
        };
        self.call(n, read).await
    }

    /// The whole chunk as chunkserver `n` serves it.
    pub async fn read_all(&self, n: u32) -> Vec<u8> {
        match self.read(n, 0, 1 << 20).await {
            ReadReply::Data { bytes, .. } => bytes,
            other => panic!("n{n} refused a read: {other:?}"),
        }
    }
}

/// The test client's push `seq`.
pub fn data_id(seq: u64) -> DataId {
    DataId {
        client: ClientId::from(7u64),
        seq,
    }
}

/// An encoded record `id` of `len` payload bytes.
pub fn record(id: u128, len: usize) -> Vec<u8> {
    encode_record(id, &vec![id as u8; len])
}
