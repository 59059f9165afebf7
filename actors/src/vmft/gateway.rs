//! The gateway of a VM-FT cluster's client port: how a real node answers a client. A key-value
//! operation is run on the VM's key-value guest by a [`VmftClient`] on this node, as the remote
//! client's own request (same client id and sequence number), so a client may talk to any node
//! and the guest applies its retries once. Status is answered by this node's own VM host and
//! storage replica; there is no local read, since the VM's state lives in guest memory.

use super::client::{guest_op, VmftClient};
use super::vm::guest::kv::{encode_request, KvGuestOp};
use super::vm::MAX_PACKET;
use super::HOST;
use crate::client::Outcome;
use crate::kv::gateway::raft_status;
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;
use troupe_messages::client::{ClientRequest, ClientResponse, VmftNodeStatus};
use troupe_messages::kv::KvReply;
use troupe_messages::vmft::VmftInspect;
use troupe_messages::{ClientId, NodeId};
use troupe_runtime::Node;

/// A VM-FT cluster's gateway on one node (cheap to clone: clones share the idle clients).
#[derive(Clone)]
pub struct VmftGateway {
    node: Node,
    hosts: Vec<NodeId>,
    storage: Vec<NodeId>,
    /// Clients not in use, each remembering the host that answered it last (the primary, as
    /// far as it knows), so that the next request goes there first.
    idle: Rc<RefCell<Vec<VmftClient>>>,
}

impl VmftGateway {
    /// The gateway of `node`, for the VM on `hosts` whose shared storage is the Raft group
    /// `storage`.
    pub fn new(node: Node, hosts: Vec<NodeId>, storage: Vec<NodeId>) -> Self {
        VmftGateway {
            node,
            hosts,
            storage,
            idle: Rc::new(RefCell::new(Vec::new())),
        }
    }

    /// Answers one client request, waiting at most about `timeout` for it.
    ///
    /// A compare-and-swap is refused with [`ClientResponse::Unavailable`] and a reason that
    /// says the guest has none: nothing was started, and the client shows the reason as it is.
    pub async fn answer(&self, request: ClientRequest, timeout: Duration) -> ClientResponse {
        match request {
            ClientRequest::Kv(request) => match guest_op(request.op) {
                Some(op) if encode_request([0; 16], 0, &op).len() > MAX_PACKET => {
                    ClientResponse::Unavailable {
                        reason: format!(
                            "the request is larger than the VM's key-value guest takes ({MAX_PACKET} bytes with its key and value); nothing was done"
                        ),
                    }
                }
                Some(op) => {
                    ClientResponse::Kv(self.run(request.client, request.seq, op, timeout).await)
                }
                None => ClientResponse::Unavailable {
                    reason: "the VM's key-value guest has no compare-and-swap".into(),
                },
            },
            ClientRequest::Status => ClientResponse::VmftStatus(self.status(timeout).await),
            ClientRequest::ReadLocal { .. } => ClientResponse::Unavailable {
                reason: "a VM-FT node has no local read: the VM's state is in guest memory; \
                         read through the primary"
                    .into(),
            },
            ClientRequest::Gfs(_) => ClientResponse::Unavailable {
                reason: "this cluster runs VM-FT, not GFS".into(),
            },
        }
    }

    /// Runs a remote client's request on the guest.
    async fn run(&self, client: ClientId, seq: u64, op: KvGuestOp, timeout: Duration) -> KvReply {
        let idle = self.idle.borrow_mut().pop();
        let mut vmft = match idle {
            Some(vmft) => vmft,
            None => {
                // The client id is only the client's own; requests carry the remote client's.
                VmftClient::new(self.node.clone(), self.hosts.clone(), client)
            }
        };
        // Leave room for the last attempt, so that the answer comes within `timeout`.
        let deadline = timeout.saturating_sub(vmft.attempt_timeout);
        let outcome = vmft.run_as(client, seq, op, deadline).await;
        self.idle.borrow_mut().push(vmft);
        match outcome {
            Outcome::Done(value) => KvReply::Ok { value },
            // No host took it: nothing was started; the client may try elsewhere.
            Outcome::NotApplied => KvReply::WrongLeader { hint: None },
            // It may have been applied: the client retries with the same sequence number.
            Outcome::Unknown => KvReply::NotCommitted,
        }
    }

    /// This node's VM host and storage replica.
    async fn status(&self, timeout: Duration) -> VmftNodeStatus {
        let id = self.node.id();
        let host = if self.hosts.contains(&id) {
            let path = self.node.path(HOST);
            self.node.call(&path, VmftInspect, timeout).await.ok()
        } else {
            None
        };
        let storage = if self.storage.contains(&id) {
            raft_status(&self.node, timeout).await.ok()
        } else {
            None
        };
        VmftNodeStatus { id, host, storage }
    }
}
