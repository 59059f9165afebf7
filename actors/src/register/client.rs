//! The register client: sends a request to the one server and retries it, with the same
//! (client id, sequence number), until it is answered or the deadline passes. It speaks the
//! key-value client interface ([`KvClient`]) so that the test kit's workloads and final checks
//! drive it as they drive the replicated services: a get and a put map to the register's own,
//! and an append or a compare-and-swap, which a register does not have, is refused before it
//! is sent ([`Outcome::NotApplied`]).

use super::server::NAME;
use crate::client::{KvClient, Outcome, Retries};
use std::time::Duration;
use tokio::time::Instant;
use troupe_messages::kv::KvOp;
use troupe_messages::register::{RegisterOp, RegisterReply, RegisterRequest};
use troupe_messages::ClientId;
use troupe_runtime::{ActorPath, Error, Node, NodeId};

/// A client of the register server, running on `node`.
pub struct RegisterClient {
    node: Node,
    server: ActorPath,
    id: ClientId,
    seq: u64,
    /// How long one attempt may take before it is retried.
    pub attempt_timeout: Duration,
    /// Pause after a failed attempt (the server may be restarting).
    pub pause: Duration,
}

impl RegisterClient {
    /// A client with the client id `id`, on `node`, of the server on `server`.
    pub fn new(node: Node, server: NodeId, id: impl Into<ClientId>) -> Self {
        RegisterClient {
            node,
            server: ActorPath::new(server, NAME),
            id: id.into(),
            seq: 0,
            attempt_timeout: Duration::from_millis(100),
            pause: Duration::from_millis(20),
        }
    }

    /// Runs `op` as this client's next operation until it is answered or `deadline` passed. A
    /// get is done with the value read (`None` for a register never written), a put with
    /// `None`.
    pub async fn execute(&mut self, op: RegisterOp, deadline: Duration) -> Outcome {
        self.seq += 1;
        let is_put = matches!(op, RegisterOp::Put { .. });
        let request = RegisterRequest {
            client: self.id,
            seq: self.seq,
            op,
        };
        let started = Instant::now();
        let mut retries = Retries::new(1, self.pause);
        while started.elapsed() < deadline {
            let answer = self
                .node
                .call(&self.server, request.clone(), self.attempt_timeout)
                .await;
            let maybe_applied = match answer {
                Ok(RegisterReply::Stored) => return Outcome::Done(None),
                Ok(RegisterReply::Value(value)) => return Outcome::Done(value),
                // Only a client sharing this client's id can have had a later put applied.
                Ok(RegisterReply::Stale { latest }) => {
                    tracing::warn!(client = %self.id, latest, "another client uses this id");
                    return Outcome::Unknown;
                }
                Ok(RegisterReply::NotDurable) | Err(Error::Timeout { .. }) => is_put,
                Err(e) => {
                    tracing::debug!(client = %self.id, "register attempt failed: {e}");
                    false
                }
            };
            retries.failed(maybe_applied).await;
        }
        retries.outcome()
    }
}

impl KvClient for RegisterClient {
    async fn run(&mut self, op: KvOp, deadline: Duration) -> Outcome {
        let op = match op {
            KvOp::Get { key } => RegisterOp::Get { key },
            KvOp::Put { key, value } => RegisterOp::Put { key, value },
            // A register has neither: refused before anything is sent.
            KvOp::Append { .. } | KvOp::Cas { .. } => return Outcome::NotApplied,
        };
        let is_get = matches!(op, RegisterOp::Get { .. });
        match self.execute(op, deadline).await {
            // The key-value convention: a key never written reads as "".
            Outcome::Done(None) if is_get => Outcome::Done(Some(String::new())),
            outcome => outcome,
        }
    }
}
