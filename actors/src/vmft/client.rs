//! The client of the key-value guest: it sends the guest's request packets to the host that
//! runs the primary and retries each with the same request id (client id, sequence number)
//! until the guest's reply comes back. The guest applies a write once per id and answers a
//! retry again, so an output repeated at failover (the new primary replays to the point of an
//! output the old one may already have sent) is harmless, as §2.2 of the paper relies on.
//!
//! It speaks the key-value client interface ([`KvClient`]), so the test kit's workloads and
//! final checks drive it as they drive every other system.

use super::vm::guest::kv::{decode_reply, encode_request, KvGuestOp, KvGuestStatus};
use super::HOST;
use crate::client::{KvClient, Outcome, Retries};
use std::time::Duration;
use tokio::time::Instant;
use troupe_messages::kv::KvOp;
use troupe_messages::vmft::{VmftReply, VmftRequest};
use troupe_messages::ClientId;
use troupe_runtime::{ActorPath, Error, Node, NodeId};

/// A client of the key-value guest, running on `node`.
pub struct VmftClient {
    node: Node,
    hosts: Vec<NodeId>,
    /// The host to try first: the primary, as far as this client knows.
    next: usize,
    id: ClientId,
    seq: u64,
    /// How long one attempt may take before the client tries another host.
    pub attempt_timeout: Duration,
    /// Pause after every host failed once (a failover may be under way).
    pub pause: Duration,
}

impl VmftClient {
    /// A client with the client id `id`, on `node`, of the VM on `hosts`.
    pub fn new(node: Node, hosts: Vec<NodeId>, id: impl Into<ClientId>) -> Self {
        VmftClient {
            node,
            hosts,
            next: 0,
            id: id.into(),
            seq: 0,
            attempt_timeout: Duration::from_millis(200),
            pause: Duration::from_millis(20),
        }
    }

    /// Runs `op` as this client's next request until the guest answers or `deadline` passes.
    pub async fn execute(&mut self, op: KvGuestOp, deadline: Duration) -> Outcome {
        self.seq += 1;
        self.run_as(self.id, self.seq, op, deadline).await
    }

    /// Runs `op` as request `seq` of client `client` (a remote client's own id, when a node's
    /// gateway runs it for that client), until the guest answers or `deadline` passes.
    pub async fn run_as(
        &mut self,
        client: ClientId,
        seq: u64,
        op: KvGuestOp,
        deadline: Duration,
    ) -> Outcome {
        let is_write = !matches!(op, KvGuestOp::Get { .. });
        let request = VmftRequest {
            client,
            seq,
            packet: encode_request(*client.0.as_bytes(), seq, &op),
        };
        let started = Instant::now();
        let mut retries = Retries::new(self.hosts.len(), self.pause);
        let mut tried = vec![false; self.hosts.len()];
        while started.elapsed() < deadline {
            if tried.iter().all(|t| *t) {
                tried.iter_mut().for_each(|t| *t = false);
            }
            let host = self.hosts[self.next % self.hosts.len()];
            let path = ActorPath::new(host, HOST);
            let answer = self
                .node
                .call(&path, request.clone(), self.attempt_timeout)
                .await;
            let maybe_applied = match answer {
                Ok(VmftReply::Output(packet)) => match decode_reply(&packet) {
                    Some(reply) if reply.seq == seq => match reply.status {
                        KvGuestStatus::Done => return Outcome::Done(None),
                        KvGuestStatus::Value => {
                            let value = String::from_utf8_lossy(&reply.value).into_owned();
                            return Outcome::Done(Some(value));
                        }
                        // Nothing was done.
                        KvGuestStatus::OutOfMemory | KvGuestStatus::Malformed => {
                            tracing::warn!(%client, status = ?reply.status, "refused by the guest");
                            return retries.outcome();
                        }
                        KvGuestStatus::Stale => {
                            tracing::warn!(%client, "another client uses this id");
                            return Outcome::Unknown;
                        }
                    },
                    _ => {
                        tracing::warn!(%client, "a reply that is not this request's");
                        is_write
                    }
                },
                Ok(VmftReply::NotPrimary { primary }) => {
                    tried[self.next % self.hosts.len()] = true;
                    // Follow a hint to a host not yet tried in this round; hints may be stale,
                    // and two spares must not send the client back and forth.
                    match primary.and_then(|p| self.hosts.iter().position(|h| *h == p)) {
                        Some(at) if !tried[at] => {
                            self.next = at;
                            continue;
                        }
                        _ => {
                            self.next += 1;
                            false
                        }
                    }
                }
                Ok(VmftReply::TooLarge { max }) => {
                    tracing::warn!(%client, max, "request larger than the guest takes");
                    return Outcome::NotApplied;
                }
                Ok(VmftReply::Abandoned) | Err(Error::Timeout { .. }) => {
                    self.next += 1;
                    is_write
                }
                Err(e) => {
                    tracing::debug!(%client, %host, "attempt failed: {e}");
                    self.next += 1;
                    false
                }
            };
            retries.failed(maybe_applied).await;
        }
        retries.outcome()
    }
}

/// The key-value guest's operation for `op`; None for a compare-and-swap, which the guest does
/// not have.
pub fn guest_op(op: KvOp) -> Option<KvGuestOp> {
    match op {
        KvOp::Get { key } => Some(KvGuestOp::Get { key: key.into() }),
        KvOp::Put { key, value } => Some(KvGuestOp::Put {
            key: key.into(),
            value: value.into(),
        }),
        KvOp::Append { key, value } => Some(KvGuestOp::Append {
            key: key.into(),
            value: value.into(),
        }),
        KvOp::Cas { .. } => None,
    }
}

impl KvClient for VmftClient {
    async fn run(&mut self, op: KvOp, deadline: Duration) -> Outcome {
        // The guest has no compare-and-swap: refused before anything is sent.
        let Some(op) = guest_op(op) else {
            return Outcome::NotApplied;
        };
        self.execute(op, deadline).await
    }
}
