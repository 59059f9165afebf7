//! The key-value service on Raft, tested as the MIT 6.824 KV lab tests it, in virtual time:
//! every test records the full client history and checks it for linearizability, and checks
//! that no acknowledged write was lost.

mod capacity;
mod harness;
mod scenarios;
mod stale_reads;
