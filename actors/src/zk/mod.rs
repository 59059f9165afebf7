//! ZooKeeper (lectures 8 and 9): a coordination service of znodes, sessions and watches,
//! replicated with troupe's Raft. Writes are linearizable; a server answers reads from its own
//! replica, never older than what its client has seen.
//!
//! - [`tree`]: the znode tree, a plain deterministic state machine every replica applies in
//!   log order.
pub mod tree;
