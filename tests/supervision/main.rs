//! Supervision tests: each strategy, each restart policy, intensity escalation (to a parent
//! too), backoff, panics, and a supervisor taking its children down with it.
//!
//! Every test runs in virtual time with a seed; a failing one prints the seed and the command
//! that replays it.

mod escalation;
mod policies;
mod strategies;
mod support;
