//! The master actor in virtual time: three master replicas (n1..n3), four stand-in
//! chunkservers (n4..n7) that heartbeat what they hold and do what the master orders, and a
//! client node (n8) that follows `NotLeader` hints.

use super::{MasterOptions, MasterServer};
use crate::gfs::{GfsPlan, CHUNKSERVER, MASTER};
use crate::raft::peer::NAME as RAFT;
use actix::{Actor, ActorFutureExt, AsyncContext, Context, Handler, WrapFuture};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use std::time::Duration;
use troupe_messages::gfs::{
    ChunkAck, ChunkHandle, ChunkLocation, ChunkVersion, CloneChunk, CreateChunk, DeleteChunks,
    Heartbeat, HeartbeatReply, InspectMaster, LeaseInfo, MasterOp, MasterRefusal, MasterReply,
    MasterRequest, MasterStatus, NewVersion,
};
use troupe_messages::raft::GetStatus;
use troupe_messages::{ActorPath, NodeId};
use troupe_runtime::testkit::{simulate, Cluster};
use troupe_runtime::Node;

const MASTERS: [u32; 3] = [1, 2, 3];
const SERVERS: [u32; 4] = [4, 5, 6, 7];
const CLIENT: u32 = 8;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// What a stand-in chunkserver holds and was told; it outlives the node's crashes.
#[derive(Debug, Default)]
struct Disk {
    chunks: BTreeMap<ChunkHandle, ChunkVersion>,
    created: Vec<CreateChunk>,
    versions: Vec<NewVersion>,
    clones: Vec<CloneChunk>,
    deleted: Vec<ChunkHandle>,
    /// Chunks it was named primary of; it asks to extend them at every heartbeat.
    primary: BTreeSet<ChunkHandle>,
    /// Leases started or extended: the chunk and when the heartbeat that got it was sent.
    extended: Vec<(ChunkHandle, u64)>,
}

type Disks = Rc<BTreeMap<u32, Rc<RefCell<Disk>>>>;

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
                    let mut disk = act.disk.borrow_mut();
                    for handle in delete {
                        disk.chunks.remove(&handle);
                        disk.primary.remove(&handle);
                        disk.deleted.push(handle);
                    }
                    for handle in extended {
                        disk.extended.push((handle, sent));
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
struct Gfs {
    cluster: Cluster,
    disks: Disks,
    plan: GfsPlan,
}

fn plan() -> GfsPlan {
    GfsPlan::new(
        MASTERS.iter().map(|&n| NodeId(n)).collect(),
        SERVERS.iter().map(|&n| NodeId(n)).collect(),
    )
}

fn start(seed: u64, snapshot_every: u64) -> Gfs {
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
    fn disk(&self, server: NodeId) -> std::cell::Ref<'_, Disk> {
        self.disks[&server.0].borrow()
    }

    fn now(&self) -> u64 {
        self.cluster.up(CLIENT).now_ns()
    }

    fn lease_ns(&self) -> u64 {
        self.plan.timing.lease.as_nanos() as u64
    }

    /// One master replica's view, if it answers.
    async fn inspect(&self, master: u32) -> Option<MasterStatus> {
        let path = ActorPath::new(NodeId(master), MASTER);
        let client = self.cluster.up(CLIENT);
        client.call(&path, InspectMaster, ms(100)).await.ok()
    }

    /// Waits until a replica serves and knows every live chunkserver in `live`; its number.
    async fn serving(&self, live: &[u32]) -> u32 {
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
    async fn ask(&self, op: MasterOp) -> MasterReply {
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
    async fn file_with_chunk(&self, path: &str) -> ChunkLocation {
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
    async fn lease(&self, handle: ChunkHandle) -> (LeaseInfo, u64) {
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
    async fn started(&self, server: NodeId, handle: ChunkHandle) {
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

fn sorted(mut v: Vec<NodeId>) -> Vec<NodeId> {
    v.sort();
    v
}

#[test]
fn create_add_chunk_and_locate_through_whoever_leads() {
    simulate(1401, |seed| async move {
        let gfs = start(seed, 1000);
        let leader = gfs.serving(&SERVERS).await;
        let follower = MASTERS.iter().copied().find(|&m| m != leader).unwrap();
        let path = ActorPath::new(NodeId(follower), MASTER);
        let list = MasterRequest {
            op: MasterOp::List { dir: "/".into() },
        };
        let reply = gfs.cluster.up(CLIENT).call(&path, list, ms(500)).await;
        assert_eq!(
            reply.unwrap(),
            MasterReply::Refused(MasterRefusal::NotLeader {
                leader: Some(NodeId(leader))
            })
        );
        let chunk = gfs.file_with_chunk("/logs/a").await;
        assert_eq!((chunk.index, chunk.version), (0, ChunkVersion(1)));
        assert_eq!(chunk.replicas.len(), 3);
        for &server in &chunk.replicas {
            let created = gfs.disk(server).created.clone();
            assert_eq!(
                created,
                vec![CreateChunk {
                    handle: chunk.handle,
                    version: ChunkVersion(1)
                }]
            );
        }
        // At once, before any heartbeat reports the new chunk.
        let locate = MasterOp::Locate {
            path: "/logs/a".into(),
            index: 0,
        };
        match gfs.ask(locate).await {
            MasterReply::Located(at) => {
                assert_eq!((at.handle, at.version), (chunk.handle, chunk.version));
                assert_eq!(at.replicas, sorted(chunk.replicas.clone()));
            }
            other => panic!("not located: {other:?}"),
        }
        let again = MasterOp::AddChunk {
            path: "/logs/a".into(),
            index: 0,
        };
        match gfs.ask(again).await {
            MasterReply::Located(at) => assert_eq!(at.handle, chunk.handle, "the same chunk"),
            other => panic!("not located: {other:?}"),
        }
        let beyond = MasterOp::AddChunk {
            path: "/logs/a".into(),
            index: 2,
        };
        assert_eq!(
            gfs.ask(beyond).await,
            MasterReply::Refused(MasterRefusal::NoChunkAt { index: 2 })
        );
        let stat = MasterOp::Stat {
            path: "/logs/a".into(),
        };
        assert_eq!(gfs.ask(stat).await, MasterReply::Stat { chunks: 1 });
        let create = MasterOp::Create {
            path: "/logs/a".into(),
        };
        assert_eq!(
            gfs.ask(create).await,
            MasterReply::Refused(MasterRefusal::Exists("/logs/a".into()))
        );
        let bad = MasterOp::Create { path: "rel".into() };
        assert_eq!(
            gfs.ask(bad).await,
            MasterReply::Refused(MasterRefusal::BadPath("rel".into()))
        );
        let listed = gfs.ask(MasterOp::List { dir: "/".into() }).await;
        assert_eq!(listed, MasterReply::Listed(vec!["/logs/a".into()]));
        let delete = MasterOp::Delete {
            path: "/logs/a".into(),
        };
        assert_eq!(gfs.ask(delete).await, MasterReply::Done);
        let listed = gfs.ask(MasterOp::List { dir: "/".into() }).await;
        assert_eq!(listed, MasterReply::Listed(vec![]));
        let status = gfs.inspect(leader).await.unwrap();
        assert_eq!((status.files, status.chunks), (0, 1), "reclaimed later");
    });
}

#[test]
fn a_new_lease_bumps_the_version_tells_every_replica_and_the_primary_extend_starts_it() {
    simulate(1402, |seed| async move {
        let gfs = start(seed, 1000);
        gfs.serving(&SERVERS).await;
        let chunk = gfs.file_with_chunk("/f").await;
        let (lease, _) = gfs.lease(chunk.handle).await;
        assert_eq!(lease.version, ChunkVersion(2));
        let mut all = lease.secondaries.clone();
        all.push(lease.primary);
        assert_eq!(sorted(all), sorted(chunk.replicas.clone()));
        for &server in &chunk.replicas {
            let disk = gfs.disk(server);
            let primary_of = (server == lease.primary).then(|| lease.secondaries.clone());
            assert_eq!(
                disk.versions,
                vec![NewVersion {
                    handle: chunk.handle,
                    version: ChunkVersion(2),
                    primary_of
                }],
                "{server} told the new version"
            );
            assert_eq!(disk.chunks[&chunk.handle], ChunkVersion(2));
        }
        gfs.started(lease.primary, chunk.handle).await;
        for &server in &lease.secondaries {
            assert!(gfs.disk(server).extended.is_empty(), "only the primary");
        }
        // While it runs: the same lease, no new version.
        let (again, _) = gfs.lease(chunk.handle).await;
        assert_eq!(again, lease);
        let locate = MasterOp::Locate {
            path: "/f".into(),
            index: 0,
        };
        match gfs.ask(locate).await {
            MasterReply::Located(at) => assert_eq!(at.version, ChunkVersion(2)),
            other => panic!("not located: {other:?}"),
        }
    });
}

#[test]
fn after_the_leader_crashes_another_serves_the_same_state_and_waits_a_lease_length() {
    simulate(1403, |seed| async move {
        let gfs = start(seed, 1000);
        let old = gfs.serving(&SERVERS).await;
        let chunk = gfs.file_with_chunk("/a").await;
        assert_eq!(
            gfs.ask(MasterOp::Create { path: "/b".into() }).await,
            MasterReply::Done
        );
        let (lease, _) = gfs.lease(chunk.handle).await;
        gfs.started(lease.primary, chunk.handle).await;
        gfs.cluster.crash(old);
        let crashed = gfs.now();
        let new = gfs.serving(&SERVERS).await;
        assert_ne!(new, old);
        let listed = gfs.ask(MasterOp::List { dir: "/".into() }).await;
        assert_eq!(listed, MasterReply::Listed(vec!["/a".into(), "/b".into()]));
        let locate = MasterOp::Locate {
            path: "/a".into(),
            index: 0,
        };
        match gfs.ask(locate).await {
            MasterReply::Located(at) => {
                assert_eq!((at.handle, at.version), (chunk.handle, ChunkVersion(2)));
                assert_eq!(at.replicas, sorted(chunk.replicas.clone()));
            }
            other => panic!("not located: {other:?}"),
        }
        // Until a new lease is asked for, only the old leader extended the old one.
        let last_sent = gfs
            .disk(lease.primary)
            .extended
            .iter()
            .map(|&(_, sent)| sent)
            .max()
            .unwrap();
        assert!(last_sent <= crashed, "extended after the leader crashed");
        let (next, granted) = gfs.lease(chunk.handle).await;
        assert!(
            granted >= crashed + gfs.lease_ns(),
            "a lease {} ms after the leader crashed",
            (granted - crashed) / 1_000_000
        );
        assert_eq!(next.version, ChunkVersion(3), "a new lease, a new version");
    });
}

#[test]
fn all_masters_restart_and_recover_from_snapshot_and_log() {
    simulate(1404, |seed| async move {
        let gfs = start(seed, 3);
        gfs.serving(&SERVERS).await;
        let mut chunks = Vec::new();
        for i in 0..4 {
            chunks.push(gfs.file_with_chunk(&format!("/d/{i}")).await);
        }
        let (lease, _) = gfs.lease(chunks[0].handle).await;
        assert_eq!(
            gfs.ask(MasterOp::Delete {
                path: "/d/3".into()
            })
            .await,
            MasterReply::Done
        );
        let client = gfs.cluster.up(CLIENT);
        let raft = ActorPath::new(NodeId(1), RAFT);
        let status = client.call(&raft, GetStatus, ms(100)).await.unwrap();
        assert!(
            status.snapshot_index > 0,
            "a snapshot was taken: {status:?}"
        );
        for m in MASTERS {
            gfs.cluster.crash(m);
        }
        gfs.cluster.run_for(ms(100)).await;
        for m in MASTERS {
            gfs.cluster.restart(m);
        }
        gfs.serving(&SERVERS).await;
        let listed = gfs.ask(MasterOp::List { dir: "/d".into() }).await;
        let want: Vec<String> = (0..3).map(|i| format!("/d/{i}")).collect();
        assert_eq!(listed, MasterReply::Listed(want));
        for (i, chunk) in chunks.iter().enumerate().take(3) {
            let locate = MasterOp::Locate {
                path: format!("/d/{i}"),
                index: 0,
            };
            let version = if i == 0 {
                lease.version
            } else {
                ChunkVersion(1)
            };
            match gfs.ask(locate).await {
                MasterReply::Located(at) => {
                    assert_eq!((at.handle, at.version), (chunk.handle, version))
                }
                other => panic!("not located: {other:?}"),
            }
        }
        // Handles are never handed out twice.
        let more = gfs.file_with_chunk("/d/new").await;
        assert!(chunks.iter().all(|c| c.handle < more.handle));
    });
}

#[test]
fn a_dead_chunkservers_chunks_are_cloned_to_reach_the_target() {
    simulate(1405, |seed| async move {
        let gfs = start(seed, 1000);
        let leader = gfs.serving(&SERVERS).await;
        let chunk = gfs.file_with_chunk("/c").await;
        let spare = SERVERS
            .iter()
            .map(|&s| NodeId(s))
            .find(|s| !chunk.replicas.contains(s))
            .unwrap();
        let dead = chunk.replicas[0];
        gfs.cluster.crash(dead.0);
        let disks = gfs.disks.clone();
        gfs.cluster
            .wait_until("the chunk is cloned", Duration::from_secs(5), || {
                disks[&spare.0].borrow().chunks.contains_key(&chunk.handle)
            })
            .await
            .expect("a clone");
        gfs.cluster
            .wait_for(
                "the clone is counted",
                Duration::from_secs(5),
                ms(5),
                || async {
                    gfs.inspect(leader)
                        .await
                        .is_some_and(|s| s.under_replicated == 0)
                },
            )
            .await
            .expect("the target reached");
        let clones = gfs.disk(spare).clones.clone();
        assert_eq!(clones.len(), 1);
        assert_eq!(
            (clones[0].handle, clones[0].version),
            (chunk.handle, chunk.version)
        );
        assert!(chunk.replicas.contains(&clones[0].from) && clones[0].from != dead);
        let locate = MasterOp::Locate {
            path: "/c".into(),
            index: 0,
        };
        match gfs.ask(locate).await {
            MasterReply::Located(at) => {
                assert_eq!(at.replicas.len(), 3);
                assert!(at.replicas.contains(&spare) && !at.replicas.contains(&dead));
            }
            other => panic!("not located: {other:?}"),
        }
    });
}

#[test]
fn a_lease_whose_primary_stops_heartbeating_is_not_moved_before_it_expires() {
    simulate(1406, |seed| async move {
        let gfs = start(seed, 1000);
        gfs.serving(&SERVERS).await;
        let chunk = gfs.file_with_chunk("/p").await;
        let (lease, _) = gfs.lease(chunk.handle).await;
        gfs.started(lease.primary, chunk.handle).await;
        // The primary is cut off from the masters, alive and acting on its lease.
        gfs.cluster.cut_off(lease.primary.0, &MASTERS);
        let (next, granted) = loop {
            let (now, at) = gfs.lease(chunk.handle).await;
            if now.primary != lease.primary {
                break (now, at);
            }
            assert_eq!(now, lease, "the same lease while it may run");
            tokio::time::sleep(ms(50)).await;
        };
        let last_sent = gfs
            .disk(lease.primary)
            .extended
            .iter()
            .filter(|&&(h, _)| h == chunk.handle)
            .map(|&(_, sent)| sent)
            .max()
            .unwrap();
        assert_ne!(next.primary, lease.primary);
        assert!(next.version > lease.version);
        assert!(
            granted >= last_sent + gfs.lease_ns(),
            "a new primary {} ms before the old lease ran out",
            (last_sent + gfs.lease_ns()).saturating_sub(granted) / 1_000_000
        );
    });
}

#[cfg(feature = "planted-bugs")]
#[test]
fn the_planted_bug_moves_a_lease_early_and_the_test_catches_it() {
    use troupe_runtime::plant::{fails_with, Bug};
    assert!(fails_with(
        Bug::NewPrimaryBeforeLeaseExpiry,
        a_lease_whose_primary_stops_heartbeating_is_not_moved_before_it_expires
    ));
}
