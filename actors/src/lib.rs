//! troupe's server roles, one module per system.
//!
//! Each role keeps its protocol decisions in plain structs and its actor as a thin shell that
//! feeds them inputs and performs their effects. So far: [`ping`], the pinger every node of the
//! messaging benchmark and the runtime's tests runs.

pub mod chain;
pub mod kv;
pub mod ping;
pub mod raft;
