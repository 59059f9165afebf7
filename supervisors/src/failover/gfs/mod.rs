//! GFS's supervision trees: one on every master replica's node, which restarts the replica
//! (master actor and Raft peer, linked) from what the node persisted and keeps its failover
//! supervisor running, and one on every chunkserver's node, which restarts the chunkserver from
//! its chunk files.
//!
//! What comes after a failure is [`failover::GfsFailover`]'s: beside the serving master
//! replica, it moves a lease whose primary died once that lease has expired (the master never
//! names a second primary while the first may still act), and starts re-replication of the
//! chunks of a chunkserver that stays down until each is back at its target count. A crash of
//! the whole node is the simulated network's business (the node restarts and its topology
//! starts these trees again).

pub mod failover;

use crate::{ChildSpec, Strategy, SupervisorSpec};
use failover::GfsFailover;
use std::time::Duration;
use troupe_actors::gfs::chunkserver::{Chunkserver, ChunkserverFiles};
use troupe_actors::gfs::master::server::{MasterOptions, MasterServer};
use troupe_actors::gfs::GfsPlan;

/// The name of a master replica's supervisor on its node.
pub const MASTER_TREE: &str = "gfs-master-tree";

/// The name of a chunkserver's supervisor on its node.
pub const CHUNKSERVER_TREE: &str = "gfs-chunkserver-tree";

/// A supervisor for one master replica and its failover supervisor: at most 5 restarts in 10 s, 50 ms backoff doubling to
/// 1 s, so that a replica that keeps crashing escalates instead of looping.
pub fn gfs_master(options: MasterOptions) -> SupervisorSpec {
    SupervisorSpec::new(MASTER_TREE)
        .strategy(Strategy::OneForOne)
        .intensity(5, Duration::from_secs(10))
        .backoff(Duration::from_millis(50), Duration::from_secs(1))
        .child(ChildSpec::new("master", {
            let options = options.clone();
            move |node| MasterServer::spawn(node, options.clone())
        }))
        .child(ChildSpec::new("failover", move |node| {
            let failover = GfsFailover::new(node.clone(), options.plan.clone());
            Ok(node.spawn(failover).handle().clone())
        }))
}

/// A supervisor for one chunkserver, with the same limits.
pub fn gfs_chunkserver(plan: GfsPlan, files: ChunkserverFiles) -> SupervisorSpec {
    SupervisorSpec::new(CHUNKSERVER_TREE)
        .strategy(Strategy::OneForOne)
        .intensity(5, Duration::from_secs(10))
        .backoff(Duration::from_millis(50), Duration::from_secs(1))
        .child(ChildSpec::new("chunkserver", move |node| {
            Chunkserver::spawn(node, plan.clone(), files.clone())
        }))
}
