//! GFS, assembled: a master replicated on a Raft group (its operation log is the Raft log, its
//! checkpoints Raft snapshots), chunkservers that keep chunks as files, each role under a
//! supervisor that restarts it, and clients that ask the master for metadata and move data
//! to and from the chunkservers themselves.
//!
//! A managed deployment ([`Gfs::managed`]) runs the master's replicas on n1-n3 and the
//! chunkservers on the nodes after them; a colocated one ([`Gfs::colocated`]) runs a master
//! replica (on the first three nodes) and a chunkserver on every node, as real processes do
//! (`troupe cluster init --system gfs`); a symmetric one ([`Gfs::symmetric`]) runs both on
//! every node.
//!
//! `troupe sim gfs`, tests/gfs, examples/gfs.rs, `troupe bench gfs` and real nodes start it
//! through [`Gfs`].

use super::Assembly;
use crate::Error;
use std::path::PathBuf;
use troupe_actors::gfs::chunkserver::ChunkserverFiles;
use troupe_actors::gfs::client::GfsClient;
use troupe_actors::gfs::master::server::MasterOptions;
use troupe_actors::gfs::GfsPlan;
use troupe_messages::ClientId;
use troupe_runtime::{Node, NodeId};
use troupe_supervisors::failover::gfs::{gfs_chunkserver, gfs_master};
use troupe_supervisors::Supervisor;

pub use troupe_actors::gfs::{GfsTiming, CHUNKSERVER, MASTER};

/// Where chunkservers keep their chunks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChunkPlace {
    /// In the node's persister: survives a crash and restart of the node, like a disk
    /// (simulation).
    Persister,
    /// As files under `<dir>/<node>/` (real nodes).
    Dir(PathBuf),
}

/// One GFS deployment and where its roles run.
#[derive(Debug, Clone)]
pub struct Gfs {
    /// The master's replicas, the chunkservers, timing, chunk size, replicas per chunk.
    pub plan: GfsPlan,
    /// Where chunkservers keep chunks.
    pub place: ChunkPlace,
    /// The master replicas' options (None: [`MasterOptions::new`] of the plan). A real
    /// cluster sets its file's Raft timing here.
    pub master_options: Option<MasterOptions>,
}

impl Gfs {
    /// The master on n1-n3 and `chunkservers` chunkservers after them, chunks in the nodes'
    /// persisters, the fast timing.
    pub fn managed(chunkservers: u32) -> Self {
        let masters = vec![NodeId(1), NodeId(2), NodeId(3)];
        let servers = (4..4 + chunkservers.max(1)).map(NodeId).collect();
        Gfs {
            plan: GfsPlan::new(masters, servers),
            place: ChunkPlace::Persister,
            master_options: None,
        }
    }

    /// Nodes n1..n`nodes`, each a chunkserver, the first three (or all, if fewer) also master
    /// replicas.
    pub fn colocated(nodes: u32) -> Self {
        let all: Vec<NodeId> = (1..=nodes.max(1)).map(NodeId).collect();
        let masters = all.iter().copied().take(3).collect();
        Gfs {
            plan: GfsPlan::new(masters, all),
            place: ChunkPlace::Persister,
            master_options: None,
        }
    }

    /// Nodes n1..n`nodes`, each both a master replica and a chunkserver: a minority of nodes
    /// down or cut off leaves a master quorum and, with three replicas on five nodes or fewer,
    /// a replica of every chunk. `troupe sim gfs` runs this one.
    pub fn symmetric(nodes: u32) -> Self {
        let all: Vec<NodeId> = (1..=nodes.max(1)).map(NodeId).collect();
        Gfs {
            plan: GfsPlan::new(all.clone(), all),
            place: ChunkPlace::Persister,
            master_options: None,
        }
    }

    /// The same deployment with `plan` changed by `f` (timing, chunk size, replicas).
    pub fn with_plan(mut self, f: impl FnOnce(&mut GfsPlan)) -> Self {
        f(&mut self.plan);
        self
    }

    /// The same deployment keeping chunks at `place`.
    pub fn place(mut self, place: ChunkPlace) -> Self {
        self.place = place;
        self
    }

    /// The master's replicas.
    pub fn masters(&self) -> &[NodeId] {
        &self.plan.masters
    }

    /// The chunkservers.
    pub fn chunkservers(&self) -> &[NodeId] {
        &self.plan.chunkservers
    }

    /// A client on `node` with the client id `id`.
    pub fn client(&self, node: Node, id: impl Into<ClientId>) -> GfsClient {
        GfsClient::new(node, &self.plan, id)
    }

    fn master_options(&self) -> MasterOptions {
        self.master_options
            .clone()
            .unwrap_or_else(|| MasterOptions::new(self.plan.clone()))
    }

    fn files(&self, node: NodeId) -> ChunkserverFiles {
        match &self.place {
            ChunkPlace::Persister => ChunkserverFiles::Persisted,
            ChunkPlace::Dir(dir) => ChunkserverFiles::Dir(dir.join(node.to_string())),
        }
    }
}

impl Assembly for Gfs {
    fn last_node(&self) -> u32 {
        let nodes = self.plan.masters.iter().chain(&self.plan.chunkservers);
        nodes.map(|n| n.0).max().unwrap_or(0)
    }

    fn start(&self, node: &Node) -> crate::Result<()> {
        let id = node.id();
        if self.plan.masters.contains(&id) {
            Supervisor::start(node, gfs_master(self.master_options()))
                .map_err(|e| Error::role(id, "GFS master replica", e))?;
        }
        if self.plan.chunkservers.contains(&id) {
            let spec = gfs_chunkserver(self.plan.clone(), self.files(id));
            Supervisor::start(node, spec).map_err(|e| Error::role(id, "GFS chunkserver", e))?;
        }
        Ok(())
    }
}
