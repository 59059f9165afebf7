//! The register server's supervisor: restarts the server when its actor stops (a handler
//! panicked, or a put could not be made durable), and the fresh server rebuilds itself from
//! the node's persister.
//!
//! A crash of the whole node is the simulated network's business (the node restarts and its
//! topology starts this supervisor again); this supervisor handles the server's own crashes on
//! a running node.

use crate::{ChildSpec, Strategy, SupervisorSpec};
use std::time::Duration;
use troupe_actors::register::RegisterServer;

/// The name of the register server's supervisor on its node.
pub const NAME: &str = "register-supervisor";

/// A supervisor for the register server: at most 5 restarts in 10 s, 50 ms backoff doubling to
/// 1 s, so that a server that keeps crashing escalates instead of looping.
pub fn register_server() -> SupervisorSpec {
    SupervisorSpec::new(NAME)
        .strategy(Strategy::OneForOne)
        .intensity(5, Duration::from_secs(10))
        .backoff(Duration::from_millis(50), Duration::from_secs(1))
        .child(ChildSpec::new("register", RegisterServer::spawn))
}
