//! A fault-tolerant VM under test on the simulated network: the shared storage and the
//! failover supervisor on n1-n3, three VM hosts on n4-n6 (primary, backup and a spare), client
//! nodes after them and a last node for the test's own reads. Clients run the shared key-value
//! workload; every test ends by checking the whole history for linearizability and every
//! acknowledged append in the final values.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;
use troupe::systems::vmft::{Guest, Vmft, HOST};
use troupe::systems::{topology, Assembly};
use troupe::testkit::client_id;
use troupe::testkit::workload::{
    final_value_problems, run_clients_for, Recorder, Workload, WorkloadClient,
};
use troupe_actors::client::Outcome;
use troupe_actors::vmft::client::VmftClient;
use troupe_actors::vmft::host::{HostStats, HostStatsRequest};
use troupe_actors::vmft::record::FtRecord;
use troupe_messages::kv::KvOp;
use troupe_messages::vmft::{VmftInspect, VmftStatus};
use troupe_runtime::linearizability::{check, Verdict};
use troupe_runtime::sim::{derive_seed, LinkFaults};
use troupe_runtime::testkit::Cluster;
use troupe_runtime::{ActorPath, NodeId};

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Few keys, so that reads race writes and a lost or doubled append shows.
pub fn workload() -> Workload {
    Workload {
        keys: 3,
        gets_in_ten: 4,
        think: ms(2),
        op_deadline: Duration::from_secs(5),
        ..Workload::default()
    }
}

pub struct VmftHarness {
    pub cluster: Cluster,
    pub system: Vmft,
    pub clients: u32,
    pub recorder: Rc<RefCell<Recorder>>,
    seed: u64,
    ids: Cell<u64>,
}

impl VmftHarness {
    /// The key-value guest on three hosts, with `clients` clients; links delay 1-5 ms.
    pub fn new(seed: u64, clients: u32) -> Self {
        Self::with_guest(seed, clients, Guest::Kv)
    }

    /// As [`VmftHarness::new`], running `guest`.
    pub fn with_guest(seed: u64, clients: u32, guest: Guest) -> Self {
        let system = Vmft::managed(3).guest(guest);
        let cluster = Cluster::builder(seed)
            .nodes(system.last_node() + clients + 1)
            .baseline(LinkFaults::reliable().with_delay(ms(1), ms(5)))
            .topology(topology(system.clone()))
            .build();
        VmftHarness {
            cluster,
            system,
            clients,
            recorder: Rc::new(RefCell::new(Recorder::default())),
            seed,
            ids: Cell::new(0),
        }
    }

    /// The first client's node.
    pub fn first_client(&self) -> u32 {
        self.system.last_node() + 1
    }

    /// The test's own node.
    pub fn own_node(&self) -> u32 {
        self.first_client() + self.clients
    }

    fn next_id(&self) -> u64 {
        self.ids.set(self.ids.get() + 1);
        (1 << 40) + self.ids.get()
    }

    /// A client of the guest on node `on`, with a fresh client id.
    pub fn clerk(&self, on: u32) -> VmftClient {
        let id = client_id(self.seed, self.next_id());
        self.system.client(self.cluster.up(on), id)
    }

    /// The record as the storage holds it now.
    pub async fn record(&self) -> Option<FtRecord> {
        let id = client_id(self.seed, self.next_id());
        let mut storage = self
            .system
            .storage_client(self.cluster.up(self.own_node()), id);
        self.system.record(&mut storage, ms(2_000)).await
    }

    /// Waits until the record names a primary and a backup, other than `not_primary` as primary
    /// (a failover away from it); panics after `deadline`.
    pub async fn wait_for_pair(&self, not_primary: Option<NodeId>, deadline: Duration) -> FtRecord {
        self.wait_for_record(deadline, |r| {
            r.backup.is_some() && Some(r.primary) != not_primary
        })
        .await
    }

    /// Waits until the record satisfies `wanted`; panics after `deadline`.
    pub async fn wait_for_record(
        &self,
        deadline: Duration,
        wanted: impl Fn(&FtRecord) -> bool,
    ) -> FtRecord {
        let until = tokio::time::Instant::now() + deadline;
        loop {
            if let Some(record) = self.record().await {
                if wanted(&record) {
                    return record;
                }
            }
            assert!(
                tokio::time::Instant::now() < until,
                "no complete pair within {deadline:?}"
            );
            tokio::time::sleep(ms(20)).await;
        }
    }

    /// What host `host` says it does (None: it does not answer).
    pub async fn status(&self, host: NodeId) -> Option<VmftStatus> {
        let path = ActorPath::new(host, HOST);
        let node = self.cluster.up(self.own_node());
        node.call(&path, VmftInspect, ms(200)).await.ok()
    }

    /// Host `host`'s counters (None: it does not answer).
    pub async fn host_stats(&self, host: NodeId) -> Option<HostStats> {
        let path = ActorPath::new(host, HOST);
        let node = self.cluster.up(self.own_node());
        node.call(&path, HostStatsRequest, ms(200)).await.ok()
    }

    /// Runs every client for `d` of virtual time while `during` does its damage.
    pub async fn run_clients<F: std::future::Future<Output = ()>>(&self, d: Duration, during: F) {
        let clients = (0..self.clients)
            .map(|c| {
                let on = self.first_client() + c;
                WorkloadClient {
                    client: u64::from(c),
                    clerk: self.clerk(on),
                    node: self.cluster.up(on),
                    rng: ChaCha8Rng::seed_from_u64(derive_seed(self.seed, 1000 + u64::from(c))),
                }
            })
            .collect();
        run_clients_for(clients, workload(), self.recorder.clone(), d, during).await;
    }

    /// The value of `key`, read by a fresh client.
    pub async fn final_value(&self, key: &str) -> String {
        let mut clerk = self.clerk(self.own_node());
        let get = KvOp::Get { key: key.into() };
        match troupe_actors::client::KvClient::run(&mut clerk, get, ms(10_000)).await {
            Outcome::Done(value) => value.unwrap_or_default(),
            other => panic!("the final read of {key}: {other:?}"),
        }
    }

    /// Checks that a fresh client can write, that every acknowledged append is in the final
    /// values, and that the history is linearizable.
    pub async fn finish(&self) {
        let mut clerk = self.clerk(self.own_node());
        let final_append = KvOp::Append {
            key: "k0".into(),
            value: "final;".into(),
        };
        assert_eq!(
            troupe_actors::client::KvClient::run(&mut clerk, final_append, ms(10_000)).await,
            Outcome::Done(None),
            "no progress at the end"
        );
        let history = self.recorder.borrow().history.clone();
        let ok = self.recorder.borrow().ok;
        assert!(ok > 100, "too few operations succeeded: {ok}");
        let problems =
            final_value_problems(&mut clerk, &history, workload().keys, ms(10_000)).await;
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(
            check(&history),
            Verdict::Linearizable,
            "{} operations",
            history.len()
        );
    }
}
