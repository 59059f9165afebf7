//! The register service, assembled: one server on one node, under the supervisor that restarts
//! it from its persister; clients are [`RegisterClient`]s on any other node.
//!
//! It is not replicated: while its server's node is down, nobody is served, and a disk lost
//! with the node would lose every register. It is troupe's smallest system, there to show how
//! a system is added (docs/adding-a-system.md). `troupe sim register` and the guide's tests
//! start it through [`Register`].

use super::Assembly;
use crate::Error;
use troupe_actors::register::RegisterClient;
use troupe_messages::ClientId;
use troupe_runtime::{Node, NodeId};
use troupe_supervisors::failover::register::register_server;
use troupe_supervisors::Supervisor;

/// The server's actor name.
pub const SERVER: &str = troupe_actors::register::server::NAME;
/// The name of the supervision tree that keeps the server running.
pub const SUPERVISOR: &str = troupe_supervisors::failover::register::NAME;

/// The register service: where its one server runs.
#[derive(Clone, Debug)]
pub struct Register {
    /// The server's node.
    pub server: NodeId,
}

impl Register {
    /// The server on n1; clients take the nodes after it.
    pub fn new() -> Self {
        Register { server: NodeId(1) }
    }

    /// A client on `node` with the client id `id` (a retry of one of its puts takes effect
    /// once).
    pub fn client(&self, node: Node, id: impl Into<ClientId>) -> RegisterClient {
        RegisterClient::new(node, self.server, id)
    }
}

impl Default for Register {
    fn default() -> Self {
        Self::new()
    }
}

impl Assembly for Register {
    fn last_node(&self) -> u32 {
        self.server.0
    }

    fn start(&self, node: &Node) -> crate::Result<()> {
        if node.id() != self.server {
            return Ok(());
        }
        Supervisor::start(node, register_server())
            .map(|_| ())
            .map_err(|e| Error::role(node.id(), "register server", e))
    }
}
