//! `troupe sim chain [--craq] [--chains N]`: a chain of `--nodes` servers with its
//! configuration manager (a three-node Raft key-value group) and its failover supervisor,
//! clients recording every operation, and a nemesis aimed at the chain's servers. With
//! `--chains N`, N chains share the servers (chain i starts at the i-th server) and the keys
//! are sharded across them. Crashed servers restart from their storage and
//! rejoin at the tail. At the end the network is healed, a fresh client must be able to write
//! and read every key, and the whole history must be linearizable.
//!
//! Chain nodes keep what they applied in their persisters, and the nemesis never takes a
//! majority of the servers, so a chain must never lose every complete copy: the report says
//! whether one did (`chain_lost`), and a run where one did fails (see [`super::rules`]).

use super::report::{final_phase, finish, RunOutcome};
use super::SimArgs;
use anyhow::Result;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant as WallInstant};
use troupe::testkit::workload::{run_clients_for, Recorder, Workload, WorkloadClient};
use troupe_actors::chain::clerk::{ChainClerk, ConfigSource};
use troupe_actors::chain::node::{name_of, ChainNode};
use troupe_actors::chain::sharded::ShardedClerk;
use troupe_actors::client::Outcome;
use troupe_actors::kv::clerk::Clerk;
use troupe_actors::kv::server::KvOptions;
use troupe_messages::chain::{ChainConfig, ChainProbe};
use troupe_messages::kv::KvOp;
use troupe_runtime::nemesis::{Nemesis, NemesisReport};
use troupe_runtime::sim::{block_on, derive_seed};
use troupe_runtime::testkit::Cluster;
use troupe_runtime::{ActorPath, Node, NodeId};
use troupe_supervisors::failover::chain::{chain_failover, ChainPlan};
use troupe_supervisors::failover::raft::kv_replica;
use troupe_supervisors::Supervisor;

/// How long a client waits for one node before it asks for the configuration again.
const ATTEMPT_TIMEOUT: Duration = Duration::from_millis(50);

/// After healing: how long clients keep going.
const SETTLE: Duration = Duration::from_secs(5);

/// Chain `chain`'s key in the configuration manager.
fn key_of(chain: u32) -> String {
    format!("chain/{chain}")
}

/// The configuration manager's nodes.
const MANAGER: [NodeId; 3] = [NodeId(1), NodeId(2), NodeId(3)];

pub fn run(args: SimArgs) -> Result<bool> {
    let wall = WallInstant::now();
    let events = args.events_file()?;
    let (servers, clients, seed, craq) = (args.nodes, args.clients, args.seed, args.craq);
    let chains = args.chains.max(1);
    let links = args.links();
    // Nodes: the manager, the chain's servers, the supervisor, the clients, the final client.
    let chain: Vec<NodeId> = (4..4 + servers).map(NodeId).collect();
    let supervisor = 4 + servers;
    let first_client = supervisor + 1;
    let last = first_client + clients;
    let outcome = block_on(async move {
        let members = chain.clone();
        let cluster = Cluster::builder(seed)
            .nodes(last)
            .baseline(links)
            .topology(move |node| start(node, &members, chains, supervisor, craq))
            .build();
        if let Some(file) = events {
            let log = cluster.net().log();
            log.write_to(Box::new(std::io::BufWriter::new(file)));
        }
        let start = tokio::time::Instant::now();
        let recorder = Rc::new(RefCell::new(Recorder::default()));
        let clerk = |on: u32, id: u64| {
            let node = cluster.up(on);
            let clerks = (0..chains)
                .map(|chain| {
                    let manager_id = (1 << 32) + (id << 8) + u64::from(chain);
                    let source = ConfigSource::Manager {
                        clerk: Clerk::new(node.clone(), MANAGER.to_vec(), manager_id),
                        key: key_of(chain),
                    };
                    let seed = derive_seed(seed, 2_000 + (id << 8) + u64::from(chain));
                    let rng = ChaCha8Rng::seed_from_u64(seed);
                    let mut clerk = ChainClerk::new(node.clone(), source, craq, id, rng);
                    // Impatient clients move on from a silent node quickly, so that they reach
                    // a new head or tail while it is still settling in.
                    clerk.attempt_timeout = ATTEMPT_TIMEOUT;
                    clerk.for_chain(chain)
                })
                .collect();
            ShardedClerk::new(clerks)
        };
        let workload_clients = (0..clients)
            .map(|c| WorkloadClient {
                client: u64::from(c),
                clerk: clerk(first_client + c, u64::from(c) + 1),
                node: cluster.up(first_client + c),
                rng: ChaCha8Rng::seed_from_u64(derive_seed(seed, 1_000 + u64::from(c))),
            })
            .collect();
        let watching = Rc::new(Cell::new(true));
        let ends = Rc::new(RefCell::new(Vec::new()));
        let heads = actix_rt::spawn(watch_configs(
            cluster.up(last),
            chains,
            watching.clone(),
            ends.clone(),
        ));
        let faults = Rc::new(RefCell::new(NemesisReport::default()));
        let nemesis = async {
            let report = Nemesis::new(args.nemesis, cluster.net())
                .targets(chain.clone())
                .focus(move || ends.borrow().clone())
                .run(args.duration)
                .await;
            *faults.borrow_mut() = report;
        };
        let d = args.duration + SETTLE;
        run_clients_for(
            workload_clients,
            Workload::default(),
            recorder.clone(),
            d,
            nemesis,
        )
        .await;
        let checker = cluster.up(last);
        let mut final_clerk = clerk(last, u64::from(clients) + 1);
        let keys = Workload::default().keys;
        let mut recorder = std::mem::take(&mut *recorder.borrow_mut());
        let client = u64::from(clients);
        let end = final_phase(&mut final_clerk, &checker, client, keys, &mut recorder).await;
        let lost = !end.succeeded() && chain_lost(&checker, chains).await;
        watching.set(false);
        let (head_changes, reconfigurations) = heads.await.unwrap_or_default();
        if let Err(e) = cluster.net().log().flush() {
            tracing::warn!("event log flush failed: {e}");
        }
        let virtual_secs = start.elapsed().as_secs_f64();
        let faults = std::mem::take(&mut *faults.borrow_mut());
        RunOutcome {
            recorder,
            faults,
            net: cluster.stats(),
            leader_changes: head_changes,
            reconfigurations: Some(reconfigurations),
            chain_lost: Some(lost),
            end,
            virtual_secs,
        }
    });
    let flags = match (craq, chains) {
        (false, 1) => String::new(),
        (true, 1) => " --craq".to_string(),
        (false, n) => format!(" --chains {n}"),
        (true, n) => format!(" --craq --chains {n}"),
    };
    finish("chain", &args, &flags, outcome, wall)
}

/// What each node runs: a manager replica, a chain server (one node of each chain), or the
/// chains' supervisors.
fn start(node: &Node, servers: &[NodeId], chains: u32, supervisor: u32, craq: bool) {
    let started = if MANAGER.contains(&node.id()) {
        let spec = kv_replica(KvOptions::new(MANAGER.to_vec()));
        Supervisor::start(node, spec)
            .map(|_| ())
            .map_err(|e| e.to_string())
    } else if servers.contains(&node.id()) {
        // Empty until the supervisor installs the first chain; after a restart they wait to be
        // added again.
        (0..chains)
            .try_for_each(|chain| {
                ChainNode::spawn_chain(node, chain, ChainConfig::default(), craq).map(|_| ())
            })
            .map_err(|e| e.to_string())
    } else if node.id() == NodeId(supervisor) {
        ChainPlan::sharded(MANAGER.to_vec(), servers, chains)
            .into_iter()
            .try_for_each(|plan| Supervisor::start(node, chain_failover(plan)).map(|_| ()))
            .map_err(|e| e.to_string())
    } else {
        Ok(())
    };
    if let Err(e) = started {
        tracing::error!(node = %node.id(), "did not start: {e}");
    }
}

/// Whether some chain has no node left that holds a complete copy.
async fn chain_lost(node: &Node, chains: u32) -> bool {
    let mut clerk = Clerk::new(node.clone(), MANAGER.to_vec(), (1 << 40) + 1);
    for chain in 0..chains {
        let get = KvOp::Get { key: key_of(chain) };
        let Outcome::Done(Some(text)) = clerk.run(get, Duration::from_secs(5)).await else {
            continue; // the manager did not answer: nothing is known lost
        };
        let Some(config) = ChainConfig::from_text(&text) else {
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

/// Reads the chains' configurations from the manager every 100 ms while `watching`: how often
/// a head changed, and how many configurations were installed after the first ones. Keeps the
/// chains' heads and tails in `ends` (the nemesis's focus).
async fn watch_configs(
    node: Node,
    chains: u32,
    watching: Rc<Cell<bool>>,
    ends: Rc<RefCell<Vec<NodeId>>>,
) -> (u64, u64) {
    let mut clerk = Clerk::new(node, MANAGER.to_vec(), 1 << 40);
    let mut heads = vec![None; chains as usize];
    let mut epochs = vec![0; chains as usize];
    let mut changes = 0;
    while watching.get() {
        let mut current = Vec::new();
        for chain in 0..chains as usize {
            let get = KvOp::Get {
                key: key_of(chain as u32),
            };
            if let Outcome::Done(Some(text)) = clerk.run(get, Duration::from_secs(1)).await {
                if let Some(config) = ChainConfig::from_text(&text) {
                    if heads[chain].is_some() && config.head() != heads[chain] {
                        changes += 1;
                    }
                    heads[chain] = config.head();
                    epochs[chain] = config.epoch.max(epochs[chain]);
                    current.extend(config.head());
                    current.extend(config.tail());
                }
            }
        }
        current.sort();
        current.dedup();
        *ends.borrow_mut() = current;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let reconfigurations = epochs.iter().map(|e| e.saturating_sub(1)).sum();
    (changes, reconfigurations)
}
