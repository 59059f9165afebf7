//! The Raft replica supervisor: restarts a key-value replica (server and Raft peer, linked)
//! whose actor crashed, from what the node persisted.
//!
//! A crash of the whole node is the simulated network's business (the node restarts and its
//! topology runs this supervisor again); this supervisor handles the crash of an actor on a
//! running node, for instance a panic in a handler: the peer comes back with its term, vote and
//! log, and rejoins the group as a follower.

use crate::{ChildSpec, Strategy, SupervisorSpec};
use std::time::Duration;
use troupe_actors::kv::server::{KvOptions, KvServer};

/// The name of the replica supervisor on its node.
pub const NAME: &str = "kv-replica";

/// A supervisor for one key-value replica: at most 5 restarts in 10 s, 50 ms backoff doubling
/// to 1 s, so that a replica that keeps crashing escalates instead of looping.
pub fn kv_replica(options: KvOptions) -> SupervisorSpec {
    SupervisorSpec::new(NAME)
        .strategy(Strategy::OneForOne)
        .intensity(5, Duration::from_secs(10))
        .backoff(Duration::from_millis(50), Duration::from_secs(1))
        .child(ChildSpec::new("kv", move |node| {
            KvServer::spawn(node, options.clone())
        }))
}
