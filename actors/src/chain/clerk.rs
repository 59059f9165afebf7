//! The chain clerk: a client of one chain. Writes go to the head; reads go to the tail, or with
//! CRAQ to any node of the chain (spreading the load). Every operation carries (client id,
//! sequence number), so a retried write takes effect once. The clerk works from a configuration
//! it is given and refreshed with ([`ChainClerk::set_config`]); a `WrongEpoch` answer makes it
//! ask its `refresh` source again.

use super::node::NAME;
use crate::kv::clerk::{Outcome, Retries};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::time::Duration;
use tokio::time::Instant;
use troupe_messages::chain::{ChainConfig, ChainReply, ChainRequest};
use troupe_messages::kv::KvOp;
use troupe_messages::NodeId;
use troupe_runtime::{ActorPath, Error, Node};

/// Where a clerk learns the current configuration.
pub type ConfigSource = Box<dyn Fn() -> ChainConfig>;

/// A clerk of one chain.
pub struct ChainClerk {
    node: Node,
    config: ChainConfig,
    refresh: ConfigSource,
    craq: bool,
    id: u64,
    seq: u64,
    rng: ChaCha8Rng,
    /// How long one attempt may take.
    pub attempt_timeout: Duration,
    /// Pause after a round of failed attempts (a reconfiguration may be under way).
    pub round_pause: Duration,
}

impl ChainClerk {
    /// A clerk with a program-unique `id`, on `node`, learning configurations from `refresh`.
    pub fn new(node: Node, refresh: ConfigSource, craq: bool, id: u64, rng: ChaCha8Rng) -> Self {
        ChainClerk {
            config: refresh(),
            node,
            refresh,
            craq,
            id,
            seq: 0,
            rng,
            attempt_timeout: Duration::from_millis(500),
            round_pause: Duration::from_millis(20),
        }
    }

    /// Works from `config` from now on.
    pub fn set_config(&mut self, config: ChainConfig) {
        if config.epoch > self.config.epoch {
            self.config = config;
        }
    }

    /// Which node an operation goes to first.
    fn target(&mut self, op: &KvOp) -> Option<NodeId> {
        match op {
            KvOp::Get { .. } if self.craq && !self.config.nodes.is_empty() => {
                let i = self.rng.gen_range(0..self.config.nodes.len());
                Some(self.config.nodes[i])
            }
            KvOp::Get { .. } => self.config.tail(),
            _ => self.config.head(),
        }
    }

    /// Runs `op` until it is done or `deadline` has passed.
    pub async fn run(&mut self, op: KvOp, deadline: Duration) -> Outcome {
        self.seq += 1;
        let started = Instant::now();
        let mut retries = Retries::new(1, self.round_pause);
        let mut redirect = None;
        while started.elapsed() < deadline {
            let Some(target) = redirect.take().or_else(|| self.target(&op)) else {
                self.set_config((self.refresh)());
                retries.failed(false).await;
                continue;
            };
            let request = ChainRequest {
                epoch: self.config.epoch,
                client: self.id,
                client_seq: self.seq,
                op: op.clone(),
            };
            let path = ActorPath::new(target, NAME);
            let is_write = !matches!(op, KvOp::Get { .. });
            let maybe_applied = match self.node.call(&path, request, self.attempt_timeout).await {
                Ok(ChainReply::Ok { value }) => return Outcome::Done(value),
                Ok(ChainReply::Redirect { node: Some(node) }) => {
                    redirect = Some(node);
                    continue;
                }
                Ok(ChainReply::NotCommitted) | Err(Error::Timeout { .. }) => is_write,
                Ok(ChainReply::Redirect { node: None }) | Ok(ChainReply::WrongEpoch { .. }) => {
                    false
                }
                Err(e) => {
                    tracing::debug!(client = self.id, "chain attempt failed: {e}");
                    false
                }
            };
            self.set_config((self.refresh)());
            retries.failed(maybe_applied).await;
        }
        retries.outcome()
    }
}
