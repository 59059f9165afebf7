//! GFS: a master replicated on Raft, four chunkservers and two clients that record-append to
//! one file. The primary of the file's chunk is killed in the middle of the appends; the master
//! waits for its lease to expire before it names a new primary, and clones the chunk to a
//! fourth chunkserver. A narrator tells each step.
//!
//! Run it with `cargo run --example gfs`.
//!
//! The cast:
//! - n1..n3: the master's replicas. The master's operation log (files, chunks, versions) is
//!   their Raft log; only the leader serves. Where replicas are is not logged: every
//!   chunkserver tells every master replica what it holds in its heartbeats.
//! - n4..n7: chunkservers. Each chunk is kept on three of them, with a checksum per 64 KB
//!   block and a version number.
//! - n8, n9: clients, appending records of their own to `/log`.
//!
//! The story:
//! 1. The first append makes the master add a chunk on three chunkservers and give one of them
//!    a lease: it is the primary, and the chunk's version goes up by one.
//! 2. Each append pushes the record along the three replicas, then asks the primary to append
//!    it: the primary picks the offset and every secondary writes it there too.
//! 3. The primary's node crashes. The clients' appends fail and are retried. The master could
//!    name another primary at once, but the old one might be alive behind a partition and still
//!    acting on its lease: it waits until the lease has expired.
//! 4. A new primary, a new version. The chunk has two up-to-date replicas: the master clones
//!    it to the fourth chunkserver. When the old primary comes back, its copy is stale (an old
//!    version) and is deleted at its first heartbeat.
//! 5. A fresh client reads the file: every acknowledged record is there (some may be there
//!    twice: record append is at least once, and readers skip duplicates by record id).
//!
//! Everything runs on the simulated network in virtual time; every time printed is virtual.

use std::cell::{Cell, RefCell};
use std::collections::BTreeSet;
use std::rc::Rc;
use std::time::Duration;
use troupe::systems::gfs::{Gfs, MASTER};
use troupe::systems::topology;
use troupe_messages::gfs::{LeaseInfo, MasterOp, MasterRefusal, MasterReply, MasterRequest};
use troupe_runtime::sim::{block_on, LinkFaults};
use troupe_runtime::testkit::Cluster;
use troupe_runtime::{ActorPath, Node};

const CLIENTS: [u32; 2] = [8, 9];
const NARRATOR: u32 = 10;
const FILE: &str = "/log";

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn system() -> Gfs {
    Gfs::managed(4)
}

/// Tells what it sees, with the virtual time.
struct Narrator {
    node: Node,
}

impl Narrator {
    fn say(&self, line: &str) {
        println!("[{:>5} ms] {line}", self.node.now_ns() / 1_000_000);
    }

    /// Asks the master's replicas, leader first, who holds the chunk's lease: the lease, or
    /// why none may be granted yet.
    async fn lease(&self, op: &MasterOp) -> Result<LeaseInfo, MasterRefusal> {
        let mut last = MasterRefusal::Unavailable;
        for &master in system().masters() {
            let path = ActorPath::new(master, MASTER);
            let request = MasterRequest { op: op.clone() };
            match self.node.call(&path, request, ms(500)).await {
                Ok(MasterReply::Lease(lease)) => return Ok(lease),
                Ok(MasterReply::Refused(MasterRefusal::NotLeader { .. })) | Err(_) => {}
                Ok(MasterReply::Refused(refusal)) => last = refusal,
                Ok(other) => panic!("unexpected answer {other:?}"),
            }
        }
        Err(last)
    }
}

fn main() {
    let (acked, found) = block_on(async {
        let cluster = Cluster::builder(7)
            .nodes(NARRATOR)
            .faults(LinkFaults::reliable().with_delay(ms(1), ms(5)))
            .topology(topology(system()))
            .build();
        let narrator = Narrator {
            node: cluster.up(NARRATOR),
        };
        let mut setup = system().client(cluster.up(NARRATOR), 1_000);
        setup.create(FILE, ms(10_000)).await.expect("create /log");
        setup
            .record_append(FILE, b"first record", ms(10_000))
            .await
            .expect("the first append");
        let mut locator = system().client(cluster.up(NARRATOR), 1_001);
        let chunks = locator.chunks(FILE, ms(5_000)).await.expect("stat");
        narrator.say(&format!(
            "/log created; its first append added chunk 0 ({chunks} chunk)"
        ));
        let op = MasterOp::Locate {
            path: FILE.into(),
            index: 0,
        };
        let located = match ask(&narrator.node, &op).await {
            Some(MasterReply::Located(location)) => location,
            other => panic!("locate: {other:?}"),
        };
        let lease_op = MasterOp::Lease {
            handle: located.handle,
        };
        let lease = narrator.lease(&lease_op).await.expect("a lease");
        narrator.say(&format!(
            "chunk {} is on {:?} at version {}; {} holds its lease (the primary)",
            located.handle, located.replicas, lease.version, lease.primary
        ));
        narrator.say("two clients start appending records to /log");
        let acked = Rc::new(RefCell::new(BTreeSet::new()));
        let stop = Rc::new(Cell::new(false));
        let mut tasks = Vec::new();
        for (i, &on) in CLIENTS.iter().enumerate() {
            let mut client = system().client(cluster.up(on), i as u64 + 1);
            let (acked, stop) = (acked.clone(), stop.clone());
            tasks.push(actix_rt::spawn(async move {
                let mut n = 0;
                while !stop.get() {
                    n += 1;
                    let record = format!("client {i} record {n}");
                    if let Ok(appended) = client
                        .record_append(FILE, record.as_bytes(), ms(10_000))
                        .await
                    {
                        acked.borrow_mut().insert(appended.id);
                    }
                }
            }));
        }
        tokio::time::sleep(ms(1_000)).await;
        narrator.say(&format!(
            "{} appends acknowledged so far; {}, the primary, crashes",
            acked.borrow().len(),
            lease.primary
        ));
        cluster.crash(lease.primary.0);
        let crashed_at = narrator.node.now_ns();
        let new = loop {
            match narrator.lease(&lease_op).await {
                Ok(new) if new.primary != lease.primary => break new,
                Ok(_) => {}
                Err(MasterRefusal::WaitForLease { ms: wait }) => narrator.say(&format!(
                    "    the master names no new primary yet: the old lease may still run \
                     ({wait} ms to go)"
                )),
                Err(refusal) => narrator.say(&format!("    the master says: {refusal}")),
            }
            tokio::time::sleep(ms(250)).await;
        };
        narrator.say(&format!(
            "{} ms after the crash, {} is the new primary at version {} (was {})",
            (narrator.node.now_ns() - crashed_at) / 1_000_000,
            new.primary,
            new.version,
            lease.version
        ));
        tokio::time::sleep(ms(1_500)).await;
        let located = match ask(&narrator.node, &op).await {
            Some(MasterReply::Located(location)) => location,
            other => panic!("locate: {other:?}"),
        };
        narrator.say(&format!(
            "the chunk is on {:?} again: the master cloned it to bring it back to three \
             replicas",
            located.replicas
        ));
        cluster.restart(lease.primary.0);
        narrator.say(&format!(
            "{} comes back with a copy at version {}: stale, it is deleted at its first heartbeat",
            lease.primary, lease.version
        ));
        tokio::time::sleep(ms(1_000)).await;
        stop.set(true);
        for task in tasks {
            let _ = task.await;
        }
        let acked = acked.borrow().clone();
        let mut reader = system().client(cluster.up(NARRATOR), 99);
        let found = reader
            .records(FILE, ms(10_000))
            .await
            .expect("the final read");
        let ids: BTreeSet<u128> = found.records.iter().map(|r| r.id).collect();
        let lost: Vec<&u128> = acked.iter().filter(|id| !ids.contains(id)).collect();
        assert!(lost.is_empty(), "acknowledged records lost: {lost:?}");
        narrator.say(&format!(
            "the clients stop; {} appends were acknowledged. A fresh client reads /log: {} \
             records, each acknowledged one among them ({} duplicate copies skipped)",
            acked.len(),
            found.records.len(),
            found.duplicates
        ));
        (acked.len(), found.records.len())
    });
    assert!(acked > 100, "too few appends: {acked}");
    assert!(
        found > acked,
        "the read found fewer records than were acknowledged"
    );
}

/// Asks the master's replicas `op` until the leader answers.
async fn ask(node: &Node, op: &MasterOp) -> Option<MasterReply> {
    for _ in 0..50 {
        for &master in system().masters() {
            let path = ActorPath::new(master, MASTER);
            let request = MasterRequest { op: op.clone() };
            match node.call(&path, request, ms(500)).await {
                Ok(MasterReply::Refused(_)) | Err(_) => {}
                Ok(reply) => return Some(reply),
            }
        }
        tokio::time::sleep(ms(100)).await;
    }
    None
}
