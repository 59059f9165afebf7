//! The chunkserver in virtual time: three chunkservers (n2, n3, n4) and a fake master on n1
//! that answers heartbeats as the test says and records them. The tests call the
//! chunkservers from n1, as the master and a client would.

use super::{Chunkserver, ChunkserverFiles, InjectCorruption};
use crate::gfs::chunk::record::encode_record;
use crate::gfs::{GfsPlan, CHUNKSERVER, MASTER};
use actix::{Actor, Addr, Context, Handler};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;
use troupe_messages::gfs::{
    AppliedAt, ApplyMutation, ChunkAck, ChunkHandle, ChunkRefusal, ChunkVersion, ChunkserverStatus,
    CloneChunk, CreateChunk, DataId, Heartbeat, HeartbeatReply, InspectChunkserver, Mutate,
    MutateReply, MutationKind, NewVersion, PushData, PushReply, ReadChunk, ReadReply, RepairFrom,
    ReportCorrupt,
};
use troupe_messages::{ClientId, NodeId};
use troupe_runtime::testkit::{simulate, Cluster};
use troupe_runtime::{ActorPath, Node, Wire};

const H: ChunkHandle = ChunkHandle(1);
const V1: ChunkVersion = ChunkVersion(1);
const V2: ChunkVersion = ChunkVersion(2);

/// What the fake master does and saw.
struct Book {
    /// Answer heartbeats as the leader (else NotLeader).
    leader: bool,
    /// Extend (and start) the leases asked for.
    extend: bool,
    /// Replicas to delete, in every answer.
    delete: Vec<ChunkHandle>,
    /// The chunks' current versions, for repairs.
    versions: BTreeMap<ChunkHandle, ChunkVersion>,
    heartbeats: Vec<Heartbeat>,
    corrupt: Vec<ReportCorrupt>,
}

type Shared = Rc<RefCell<Book>>;

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
struct Gfs {
    cluster: Cluster,
    book: Shared,
    servers: Rc<RefCell<BTreeMap<NodeId, Addr<Chunkserver>>>>,
}

fn gfs(seed: u64, book: Book) -> Gfs {
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
                let spawned = Chunkserver::start(node, plan.clone(), ChunkserverFiles::Persisted)
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

fn leader() -> Book {
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
    async fn call<M>(&self, n: u32, msg: M) -> M::Result
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

    async fn status(&self, n: u32) -> ChunkserverStatus {
        self.call(n, InspectChunkserver).await
    }

    /// Creates the chunk at v1 on `replicas`, then makes v2 with `primary` as primary of the
    /// others, and waits for its lease to start if the master extends leases.
    async fn chunk(&self, primary: u32, replicas: &[u32]) {
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

    async fn wait_for(&self, n: u32, what: &str, pred: impl Fn(&ChunkserverStatus) -> bool) {
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
    async fn wait_confirmed(&self, n: u32) {
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

    async fn push(&self, seq: u64, data: &[u8], chain: &[u32]) {
        let push = PushData {
            id: data_id(seq),
            data: data.to_vec(),
            forward: chain[1..].iter().map(|n| NodeId(*n)).collect(),
        };
        assert_eq!(self.call(chain[0], push).await, PushReply::Stored);
    }

    async fn append(&self, primary: u32, seq: u64) -> MutateReply {
        let mutate = Mutate {
            handle: H,
            version: V2,
            data: data_id(seq),
            kind: MutationKind::Append,
        };
        self.call(primary, mutate).await
    }

    async fn read(&self, n: u32, offset: u64, len: u64) -> ReadReply {
        let read = ReadChunk {
            handle: H,
            version: V2,
            offset,
            len,
        };
        self.call(n, read).await
    }

    async fn read_all(&self, n: u32) -> Vec<u8> {
        match self.read(n, 0, 1 << 20).await {
            ReadReply::Data { bytes, .. } => bytes,
            other => panic!("n{n} refused a read: {other:?}"),
        }
    }
}

fn data_id(seq: u64) -> DataId {
    DataId {
        client: ClientId::from(7u64),
        seq,
    }
}

fn record(id: u128, len: usize) -> Vec<u8> {
    encode_record(id, &vec![id as u8; len])
}

#[test]
fn a_record_append_lands_at_the_same_offset_on_every_replica() {
    simulate(1, |seed| async move {
        let g = gfs(seed, leader());
        g.chunk(2, &[2, 3, 4]).await;
        let (r1, r2) = (record(1, 100), record(2, 300));
        g.push(1, &r1, &[2, 3, 4]).await;
        g.push(2, &r2, &[3, 4, 2]).await;
        assert_eq!(g.append(2, 1).await, MutateReply::Appended { offset: 0 });
        let at = r1.len() as u64;
        assert_eq!(g.append(2, 2).await, MutateReply::Appended { offset: at });
        // Two appends at once are ordered: each gets its own offset.
        let (r3, r4) = (record(3, 50), record(4, 70));
        g.push(3, &r3, &[4, 3, 2]).await;
        g.push(4, &r4, &[2, 4, 3]).await;
        let (a3, a4) = tokio::join!(g.append(2, 3), g.append(2, 4));
        let (MutateReply::Appended { offset: o3 }, MutateReply::Appended { offset: o4 }) =
            (&a3, &a4)
        else {
            panic!("appends refused: {a3:?} {a4:?}");
        };
        let (o3, o4) = (*o3, *o4);
        assert_ne!(o3, o4);
        let whole = g.read_all(2).await;
        assert_eq!(whole.len(), r1.len() + r2.len() + r3.len() + r4.len());
        for n in [2, 3, 4] {
            g.wait_confirmed(n).await;
            let read = g.read(n, at, r2.len() as u64).await;
            assert_eq!(
                read,
                ReadReply::Data {
                    version: V2,
                    bytes: r2.clone()
                },
                "n{n}"
            );
            assert_eq!(g.read_all(n).await, whole, "n{n}");
        }
        let start = o3 as usize;
        assert_eq!(&whole[start..start + r3.len()], &r3[..]);
        let status = g.status(2).await;
        assert_eq!(status.leases.len(), 1);
        assert_eq!((status.leases[0].handle, status.leases[0].version), (H, V2));
        assert!(status.reads >= 1);
    });
}

#[test]
fn a_mutation_without_a_started_lease_is_refused() {
    simulate(2, |seed| async move {
        let g = gfs(
            seed,
            Book {
                extend: false,
                ..leader()
            },
        );
        g.chunk(2, &[2, 3, 4]).await;
        g.push(1, &record(1, 10), &[2, 3, 4]).await;
        assert_eq!(
            g.append(2, 1).await,
            MutateReply::Failed(ChunkRefusal::NotPrimary)
        );
        // A secondary is never primary.
        assert_eq!(
            g.append(3, 1).await,
            MutateReply::Failed(ChunkRefusal::NotPrimary)
        );
        // The heartbeats asked for the lease.
        assert!(g
            .book
            .borrow()
            .heartbeats
            .iter()
            .any(|h| h.server == NodeId(2) && h.extend == vec![H]));
        assert!(g.status(2).await.leases.is_empty());
    });
}

#[test]
fn a_lease_that_ran_out_refuses_mutations() {
    simulate(3, |seed| async move {
        let g = gfs(seed, leader());
        g.chunk(2, &[2, 3, 4]).await;
        g.push(1, &record(1, 10), &[2, 3, 4]).await;
        assert_eq!(g.append(2, 1).await, MutateReply::Appended { offset: 0 });
        g.book.borrow_mut().extend = false;
        g.cluster.run_for(Duration::from_millis(2_500)).await;
        assert_eq!(
            g.append(2, 1).await,
            MutateReply::Failed(ChunkRefusal::NotPrimary)
        );
        let status = g.status(2).await;
        assert_eq!(status.leases.len(), 1);
        assert!(status.leases[0].until_ns <= g.cluster.up(2).now_ns());
    });
}

#[test]
fn a_secondary_at_another_version_refuses() {
    simulate(4, |seed| async move {
        let g = gfs(seed, leader());
        for n in [2, 3, 4] {
            assert_eq!(
                g.call(
                    n,
                    CreateChunk {
                        handle: H,
                        version: V1
                    }
                )
                .await,
                ChunkAck::Done
            );
        }
        // n4 misses the new version.
        let secondaries = vec![NodeId(3), NodeId(4)];
        let named = NewVersion {
            handle: H,
            version: V2,
            primary_of: Some(secondaries),
        };
        assert_eq!(g.call(2, named).await, ChunkAck::Done);
        let bumped = NewVersion {
            handle: H,
            version: V2,
            primary_of: None,
        };
        assert_eq!(g.call(3, bumped).await, ChunkAck::Done);
        g.wait_for(2, "the lease to start", |s| !s.leases.is_empty())
            .await;
        g.push(1, &record(1, 10), &[2, 3, 4]).await;
        let refused = MutateReply::Failed(ChunkRefusal::SecondaryFailed(NodeId(4)));
        assert_eq!(g.append(2, 1).await, refused);
        let apply = ApplyMutation {
            handle: H,
            version: V2,
            data: data_id(1),
            at: AppliedAt::Append { offset: 0 },
        };
        let wrong = ChunkRefusal::WrongVersion { have: V1, want: V2 };
        assert_eq!(g.call(4, apply).await, ChunkAck::Failed(wrong.clone()));
        // Nor does it serve a read of the newer version, nor take an older one.
        g.wait_confirmed(4).await;
        assert_eq!(g.read(4, 0, 10).await, ReadReply::Failed(wrong));
        let older = NewVersion {
            handle: H,
            version: V1,
            primary_of: None,
        };
        let refused = ChunkAck::Failed(ChunkRefusal::WrongVersion { have: V2, want: V1 });
        assert_eq!(g.call(3, older).await, refused);
    });
}

#[test]
fn an_unconfirmed_server_refuses_reads() {
    simulate(5, |seed| async move {
        let g = gfs(
            seed,
            Book {
                leader: false,
                ..leader()
            },
        );
        assert_eq!(
            g.call(
                2,
                CreateChunk {
                    handle: H,
                    version: V2
                }
            )
            .await,
            ChunkAck::Done
        );
        g.cluster.run_for(Duration::from_millis(300)).await;
        assert_eq!(
            g.read(2, 0, 10).await,
            ReadReply::Failed(ChunkRefusal::Unconfirmed)
        );
        g.book.borrow_mut().leader = true;
        g.wait_confirmed(2).await;
        assert_eq!(
            g.read(2, 0, 10).await,
            ReadReply::Data {
                version: V2,
                bytes: Vec::new()
            }
        );
        // Cut off from the master, it stops serving within the serve time.
        g.book.borrow_mut().leader = false;
        g.cluster.run_for(Duration::from_millis(700)).await;
        assert_eq!(
            g.read(2, 0, 10).await,
            ReadReply::Failed(ChunkRefusal::Unconfirmed)
        );
    });
}

#[test]
fn a_corrupt_block_is_refused_and_repaired_from_another_replica() {
    simulate(6, |seed| async move {
        let g = gfs(seed, leader());
        g.chunk(2, &[2, 3, 4]).await;
        g.push(1, &record(1, 1000), &[2, 3, 4]).await;
        assert_eq!(g.append(2, 1).await, MutateReply::Appended { offset: 0 });
        let good = g.read_all(2).await;
        let addr = g
            .servers
            .borrow()
            .get(&NodeId(3))
            .cloned()
            .expect("n3 runs");
        let injected = addr
            .send(InjectCorruption {
                handle: H,
                offset: 10,
            })
            .await;
        assert_eq!(injected, Ok(Ok(())));
        g.wait_confirmed(3).await;
        assert_eq!(
            g.read(3, 0, 100).await,
            ReadReply::Failed(ChunkRefusal::Corrupt { block: 0 })
        );
        g.wait_for(3, "the block to be repaired", |s| s.repaired == 1)
            .await;
        assert_eq!(g.read_all(3).await, good);
        let status = g.status(3).await;
        assert_eq!((status.corrupt_found, status.repaired), (1, 1));
        let reports = &g.book.borrow().corrupt;
        assert_eq!(reports.len(), 1);
        assert_eq!(
            (reports[0].server, reports[0].handle, reports[0].block),
            (NodeId(3), H, 0)
        );
    });
}

#[test]
fn clone_copies_a_chunk() {
    simulate(7, |seed| async move {
        let g = gfs(seed, leader());
        g.chunk(2, &[2, 3]).await;
        g.push(1, &record(1, 200_000), &[2, 3]).await;
        assert_eq!(g.append(2, 1).await, MutateReply::Appended { offset: 0 });
        let good = g.read_all(2).await;
        let clone = CloneChunk {
            handle: H,
            version: V2,
            from: NodeId(2),
        };
        assert_eq!(g.call(4, clone.clone()).await, ChunkAck::Done);
        g.wait_confirmed(4).await;
        assert_eq!(g.read_all(4).await, good);
        let status = g.status(4).await;
        assert_eq!(status.cloned, 1);
        assert_eq!(status.chunks, vec![(H, V2, good.len() as u64)]);
        // From a source at another version, nothing is copied.
        let stale = CloneChunk {
            version: ChunkVersion(3),
            ..clone
        };
        let refused = ChunkAck::Failed(ChunkRefusal::WrongVersion {
            have: V2,
            want: ChunkVersion(3),
        });
        assert_eq!(g.call(4, stale).await, refused);
        assert_eq!(g.status(4).await.chunks, vec![(H, V2, good.len() as u64)]);
    });
}

#[test]
fn a_chunk_survives_a_crash_and_restart() {
    simulate(8, |seed| async move {
        let g = gfs(seed, leader());
        g.chunk(2, &[2, 3, 4]).await;
        g.push(1, &record(1, 40_000), &[2, 3, 4]).await;
        assert_eq!(g.append(2, 1).await, MutateReply::Appended { offset: 0 });
        let good = g.read_all(2).await;
        g.cluster.crash(3);
        g.cluster.run_for(Duration::from_millis(100)).await;
        g.cluster.restart(3).expect("n3 restarts");
        g.wait_confirmed(3).await;
        let status = g.status(3).await;
        assert_eq!(status.incarnation, 1);
        assert_eq!(status.chunks, vec![(H, V2, good.len() as u64)]);
        assert_eq!(g.read_all(3).await, good);
    });
}

#[test]
fn the_master_deletes_stale_replicas_through_the_heartbeat() {
    simulate(9, |seed| async move {
        let g = gfs(seed, leader());
        g.chunk(2, &[2, 3, 4]).await;
        g.book.borrow_mut().delete = vec![H];
        g.wait_for(4, "the replica to be deleted", |s| s.chunks.is_empty())
            .await;
        let reported = g
            .book
            .borrow()
            .heartbeats
            .iter()
            .any(|h| h.server == NodeId(4) && h.chunks == vec![(H, V2)]);
        assert!(reported);
    });
}
