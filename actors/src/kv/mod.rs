//! A linearizable key-value service on Raft: Get, Put and Append, exactly once per clerk
//! operation, reads through the log, snapshots when the log grows.

pub mod clerk;
pub mod gateway;
pub mod remote;
pub mod server;
pub mod state;
