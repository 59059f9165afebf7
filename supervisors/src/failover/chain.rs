//! The chain failover supervisor: it keeps one chain's configuration in the configuration
//! manager (a key of the Raft key-value service, so the manager is replicated with the
//! project's own Raft), pushes each configuration to the chain's nodes with a lease (renewed by
//! pushing again), watches every node with the runtime's heartbeat failure detector, and when
//! one goes down waits out its lease and installs the chain without it in a new epoch.
//!
//! It also grows the chain back to its length. When the chain is short and one of its servers
//! outside it answers a probe (a spare, or a node that restarted), the supervisor installs a
//! configuration in which that node joins behind the tail; it receives the tail's state while
//! the chain serves. Once a probe shows it has applied what the tail had, the supervisor makes it
//! the tail in the next epoch.
//!
//! A configuration changes only by compare-and-swap on the manager, from the exact text the
//! supervisor last read, so two supervisors (a restarted one and a slow old one) cannot install
//! diverging chains: the loser re-reads and starts over from the winner's configuration.

use actix::{Actor, AsyncContext, Context, Handler, WrapFuture};
use std::collections::BTreeSet;
use std::time::Duration;
use tokio::sync::mpsc;
use troupe_actors::chain::config::{self, Transitions};
use troupe_actors::chain::node::name_of;
use troupe_actors::chain::sharded::rotations;
use troupe_actors::client::Outcome;
use troupe_actors::kv::clerk::Clerk;
use troupe_messages::chain::{ChainConfig, ChainProbe, ChainStatus, SetChainConfig};
use troupe_messages::kv::KvOp;
use troupe_runtime::{ActorPath, Down, Node, NodeId};

/// How long one manager operation may take before the supervisor tries again.
const MANAGER_DEADLINE: Duration = Duration::from_secs(5);

/// The key under which the configuration manager keeps chain `chain`'s configuration.
pub fn manager_key(chain: u32) -> String {
    format!("chain/{chain}")
}

/// What one chain is made of: where its configuration lives and which servers it may use.
#[derive(Debug, Clone)]
pub struct ChainPlan {
    /// The configuration manager's Raft group.
    pub manager: Vec<NodeId>,
    /// The chain's key in the manager.
    pub key: String,
    /// The servers the chain may run on; the first `length` form the first chain, head first.
    pub servers: Vec<NodeId>,
    /// How many nodes the chain should have.
    pub length: usize,
    /// The chain's number, which names its nodes' actors (see `name_of`).
    pub chain: u32,
}

impl ChainPlan {
    /// A chain of every one of `servers`, kept in the manager `manager` under `key`.
    pub fn new(manager: Vec<NodeId>, key: impl Into<String>, servers: Vec<NodeId>) -> Self {
        let length = servers.len();
        ChainPlan {
            manager,
            key: key.into(),
            servers,
            length,
            chain: 0,
        }
    }

    /// `chains` chains over the same `servers`, chain `i` under the key `chain/<i>`, starting at
    /// server `i` and taking the others in order (S1->S2->S3, S2->S3->S1, S3->S1->S2).
    pub fn sharded(manager: Vec<NodeId>, servers: &[NodeId], chains: u32) -> Vec<ChainPlan> {
        rotations(servers, chains as usize)
            .into_iter()
            .zip(0..)
            .map(|(order, chain)| ChainPlan {
                chain,
                ..ChainPlan::new(manager.clone(), manager_key(chain), order)
            })
            .collect()
    }

    /// A chain of `length` nodes; the other servers are spares.
    pub fn length(mut self, length: usize) -> Self {
        self.length = length.min(self.servers.len());
        self
    }
}

/// The supervisor of one chain.
pub struct ChainFailover {
    node: Node,
    plan: ChainPlan,
    downs: Option<mpsc::UnboundedSender<NodeId>>,
}

impl ChainFailover {
    /// A supervisor on `node` for the chain `plan` describes.
    pub fn new(node: Node, plan: ChainPlan) -> Self {
        ChainFailover {
            node,
            plan,
            downs: None,
        }
    }
}

impl Actor for ChainFailover {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let (tx, rx) = mpsc::unbounded_channel();
        self.downs = Some(tx);
        let watcher = ctx.address().recipient::<Down>();
        // A fresh client id for each incarnation: a restarted supervisor's first operations
        // must not look like old retries to the manager.
        let clerk_id = self.node.with_rng(rand::Rng::gen::<u64>);
        let reach = Reach {
            node: self.node.clone(),
            name: name_of(self.plan.chain),
        };
        let run = supervise(
            reach,
            Clerk::new(self.node.clone(), self.plan.manager.clone(), clerk_id),
            self.plan.clone(),
            watcher,
            rx,
        );
        ctx.spawn(run.into_actor(self));
    }
}

impl Handler<Down> for ChainFailover {
    type Result = ();
    fn handle(&mut self, down: Down, _: &mut Context<Self>) {
        tracing::info!(node = %down.target.node, reason = ?down.reason, "chain node down");
        if let Some(downs) = &self.downs {
            let _ = downs.send(down.target.node);
        }
    }
}

/// How often the current configuration is pushed to the chain's nodes again (which renews
/// their leases).
const REPUSH: Duration = Duration::from_millis(200);

/// How often the supervisor looks whether the chain should grow (a joining node caught up, or
/// a server back): a chain short of a node is exposed to one failure fewer, so repair is quick.
const GROW_CHECK: Duration = Duration::from_millis(20);

/// How long a node may serve clients after a push reached it.
const LEASE: Duration = Duration::from_millis(600);

/// How long a probe may take; a node that does not answer in time counts as down.
const PROBE_TIMEOUT: Duration = Duration::from_millis(100);

/// How the supervisor reaches its chain's nodes: from its own node, at the actor name of its
/// chain.
struct Reach {
    node: Node,
    name: String,
}

impl Reach {
    /// Sends `config`, with a lease, to each of its nodes (and its joining node) not known
    /// dead.
    fn push(&self, config: &ChainConfig, dead: &BTreeSet<NodeId>) {
        let lease_ms = Some(LEASE.as_millis() as u64);
        for &member in members(config).iter().filter(|n| !dead.contains(n)) {
            let path = ActorPath::new(member, self.name.clone());
            let grant = SetChainConfig {
                config: config.clone(),
                lease_ms,
            };
            if let Err(e) = self.node.send(&path, grant) {
                tracing::debug!(%member, "configuration not sent: {e}");
            }
        }
    }

    /// Asks a chain node where it stands; `None` if it does not answer in time.
    async fn probe(&self, target: NodeId) -> Option<ChainStatus> {
        let path = ActorPath::new(target, self.name.clone());
        self.node.call(&path, ChainProbe, PROBE_TIMEOUT).await.ok()
    }

    /// Has the runtime's failure detector tell `watcher` when `member` goes down.
    fn watch(&self, member: NodeId, watcher: &actix::Recipient<Down>) {
        let path = ActorPath::new(member, self.name.clone());
        self.node.watch(&path, watcher.clone());
    }
}

/// The chain's nodes and its joining node.
fn members(config: &ChainConfig) -> Vec<NodeId> {
    config.nodes.iter().copied().chain(config.joining).collect()
}

/// Reads the chain's configuration, creating it if the manager has none.
async fn read_or_create(clerk: &mut Clerk, key: &str, initial: &[NodeId]) -> ChainConfig {
    loop {
        let found = match clerk
            .run(KvOp::Get { key: key.into() }, MANAGER_DEADLINE)
            .await
        {
            Outcome::Done(Some(text)) => text,
            _ => continue,
        };
        if let Ok(config) = config::decode(&found) {
            return config;
        }
        let first = ChainConfig::new(1, initial.to_vec());
        let create = KvOp::Cas {
            key: key.into(),
            expect: found,
            value: config::encode(&first),
        };
        // Won or lost, the next read tells.
        let _ = clerk.run(create, MANAGER_DEADLINE).await;
    }
}

/// The next configuration to grow the chain toward its length, if one is due: the joining
/// node made the tail once it has applied what the tail had, or a server outside the chain
/// that answers a probe made the joining node.
async fn grow(
    reach: &Reach,
    plan: &ChainPlan,
    config: &ChainConfig,
    dead: &mut BTreeSet<NodeId>,
) -> Option<ChainConfig> {
    if config.joining.is_none() && config.nodes.len() >= plan.length {
        return None;
    }
    let tail = reach.probe(config.tail()?).await?;
    if tail.epoch != config.epoch || !tail.synced {
        return None;
    }
    if let Some(joining) = config.joining {
        let joiner = reach.probe(joining).await?;
        let caught_up = joiner.epoch == config.epoch && joiner.applied >= tail.applied;
        return caught_up.then(|| config.promoted());
    }
    for &candidate in plan.servers.iter().filter(|n| !config.nodes.contains(n)) {
        if reach.probe(candidate).await.is_some() {
            dead.remove(&candidate);
            return Some(config.with_joining(candidate));
        }
    }
    None
}

async fn supervise(
    reach: Reach,
    mut clerk: Clerk,
    plan: ChainPlan,
    watcher: actix::Recipient<Down>,
    mut downs: mpsc::UnboundedReceiver<NodeId>,
) {
    let initial = &plan.servers[..plan.length];
    let mut watched = BTreeSet::new();
    let mut dead = BTreeSet::new();
    loop {
        let config = read_or_create(&mut clerk, &plan.key, initial).await;
        reach.push(&config, &dead);
        let mut next_push = tokio::time::Instant::now() + REPUSH;
        // Wait for a member of this configuration to go down (one already known dead counts),
        // or for the chain to be due to grow.
        let next = loop {
            for member in members(&config) {
                if !dead.contains(&member) && watched.insert(member) {
                    reach.watch(member, &watcher);
                }
            }
            if let Some(gone) = members(&config).into_iter().find(|n| dead.contains(n)) {
                // A member is removed only if another one holds a complete copy: the last
                // complete copy is never given up, and the chain waits for it to answer again.
                let member = config.nodes.contains(&gone);
                if !member || another_is_complete(&reach, &config, gone).await {
                    if member {
                        wait_out_lease(&reach, &config, &dead).await;
                    }
                    break config.without(gone);
                }
            }
            // A configuration message can be lost: push it again now and then (nodes ignore
            // epochs they have).
            tokio::select! {
                biased;
                down = downs.recv() => {
                    let Some(n) = down else {
                        return; // the supervisor is stopping
                    };
                    dead.insert(n);
                    watched.remove(&n); // watched again if it comes back
                }
                _ = tokio::time::sleep(GROW_CHECK) => {
                    if tokio::time::Instant::now() >= next_push {
                        revive(&reach, &config, &mut dead).await;
                        reach.push(&config, &dead);
                        next_push = tokio::time::Instant::now() + REPUSH;
                    }
                    if let Some(next) = grow(&reach, &plan, &config, &mut dead).await {
                        break next;
                    }
                }
            }
        };
        tracing::info!(from = ?config, to = ?next, "reconfiguring the chain");
        let swap = KvOp::Cas {
            key: plan.key.clone(),
            expect: config::encode(&config),
            value: config::encode(&next),
        };
        // Won or lost (another supervisor moved first), the next round reads what is there.
        let _ = clerk.run(swap, MANAGER_DEADLINE).await;
    }
}

/// Whether a member other than `gone` answers that its state is complete.
async fn another_is_complete(reach: &Reach, config: &ChainConfig, gone: NodeId) -> bool {
    for &member in config.nodes.iter().filter(|&&n| n != gone) {
        if reach.probe(member).await.is_some_and(|s| s.synced) {
            return true;
        }
    }
    false
}

/// A member kept in the chain though it went down (the last one) is taken back once it answers
/// a probe: it gets grants again, and is watched again.
async fn revive(reach: &Reach, config: &ChainConfig, dead: &mut BTreeSet<NodeId>) {
    let down: Vec<NodeId> = members(config)
        .into_iter()
        .filter(|n| dead.contains(n))
        .collect();
    for member in down {
        if reach.probe(member).await.is_some() {
            tracing::info!(%member, "chain node answers again");
            dead.remove(&member);
        }
    }
}

/// A member that went down may still think itself in the chain (cut off, not crashed): it gets
/// no more grants, and the new chain waits until the last lease it was given has run out, so it
/// cannot answer a read the new chain has made stale. The others keep their leases.
async fn wait_out_lease(reach: &Reach, config: &ChainConfig, dead: &BTreeSet<NodeId>) {
    let lease_out = tokio::time::Instant::now() + LEASE;
    while tokio::time::Instant::now() < lease_out {
        tokio::time::sleep(REPUSH.min(lease_out - tokio::time::Instant::now())).await;
        reach.push(config, dead);
    }
}

/// The name of the chain failover supervisor's tree on its node.
pub const NAME: &str = "chain-failover";

/// The name of the supervision tree of chain number `chain` (several can run on one node).
pub fn name_of_tree(chain: u32) -> String {
    format!("{NAME}/{chain}")
}

/// A supervision tree that keeps a [`ChainFailover`] running on its node (restarted after a
/// crash; it then re-reads the configuration from the manager and carries on).
pub fn chain_failover(plan: ChainPlan) -> crate::SupervisorSpec {
    crate::SupervisorSpec::new(name_of_tree(plan.chain))
        .strategy(crate::Strategy::OneForOne)
        .intensity(5, Duration::from_secs(10))
        .child(crate::ChildSpec::new("failover", move |node| {
            let actor = ChainFailover::new(node.clone(), plan.clone());
            Ok(node.spawn(actor).handle().clone())
        }))
}
