//! Chain replication and CRAQ (van Renesse and Schneider, OSDI 2004; Terrace and Freedman,
//! USENIX ATC 2009): writes enter at the head and flow down the chain, the tail commits, and the
//! acknowledgement flows back up. Plain chain replication reads at the tail; CRAQ reads at any
//! node, answering a clean key locally and asking the tail which version is committed for a
//! dirty one.
//!
//! [`core::ChainCore`] makes every decision of one node of one chain and returns effects;
//! `membership` holds its reconfiguration, joining and state-transfer rules. [`config`] holds
//! the configuration's transitions from epoch to epoch and the configuration manager's form of it.

pub mod clerk;
pub mod config;
pub mod core;
pub mod gateway;
mod membership;
pub mod node;
pub mod sharded;
pub mod storage;
pub mod store;

pub use self::core::{ChainCore, ChainEffects, RequestId};

#[cfg(test)]
mod tests;
