//! The chain failover supervisor: it keeps one chain's configuration in the configuration
//! manager (a key of the Raft key-value service, so the manager is replicated with the
//! project's own Raft), pushes each configuration to the chain's nodes with a lease (renewed by
//! pushing again, each time after the manager confirms the configuration is still current),
//! watches every node with the runtime's heartbeat failure detector, and when one goes down
//! installs the chain without it in a new epoch, pushed once the removed node's last lease has
//! run out.
//!
//! It also grows the chain back to its length. When the chain is short and one of its servers
//! outside it answers a probe (a spare, or a node that restarted), the supervisor installs a
//! configuration in which that node joins behind the tail; it receives the tail's state while
//! the chain serves. Once a probe shows it has applied what the tail had, the supervisor makes it
//! the tail in the next epoch.
//!
//! A configuration changes only by compare-and-swap on the manager, from the exact text the
//! supervisor last read, so two supervisors (a restarted one and a slow old one, or the one on
//! each node of a real cluster) cannot install diverging chains: the loser starts over from the
//! winner's configuration. Several may run at once: none renews a configuration the manager no
//! longer holds, and each holds a configuration it did not see installed before pushing it.
//!
//! [`core::ChainManager`] makes every decision and is unit-tested on its own; the
//! [`ChainFailover`] actor feeds it and carries out its actions.

mod actor;
pub mod core;
mod rounds;
#[cfg(test)]
mod tests;

pub use self::actor::ChainFailover;
pub use self::core::{Action, ChainManager, Timing};
use std::time::Duration;
use troupe_actors::chain::sharded::rotations;
use troupe_runtime::NodeId;

pub use troupe_actors::chain::config::manager_key;

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
