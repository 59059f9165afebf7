//! Raft: leader election (with PreVote and CheckQuorum), log replication with fast backup,
//! persistence before replying, snapshots and InstallSnapshot.
//!
//! [`core::RaftCore`] makes every decision and returns effects; [`peer::RaftPeer`] is the thin
//! actor that ticks it, persists, sends and hands committed entries to the service.

pub mod core;
mod election;
pub mod log;
pub mod peer;
mod replication;
pub mod storage;
#[cfg(test)]
mod tests;

pub use self::core::{Apply, Durable, Effects, RaftConfig, RaftCore, Role};
pub use self::log::RaftLog;
