//! The linearizable key-value service on Raft, assembled: replicas on nodes n1..nN, each a
//! key-value server over its Raft peer, under the replica supervisor that restarts it from its
//! persister; clients are [`Clerk`]s that find the leader themselves.
//!
//! `troupe sim raft-kv`, tests/kv, tests/raft's service tests, examples/raft_kv.rs, `troupe
//! bench raft-kv` and real nodes ([`crate::deploy`]) start the service through [`RaftKv`].

use super::Assembly;
use crate::Error;
use troupe_actors::kv::clerk::Clerk;
use troupe_actors::kv::server::{KvOptions, KvServer};
use troupe_messages::ClientId;
use troupe_runtime::{Node, NodeId};
use troupe_supervisors::failover::raft::kv_replica;
use troupe_supervisors::Supervisor;

/// The key-value server's actor name on every replica.
pub const SERVER: &str = troupe_actors::kv::server::NAME;
/// The Raft peer's actor name on every replica.
pub const RAFT: &str = troupe_actors::raft::peer::NAME;
/// The name of the supervision tree that keeps a replica running.
pub const SUPERVISOR: &str = troupe_supervisors::failover::raft::NAME;

/// The key-value service on a group of replicas.
#[derive(Clone, Debug)]
pub struct RaftKv {
    /// Each replica's options: its Raft group (the replicas), timing, snapshots.
    pub options: KvOptions,
    /// Whether each replica runs under its supervisor (the default) or bare, so that a crash
    /// of its actors stays a crash.
    pub supervised: bool,
}

impl RaftKv {
    /// Replicas on nodes n1..n`servers`, with default options, each under its supervisor.
    pub fn new(servers: u32) -> Self {
        Self::on((1..=servers).map(NodeId).collect())
    }

    /// Replicas on `servers`, with default options, each under its supervisor.
    pub fn on(servers: Vec<NodeId>) -> Self {
        RaftKv {
            options: KvOptions::new(servers),
            supervised: true,
        }
    }

    /// The same service with `options` (whose Raft members are the replicas).
    pub fn with_options(options: KvOptions) -> Self {
        RaftKv {
            options,
            supervised: true,
        }
    }

    /// Replicas run bare, without their supervisor.
    pub fn bare(mut self) -> Self {
        self.supervised = false;
        self
    }

    /// The replicas.
    pub fn servers(&self) -> &[NodeId] {
        &self.options.raft.members
    }

    /// A client on `node` with the client id `id` (a retry of one of its operations takes
    /// effect once).
    pub fn client(&self, node: Node, id: impl Into<ClientId>) -> Clerk {
        Clerk::new(node, self.servers().to_vec(), id)
    }
}

impl Assembly for RaftKv {
    fn last_node(&self) -> u32 {
        self.servers().iter().map(|n| n.0).max().unwrap_or(0)
    }

    fn start(&self, node: &Node) -> crate::Result<()> {
        if !self.servers().contains(&node.id()) {
            return Ok(());
        }
        let options = self.options.clone();
        if self.supervised {
            Supervisor::start(node, kv_replica(options))
                .map(|_| ())
                .map_err(|e| Error::role(node.id(), "key-value replica", e))
        } else {
            KvServer::spawn(node, options)
                .map(|_| ())
                .map_err(|e| Error::role(node.id(), "key-value server", e))
        }
    }
}
