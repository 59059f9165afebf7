//! troupe's runtime: the ground every system stands on.
//!
//! - [`Node`]: where actors live. `spawn_named` starts an actix actor under a name,
//!   [`Spawned::accept`] declares the wire messages it takes, and [`Node::send`] /
//!   [`Node::call`] reach any actor by its [`ActorPath`], local or remote, with one API.
//! - [`sim::SimNet`]: every node in one process, in paused virtual time, with loss, delay,
//!   duplication, partitions, crashes and restarts, all driven by one seed.
//! - [`ActorHandle`] and [`Node::watch`]: how an actor ended (normal, killed, panicked) and
//!   monitors that report it, across nodes too.
//! - [`Persister`]: what a node keeps across a crash; [`FilePersister`] on real nodes, and
//!   [`PowerLossFs`], a disk that loses what was not fsynced, to test it.
//! - [`EventLog`]: every send, delivery, drop, crash, restart, exit and timer, as tracing events
//!   and optionally JSON lines.
//! - [`testkit`]: a cluster builder for failure tests, with seeds that replay.
//!
//! The simulator ([`sim`], [`nemesis`], [`testkit`]) needs tokio's `test-util` (paused,
//! auto-advancing time), which a real node has no use for: it is compiled only with the
//! `simulation` feature, so that a real-node build (`troupe` without default features) carries
//! none of it.

mod cell;
mod deadline;
mod envelope;
mod error;
mod events;
pub mod history;
pub mod linearizability;
mod messaging;
mod monitor;
#[cfg(any(test, feature = "simulation"))]
pub mod nemesis;
mod node;
mod persist;
pub mod plant;
mod registry;
pub mod seed;
#[cfg(any(test, feature = "simulation"))]
pub mod sim;
pub mod tcp;
#[cfg(any(test, feature = "simulation"))]
pub mod testkit;
pub mod timer;

pub use cell::ActorHandle;
pub use envelope::{decode, encode, Envelope, Flow, SYSTEM_NAME};
pub use error::{Cause, Error, Result};
pub use events::{Event, EventLog};
pub use node::{Node, NodeConfig, NodeParts, NodeStats, Transport};
#[cfg(feature = "planted-bugs")]
pub use persist::file::PlantedBug;
pub use persist::file::{FilePersister, Recovery};
pub use persist::fs::{FileHandle, FileSystem, StdFs};
pub use persist::power_loss::PowerLossFs;
pub use persist::{MemPersister, Persister, PersisterExt};
pub use registry::Spawned;
pub use seed::derive_seed;
pub use troupe_messages as messages;
pub use troupe_messages::system::{Down, DownReason, ExitReason, MonitorRef, Rejection};
pub use troupe_messages::{ActorPath, NodeId, TraceId, Wire};
