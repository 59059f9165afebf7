//! A GFS deployment for the master actor's tests, in virtual time: three master replicas
//! (n1..n3), four stand-in chunkservers (n4..n7) that heartbeat what they hold to every master
//! and do what the master orders, and a client node (n8) that follows `NotLeader` hints.

use super::{MasterOptions, MasterServer};
use crate::gfs::{GfsPlan, CHUNKSERVER, MASTER};
use actix::{Actor, ActorFutureExt, AsyncContext, Context, Handler, WrapFuture};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use std::time::Duration;
use troupe_messages::gfs::{
    ChunkAck, ChunkHandle, ChunkLocation, ChunkRefusal, ChunkVersion, CloneChunk, CreateChunk,
    DeleteChunks, Heartbeat, HeartbeatReply, InspectMaster, LeaseInfo, MasterOp, MasterRefusal,
    MasterReply, MasterRequest, MasterStatus, NewVersion, Rereplicate,
};
use troupe_messages::{ActorPath, NodeId};
use troupe_runtime::testkit::Cluster;
use troupe_runtime::Node;

pub(super) const MASTERS: [u32; 3] = [1, 2, 3];
pub(super) const SERVERS: [u32; 4] = [4, 5, 6, 7];
pub(super) const CLIENT: u32 = 8;

pub(super) fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// What a stand-in chunkserver holds and was told; it outlives the node's crashes.
#[derive(Debug, Default)]
pub(super) struct Disk {
    pub chunks: BTreeMap<ChunkHandle, ChunkVersion>,
    pub created: Vec<CreateChunk>,
    pub versions: Vec<NewVersion>,
    pub clones: Vec<CloneChunk>,
    pub deleted: Vec<ChunkHandle>,
    /// Chunks it was named primary of; it asks to extend them at every heartbeat.
    pub primary: BTreeSet<ChunkHandle>,
    /// Leases started or extended: the chunk and when the heartbeat that got it was sent.
    pub extended: Vec<(ChunkHandle, u64)>,
    /// When the answers that started or extended a lease arrived.
    pub extended_at: Vec<(ChunkHandle, u64)>,
    /// Refuses every new version (its storage fails).
    pub refuse_versions: bool,
}

pub(super) type Disks = Rc<BTreeMap<u32, Rc<RefCell<Disk>>>>;

/// A chunkserver reduced to what the master sees of one.
struct FakeChunkserver {
    node: Node,
    plan: GfsPlan,
    disk: Rc<RefCell<Disk>>,
}

impl FakeChunkserver {
    fn beat(&mut self, ctx: &mut Context<Self>) {
        let (chunks, extend) = {
            let disk = self.disk.borrow();
            let chunks: Vec<_> = disk.chunks.iter().map(|(&h, &v)| (h, v)).collect();
            (chunks, disk.primary.iter().copied().collect::<Vec<_>>())
        };
        let sent = self.node.now_ns();
        for &master in &self.plan.masters {
            let beat = Heartbeat {
                server: self.node.id(),
                chunks: chunks.clone(),
                extend: extend.clone(),
                // The fake claims no running lease: a new leader waits a lease length for it.
                holding: Vec::new(),
            };
            let node = self.node.clone();
            let timeout = self.plan.timing.heartbeat;
            let call = async move {
                let path = ActorPath::new(master, MASTER);
                node.call(&path, beat, timeout).await
            };
            ctx.spawn(call.into_actor(self).map(move |reply, act, _| {
                if let Ok(HeartbeatReply::Ack {
                    delete, extended, ..
                }) = reply
                {
                    let now = act.node.now_ns();
                    let mut disk = act.disk.borrow_mut();
                    for handle in delete {
                        disk.chunks.remove(&handle);
                        disk.primary.remove(&handle);
                        disk.deleted.push(handle);
                    }
                    for handle in extended {
                        disk.extended.push((handle, sent));
                        disk.extended_at.push((handle, now));
                    }
                }
            }));
        }
    }
}

impl Actor for FakeChunkserver {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(self.plan.timing.heartbeat, |act, ctx| act.beat(ctx));
    }
}

impl Handler<CreateChunk> for FakeChunkserver {
    type Result = ChunkAck;
    fn handle(&mut self, msg: CreateChunk, _: &mut Context<Self>) -> ChunkAck {
        let mut disk = self.disk.borrow_mut();
        disk.chunks.insert(msg.handle, msg.version);
        disk.created.push(msg);
        ChunkAck::Done
    }
}

impl Handler<NewVersion> for FakeChunkserver {
    type Result = ChunkAck;
    fn handle(&mut self, msg: NewVersion, _: &mut Context<Self>) -> ChunkAck {
        let mut disk = self.disk.borrow_mut();
        if disk.refuse_versions {
            return ChunkAck::Failed(ChunkRefusal::Storage);
        }
        disk.chunks.insert(msg.handle, msg.version);
        if msg.primary_of.is_some() {
            disk.primary.insert(msg.handle);
        } else {
            disk.primary.remove(&msg.handle);
        }
        disk.versions.push(msg);
        ChunkAck::Done
    }
}

impl Handler<DeleteChunks> for FakeChunkserver {
    type Result = ChunkAck;
    fn handle(&mut self, msg: DeleteChunks, _: &mut Context<Self>) -> ChunkAck {
        let mut disk = self.disk.borrow_mut();
        for handle in msg.handles {
            disk.chunks.remove(&handle);
            disk.deleted.push(handle);
        }
        ChunkAck::Done
    }
}

impl Handler<CloneChunk> for FakeChunkserver {
    type Result = ChunkAck;
    fn handle(&mut self, msg: CloneChunk, _: &mut Context<Self>) -> ChunkAck {
        let mut disk = self.disk.borrow_mut();
        disk.chunks.insert(msg.handle, msg.version);
        disk.clones.push(msg);
        ChunkAck::Done
    }
}

/// The cluster, with every stand-in chunkserver's disk.
pub(super) struct Gfs {
    pub cluster: Cluster,
    pub disks: Disks,
    pub plan: GfsPlan,
}

/// Plays the failover supervisor's part in re-replication (supervisors/ is built on this
/// crate): asks its node's master replica to start clones every scan period.
struct Rereplicator {
    node: Node,
    every: Duration,
}

impl Actor for Rereplicator {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(self.every, |act, _| {
            let master = ActorPath::new(act.node.id(), MASTER);
            if let Err(e) = act.node.send(&master, Rereplicate) {
                tracing::debug!("rereplicate not sent: {e}");
            }
        });
    }
}

pub(super) fn plan() -> GfsPlan {
    GfsPlan::new(
        MASTERS.iter().map(|&n| NodeId(n)).collect(),
        SERVERS.iter().map(|&n| NodeId(n)).collect(),
    )
}

pub(super) fn start(seed: u64, snapshot_every: u64) -> Gfs {
    let plan = plan();
    let disks: Disks = Rc::new(
        SERVERS
            .iter()
            .map(|&n| (n, Rc::new(RefCell::new(Disk::default()))))
            .collect(),
    );
    let mut options = MasterOptions::new(plan.clone());
    options.snapshot_every = snapshot_every;
    let (topology_disks, topology_plan) = (disks.clone(), plan.clone());
    let cluster = Cluster::builder(seed)
        .nodes(CLIENT)
        .topology(move |node| {
            let id = node.id().0;
            if MASTERS.contains(&id) {
                MasterServer::spawn(node, options.clone()).expect("the master starts");
                node.spawn(Rereplicator {
                    node: node.clone(),
                    every: options.plan.timing.scan,
                });
            } else if let Some(disk) = topology_disks.get(&id) {
                let fake = FakeChunkserver {
                    node: node.clone(),
                    plan: topology_plan.clone(),
                    disk: disk.clone(),
                };
                node.spawn_named(CHUNKSERVER, fake)
                    .expect("the chunkserver starts")
                    .accept::<CreateChunk>()
                    .accept::<NewVersion>()
                    .accept::<DeleteChunks>()
                    .accept::<CloneChunk>();
            }
        })
        .build();
    Gfs {
        cluster,
        disks,
        plan,
    }
}

impl Gfs {
    pub fn disk(&self, server: NodeId) -> std::cell::Ref<'_, Disk> {
        self.disks[&server.0].borrow()
    }

    pub fn now(&self) -> u64 {
        self.cluster.up(CLIENT).now_ns()
    }

    pub fn lease_ns(&self) -> u64 {
        self.plan.timing.lease.as_nanos() as u64
    }

    /// One master replica's view, if it answers.
    pub async fn inspect(&self, master: u32) -> Option<MasterStatus> {
        let path = ActorPath::new(NodeId(master), MASTER);
        let client = self.cluster.up(CLIENT);
        client.call(&path, InspectMaster, ms(100)).await.ok()
    }

    /// Waits until a replica serves and knows every live chunkserver in `live`; its number.
    pub async fn serving(&self, live: &[u32]) -> u32 {
        let found = Rc::new(RefCell::new(None));
        let result = found.clone();
        self.cluster
            .wait_for("a serving master", Duration::from_secs(10), ms(5), || {
                let found = found.clone();
                async move {
                    for m in MASTERS {
                        if let Some(status) = self.inspect(m).await {
                            let all = live
                                .iter()
                                .all(|&s| status.live_servers.contains(&NodeId(s)));
                            if status.serving && all {
                                *found.borrow_mut() = Some(m);
                                return true;
                            }
                        }
                    }
                    false
                }
            })
            .await
            .expect("a master serves");
        let leader = result.borrow().expect("found");
        leader
    }

    /// Asks the masters, following `NotLeader` hints and retrying while none serves.
    pub async fn ask(&self, op: MasterOp) -> MasterReply {
        let client = self.cluster.up(CLIENT);
        let deadline = self.now() + 10_000_000_000;
        let mut target = MASTERS[0];
        loop {
            let path = ActorPath::new(NodeId(target), MASTER);
            let request = MasterRequest { op: op.clone() };
            match client.call(&path, request, ms(500)).await {
                Ok(MasterReply::Refused(MasterRefusal::NotLeader { leader: Some(l) }))
                    if MASTERS.contains(&l.0) && l.0 != target =>
                {
                    target = l.0;
                    continue;
                }
                // Heartbeats tell a new leader where replicas are.
                Ok(MasterReply::Refused(
                    MasterRefusal::NotReady
                    | MasterRefusal::Unavailable
                    | MasterRefusal::NoLiveReplica,
                )) => {}
                Ok(MasterReply::Refused(MasterRefusal::NotLeader { .. })) | Err(_) => {
                    target = target % 3 + 1;
                }
                Ok(reply) => return reply,
            }
            assert!(self.now() < deadline, "no master answered {op:?}");
            tokio::time::sleep(ms(20)).await;
        }
    }

    /// A new file at `path` with one chunk; where the chunk is.
    pub async fn file_with_chunk(&self, path: &str) -> ChunkLocation {
        let create = MasterOp::Create { path: path.into() };
        assert_eq!(self.ask(create).await, MasterReply::Done);
        let add = MasterOp::AddChunk {
            path: path.into(),
            index: 0,
        };
        match self.ask(add).await {
            MasterReply::Located(location) => location,
            other => panic!("no chunk for {path}: {other:?}"),
        }
    }

    /// The chunk's lease, waiting as told; the lease and when it was granted.
    pub async fn lease(&self, handle: ChunkHandle) -> (LeaseInfo, u64) {
        loop {
            match self.ask(MasterOp::Lease { handle }).await {
                MasterReply::Lease(info) => return (info, self.now()),
                MasterReply::Refused(MasterRefusal::WaitForLease { .. }) => {
                    tokio::time::sleep(ms(50)).await
                }
                other => panic!("no lease on {handle}: {other:?}"),
            }
        }
    }

    /// Waits until `server` started (or extended) a lease on `handle`.
    pub async fn started(&self, server: NodeId, handle: ChunkHandle) {
        let disks = self.disks.clone();
        self.cluster
            .wait_until(
                "the primary starts its lease",
                Duration::from_secs(5),
                || {
                    disks[&server.0]
                        .borrow()
                        .extended
                        .iter()
                        .any(|&(h, _)| h == handle)
                },
            )
            .await
            .expect("the lease starts");
    }
}

pub(super) fn sorted(mut v: Vec<NodeId>) -> Vec<NodeId> {
    v.sort();
    v
}
