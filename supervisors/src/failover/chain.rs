//! The chain failover supervisor: it keeps one chain's configuration in the configuration
//! manager (a key of the Raft key-value service, so the manager is replicated with the
//! project's own Raft), pushes each configuration to the chain's nodes with a lease (renewed by
//! pushing again), watches every node with the runtime's heartbeat failure detector, and when
//! one goes down waits out its lease and installs the chain without it in a new epoch.
//!
//! A configuration changes only by compare-and-swap on the manager, from the exact text the
//! supervisor last read, so two supervisors (a restarted one and a slow old one) cannot install
//! diverging chains: the loser re-reads and starts over from the winner's configuration.

use actix::{Actor, AsyncContext, Context, Handler, WrapFuture};
use std::collections::BTreeSet;
use std::time::Duration;
use tokio::sync::mpsc;
use troupe_actors::chain::node::NAME as CHAIN;
use troupe_actors::kv::clerk::{Clerk, Outcome};
use troupe_messages::chain::{ChainConfig, SetChainConfig};
use troupe_messages::kv::KvOp;
use troupe_runtime::{ActorPath, Down, Node, NodeId};

/// How long one manager operation may take before the supervisor tries again.
const MANAGER_DEADLINE: Duration = Duration::from_secs(5);

/// The supervisor of one chain.
pub struct ChainFailover {
    node: Node,
    manager: Vec<NodeId>,
    key: String,
    initial: Vec<NodeId>,
    downs: Option<mpsc::UnboundedSender<NodeId>>,
}

impl ChainFailover {
    /// A supervisor on `node` for the chain stored under `key` in the manager group `manager`,
    /// created as `initial` if the manager has none yet.
    pub fn new(node: Node, manager: Vec<NodeId>, key: String, initial: Vec<NodeId>) -> Self {
        ChainFailover {
            node,
            manager,
            key,
            initial,
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
        let run = supervise(
            self.node.clone(),
            Clerk::new(self.node.clone(), self.manager.clone(), clerk_id),
            self.key.clone(),
            self.initial.clone(),
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

/// How long a node may serve clients after a push reached it.
const LEASE: Duration = Duration::from_millis(600);

/// Sends `config`, with a lease, to each of its nodes not known dead.
fn push(node: &Node, config: &ChainConfig, dead: &BTreeSet<NodeId>) {
    let lease_ms = Some(LEASE.as_millis() as u64);
    for &member in config.nodes.iter().filter(|n| !dead.contains(n)) {
        let path = ActorPath::new(member, CHAIN);
        let grant = SetChainConfig {
            config: config.clone(),
            lease_ms,
        };
        if let Err(e) = node.send(&path, grant) {
            tracing::debug!(%member, "configuration not sent: {e}");
        }
    }
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
        if let Some(config) = ChainConfig::from_text(&found) {
            return config;
        }
        let first = ChainConfig {
            epoch: 1,
            nodes: initial.to_vec(),
        };
        let create = KvOp::Cas {
            key: key.into(),
            expect: found,
            value: first.to_text(),
        };
        // Won or lost, the next read tells.
        let _ = clerk.run(create, MANAGER_DEADLINE).await;
    }
}

async fn supervise(
    node: Node,
    mut clerk: Clerk,
    key: String,
    initial: Vec<NodeId>,
    watcher: actix::Recipient<Down>,
    mut downs: mpsc::UnboundedReceiver<NodeId>,
) {
    let mut watched = BTreeSet::new();
    let mut dead = BTreeSet::new();
    loop {
        let config = read_or_create(&mut clerk, &key, &initial).await;
        for &member in &config.nodes {
            if watched.insert(member) {
                node.watch(&ActorPath::new(member, CHAIN), watcher.clone());
            }
        }
        push(&node, &config, &dead);
        // Wait for a member of this configuration to go down (one already known dead counts).
        let gone = match config.nodes.iter().find(|n| dead.contains(*n)) {
            Some(&n) => n,
            None => loop {
                // A configuration message can be lost: push it again now and then (nodes ignore
                // epochs they have).
                let down = tokio::select! {
                    biased;
                    down = downs.recv() => down,
                    _ = tokio::time::sleep(REPUSH) => {
                        push(&node, &config, &dead);
                        continue;
                    }
                };
                let Some(n) = down else {
                    return; // the supervisor is stopping
                };
                dead.insert(n);
                if config.nodes.contains(&n) {
                    break n;
                }
            },
        };
        // The node may still think itself in the chain (cut off, not crashed): it gets no more
        // grants, and the new chain waits until the last lease it was given has run out, so it
        // cannot answer a read the new chain has made stale. The others keep their leases.
        let lease_out = tokio::time::Instant::now() + LEASE;
        while tokio::time::Instant::now() < lease_out {
            tokio::time::sleep(REPUSH.min(lease_out - tokio::time::Instant::now())).await;
            push(&node, &config, &dead);
        }
        let next = ChainConfig {
            epoch: config.epoch + 1,
            nodes: config
                .nodes
                .iter()
                .copied()
                .filter(|&n| n != gone)
                .collect(),
        };
        tracing::info!(%gone, epoch = next.epoch, chain = ?next.nodes, "reconfiguring the chain");
        let swap = KvOp::Cas {
            key: key.clone(),
            expect: config.to_text(),
            value: next.to_text(),
        };
        // Won or lost (another supervisor moved first), the next round reads what is there.
        let _ = clerk.run(swap, MANAGER_DEADLINE).await;
    }
}

/// The name of the chain failover supervisor's tree on its node.
pub const NAME: &str = "chain-failover";

/// A supervision tree that keeps a [`ChainFailover`] running on its node (restarted after a
/// crash; it then re-reads the configuration from the manager and carries on).
pub fn chain_failover(
    manager: Vec<NodeId>,
    key: String,
    initial: Vec<NodeId>,
) -> crate::SupervisorSpec {
    crate::SupervisorSpec::new(NAME)
        .strategy(crate::Strategy::OneForOne)
        .intensity(5, Duration::from_secs(10))
        .child(crate::ChildSpec::new("failover", move |node| {
            let actor =
                ChainFailover::new(node.clone(), manager.clone(), key.clone(), initial.clone());
            Ok(node.spawn(actor).handle().clone())
        }))
}
