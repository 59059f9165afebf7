//! ZooKeeper (lectures 8 and 9): a coordination service of znodes, sessions and watches,
//! replicated with troupe's Raft. Writes are linearizable; a server answers reads from its own
//! replica, never older than what its client has seen.
//!
//! - [`tree`]: the znode tree, a plain deterministic state machine every replica applies in
//!   log order.
//! - [`state`]: the tree and the live sessions, and the commands of the Raft log that change
//!   them.
//! - [`watches`]: the one-shot watches a server holds for its connections.
//! - [`sessions`]: the leader's view of session liveness, timeouts and session ids.
//! - [`jute`]: ZooKeeper's wire protocol, both directions, so that kazoo and zkCli speak to
//!   troupe unchanged.
//! - [`server`]: one server's decisions: connections, ordering, proposals, watches, expiry;
//!   the actor that runs them over Raft; the client port.
//! - [`gateway`]: what a node's troupe client port answers (`troupe status`).
//! - [`client`]: a ZooKeeper client over ZooKeeper's protocol, for examples, the load
//!   generator and tests.

pub mod client;
pub mod gateway;
pub mod jute;
pub mod server;
pub mod sessions;
pub mod state;
pub mod tree;
pub mod watches;
