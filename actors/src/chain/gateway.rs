//! The gateway of a chain cluster's client port: how a real chain node answers a client. A
//! key-value operation is run on its key's chain by a chain clerk on this node, as the remote
//! client's own operation (same client id and sequence number), so a client may talk to any
//! node and its retries take effect once. Status and local reads are answered by this node's
//! own actors.
//!
//! The gateway keeps the newest configuration of each chain it has seen, so an operation goes
//! straight to the head (or the tail) and asks the configuration manager only after a failed
//! attempt. With CRAQ, a read is served by this node's own chain node when it is in the chain:
//! clients spread over the nodes spread the reads with them.

use super::clerk::{ChainClerk, ConfigSource};
use super::config::manager_key;
use super::node::name_of;
use super::sharded::shard_of;
use super::store::key_of;
use crate::client::Outcome;
use crate::kv::clerk::Clerk;
use crate::kv::gateway::raft_status;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;
use troupe_messages::chain::{ChainConfig, ChainInspect};
use troupe_messages::client::{ChainNodeStatus, ClientRequest, ClientResponse};
use troupe_messages::kv::{KvReply, KvRequest, ReadLocal};
use troupe_messages::{ClientId, NodeId};
use troupe_runtime::Node;

/// A chain cluster's gateway on one node (cheap to clone: clones share the configurations).
#[derive(Clone)]
pub struct ChainGateway {
    node: Node,
    manager: Vec<NodeId>,
    chains: u32,
    craq: bool,
    /// The newest configuration seen of each chain.
    configs: Rc<RefCell<Vec<ChainConfig>>>,
}

impl ChainGateway {
    /// The gateway of `node`, for `chains` chains (CRAQ if `craq`) whose configurations the
    /// manager group `manager` keeps.
    pub fn new(node: Node, manager: Vec<NodeId>, chains: u32, craq: bool) -> Self {
        let chains = chains.max(1);
        ChainGateway {
            node,
            manager,
            chains,
            craq,
            configs: Rc::new(RefCell::new(vec![ChainConfig::default(); chains as usize])),
        }
    }

    /// Answers one client request, waiting at most `timeout` for it.
    pub async fn answer(&self, request: ClientRequest, timeout: Duration) -> ClientResponse {
        match request {
            ClientRequest::Kv(request) => ClientResponse::Kv(self.run(request, timeout).await),
            ClientRequest::Status => ClientResponse::ChainStatus(self.status(timeout).await),
            ClientRequest::ReadLocal { key } => {
                let chain = shard_of(&key, self.chains as usize) as u32;
                let path = self.node.path(&name_of(chain));
                match self.node.call(&path, ReadLocal { key }, timeout).await {
                    Ok(value) => ClientResponse::Value(value),
                    Err(e) => ClientResponse::Unavailable {
                        reason: e.to_string(),
                    },
                }
            }
            ClientRequest::Gfs(_) => ClientResponse::Unavailable {
                reason: "this cluster runs chain replication, not GFS".into(),
            },
        }
    }

    /// Runs a remote client's operation on its key's chain.
    async fn run(&self, request: KvRequest, timeout: Duration) -> KvReply {
        let KvRequest { client, seq, op } = request;
        let chain = shard_of(key_of(&op), self.chains as usize) as u32;
        let (manager_id, seed): ([u8; 16], u64) = self.node.with_rng(|rng| (rng.gen(), rng.gen()));
        let manager_id = ClientId::from_random_bytes(manager_id);
        let source = ConfigSource::Manager {
            clerk: Clerk::new(self.node.clone(), self.manager.clone(), manager_id),
            key: manager_key(chain),
        };
        let rng = ChaCha8Rng::seed_from_u64(seed);
        let mut clerk =
            ChainClerk::new(self.node.clone(), source, self.craq, client, rng).for_chain(chain);
        clerk.read_at = Some(self.node.id());
        let known = self.configs.borrow()[chain as usize].clone();
        clerk.set_config(known);
        let outcome = clerk.run_as(client, seq, op, timeout).await;
        let seen = clerk.config().clone();
        let mut configs = self.configs.borrow_mut();
        if seen.epoch > configs[chain as usize].epoch {
            configs[chain as usize] = seen;
        }
        match outcome {
            Outcome::Done(value) => KvReply::Ok { value },
            // No chain node accepted it: nothing was started; the client may try elsewhere.
            Outcome::NotApplied => KvReply::WrongLeader { hint: None },
            // It may have been applied: the client retries with the same sequence number.
            Outcome::Unknown => KvReply::NotCommitted,
        }
    }

    /// This node's chain nodes and manager replica.
    async fn status(&self, timeout: Duration) -> ChainNodeStatus {
        let mut chains = Vec::new();
        for chain in 0..self.chains {
            let path = self.node.path(&name_of(chain));
            chains.push(self.node.call(&path, ChainInspect, timeout).await.ok());
        }
        let manager = if self.manager.contains(&self.node.id()) {
            raft_status(&self.node, timeout).await.ok()
        } else {
            None
        };
        ChainNodeStatus {
            id: self.node.id(),
            chains,
            manager,
        }
    }
}
