//! `troupe sim chain [--craq] [--chains N]`: a chain of `--nodes` servers with its control
//! plane (three nodes, each a replica of the configuration manager, a Raft key-value group, and
//! a failover supervisor per chain), clients recording every operation, and a nemesis aimed at
//! the chain's servers (the nemesis puts every other node on a side of each partition). With
//! `--chains N`, N chains share the servers (chain i starts at the i-th server) and the keys
//! are sharded across them. With `--colocated`, every node runs a manager replica, a chain
//! server and a supervisor, as real processes do. Crashed servers restart from their storage and
//! rejoin at the tail. At the end the network is healed, a fresh client must be able to write
//! and read every key, and the whole history must be linearizable.
//!
//! Chain nodes keep what they applied in their persisters and carry on from it after a
//! restart, and the nemesis never takes a majority of the servers, so a chain must never lose
//! every complete copy: the report says whether one did (`chain_lost`), and a run where one
//! did fails (see [`super::rules`]).

use super::narrate::Timeline;
use super::report::{final_phase, finish, RunOutcome};
use super::{Common, SimSystem};
use anyhow::Result;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant as WallInstant};
use troupe::systems::chain::Chain;
use troupe::systems::Assembly;
use troupe::testkit::client_id;
use troupe::testkit::workload::{run_clients_for, Recorder, Workload, WorkloadClient};
use troupe_runtime::nemesis::{Nemesis, NemesisReport};
use troupe_runtime::sim::{block_on, derive_seed};
use troupe_runtime::testkit::Cluster;
use troupe_runtime::NodeId;

/// How long a client waits for one node before it asks for the configuration again.
const ATTEMPT_TIMEOUT: Duration = Duration::from_millis(50);

/// After healing: how long clients keep going.
const SETTLE: Duration = Duration::from_secs(5);

/// The flags of `troupe sim chain`.
#[derive(clap::Args, Debug)]
pub struct ChainArgs {
    /// CRAQ: reads served by every node of the chain (default: at the tail only).
    #[arg(long)]
    pub craq: bool,
    /// How many chains share the servers, with the keys sharded across them.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub chains: u32,
    /// Lay the chain out as real processes run it: each of the `--nodes` nodes runs a manager
    /// replica, a chain server and a failover supervisor per chain (default: the manager and
    /// the supervisors on three nodes of their own, a separate control plane).
    #[arg(long)]
    pub colocated: bool,
}

impl SimSystem for ChainArgs {
    const NAME: &'static str = "chain";

    fn run(self, args: &Common) -> Result<bool> {
        run(self, args)
    }

    fn flags(&self) -> String {
        let mut flags = String::new();
        if self.craq {
            flags.push_str(" --craq");
        }
        if self.chains != 1 {
            flags.push_str(&format!(" --chains {}", self.chains));
        }
        if self.colocated {
            flags.push_str(" --colocated");
        }
        flags
    }
}

fn run(system_args: ChainArgs, args: &Common) -> Result<bool> {
    let wall = WallInstant::now();
    let events = args.events_file()?;
    let (servers, clients, seed) = (args.nodes, args.clients, args.seed);
    let (craq, chains) = (system_args.craq, system_args.chains);
    let links = args.links();
    let mut system = if system_args.colocated {
        Chain::colocated(servers, chains, craq)
    } else {
        Chain::managed(servers, chains, craq)
    };
    // Impatient clients move on from a silent node quickly, so that they reach a new head or
    // tail while it is still settling in.
    system.client_attempt_timeout = Some(ATTEMPT_TIMEOUT);
    // Nodes: the system's (control plane, servers), the clients, the final client.
    let first_client = system.last_node() + 1;
    let last = first_client + clients;
    let outcome = block_on(async move {
        let assembly = system.clone();
        let cluster = Cluster::builder(seed)
            .nodes(last)
            .baseline(links)
            .topology(move |node| {
                if let Err(e) = assembly.start(node) {
                    tracing::error!("{e}");
                }
            })
            .build();
        super::log_events(&cluster, events);
        let start = tokio::time::Instant::now();
        let recorder = Rc::new(RefCell::new(Recorder::default()));
        let clerk = |on: u32, n: u64| system.client(cluster.up(on), client_id(seed, n), seed);
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
        let timeline = Timeline::default();
        let heads = actix_rt::spawn(watch_configs(
            system.manager_client(cluster.up(last), client_id(seed, 1 << 40)),
            chains,
            watching.clone(),
            ends.clone(),
            timeline.clone(),
        ));
        let faults = Rc::new(RefCell::new(NemesisReport::default()));
        let nemesis = async {
            let report = Nemesis::new(args.nemesis, cluster.net())
                .targets(system.servers.clone())
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
        timeline.final_phase();
        let checker = cluster.up(last);
        let mut final_clerk = clerk(last, u64::from(clients) + 1);
        let keys = Workload::default().keys;
        let mut recorder = std::mem::take(&mut *recorder.borrow_mut());
        let client = u64::from(clients);
        let end = final_phase(&mut final_clerk, &checker, client, keys, &mut recorder).await;
        let lost = !end.succeeded()
            && system
                .lost_a_chain(&checker, client_id(seed, (1 << 40) + 1))
                .await;
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
            own: serde_json::Map::from_iter([
                ("reconfigurations".to_string(), reconfigurations.into()),
                ("chain_lost".to_string(), lost.into()),
            ]),
            problems: if lost {
                vec![
                    "a chain lost every complete copy, though the nemesis never takes a majority"
                        .to_string(),
                ]
            } else {
                Vec::new()
            },
            end,
            virtual_secs,
            timeline,
        }
    });
    finish(&system_args, args, outcome, wall)
}

/// Reads the chains' configurations from the manager every 100 ms while `watching`: how often
/// a head changed, and how many configurations were installed after the first ones. Keeps the
/// chains' heads and tails in `ends` (the nemesis's focus).
async fn watch_configs(
    mut manager: troupe_actors::kv::clerk::Clerk,
    chains: u32,
    watching: Rc<Cell<bool>>,
    ends: Rc<RefCell<Vec<NodeId>>>,
    timeline: Timeline,
) -> (u64, u64) {
    let mut heads = vec![None; chains as usize];
    let mut epochs = vec![0; chains as usize];
    let mut changes = 0;
    while watching.get() {
        let mut current = Vec::new();
        for chain in 0..chains as usize {
            let read = Chain::managed_config(&mut manager, chain as u32, Duration::from_secs(1));
            if let Some(config) = read.await {
                if heads[chain].is_some() && config.head() != heads[chain] {
                    changes += 1;
                }
                heads[chain] = config.head();
                if config.epoch > epochs[chain] {
                    timeline.note(describe(chain, &config));
                }
                epochs[chain] = config.epoch.max(epochs[chain]);
                current.extend(config.head());
                current.extend(config.tail());
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

/// One line for a chain's new configuration, as the manager holds it.
fn describe(chain: usize, config: &troupe_messages::chain::ChainConfig) -> String {
    let nodes: Vec<String> = config.nodes.iter().map(|n| n.to_string()).collect();
    let mut line = format!(
        "chain {chain}, epoch {}: {}",
        config.epoch,
        nodes.join(" -> ")
    );
    if let Some(joining) = config.joining {
        line.push_str(&format!(", {joining} joining behind the tail"));
    }
    line
}
