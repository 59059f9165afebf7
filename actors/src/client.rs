//! What every client of a replicated service shares, whichever system it talks to: how an
//! operation ended ([`Outcome`]), the key-value client interface that workloads and checks
//! drive ([`KvClient`]), and the retry bookkeeping of a client that tries server after server
//! ([`Retries`]).

use std::time::Duration;
use troupe_messages::kv::KvOp;

/// How an operation ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// It took effect; a get carries the value read.
    Done(Option<String>),
    /// It certainly did not take effect (no server ever accepted it).
    NotApplied,
    /// The deadline passed: it may or may not take effect.
    Unknown,
}

/// A key-value client a workload can drive: the Raft service's clerk, a chain's clerk.
#[allow(async_fn_in_trait)] // clients run on one thread: their futures need not be Send
pub trait KvClient {
    /// Runs `op` until it is done or `deadline` has passed.
    async fn run(&mut self, op: KvOp, deadline: Duration) -> Outcome;
}

/// The retry bookkeeping of a clerk: after every server failed once, pause (an election may be
/// under way); when time is up, say whether the operation may have taken effect.
pub struct Retries {
    servers: usize,
    pause: Duration,
    failures_in_round: usize,
    maybe_applied: bool,
}

impl Retries {
    /// For a group of `servers`, pausing `pause` after each round.
    pub fn new(servers: usize, pause: Duration) -> Self {
        Retries {
            servers,
            pause,
            failures_in_round: 0,
            maybe_applied: false,
        }
    }

    /// An attempt failed; `maybe_applied` if it may have reached a server and been started.
    pub async fn failed(&mut self, maybe_applied: bool) {
        self.maybe_applied |= maybe_applied;
        self.failures_in_round += 1;
        if self.failures_in_round >= self.servers {
            self.failures_in_round = 0;
            tokio::time::sleep(self.pause).await;
        }
    }

    /// How the operation ended, if no attempt succeeded.
    pub fn outcome(&self) -> Outcome {
        if self.maybe_applied {
            Outcome::Unknown
        } else {
            Outcome::NotApplied
        }
    }
}
