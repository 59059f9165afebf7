//! A GFS deployment under test: masters on n1-n3, chunkservers on n4-n7, `clients` client nodes
//! after them and a last node for the test's own calls. Links delay 1-5 ms.

use std::cell::{Cell, RefCell};
use std::collections::BTreeSet;
use std::rc::Rc;
use std::time::Duration;
use troupe::systems::gfs::{Gfs, CHUNKSERVER, MASTER};
use troupe::systems::{topology, Assembly};
use troupe::testkit::client_id;
use troupe_actors::gfs::client::GfsClient;
use troupe_messages::gfs::{
    ChunkLocation, ChunkserverStatus, InspectChunkserver, InspectMaster, LeaseInfo, MasterOp,
    MasterReply, MasterRequest, MasterStatus,
};
use troupe_runtime::sim::LinkFaults;
use troupe_runtime::testkit::Cluster;
use troupe_runtime::{ActorPath, Node, NodeId};

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// What the workload's clients did.
#[derive(Default)]
pub struct Appends {
    /// Records acknowledged: (file, id).
    pub acked: BTreeSet<(String, u128)>,
    /// Appends that failed or timed out.
    pub failed: u64,
}

pub struct GfsHarness {
    pub cluster: Cluster,
    pub system: Gfs,
    pub clients: u32,
    seed: u64,
    ids: Cell<u64>,
}

impl GfsHarness {
    /// Masters on n1-n3, four chunkservers, `clients` client nodes.
    pub fn new(seed: u64, clients: u32) -> Self {
        Self::with(seed, clients, Gfs::managed(4))
    }

    /// `system` with `clients` client nodes.
    pub fn with(seed: u64, clients: u32, system: Gfs) -> Self {
        let cluster = Cluster::builder(seed)
            .nodes(system.last_node() + clients + 1)
            .baseline(LinkFaults::reliable().with_delay(ms(1), ms(5)))
            .topology(topology(system.clone()))
            .build();
        GfsHarness {
            cluster,
            system,
            clients,
            seed,
            ids: Cell::new(0),
        }
    }

    /// The node for the test's own calls.
    pub fn own_node(&self) -> Node {
        self.cluster.up(self.system.last_node() + self.clients + 1)
    }

    /// A client with a fresh id on `node`.
    pub fn client_on(&self, node: Node) -> GfsClient {
        self.ids.set(self.ids.get() + 1);
        self.system
            .client(node, client_id(self.seed, (1 << 42) + self.ids.get()))
    }

    /// A client with a fresh id on the test's own node.
    pub fn client(&self) -> GfsClient {
        self.client_on(self.own_node())
    }

    /// The master replica that serves, waiting up to `deadline` for one.
    pub async fn serving_master(&self, deadline: Duration) -> NodeId {
        let end = tokio::time::Instant::now() + deadline;
        loop {
            if let Some((master, _)) = self.master_status().await {
                return master;
            }
            assert!(
                tokio::time::Instant::now() < end,
                "no master served within {deadline:?}"
            );
            tokio::time::sleep(ms(50)).await;
        }
    }

    /// The serving master and its status, if one answers.
    pub async fn master_status(&self) -> Option<(NodeId, MasterStatus)> {
        let node = self.own_node();
        for &master in self.system.masters() {
            let path = ActorPath::new(master, MASTER);
            if let Ok(status) = node.call(&path, InspectMaster, ms(100)).await {
                if status.serving {
                    return Some((master, status));
                }
            }
        }
        None
    }

    /// What a chunkserver holds and has done, if it answers.
    pub async fn chunkserver(&self, server: NodeId) -> Option<ChunkserverStatus> {
        let path = ActorPath::new(server, CHUNKSERVER);
        self.own_node()
            .call(&path, InspectChunkserver, ms(100))
            .await
            .ok()
    }

    /// Asks the serving master `op`, retrying refusals until `deadline`.
    pub async fn ask_master(&self, op: MasterOp, deadline: Duration) -> MasterReply {
        let end = tokio::time::Instant::now() + deadline;
        loop {
            let master = self.serving_master(deadline).await;
            let path = ActorPath::new(master, MASTER);
            let request = MasterRequest { op: op.clone() };
            match self.own_node().call(&path, request, ms(500)).await {
                Ok(MasterReply::Refused(refusal)) if tokio::time::Instant::now() < end => {
                    tracing::debug!("master refused {op:?}: {refusal}");
                }
                Ok(reply) => return reply,
                Err(e) => tracing::debug!("master call failed: {e}"),
            }
            assert!(
                tokio::time::Instant::now() < end,
                "the master did not answer {op:?}"
            );
            tokio::time::sleep(ms(50)).await;
        }
    }

    /// Where chunk `index` of `path` is.
    pub async fn locate(&self, path: &str, index: u64) -> ChunkLocation {
        let op = MasterOp::Locate {
            path: path.into(),
            index,
        };
        match self.ask_master(op, ms(5_000)).await {
            MasterReply::Located(location) => location,
            other => panic!("locate {path}#{index}: {other:?}"),
        }
    }

    /// The chunk's lease, granting one if none runs (the master waits out an earlier one).
    /// Creates `path` and appends one record, so that it has a chunk with a lease; answers
    /// where.
    pub async fn file_with_a_chunk(&self, path: &str) -> ChunkLocation {
        self.serving_master(ms(5_000)).await;
        let mut client = self.client();
        client.create(path, ms(5_000)).await.expect("create");
        client
            .record_append(path, b"first", ms(5_000))
            .await
            .expect("first append");
        self.locate(path, 0).await
    }

    pub async fn lease(&self, location: &ChunkLocation, deadline: Duration) -> LeaseInfo {
        let op = MasterOp::Lease {
            handle: location.handle,
        };
        match self.ask_master(op, deadline).await {
            MasterReply::Lease(lease) => lease,
            other => panic!("lease of {}: {other:?}", location.handle),
        }
    }

    /// `clients` clients append records of 100 bytes to `path` for `duration`, while
    /// `during` runs; what was acknowledged.
    pub async fn append_for(
        &self,
        path: &str,
        duration: Duration,
        during: impl std::future::Future<Output = ()>,
    ) -> Appends {
        let appends = Rc::new(RefCell::new(Appends::default()));
        let first = self.system.last_node() + 1;
        let workers = (0..self.clients).map(|c| {
            let mut client = self.client_on(self.cluster.up(first + c));
            let appends = appends.clone();
            let path = path.to_string();
            async move {
                let end = tokio::time::Instant::now() + duration;
                let mut n = 0;
                while tokio::time::Instant::now() < end {
                    n += 1;
                    let mut payload = format!("client {c} record {n};").into_bytes();
                    payload.resize(100, b'.');
                    match client.record_append(&path, &payload, ms(5_000)).await {
                        Ok(appended) => {
                            appends
                                .borrow_mut()
                                .acked
                                .insert((path.clone(), appended.id));
                        }
                        Err(e) => {
                            tracing::debug!("append failed: {e}");
                            appends.borrow_mut().failed += 1;
                        }
                    }
                }
            }
        });
        tokio::join!(futures_util::future::join_all(workers), during);
        Rc::try_unwrap(appends)
            .map(RefCell::into_inner)
            .unwrap_or_default()
    }

    /// Reads every file of `appends` and checks that each acknowledged record is there;
    /// answers how many records were read in all.
    pub async fn check_acked(&self, appends: &Appends) -> usize {
        let mut client = self.client();
        let files: BTreeSet<&String> = appends.acked.iter().map(|(f, _)| f).collect();
        let mut read = 0;
        for file in files {
            let found = client
                .records(file, ms(20_000))
                .await
                .unwrap_or_else(|e| panic!("reading {file}: {e}"));
            let ids: BTreeSet<u128> = found.records.iter().map(|r| r.id).collect();
            read += ids.len();
            let lost: Vec<_> = appends
                .acked
                .iter()
                .filter(|(f, id)| f == file && !ids.contains(id))
                .collect();
            assert!(
                lost.is_empty(),
                "acknowledged records lost from {file}: {lost:?}"
            );
        }
        read
    }
}

/// Flips a byte in the first page of `handle`'s data on `server`'s disk (its persister), as a
/// failing disk would: the chunkserver's block checksum no longer matches.
pub fn corrupt_first_block(
    h: &GfsHarness,
    server: NodeId,
    handle: troupe_messages::gfs::ChunkHandle,
) {
    use troupe_runtime::Persister as _;
    let persister = h
        .cluster
        .net()
        .persister(server)
        .expect("the server's persister");
    let key = troupe_actors::gfs::chunkserver::persisted_files::page_key(handle, 0);
    let mut page = persister
        .load(&key)
        .expect("the persister reads")
        .expect("the chunk's first page");
    page[40] ^= 0xFF;
    persister.save(&key, &page).expect("the persister writes");
}
