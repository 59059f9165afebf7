//! VM-FT, assembled: a deterministic VM replicated as primary and backup, with its record and
//! virtual disk in a shared storage (troupe's Raft key-value service) and a failover supervisor
//! that starts a new backup after every failover.
//!
//! A managed deployment ([`Vmft::managed`]) has n1-n3 run the shared storage (a Raft key-value
//! replica each) and the failover supervisor, and the VM hosts after them: the first two become
//! primary and backup, the others are spares. A colocated deployment ([`Vmft::colocated`]) runs
//! a storage replica, a host and a supervisor on every node, as real processes do (`troupe
//! cluster init --system vmft`).
//!
//! `troupe sim vmft`, tests/vmft, examples/vmft.rs, `troupe bench vmft` and real nodes
//! ([`crate::deploy`]) start it through [`Vmft`].

use super::raft_kv::RaftKv;
use super::Assembly;
use crate::Error;
use std::time::Duration;
use troupe_actors::client::Outcome;
use troupe_actors::kv::clerk::Clerk;
use troupe_actors::kv::server::KvOptions;
use troupe_actors::vmft::client::VmftClient;
use troupe_actors::vmft::record::{record_key, FtRecord};
use troupe_actors::vmft::VmftPlan;
use troupe_messages::kv::KvOp;
use troupe_messages::ClientId;
use troupe_runtime::{Node, NodeId};
use troupe_supervisors::failover::vmft::{vmft_failover, vmft_host};
use troupe_supervisors::Supervisor;

pub use troupe_actors::vmft::{Guest, Timing, HOST};

/// The shared storage's nodes in a managed deployment.
pub const STORAGE: [NodeId; 3] = [NodeId(1), NodeId(2), NodeId(3)];

/// One fault-tolerant VM and where its roles run.
#[derive(Clone, Debug)]
pub struct Vmft {
    /// The VM: its hosts, storage, guest and settings.
    pub plan: VmftPlan,
    /// The nodes that run a failover supervisor (several may).
    pub supervisors: Vec<NodeId>,
    /// The storage replicas' options (their Raft group is `plan.storage`; None: the defaults).
    /// A real cluster sets its file's timing here.
    pub storage_options: Option<KvOptions>,
}

impl Vmft {
    /// The storage and the supervisor on n1-n3, and `hosts` VM hosts after them (one host: a
    /// VM that never gets a backup, the baseline without fault tolerance).
    pub fn managed(hosts: u32) -> Self {
        let hosts: Vec<NodeId> = (4..4 + hosts.max(1)).map(NodeId).collect();
        Vmft {
            plan: VmftPlan::new(STORAGE.to_vec(), hosts),
            supervisors: STORAGE.to_vec(),
            storage_options: None,
        }
    }

    /// Nodes n1..n`nodes`, each a storage replica, a VM host and a supervisor.
    pub fn colocated(nodes: u32) -> Self {
        let all: Vec<NodeId> = (1..=nodes.max(2)).map(NodeId).collect();
        Vmft {
            plan: VmftPlan::new(all.clone(), all.clone()),
            supervisors: all,
            storage_options: None,
        }
    }

    /// The VM runs `guest`.
    pub fn guest(mut self, guest: Guest) -> Self {
        self.plan.guest = guest;
        self
    }

    /// The VM's hosts.
    pub fn hosts(&self) -> &[NodeId] {
        &self.plan.hosts
    }

    /// A client of the key-value guest on `node`, with the client id `id`.
    pub fn client(&self, node: Node, id: impl Into<ClientId>) -> VmftClient {
        VmftClient::new(node, self.plan.hosts.clone(), id)
    }

    /// A client of the shared storage on `node`, with the client id `id`.
    pub fn storage_client(&self, node: Node, id: impl Into<ClientId>) -> Clerk {
        Clerk::new(node, self.plan.storage.clone(), id)
    }

    /// The VM's record as the storage holds it now, read with `storage` (a
    /// [`Vmft::storage_client`]); None if it does not answer within `deadline` or the VM was
    /// never booted.
    pub async fn record(&self, storage: &mut Clerk, deadline: Duration) -> Option<FtRecord> {
        let get = KvOp::Get {
            key: record_key(&self.plan.vm),
        };
        match storage.run(get, deadline).await {
            Outcome::Done(Some(text)) => FtRecord::decode(&text).ok().flatten(),
            _ => None,
        }
    }
}

impl Assembly for Vmft {
    fn last_node(&self) -> u32 {
        let nodes = self
            .plan
            .storage
            .iter()
            .chain(&self.plan.hosts)
            .chain(&self.supervisors);
        nodes.map(|n| n.0).max().unwrap_or(0)
    }

    fn start(&self, node: &Node) -> crate::Result<()> {
        let id = node.id();
        if self.plan.storage.contains(&id) {
            let storage = match &self.storage_options {
                Some(options) => RaftKv::with_options(options.clone()),
                None => RaftKv::on(self.plan.storage.clone()),
            };
            storage.start(node)?;
        }
        if self.plan.hosts.contains(&id) {
            Supervisor::start(node, vmft_host(self.plan.clone()))
                .map_err(|e| Error::role(id, "VM host", e))?;
        }
        if self.supervisors.contains(&id) {
            Supervisor::start(node, vmft_failover(self.plan.clone()))
                .map_err(|e| Error::role(id, "VM-FT failover supervisor", e))?;
        }
        Ok(())
    }
}
