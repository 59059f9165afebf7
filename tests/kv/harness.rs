//! A key-value cluster under test: servers n1..nS, client nodes after them, a recorded history,
//! and the checks every test ends with.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;
use troupe::systems::raft_kv::RaftKv;
use troupe::systems::topology;
use troupe::testkit::workload::{
    final_value_problems, run_clients_for, Recorder, Workload, WorkloadClient,
};
use troupe_actors::client::Outcome;
use troupe_actors::kv::clerk::Clerk;
use troupe_messages::kv::KvOp;
use troupe_runtime::linearizability::{check, Verdict};
use troupe_runtime::sim::{derive_seed, LinkFaults};
use troupe_runtime::testkit::Cluster;
use troupe_runtime::NodeId;

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

pub struct KvHarness {
    pub cluster: Cluster,
    pub servers: Vec<NodeId>,
    pub clients: u32,
    pub recorder: Rc<RefCell<Recorder>>,
    seed: u64,
    /// Clerk ids handed out so far: every clerk needs its own, or the servers would take its
    /// first operations for duplicates of an earlier clerk's.
    clerks: Cell<u64>,
}

impl KvHarness {
    pub fn new(
        seed: u64,
        servers: u32,
        clients: u32,
        reliable: bool,
        max_raft_state: Option<usize>,
    ) -> Self {
        Self::build(
            seed,
            servers,
            clients,
            reliable,
            max_raft_state,
            false,
            true,
        )
    }

    /// Like `new` on a reliable network, but Raft runs without CheckQuorum: a leader cut off
    /// from the majority goes on believing it leads, as it may for a while with it.
    pub fn without_check_quorum(seed: u64, servers: u32, clients: u32) -> Self {
        Self::build(seed, servers, clients, true, None, false, false)
    }

    /// Like `new`, but each replica runs under the Raft replica supervisor.
    pub fn supervised(seed: u64, servers: u32, clients: u32) -> Self {
        Self::build(seed, servers, clients, true, None, true, true)
    }

    fn build(
        seed: u64,
        servers: u32,
        clients: u32,
        reliable: bool,
        max_raft_state: Option<usize>,
        supervised: bool,
        check_quorum: bool,
    ) -> Self {
        let mut system = RaftKv::new(servers);
        system.supervised = supervised;
        system.options.max_raft_state = max_raft_state;
        system.options.raft.config.check_quorum = check_quorum;
        let server_ids = system.servers().to_vec();
        let cluster = Cluster::builder(seed)
            .nodes(servers + clients + 1)
            .faults(if reliable {
                LinkFaults::realistic()
            } else {
                LinkFaults::unreliable()
            })
            .topology(topology(system))
            .build();
        KvHarness {
            cluster,
            servers: server_ids,
            clients,
            recorder: Rc::new(RefCell::new(Recorder::default())),
            seed,
            clerks: Cell::new(0),
        }
    }

    /// The node of client `c` (0-based); the last node is kept for the final checks.
    fn client_node(&self, c: u32) -> u32 {
        self.servers.len() as u32 + 1 + c
    }

    /// Runs every client for `d` of virtual time while `during` does its damage.
    pub async fn run_clients<F: std::future::Future<Output = ()>>(&self, d: Duration, during: F) {
        let clients = (0..self.clients)
            .map(|c| {
                let node = self.cluster.up(self.client_node(c));
                self.clerks.set(self.clerks.get() + 1);
                WorkloadClient {
                    client: u64::from(c),
                    clerk: Clerk::new(node.clone(), self.servers.clone(), self.clerks.get()),
                    node,
                    rng: ChaCha8Rng::seed_from_u64(derive_seed(self.seed, 1000 + u64::from(c))),
                }
            })
            .collect();
        run_clients_for(
            clients,
            Workload::default(),
            self.recorder.clone(),
            d,
            during,
        )
        .await;
    }

    /// Heals everything, checks the history is linearizable, and that a fresh client reads
    /// every acknowledged append and can still write.
    pub async fn finish(&self) {
        self.cluster.heal();
        self.cluster.reliable();
        for id in self.cluster.ids() {
            if self.cluster.net().node(id).is_none() {
                self.cluster.net().restart(id);
            }
        }
        let checker = self.cluster.up(self.cluster.ids().len() as u32);
        let mut clerk = Clerk::new(checker, self.servers.clone(), u64::MAX - self.seed);
        // Progress after healing.
        let wrote = clerk
            .run(
                KvOp::Append {
                    key: "k0".into(),
                    value: "final;".into(),
                },
                ms(10_000),
            )
            .await;
        assert_eq!(wrote, Outcome::Done(None), "no progress after healing");
        let (history, ok) = {
            let recorder = self.recorder.borrow();
            (recorder.history.clone(), recorder.ok)
        };
        assert!(ok > 0, "no operation succeeded");
        if let Some(path) = std::env::var_os("TROUPE_HISTORY") {
            let file = std::fs::File::create(path).expect("history file");
            troupe_runtime::history::write(&history, file).expect("history written");
        }
        let verdict = check(&history);
        assert_eq!(
            verdict,
            Verdict::Linearizable,
            "{} operations",
            history.len()
        );
        // Every acknowledged append is in its key's final value, unless a put may have replaced
        // it.
        let keys = Workload::default().keys;
        let problems = final_value_problems(&mut clerk, &history, keys, ms(10_000)).await;
        assert!(problems.is_empty(), "{problems:?}");
    }
}
