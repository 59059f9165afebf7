//! One home per system: each module here assembles one system (which node runs which role,
//! how each role starts, how a client is made, what its actors and manager keys are called),
//! and `troupe sim`, the tests, the examples, the benchmarks and real nodes all use it. No
//! cluster is assembled anywhere else.
//!
//! - [`raft_kv`]: the linearizable key-value service on Raft.
//! - [`chain`]: chain replication and CRAQ, with a configuration manager on Raft and a
//!   failover supervisor per chain.
//! - [`gfs`]: the Google File System: a master on Raft, chunkservers, leases, versions and
//!   record append, each role under a supervisor.
//! - [`mapreduce`]: MapReduce: a coordinator that persists its task table and worker pools
//!   whose workers run map and reduce tasks on real files.
//! - [`register`]: one durable, supervised register server, not replicated: the system
//!   docs/adding-a-system.md builds.
//! - [`vmft`]: a fault-tolerant virtual machine, replicated as primary and backup by
//!   deterministic replay of a log, with a failover supervisor that starts new backups.
//! - [`zk`]: ZooKeeper on Raft: znodes, sessions and watches, and ZooKeeper's own protocol
//!   for its clients.

pub mod chain;
pub mod gfs;
pub mod mapreduce;
pub mod raft_kv;
pub mod register;
pub mod vmft;
pub mod zk;

use troupe_runtime::Node;

/// A system laid out on numbered nodes: it knows which of them run its roles, and starts the
/// right roles on each. A cluster's topology calls [`Assembly::start`] for every node it
/// brings up (and again after every restart); nodes the system does not use are left to
/// clients.
pub trait Assembly {
    /// The highest node number the system's roles use; clients take the nodes after it.
    fn last_node(&self) -> u32;

    /// Starts on `node` whatever roles the layout gives it (nothing, for a client's node).
    fn start(&self, node: &Node) -> crate::Result<()>;
}

/// A cluster topology (see `ClusterBuilder::topology`) that starts `system`'s roles on every
/// node as it comes up, and again after each restart. A role that does not start is logged as
/// an error, and the run's checks then meet a system without it.
pub fn topology<A: Assembly + 'static>(system: A) -> impl Fn(&Node) + 'static {
    move |node| {
        if let Err(e) = system.start(node) {
            tracing::error!(node = %node.id(), "{e}");
        }
    }
}
