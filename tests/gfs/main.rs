//! GFS on the simulated network, in virtual time: the master's Raft group on n1-n3, four
//! chunkservers on n4-n7, clients after them. Each test drives record appends and reads
//! through the client library across one failure the paper's design must survive, and ends by
//! reading every file: every acknowledged record must be there.
//!
//! - [`failover`]: a primary crashing during appends; a partitioned primary that keeps its
//!   lease, with no second primary before it expires; the master crashing, recovering from its
//!   log and checkpoint, and failing over to another replica of its log; with no client, the
//!   failover supervisor moving a dead primary's lease after it expired and re-replicating.
//! - [`storage`]: a stale replica that comes back and is never served; a corrupt block found on
//!   read and repaired; a chunkserver that stays down, its chunks cloned to the target count.
//! - [`replicas`]: a primary cut off from one secondary acknowledges nothing that secondary
//!   lacks.

mod failover;
mod harness;
mod replicas;
mod storage;
