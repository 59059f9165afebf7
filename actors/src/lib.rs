//! troupe's server roles, one module per system.
//!
//! Each role keeps its protocol decisions in plain structs and its actor as a thin shell that
//! feeds them inputs and performs their effects. So far: [`raft`] and the [`kv`] service on it
//! (with the gateway and remote clerk of real clusters), [`chain`] replication and CRAQ,
//! [`register`], one durable register server (the system docs/adding-a-system.md builds),
//! [`vmft`], fault-tolerant virtual machines (a deterministic VM replicated as primary and
//! backup), [`gfs`], the Google File System, [`mapreduce`] (its coordinator, workers and
//! applications), [`zk`], ZooKeeper (its znode tree so far), and [`ping`], the pinger of the
//! messaging benchmark and the runtime's tests.

pub mod chain;
pub mod client;
pub mod gfs;
pub mod kv;
pub mod mapreduce;
pub mod ping;
pub mod raft;
pub mod register;
pub mod vmft;
pub mod zk;
