//! The client port's wire types: what a client (the `troupe kv` command, a benchmark, an
//! application) sends to any node of a real cluster, and what the node answers.
//!
//! A client connection carries frames of `(request id, request)` one way and `(request id,
//! response)` the other; a client may have many requests in flight on one connection, and
//! answers come back in the order they finish, matched by id.

use crate::chain::ChainView;
use crate::ids::NodeId;
use crate::kv::{KvReply, KvRequest};
use crate::raft::{Index, Term};
use crate::vmft::VmftStatus;
use serde::{Deserialize, Serialize};

/// What a client asks a node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClientRequest {
    /// A key-value operation. The node runs it itself if it leads, or forwards it to the
    /// leader it knows.
    Kv(KvRequest),
    /// This node's status: its Raft role, term and commit index in a key-value cluster; its
    /// place in each chain (and its manager replica's Raft status) in a chain cluster; its VM
    /// host's role (and its storage replica's Raft status) in a VM-FT cluster.
    Status,
    /// A key's value in this node's own replica, without asking the leader: possibly stale,
    /// never linearizable. For checking that a replica caught up.
    ReadLocal {
        /// The key.
        key: String,
    },
}

/// A node's Raft role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Role {
    /// It leads its group.
    Leader,
    /// It follows (or is a candidate).
    Follower,
}

/// One node's view of its group, as `troupe status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeStatus {
    /// The node.
    pub id: NodeId,
    /// Its role.
    pub role: Role,
    /// Its current term.
    pub term: Term,
    /// The highest index it knows committed.
    pub commit_index: Index,
    /// Its last log index.
    pub last_index: Index,
    /// Who it believes leads.
    pub leader: Option<NodeId>,
}

/// One node of a chain cluster, as `troupe status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainNodeStatus {
    /// The node.
    pub id: NodeId,
    /// Its chain node of each chain, chain 0 first (`None`: that chain node did not answer).
    pub chains: Vec<Option<ChainView>>,
    /// Its replica of the configuration manager, if it runs one and it answered.
    pub manager: Option<NodeStatus>,
}

/// One node of a VM-FT cluster, as `troupe status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VmftNodeStatus {
    /// The node.
    pub id: NodeId,
    /// Its VM host's answer (primary, backup or spare), if it runs one and it answered.
    pub host: Option<VmftStatus>,
    /// Its replica of the shared storage, if it runs one and it answered.
    pub storage: Option<NodeStatus>,
}

/// What a node answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClientResponse {
    /// The answer to a key-value operation (after forwarding, if the node did not lead).
    Kv(KvReply),
    /// The answer to [`ClientRequest::Status`] in a key-value cluster.
    Status(NodeStatus),
    /// The answer to [`ClientRequest::Status`] in a chain cluster.
    ChainStatus(ChainNodeStatus),
    /// The answer to [`ClientRequest::Status`] in a VM-FT cluster.
    VmftStatus(VmftNodeStatus),
    /// The answer to [`ClientRequest::ReadLocal`] ("" for a missing key).
    Value(String),
    /// The node could not serve the request (its replica is restarting, say); try again or
    /// another node.
    Unavailable {
        /// Why.
        reason: String,
    },
}
