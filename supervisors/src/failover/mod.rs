//! The failover supervisors of each system: the supervision trees that keep a system's roles
//! running on a node.

pub mod chain;
pub mod gfs;
pub mod mapreduce;
pub mod raft;
pub mod register;
pub mod vmft;
pub mod zk;
