//! The clerk: the client library of the key-value service. It finds the leader, retries, and
//! tags every operation with (client id, sequence number) so that a retry takes effect once.

use super::server::NAME;
use crate::client::{KvClient, Outcome, Retries};
use std::time::Duration;
use tokio::time::Instant;
use troupe_messages::kv::{KvOp, KvReply, KvRequest};
use troupe_messages::{ClientId, NodeId};
use troupe_runtime::{ActorPath, Error, Node};

/// A clerk, running on `node`, talking to `servers`.
pub struct Clerk {
    node: Node,
    servers: Vec<NodeId>,
    id: ClientId,
    seq: u64,
    leader: usize,
    /// How long one attempt at one server may take.
    pub attempt_timeout: Duration,
    /// Pause after trying every server without success, so that elections can finish.
    pub round_pause: Duration,
}

impl Clerk {
    /// A clerk with a program-unique `id`.
    pub fn new(node: Node, servers: Vec<NodeId>, id: impl Into<ClientId>) -> Self {
        Clerk {
            node,
            servers,
            id: id.into(),
            seq: 0,
            leader: 0,
            attempt_timeout: Duration::from_millis(500),
            round_pause: Duration::from_millis(50),
        }
    }

    /// Runs `op` until it is done or `deadline` has passed.
    pub async fn run(&mut self, op: KvOp, deadline: Duration) -> Outcome {
        self.seq += 1;
        let started = Instant::now();
        let mut retries = Retries::new(self.servers.len(), self.round_pause);
        while started.elapsed() < deadline {
            let server = self.servers[self.leader % self.servers.len()];
            let request = KvRequest {
                client: self.id,
                seq: self.seq,
                op: op.clone(),
            };
            let target = ActorPath::new(server, NAME);
            let answer = self.node.call(&target, request, self.attempt_timeout).await;
            let maybe_applied = match answer {
                Ok(KvReply::Ok { value }) => return Outcome::Done(value),
                Ok(KvReply::WrongLeader { hint }) => {
                    if let Some(i) = hint.and_then(|h| self.servers.iter().position(|&s| s == h)) {
                        self.leader = i;
                        continue;
                    }
                    false
                }
                Ok(KvReply::NotCommitted) | Err(Error::Timeout { .. }) => true,
                Err(e) => {
                    tracing::debug!(client = %self.id, "kv attempt failed: {e}");
                    false
                }
            };
            self.leader = (self.leader + 1) % self.servers.len();
            retries.failed(maybe_applied).await;
        }
        retries.outcome()
    }
}

impl KvClient for Clerk {
    async fn run(&mut self, op: KvOp, deadline: Duration) -> Outcome {
        Clerk::run(self, op, deadline).await
    }
}
