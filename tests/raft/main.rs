//! Raft, tested as the MIT 6.824 Raft labs test it, in virtual time: elections, agreement,
//! failures, persistence, Figure 8, churn, snapshots, and power loss on the file persister.
//! Every test checks that all peers apply the same command at every index, in order.
//!
//! A failing test prints its seed and the command that replays it.

mod agreement;
mod election;
mod harness;
mod persistence;
mod power_loss;
mod props;
mod snapshots;
mod unreliable;
