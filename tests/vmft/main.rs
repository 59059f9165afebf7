//! VM-FT on the simulated network, in virtual time: a primary and a backup replaying its log,
//! the shared storage on Raft, and the failover supervisor. Each test checks the clients' whole
//! history for linearizability and every acknowledged append in the final values, across the
//! failures the paper's design must survive: the primary crashing before, during and after an
//! output, the backup crashing, the logging channel cut while both sides stay up, and a new
//! backup joining under load.

mod failover;
mod harness;
mod replay;
