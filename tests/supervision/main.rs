//! Supervision tests: each strategy, each restart policy, intensity escalation (to a parent
//! too), backoff, panics, a supervisor taking its children down with it, and a tree that is
//! registered by the time `Supervisor::start` returns.
//!
//! Every test runs in virtual time with a seed; a failing one prints the seed and the command
//! that replays it.

mod escalation;
mod policies;
mod start;
mod strategies;
mod support;
