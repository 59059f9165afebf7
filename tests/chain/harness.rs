//! A chain under test on the simulated network: chain nodes n1..nN, client nodes after them,
//! and a last node from which the test, standing in for the configuration manager, installs
//! new configurations. Clients run the shared key-value workload; every test ends by checking
//! the whole history for linearizability and every acknowledged append in the final values.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;
use troupe::systems::chain::Chain;
use troupe::systems::Assembly;
use troupe::testkit::workload::{
    final_value_problems, run_clients_for, Recorder, Workload, WorkloadClient,
};
use troupe_actors::chain::clerk::ConfigSource;
use troupe_actors::chain::node::NAME;
use troupe_actors::chain::sharded::ShardedClerk;
use troupe_actors::client::Outcome;
use troupe_messages::chain::{ChainConfig, SetChainConfig};
use troupe_messages::kv::KvOp;
use troupe_runtime::linearizability::{check, Verdict};
use troupe_runtime::sim::{derive_seed, LinkFaults};
use troupe_runtime::testkit::Cluster;
use troupe_runtime::{ActorPath, NodeId};

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Few keys and little think time, so that reads race writes often: a read served from a
/// version the tail has not committed, or from one it has superseded, shows in the history.
fn workload(keys: usize) -> Workload {
    Workload {
        keys,
        gets_in_ten: 4,
        puts_only: false,
        appends_only: false,
        think: ms(1),
        op_deadline: Duration::from_secs(3),
        read_only_every: 0,
    }
}

pub struct ChainHarness {
    pub cluster: Cluster,
    /// The node of chain position 1 (the first head); the others follow it.
    pub first_chain: u32,
    pub clients: u32,
    /// The chains under test: managed (a manager and supervisors) or not (the test installs
    /// configurations).
    pub system: Chain,
    /// How many keys the clients use.
    pub keys: usize,
    /// The configuration clients learn (what a configuration manager would publish).
    pub config: Rc<RefCell<ChainConfig>>,
    pub recorder: Rc<RefCell<Recorder>>,
    seed: u64,
    clerks: Cell<u64>,
    /// The nodes the harness, as the manager, grants leases to (chains it configures itself).
    leased: Rc<RefCell<Vec<NodeId>>>,
}

/// How long a lease the harness grants lasts; it renews every third of that.
const LEASE: Duration = Duration::from_millis(600);
/// The slowest link of the harness's chains: a grant can arrive this late.
const SLOWEST_LINK: Duration = Duration::from_millis(10);

/// Grants a lease on the current configuration to every node in `leased`, from `manager`,
/// every third of a lease, for as long as the simulation runs (as the chain's supervisor does).
async fn renew_leases(
    cluster: Cluster,
    manager: u32,
    config: Rc<RefCell<ChainConfig>>,
    leased: Rc<RefCell<Vec<NodeId>>>,
) {
    loop {
        if let Some(from) = cluster.node(manager) {
            let config = config.borrow().clone();
            for &node in leased.borrow().iter() {
                let grant = SetChainConfig {
                    config: config.clone(),
                    lease_ms: Some(LEASE.as_millis() as u64),
                };
                // A node that is down gets no lease; that is all.
                let _ = from.send(&ActorPath::new(node, NAME), grant);
            }
        }
        tokio::time::sleep(LEASE / 3).await;
    }
}

impl ChainHarness {
    /// A chain of `chain` nodes with `clients` clients; links delay 1-10 ms (and so reorder).
    /// The harness stands in for the configuration manager: it grants the chain's nodes leases
    /// and renews them, and [`ChainHarness::reconfigure`] waits out the lease of a node it
    /// leaves out, as the failover supervisor does.
    pub fn new(seed: u64, chain: u32, clients: u32, craq: bool) -> Self {
        let system = Chain::unmanaged(chain, craq);
        let config = system.initial.clone();
        let assembly = system.clone();
        let cluster = Cluster::builder(seed)
            .nodes(chain + clients + 1)
            .baseline(LinkFaults::reliable().with_delay(ms(1), ms(10)))
            .topology(move |node| {
                if let Err(e) = assembly.start(node) {
                    panic!("{e}");
                }
            })
            .build();
        let leased = Rc::new(RefCell::new(config.nodes.clone()));
        let config = Rc::new(RefCell::new(config));
        let manager = chain + clients + 1;
        actix_rt::spawn(renew_leases(
            cluster.clone(),
            manager,
            config.clone(),
            leased.clone(),
        ));
        ChainHarness {
            cluster,
            system,
            first_chain: 1,
            clients,
            keys: 2,
            config,
            recorder: Rc::new(RefCell::new(Recorder::default())),
            seed,
            clerks: Cell::new(0),
            leased,
        }
    }

    /// Three control-plane nodes (each a replica of the manager, the Raft key-value service,
    /// and a chain failover supervisor), a chain of three that starts empty, `clients` clients,
    /// and a last node for the final checks. Clients and the supervisor learn the chain from the manager.
    pub fn supervised(seed: u64, clients: u32, craq: bool) -> Self {
        Self::sharded(seed, 1, clients, craq)
    }

    /// Three nodes laid out as real processes are (`troupe cluster init --system chain`): each
    /// runs a manager replica, a chain server and a failover supervisor; `clients` clients, and
    /// a last node for the final checks.
    pub fn colocated(seed: u64, clients: u32, craq: bool) -> Self {
        Self::managed_by_supervisors(seed, Chain::colocated(3, 1, craq), clients)
    }

    /// As [`ChainHarness::supervised`], with `chains` chains over the three servers (chain `i`
    /// starting at the `i`-th server), each with its own supervisors on the control plane and
    /// its own key in the manager; clients route each key to its chain.
    pub fn sharded(seed: u64, chains: u32, clients: u32, craq: bool) -> Self {
        Self::managed_by_supervisors(seed, Chain::managed(3, chains, craq), clients)
    }

    /// `system` (with its manager and supervisors), `clients` clients after its nodes, and a
    /// last node for the final checks.
    fn managed_by_supervisors(seed: u64, system: Chain, clients: u32) -> Self {
        let assembly = system.clone();
        let cluster = Cluster::builder(seed)
            .nodes(system.last_node() + clients + 1)
            .baseline(LinkFaults::reliable().with_delay(ms(1), ms(10)))
            .topology(move |node| {
                if let Err(e) = assembly.start(node) {
                    panic!("{e}");
                }
            })
            .build();
        ChainHarness {
            cluster,
            first_chain: system.servers[0].0,
            clients,
            keys: if system.chains > 1 { 6 } else { 2 },
            config: Rc::new(RefCell::new(ChainConfig::new(0, system.servers.clone()))),
            system,
            recorder: Rc::new(RefCell::new(Recorder::default())),
            seed,
            clerks: Cell::new(0),
            // The supervisors grant these chains' leases.
            leased: Rc::new(RefCell::new(Vec::new())),
        }
    }

    /// The node of chain position `position` (1 = the first head).
    pub fn chain_node(&self, position: u32) -> u32 {
        self.first_chain + position - 1
    }

    /// The first client's node.
    pub fn first_client(&self) -> u32 {
        self.system.last_node() + 1
    }

    /// The last node: the test's own (it installs configurations from it, and checks).
    fn manager(&self) -> u32 {
        self.first_client() + self.clients
    }

    /// The configuration of chain 0 the manager holds now.
    pub async fn managed_config(&self) -> Option<ChainConfig> {
        self.managed_config_of(0).await
    }

    /// The configuration of chain `chain` the manager holds now.
    pub async fn managed_config_of(&self, chain: u32) -> Option<ChainConfig> {
        // A new manager client each time: the same (client, sequence number) twice would be
        // taken for a retry and answered from the first call.
        self.clerks.set(self.clerks.get() + 1);
        let id = (1 << 40) + self.clerks.get();
        let mut manager = self
            .system
            .manager_client(self.cluster.up(self.manager()), id);
        Chain::managed_config(&mut manager, chain, ms(5_000)).await
    }

    /// A client of every chain, on node `on`.
    pub fn clerk(&self, on: u32) -> ShardedClerk {
        self.clerks.set(self.clerks.get() + 1);
        let id = self.clerks.get();
        let node = self.cluster.up(on);
        if !self.system.supervisors.is_empty() {
            return self.system.client(node, id, self.seed);
        }
        self.system.client_with(node, id, self.seed, |_, _, _| {
            let source = self.config.clone();
            ConfigSource::Given(Box::new(move || source.borrow().clone()))
        })
    }

    /// Installs the chain `nodes` in a new epoch on its nodes, then publishes it to clients. A
    /// node left out first gets no more leases, and the new chain waits until the last lease it
    /// was granted has run out: until then it may still serve reads.
    pub async fn reconfigure(&self, nodes: &[u32]) {
        let nodes: Vec<NodeId> = nodes.iter().map(|&i| NodeId(i)).collect();
        let left_out = {
            let mut leased = self.leased.borrow_mut();
            let before = leased.len();
            leased.retain(|n| nodes.contains(n));
            leased.len() < before
        };
        if left_out {
            tokio::time::sleep(LEASE + 2 * SLOWEST_LINK).await;
        }
        let config = {
            let mut current = self.config.borrow_mut();
            current.epoch += 1;
            current.nodes = nodes.clone();
            current.clone()
        };
        let manager = self.cluster.up(self.manager());
        for &node in &nodes {
            let path = ActorPath::new(node, NAME);
            manager
                .send(
                    &path,
                    SetChainConfig {
                        config: config.clone(),
                        lease_ms: Some(LEASE.as_millis() as u64),
                    },
                )
                .expect("the manager reaches every node");
        }
        *self.leased.borrow_mut() = nodes;
    }

    /// Runs every client for `d` of virtual time while `during` does its damage.
    pub async fn run_clients<F: std::future::Future<Output = ()>>(&self, d: Duration, during: F) {
        self.run_clients_with_readers(d, 0, during).await;
    }

    /// As [`ChainHarness::run_clients`], the last `readers` clients only reading: they never
    /// meet the head, so nothing but a refusal from the node they read at makes them look for
    /// a new configuration.
    pub async fn run_clients_with_readers<F: std::future::Future<Output = ()>>(
        &self,
        d: Duration,
        readers: u32,
        during: F,
    ) {
        let mut clients = self.workload_clients();
        let reading = clients.split_off(clients.len() - readers as usize);
        let read_only = Workload {
            gets_in_ten: 10,
            ..workload(self.keys)
        };
        let writers = run_clients_for(
            clients,
            workload(self.keys),
            self.recorder.clone(),
            d,
            during,
        );
        let readers = run_clients_for(reading, read_only, self.recorder.clone(), d, async {});
        tokio::join!(writers, readers);
    }

    fn workload_clients(&self) -> Vec<WorkloadClient<ShardedClerk>> {
        (0..self.clients)
            .map(|c| {
                let on = self.first_client() + c;
                WorkloadClient {
                    client: u64::from(c),
                    clerk: self.clerk(on),
                    node: self.cluster.up(on),
                    rng: ChaCha8Rng::seed_from_u64(derive_seed(self.seed, 1000 + u64::from(c))),
                }
            })
            .collect()
    }

    /// Checks the history is linearizable, and that a fresh client can write and reads every
    /// acknowledged append.
    pub async fn finish(&self) {
        let mut clerk = self.clerk(self.manager());
        let final_append = KvOp::Append {
            key: "k0".into(),
            value: "final;".into(),
        };
        assert_eq!(
            clerk.run(final_append, ms(10_000)).await,
            Outcome::Done(None),
            "no progress at the end"
        );
        let history = self.recorder.borrow().history.clone();
        let ok = self.recorder.borrow().ok;
        assert!(ok > 100, "too few operations succeeded: {ok}");
        let verdict = check(&history);
        assert_eq!(
            verdict,
            Verdict::Linearizable,
            "{} operations",
            history.len()
        );
        let problems = final_value_problems(&mut clerk, &history, self.keys, ms(10_000)).await;
        assert!(problems.is_empty(), "{problems:?}");
    }
}
