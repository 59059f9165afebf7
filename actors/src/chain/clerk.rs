//! The chain clerk: a client of one chain. Writes go to the head; reads go to the tail, or with
//! CRAQ to any node of the chain (spreading the load). Every operation carries (client id,
//! sequence number), so a retried write takes effect once. The clerk learns the configuration
//! from its [`ConfigSource`] (the configuration manager, in a deployment) and asks again after
//! every failed attempt.

use super::node::{name_of, NAME};
use crate::client::{KvClient, Outcome, Retries};
use crate::kv::clerk::Clerk;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::time::Duration;
use tokio::time::Instant;
use troupe_messages::chain::{ChainConfig, ChainReply, ChainRequest};
use troupe_messages::kv::KvOp;
use troupe_messages::{ClientId, NodeId};
use troupe_runtime::{ActorPath, Error, Node};

/// Where a clerk learns the current configuration.
pub enum ConfigSource {
    /// A function that knows it (tests that install configurations themselves).
    Given(Box<dyn Fn() -> ChainConfig>),
    /// The configuration manager: the key `key` of the Raft key-value service `clerk` reaches.
    Manager {
        /// A clerk of the manager group.
        clerk: Clerk,
        /// The chain's key.
        key: String,
    },
}

impl ConfigSource {
    /// The current configuration, if the source answers in time.
    async fn fetch(&mut self) -> Option<ChainConfig> {
        match self {
            ConfigSource::Given(get) => Some(get()),
            ConfigSource::Manager { clerk, key } => {
                let get = KvOp::Get { key: key.clone() };
                match clerk.run(get, Duration::from_secs(1)).await {
                    Outcome::Done(Some(text)) => super::config::decode(&text).ok(),
                    _ => None,
                }
            }
        }
    }
}

/// A clerk of one chain.
pub struct ChainClerk {
    node: Node,
    /// The chain nodes' actor name.
    name: String,
    config: ChainConfig,
    refresh: ConfigSource,
    craq: bool,
    id: ClientId,
    seq: u64,
    rng: ChaCha8Rng,
    /// How long one attempt may take.
    pub attempt_timeout: Duration,
    /// Pause after a round of failed attempts (a reconfiguration may be under way).
    pub round_pause: Duration,
    /// With CRAQ: read at this node whenever it is in the chain (a gateway on a chain node
    /// reads its own copy) instead of at a random node.
    pub read_at: Option<NodeId>,
}

impl ChainClerk {
    /// A clerk with a program-unique `id`, on `node`, learning configurations from `refresh`
    /// (it has none until its first operation asks).
    pub fn new(
        node: Node,
        refresh: ConfigSource,
        craq: bool,
        id: impl Into<ClientId>,
        rng: ChaCha8Rng,
    ) -> Self {
        ChainClerk {
            config: ChainConfig::default(),
            node,
            name: NAME.to_string(),
            refresh,
            craq,
            id: id.into(),
            seq: 0,
            rng,
            attempt_timeout: Duration::from_millis(500),
            round_pause: Duration::from_millis(20),
            read_at: None,
        }
    }

    /// A clerk of chain number `chain` (of several sharing the servers) instead of chain 0.
    pub fn for_chain(mut self, chain: u32) -> Self {
        self.name = name_of(chain);
        self
    }

    /// Works from `config` from now on.
    pub fn set_config(&mut self, config: ChainConfig) {
        if config.epoch > self.config.epoch {
            self.config = config;
        }
    }

    async fn refresh(&mut self) {
        if let Some(config) = self.refresh.fetch().await {
            self.set_config(config);
        }
    }

    /// Which node an operation goes to first.
    fn target(&mut self, op: &KvOp) -> Option<NodeId> {
        match op {
            KvOp::Get { .. } if self.craq && !self.config.nodes.is_empty() => {
                if let Some(here) = self.read_at.filter(|n| self.config.nodes.contains(n)) {
                    return Some(here);
                }
                let i = self.rng.gen_range(0..self.config.nodes.len());
                Some(self.config.nodes[i])
            }
            KvOp::Get { .. } => self.config.tail(),
            _ => self.config.head(),
        }
    }

    /// The configuration this clerk works from.
    pub fn config(&self) -> &ChainConfig {
        &self.config
    }

    /// Runs `op` until it is done or `deadline` has passed.
    pub async fn run(&mut self, op: KvOp, deadline: Duration) -> Outcome {
        self.seq += 1;
        self.run_as(self.id, self.seq, op, deadline).await
    }

    /// Runs `op` for another client, as that client's operation `client_seq` (a gateway that
    /// forwards a remote client's operation: the remote client's retries then take effect
    /// once, whichever gateway they pass through).
    pub async fn run_as(
        &mut self,
        client: ClientId,
        client_seq: u64,
        op: KvOp,
        deadline: Duration,
    ) -> Outcome {
        let started = Instant::now();
        let mut retries = Retries::new(1, self.round_pause);
        let mut redirect = None;
        while started.elapsed() < deadline {
            let Some(target) = redirect.take().or_else(|| self.target(&op)) else {
                self.refresh().await;
                retries.failed(false).await;
                continue;
            };
            let request = ChainRequest {
                epoch: self.config.epoch,
                client,
                client_seq,
                op: op.clone(),
            };
            let path = ActorPath::new(target, self.name.clone());
            let is_write = !matches!(op, KvOp::Get { .. });
            let maybe_applied = match self.node.call(&path, request, self.attempt_timeout).await {
                Ok(ChainReply::Ok { value }) => return Outcome::Done(value),
                Ok(ChainReply::Redirect { node: Some(node) }) => {
                    redirect = Some(node);
                    continue;
                }
                Ok(ChainReply::NotCommitted)
                | Ok(ChainReply::Abandoned { .. })
                | Err(Error::Timeout { .. }) => is_write,
                Ok(ChainReply::WrongEpoch { config }) if config.epoch > self.config.epoch => {
                    // The node knows a newer chain: go there at once.
                    self.set_config(config);
                    continue;
                }
                Ok(ChainReply::Redirect { node: None }) | Ok(ChainReply::WrongEpoch { .. }) => {
                    false
                }
                Err(e) => {
                    tracing::debug!(%client, "chain attempt failed: {e}");
                    false
                }
            };
            self.refresh().await;
            retries.failed(maybe_applied).await;
        }
        retries.outcome()
    }
}

impl KvClient for ChainClerk {
    async fn run(&mut self, op: KvOp, deadline: Duration) -> Outcome {
        ChainClerk::run(self, op, deadline).await
    }
}
