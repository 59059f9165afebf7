//! troupe's facade: the workspace's crates under one name, and what the `troupe` command line
//! shares with tests, examples and benchmarks: each system's assembly ([`systems`]), the test
//! kit's workloads ([`testkit`]), the cluster configuration file and the assembly of a real
//! node.
//!
//! - [`runtime`]: nodes, messaging, the simulated and TCP networks, persisters, the test kit.
//! - [`messages`]: the wire types of every protocol.
//! - [`actors`]: the server roles (Raft, the key-value service, ...).
//! - [`supervisors`]: supervision trees and the failover supervisors.

pub mod config;
pub mod deploy;
mod error;
pub mod systems;
#[cfg(feature = "simulation")]
pub mod testkit;

pub use error::Error;

/// The library's results.
pub type Result<T, E = Error> = std::result::Result<T, E>;

pub use troupe_actors as actors;
pub use troupe_messages as messages;
pub use troupe_runtime as runtime;
pub use troupe_supervisors as supervisors;
