//! Chain replication and CRAQ: the configuration every node and client works from, the messages
//! chain nodes pass down and up the chain, and what a client asks and is answered.
//!
//! Writes enter at the head, which gives each a sequence number; every node applies them in
//! that order and passes them on; the tail commits and its acknowledgement travels back up, each
//! node committing on the way. Every message names the configuration's epoch, and a node refuses
//! anything from another epoch, so a node cut out of the chain cannot act on the new one.

use crate::ids::NodeId;
use crate::kv::KvOp;
use serde::{Deserialize, Serialize};

/// A configuration's number; each reconfiguration makes a larger one.
pub type Epoch = u64;
/// The head's sequence number of a write (also the version it creates).
pub type Seq = u64;

/// Who is in the chain, head first and tail last.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainConfig {
    /// The configuration's epoch.
    pub epoch: Epoch,
    /// The nodes, head first.
    pub nodes: Vec<NodeId>,
}

impl ChainConfig {
    /// The head, if the chain has nodes.
    pub fn head(&self) -> Option<NodeId> {
        self.nodes.first().copied()
    }

    /// The tail, if the chain has nodes.
    pub fn tail(&self) -> Option<NodeId> {
        self.nodes.last().copied()
    }

    /// The node before `node`, if it is in the chain and not the head.
    pub fn predecessor(&self, node: NodeId) -> Option<NodeId> {
        let at = self.nodes.iter().position(|&n| n == node)?;
        at.checked_sub(1).map(|i| self.nodes[i])
    }

    /// The configuration as text, as the configuration manager stores it: `epoch:n1,n2,n3`.
    pub fn to_text(&self) -> String {
        let nodes: Vec<String> = self.nodes.iter().map(|n| n.to_string()).collect();
        format!("{}:{}", self.epoch, nodes.join(","))
    }

    /// Parses [`ChainConfig::to_text`]'s form.
    pub fn from_text(text: &str) -> Option<ChainConfig> {
        let (epoch, nodes) = text.split_once(':')?;
        let nodes = if nodes.is_empty() {
            Vec::new()
        } else {
            nodes
                .split(',')
                .map(|n| n.parse().ok())
                .collect::<Option<Vec<NodeId>>>()?
        };
        Some(ChainConfig {
            epoch: epoch.parse().ok()?,
            nodes,
        })
    }

    /// The node after `node`, if it is in the chain and not the tail.
    pub fn successor(&self, node: NodeId) -> Option<NodeId> {
        let at = self.nodes.iter().position(|&n| n == node)?;
        self.nodes.get(at + 1).copied()
    }
}

/// A write as it travels down the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Update {
    /// The head's sequence number.
    pub seq: Seq,
    /// The client that asked, and its sequence number (a retry takes effect once).
    pub client: u64,
    /// The client's sequence number.
    pub client_seq: u64,
    /// The write (a put or an append).
    pub op: KvOp,
}

/// What chain nodes send each other.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChainMessage {
    /// Apply this write and pass it on (down the chain).
    Update {
        /// The sender's epoch.
        epoch: Epoch,
        /// The write.
        update: Update,
    },
    /// Every write up to `seq` is committed at the tail (up the chain).
    Ack {
        /// The sender's epoch.
        epoch: Epoch,
        /// The highest committed sequence number.
        seq: Seq,
    },
    /// Sent to the predecessor after a reconfiguration: "I have applied up to `applied` and
    /// know `committed` committed; re-send what I lack". (Up the chain.)
    Resync {
        /// The sender's epoch.
        epoch: Epoch,
        /// The highest sequence number the sender applied.
        applied: Seq,
        /// The highest sequence number the sender knows committed.
        committed: Seq,
    },
    /// CRAQ: which version of `key` has the tail committed? (to the tail)
    VersionQuery {
        /// The sender's epoch.
        epoch: Epoch,
        /// The asking node's number for this query.
        query: u64,
        /// The key.
        key: String,
    },
    /// The tail's answer to a `VersionQuery`.
    VersionReply {
        /// The sender's epoch.
        epoch: Epoch,
        /// The query answered.
        query: u64,
        /// The committed version of the key (0: never written).
        version: Seq,
    },
}

/// How a chain node answers a client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChainReply {
    /// Done; a get carries the value ("" for a missing key).
    Ok {
        /// The value read, for a get.
        value: Option<String>,
    },
    /// Writes go to the head (and, without CRAQ, reads to the tail): try `node`.
    Redirect {
        /// Where to go, if known.
        node: Option<NodeId>,
    },
    /// Not answered in time: a write may still commit; retry with the same sequence number.
    NotCommitted,
    /// This node is not in the current chain, or the client's epoch is not this node's.
    WrongEpoch {
        /// This node's epoch.
        epoch: Epoch,
    },
}

/// A chain node's message to another chain node (the actor's wire envelope for
/// [`ChainMessage`]).
#[derive(Debug, Clone, Serialize, Deserialize, actix::Message)]
#[rtype(result = "()")]
pub struct ChainPeer {
    /// The sending node.
    pub from: NodeId,
    /// What it says.
    pub message: ChainMessage,
}

impl crate::Wire for ChainPeer {
    const TAG: &'static str = "chain.peer";
}

/// A client's operation, for the chain in `epoch`: a get is a read, a put or an append a write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, actix::Message)]
#[rtype(result = "ChainReply")]
pub struct ChainRequest {
    /// The configuration the client works from.
    pub epoch: Epoch,
    /// The client.
    pub client: u64,
    /// The client's sequence number for this operation (the same on every retry).
    pub client_seq: u64,
    /// The operation.
    pub op: KvOp,
}

impl crate::Wire for ChainRequest {
    const TAG: &'static str = "chain.request";
}

/// Installs a configuration on a chain node (from the configuration manager), and grants it
/// a lease: the node serves clients only until `lease_ms` after it received this, unless a
/// newer grant extends it. The supervisor waits out the lease of a node before installing a
/// chain without it, so a node cut off from the supervisor stops serving before another chain
/// can commit writes it does not see. `None`: no lease (a test that installs chains by hand).
#[derive(Debug, Clone, Serialize, Deserialize, actix::Message)]
#[rtype(result = "()")]
pub struct SetChainConfig {
    /// The configuration.
    pub config: ChainConfig,
    /// How long the node may serve from receipt, in milliseconds.
    pub lease_ms: Option<u64>,
}

impl crate::Wire for SetChainConfig {
    const TAG: &'static str = "chain.config";
}
