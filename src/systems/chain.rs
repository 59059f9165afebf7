//! Chain replication and CRAQ, assembled.
//!
//! A managed deployment ([`Chain::managed`]) has two kinds of nodes:
//! - n1-n3, the control plane: each runs a replica of the configuration manager (troupe's Raft
//!   key-value service, which holds each chain's configuration under [`manager_key`]) and a
//!   failover supervisor per chain, which installs configurations, grants leases and
//!   reconfigures around dead servers. Any supervisor on the manager's majority side keeps the
//!   chain served: a lease is renewed only once the manager confirms its configuration;
//! - the chain servers after them: every chain has a node on each server (chain `i` starts
//!   at the `i`-th server), keeping what it applied in the node's persister.
//!
//! A colocated deployment ([`Chain::colocated`]) runs all three on every node, as real
//! processes do (`troupe cluster init --system chain`): each node has a manager replica, a chain
//! server and a failover supervisor per chain, so no single node is needed for failover. The
//! supervisors of a chain coordinate through compare-and-swap on the manager.
//!
//! An unmanaged chain ([`Chain::unmanaged`]) is servers only, starting in a fixed first
//! configuration: whoever drives it (a test, a benchmark) installs the next ones itself.
//!
//! `troupe sim chain`, tests/chain, examples/chain.rs and `troupe bench chain` start chains
//! through [`Chain`].

use super::Assembly;
use crate::Error;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::time::Duration;
use troupe_actors::chain::clerk::{ChainClerk, ConfigSource};
use troupe_actors::chain::config;
use troupe_actors::chain::node::{name_of, ChainNode};
use troupe_actors::chain::sharded::ShardedClerk;
use troupe_actors::client::Outcome;
use troupe_actors::kv::clerk::Clerk;
use troupe_actors::kv::server::KvOptions;
use troupe_messages::chain::{ChainConfig, ChainProbe};
use troupe_messages::kv::KvOp;
use troupe_messages::ClientId;
use troupe_runtime::derive_seed;
use troupe_runtime::{ActorPath, Node, NodeId};
use troupe_supervisors::failover::chain::{chain_failover, ChainPlan};
use troupe_supervisors::Supervisor;

pub use troupe_actors::chain::node::name_of as node_name;
pub use troupe_supervisors::failover::chain::{manager_key, name_of_tree as supervisor_name};

/// The configuration manager's nodes in a managed deployment.
pub const MANAGER: [NodeId; 3] = [NodeId(1), NodeId(2), NodeId(3)];

/// One or more chains over a set of servers.
#[derive(Clone, Debug)]
pub struct Chain {
    /// The configuration manager's Raft group (empty: unmanaged).
    pub manager: Vec<NodeId>,
    /// The chain servers.
    pub servers: Vec<NodeId>,
    /// The nodes that run the failover supervisors (none: unmanaged). Each runs one per chain;
    /// several nodes may run them at once.
    pub supervisors: Vec<NodeId>,
    /// How many chains share the servers, with the keys sharded across them.
    pub chains: u32,
    /// How many servers each chain uses; the others are spares.
    pub length: usize,
    /// CRAQ: every node of a chain serves reads (otherwise only the tail).
    pub craq: bool,
    /// The configuration an unmanaged chain's servers start in (managed servers start empty
    /// and wait for their supervisor's first configuration).
    pub initial: ChainConfig,
    /// How long a client waits for one node before it asks for the configuration again
    /// (None: the clerk's default).
    pub client_attempt_timeout: Option<Duration>,
    /// The manager replicas' options (None: the defaults for the manager group).
    pub manager_options: Option<KvOptions>,
}

impl Chain {
    /// The control plane on n1-n3 (a manager replica and a failover supervisor per chain on
    /// each), and `servers` chain servers after it; `chains` chains of every server each.
    pub fn managed(servers: u32, chains: u32, craq: bool) -> Self {
        let servers: Vec<NodeId> = (4..4 + servers).map(NodeId).collect();
        Chain {
            manager: MANAGER.to_vec(),
            length: servers.len(),
            servers,
            supervisors: MANAGER.to_vec(),
            chains: chains.max(1),
            craq,
            initial: ChainConfig::default(),
            client_attempt_timeout: None,
            manager_options: None,
        }
    }

    /// Nodes n1..n`nodes`, each running a manager replica, a chain server and a failover
    /// supervisor per chain; `chains` chains of every node each.
    pub fn colocated(nodes: u32, chains: u32, craq: bool) -> Self {
        let all: Vec<NodeId> = (1..=nodes).map(NodeId).collect();
        Chain {
            manager: all.clone(),
            length: all.len(),
            servers: all.clone(),
            supervisors: all,
            chains: chains.max(1),
            craq,
            initial: ChainConfig::default(),
            client_attempt_timeout: None,
            manager_options: None,
        }
    }

    /// One chain of servers n1..n`servers`, head first, in epoch 1, with no manager and no
    /// supervisor.
    pub fn unmanaged(servers: u32, craq: bool) -> Self {
        let servers: Vec<NodeId> = (1..=servers).map(NodeId).collect();
        Chain {
            manager: Vec::new(),
            length: servers.len(),
            initial: ChainConfig::new(1, servers.clone()),
            servers,
            supervisors: Vec::new(),
            chains: 1,
            craq,
            client_attempt_timeout: None,
            manager_options: None,
        }
    }

    /// Chains of `length` servers; the other servers are spares the supervisor can add.
    pub fn length(mut self, length: usize) -> Self {
        self.length = length.min(self.servers.len());
        self
    }

    /// What each chain's supervisor is given: the manager, the chain's key and its servers.
    pub fn plans(&self) -> Vec<ChainPlan> {
        ChainPlan::sharded(self.manager.clone(), &self.servers, self.chains)
            .into_iter()
            .map(|plan| plan.length(self.length))
            .collect()
    }

    /// A client of the configuration manager on `node`, with the client id `id`.
    pub fn manager_client(&self, node: Node, id: impl Into<ClientId>) -> Clerk {
        Clerk::new(node, self.manager.clone(), id)
    }

    /// A client of every chain on `node`, learning configurations from the manager. `id` is
    /// its client id; its random choices come from `seed` (the run's seed) and `id`.
    pub fn client(&self, node: Node, id: impl Into<ClientId>, seed: u64) -> ShardedClerk {
        self.client_with(node, id, seed, |chain, node, manager_id| {
            ConfigSource::Manager {
                clerk: self.manager_client(node.clone(), manager_id),
                key: manager_key(chain),
            }
        })
    }

    /// As [`Chain::client`], learning each chain's configuration from `source(chain, node,
    /// manager client id)`: an unmanaged chain's driver gives it the configurations it installs.
    pub fn client_with(
        &self,
        node: Node,
        id: impl Into<ClientId>,
        seed: u64,
        source: impl Fn(u32, &Node, ClientId) -> ConfigSource,
    ) -> ShardedClerk {
        let id: ClientId = id.into();
        let clerks = (0..self.chains)
            .map(|chain| {
                let manager_id = id.derived(chain);
                let rng = ChaCha8Rng::seed_from_u64(derive_seed(
                    seed,
                    2_000 + (id.seed_bits() << 8) + u64::from(chain),
                ));
                let config = source(chain, &node, manager_id);
                let mut clerk = ChainClerk::new(node.clone(), config, self.craq, id, rng);
                if let Some(timeout) = self.client_attempt_timeout {
                    clerk.attempt_timeout = timeout;
                }
                clerk.for_chain(chain)
            })
            .collect();
        ShardedClerk::new(clerks)
    }

    /// The configuration of chain `chain` the manager holds now, read with `manager` (a
    /// [`Chain::manager_client`]); None if the manager does not answer within `deadline`.
    pub async fn managed_config(
        manager: &mut Clerk,
        chain: u32,
        deadline: Duration,
    ) -> Option<ChainConfig> {
        let get = KvOp::Get {
            key: manager_key(chain),
        };
        match manager.run(get, deadline).await {
            Outcome::Done(Some(text)) => config::decode(&text).ok(),
            _ => None,
        }
    }

    /// Whether some chain has no member left that holds a complete copy, asked from `node`
    /// with manager client id `id`. A chain whose configuration the manager does not give is
    /// not known lost.
    pub async fn lost_a_chain(&self, node: &Node, id: impl Into<ClientId>) -> bool {
        let mut manager = self.manager_client(node.clone(), id);
        for chain in 0..self.chains {
            let Some(config) =
                Self::managed_config(&mut manager, chain, Duration::from_secs(5)).await
            else {
                continue;
            };
            let mut complete = false;
            for member in config.nodes {
                let path = ActorPath::new(member, name_of(chain));
                if let Ok(status) = node.call(&path, ChainProbe, Duration::from_secs(1)).await {
                    complete |= status.synced;
                }
            }
            if !complete {
                return true;
            }
        }
        false
    }
}

impl Assembly for Chain {
    fn last_node(&self) -> u32 {
        let nodes = self
            .manager
            .iter()
            .chain(&self.servers)
            .chain(&self.supervisors);
        nodes.map(|n| n.0).max().unwrap_or(0)
    }

    fn start(&self, node: &Node) -> crate::Result<()> {
        let id = node.id();
        if self.manager.contains(&id) {
            let manager = match &self.manager_options {
                Some(options) => super::raft_kv::RaftKv::with_options(options.clone()),
                None => super::raft_kv::RaftKv::on(self.manager.clone()),
            };
            manager.start(node)?;
        }
        if self.servers.contains(&id) {
            // Managed servers start empty and wait for their supervisor; after a restart they
            // carry on from their storage, or wait to be added again.
            for chain in 0..self.chains {
                ChainNode::spawn_chain(node, chain, self.initial.clone(), self.craq)
                    .map_err(|e| Error::role(id, "chain node", e))?;
            }
        }
        if self.supervisors.contains(&id) {
            for plan in self.plans() {
                Supervisor::start(node, chain_failover(plan))
                    .map_err(|e| Error::role(id, "chain failover supervisor", e))?;
            }
        }
        Ok(())
    }
}
