//! The runtime's tests: messaging, the simulated network's faults, bad input, monitors,
//! determinism, and the virtual-time canary.
//!
//! Every test runs in virtual time with a seed; a failing one prints the seed and the command
//! that replays it (`TROUPE_SEED=<seed> cargo test --test runtime -- <name> --exact`).

mod bad_input;
mod canary;
mod determinism;
mod faults;
mod messaging;
mod monitors;
mod nemesis;
mod support;
