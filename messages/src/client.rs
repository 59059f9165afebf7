//! The client port's wire types: what a client (the `troupe kv` command, a benchmark, an
//! application) sends to any node of a real cluster, and what the node answers.
//!
//! A client connection carries frames of `(request id, request)` one way and `(request id,
//! response)` the other; a client may have many requests in flight on one connection, and
//! answers come back in the order they finish, matched by id.

use crate::chain::ChainView;
use crate::gfs::{ChunkserverStatus, MasterStatus};
use crate::ids::{ClientId, NodeId};
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
    /// A GFS file operation, run by a GFS client on the node that takes it.
    Gfs(GfsClientOp),
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

/// One server of a ZooKeeper cluster, as `troupe status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZkNodeStatus {
    /// Its Raft peer's view.
    pub raft: NodeStatus,
    /// The last Raft index its snapshot covers (0: none yet).
    pub snapshot_index: Index,
    /// Its server's view.
    pub server: crate::zk::ZkServerStatus,
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
    /// The answer to a [`ClientRequest::Gfs`] operation.
    Gfs(GfsClientReply),
    /// The answer to [`ClientRequest::Status`] in a GFS cluster.
    GfsStatus(GfsNodeStatus),
    /// The answer to [`ClientRequest::Status`] in a ZooKeeper cluster.
    ZkStatus(ZkNodeStatus),
    /// The answer to [`ClientRequest::ReadLocal`] ("" for a missing key).
    Value(String),
    /// The node could not serve the request (its replica is restarting, say); try again or
    /// another node.
    Unavailable {
        /// Why.
        reason: String,
    },
}

/// The most bytes of file data one GFS request or reply carries through the client port: a
/// put, an append, a get or the records of a file larger than this are refused, so that every
/// frame stays under the port's 16 MB frame limit with room for the rest of the message.
pub const GFS_MAX_DATA: usize = 12 << 20;

/// A GFS file operation through a node's client port. Paths are absolute (`/logs/a`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum GfsClientOp {
    /// Create a new file holding `data` (refused if the path is taken).
    Put {
        /// The file.
        path: String,
        /// Its contents.
        #[serde(with = "serde_bytes")]
        data: Vec<u8>,
    },
    /// The file's bytes (record-append files include their padding and record framing).
    Get {
        /// The file.
        path: String,
    },
    /// The same as [`GfsClientOp::Get`], for printing.
    Cat {
        /// The file.
        path: String,
    },
    /// The files under a directory (`/` for every file).
    Ls {
        /// The directory.
        dir: String,
    },
    /// Delete a file (its chunks are reclaimed later).
    Rm {
        /// The file.
        path: String,
    },
    /// Append `data` as one record (§3.3 of the paper), creating the file if it is missing.
    /// The record's id is made of `client` and `seq`: a retry of the same append (through this
    /// node or another) carries the same pair, so that a reader keeps the record once even if
    /// the retry wrote it again.
    Append {
        /// The file.
        path: String,
        /// The record's payload.
        #[serde(with = "serde_bytes")]
        data: Vec<u8>,
        /// The appending client.
        client: ClientId,
        /// The client's number for this append.
        seq: u64,
    },
    /// Every valid record of a record-append file once, in file order (padding, fragments and
    /// duplicates skipped).
    Records {
        /// The file.
        path: String,
    },
    /// Who holds the lease of the file's last chunk (granting one if none runs): the primary
    /// that orders its record appends now.
    Lease {
        /// The file.
        path: String,
    },
}

/// A node's answer to a [`GfsClientOp`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum GfsClientReply {
    /// Done (put, rm).
    Done,
    /// The file's bytes (get, cat).
    Data(#[serde(with = "serde_bytes")] Vec<u8>),
    /// The files under the directory, sorted (ls).
    Listed(Vec<String>),
    /// Where the record went (append).
    Appended {
        /// The record's id (what readers deduplicate by).
        id: u128,
        /// The index of the chunk it went to.
        chunk: u64,
        /// Its offset in that chunk.
        offset: u64,
    },
    /// Each record's payload once, in file order (records).
    Records(Vec<serde_bytes::ByteBuf>),
    /// The lease of the file's last chunk (lease).
    Lease {
        /// The chunk's index in the file.
        chunk: u64,
        /// The replica that orders mutations.
        primary: NodeId,
        /// The other up-to-date replicas.
        secondaries: Vec<NodeId>,
    },
    /// The file system refused, and trying again would not help: no such file, the path is
    /// taken or malformed, the data is too large. Nothing was done.
    Refused(String),
    /// The operation did not finish in time (no master leader, no live replica, ...).
    /// `maybe_applied`: it may have taken effect all the same.
    Failed {
        /// Why.
        reason: String,
        /// Whether it may have taken effect.
        maybe_applied: bool,
    },
}

/// One node of a GFS cluster, as `troupe status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GfsNodeStatus {
    /// The node.
    pub id: NodeId,
    /// Its master replica's view, if it runs one and it answered.
    pub master: Option<MasterStatus>,
    /// Its chunkserver's, if it runs one and it answered.
    pub chunkserver: Option<ChunkserverStatus>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gfs_requests_and_replies_round_trip_with_compact_bytes() {
        let request = ClientRequest::Gfs(GfsClientOp::Append {
            path: "/logs/a".into(),
            data: vec![7; 1000],
            client: ClientId::from(9u64),
            seq: 3,
        });
        let bytes = rmp_serde::to_vec(&request).unwrap();
        assert!(bytes.len() < 1100, "{} bytes", bytes.len());
        assert_eq!(
            rmp_serde::from_slice::<ClientRequest>(&bytes).unwrap(),
            request
        );
        let reply = ClientResponse::Gfs(GfsClientReply::Appended {
            id: u128::MAX - 5,
            chunk: 2,
            offset: 1 << 40,
        });
        let bytes = rmp_serde::to_vec(&reply).unwrap();
        assert_eq!(
            rmp_serde::from_slice::<ClientResponse>(&bytes).unwrap(),
            reply
        );
    }
}
