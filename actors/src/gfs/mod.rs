//! GFS: the Google File System of Ghemawat, Gobioff and Leung (2003), on troupe's actors.
//!
//! The plain cores come first, each deciding without actors, network or clock of its own:
//! the chunkserver's storage (chunks with a checksum per 64 KB block, versions, record append
//! with padding) and the master's state (namespace, chunk versions, leases, re-replication and
//! garbage collection, an operation log to recover from). The actors, the client library,
//! `troupe sim gfs` and real processes build on them.
//!
//! - [`chunk`]: the chunkserver's storage core (chunks, versions, block checksums, record
//!   append and the record format).
//! - [`master`]: the master's core (namespace, chunk table, leases, re-replication, garbage
//!   collection, operation log and checkpoints).

pub mod chunk;
pub mod master;
