//! The ZooKeeper server supervisor: restarts a server (and its linked Raft peer) whose actor
//! crashed, from what the node persisted; the restarted server takes the node's client port
//! over through its [`ServerCell`].

use crate::{ChildSpec, Strategy, SupervisorSpec};
use std::time::Duration;
use troupe_actors::zk::server::actor::{ServerCell, ZkOptions, ZkServer};

/// The name of the server's supervisor on its node.
pub const NAME: &str = "zk-server";

/// A supervisor for one ZooKeeper server: at most 5 restarts in 10 s, 50 ms backoff doubling
/// to 1 s.
pub fn zk_server(options: ZkOptions, cell: ServerCell) -> SupervisorSpec {
    SupervisorSpec::new(NAME)
        .strategy(Strategy::OneForOne)
        .intensity(5, Duration::from_secs(10))
        .backoff(Duration::from_millis(50), Duration::from_secs(1))
        .child(ChildSpec::new("zk", move |node| {
            ZkServer::spawn(node, options.clone(), Some(&cell))
        }))
}
