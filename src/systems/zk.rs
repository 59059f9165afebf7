//! ZooKeeper on Raft, assembled: a server on each of nodes n1..nN (a ZooKeeper server over
//! its Raft peer, under the supervisor that restarts it), and, on a real node, its client port
//! for ZooKeeper's own clients.
//!
//! Real nodes ([`crate::deploy`]) start the service through [`Zk`].

use super::Assembly;
use crate::Error;
use troupe_actors::zk::server::actor::{ServerCell, ZkOptions};
use troupe_runtime::{Node, NodeId};
use troupe_supervisors::failover::zk::zk_server;
use troupe_supervisors::Supervisor;

/// The ZooKeeper server's actor name on every server node.
pub const SERVER: &str = troupe_actors::zk::server::actor::NAME;

/// ZooKeeper on a group of servers.
#[derive(Clone, Debug)]
pub struct Zk {
    /// Each server's options: its Raft group (the servers), ZooKeeper's tick, timeouts.
    pub options: ZkOptions,
    /// Where a node's client port finds its server (one per process: a real node runs one).
    pub cell: ServerCell,
}

impl Zk {
    /// Servers on `servers` with default options; entry times count from `epoch_ms`.
    pub fn on(servers: Vec<NodeId>, epoch_ms: i64) -> Zk {
        Zk {
            options: ZkOptions::new(servers, epoch_ms),
            cell: ServerCell::default(),
        }
    }

    /// The servers.
    pub fn servers(&self) -> &[NodeId] {
        &self.options.raft.members
    }
}

impl Assembly for Zk {
    fn last_node(&self) -> u32 {
        self.servers().iter().map(|n| n.0).max().unwrap_or(0)
    }

    fn start(&self, node: &Node) -> crate::Result<()> {
        if !self.servers().contains(&node.id()) {
            return Ok(());
        }
        Supervisor::start(node, zk_server(self.options.clone(), self.cell.clone()))
            .map(|_| ())
            .map_err(|e| Error::role(node.id(), "ZooKeeper server", e))
    }
}
