//! The test kit for whole systems: the runtime's kit (simulated clusters, seeds, replay
//! hints) together with the client workloads that drive a system and record its history.
//!
//! - [`troupe_runtime::testkit`], re-exported here: [`Cluster`], [`simulate`] and the rest.
//! - [`workload`]: random key-value operations from many clients, each recorded for the
//!   linearizability checker, and the final checks of a run.

pub mod workload;

pub use troupe_runtime::testkit::*;
