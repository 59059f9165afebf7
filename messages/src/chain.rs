//! Chain replication and CRAQ: the configuration every node and client works from, the messages
//! chain nodes pass down and up the chain, and what a client asks and is answered.
//!
//! Writes enter at the head, which gives each a sequence number; every node applies them in
//! that order and passes them on; the tail commits and its acknowledgement travels back up, each
//! node committing on the way. Every message names the configuration's epoch, and a node refuses
//! anything from another epoch, so a node cut out of the chain cannot act on the new one.

use crate::ids::{ClientId, NodeId};
use crate::kv::KvOp;
use serde::{Deserialize, Serialize};

/// A configuration's number; each reconfiguration makes a larger one.
pub type Epoch = u64;
/// The head's sequence number of a write (also the version it creates).
pub type Seq = u64;

/// Who is in the chain, head first and tail last, and who is joining it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainConfig {
    /// The configuration's epoch.
    pub epoch: Epoch,
    /// The nodes, head first.
    pub nodes: Vec<NodeId>,
    /// A node being added after the tail: the tail sends it its state and then every write it
    /// applies, but it serves nobody until a later configuration makes it the tail.
    #[serde(default)]
    pub joining: Option<NodeId>,
    /// The epoch in which each node that joined after the chain was created began joining
    /// (nodes not listed are founding members). A node listed with an epoch later than the last
    /// one it knew was out of the chain in between: it drops whatever state it had.
    #[serde(default)]
    pub since: Vec<(NodeId, Epoch)>,
}

impl ChainConfig {
    /// The chain `nodes` (head first) in `epoch`, all founding members, nobody joining.
    pub fn new(epoch: Epoch, nodes: Vec<NodeId>) -> Self {
        ChainConfig {
            epoch,
            nodes,
            joining: None,
            since: Vec::new(),
        }
    }

    /// The epoch in which `node` began joining (0 for a founding member).
    pub fn since(&self, node: NodeId) -> Epoch {
        self.since
            .iter()
            .find(|(n, _)| *n == node)
            .map_or(0, |&(_, e)| e)
    }

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
    pub client: ClientId,
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
        /// Whether the sender's state is known complete. A node that joined (or was re-added)
        /// is not until its predecessor in the current epoch answers with a
        /// [`ChainMessage::SyncPoint`] and it has applied up to it.
        synced: bool,
    },
    /// The predecessor's whole state, for a successor too far behind for re-sent writes to
    /// fill the gap (a joining node, or one that was out of the chain). (Down the chain.)
    Transfer {
        /// The sender's epoch.
        epoch: Epoch,
        /// The state.
        state: ChainState,
    },
    /// The answer to a `Resync` from a successor that is not synced: once it has applied up to
    /// `applied` (which covers everything any earlier tail committed), it is. (Down the chain.)
    SyncPoint {
        /// The sender's epoch.
        epoch: Epoch,
        /// The sender's highest applied sequence number when it answered.
        applied: Seq,
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

/// One key's versions in a [`ChainState`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyVersions {
    /// The key.
    pub key: String,
    /// The committed version and its value.
    pub committed: (Seq, String),
    /// Versions applied after it, not yet known committed, oldest first.
    pub dirty: Vec<(Seq, String)>,
}

/// A chain node's whole state, as a state transfer carries it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainState {
    /// Highest sequence number applied.
    pub applied: Seq,
    /// Highest sequence number known committed.
    pub committed: Seq,
    /// Every key's versions.
    pub keys: Vec<KeyVersions>,
    /// Per client: its last write's client sequence number and chain sequence number.
    pub last_writes: Vec<(ClientId, u64, Seq)>,
    /// The writes the sender keeps for re-sending (everything after `pending_from`).
    pub pending: Vec<Update>,
    /// Every write up to here is in `keys` but not in `pending`.
    pub pending_from: Seq,
}

/// A chain node's answer to [`ChainProbe`]: what a supervisor needs to decide on a join.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainStatus {
    /// The node's epoch.
    pub epoch: Epoch,
    /// Whether its state is known complete.
    pub synced: bool,
    /// Its highest applied sequence number.
    pub applied: Seq,
}

/// Asks a chain node for its [`ChainStatus`] (the supervisor's probe: a node that answers is
/// up).
#[derive(Debug, Clone, Serialize, Deserialize, actix::Message)]
#[rtype(result = "ChainStatus")]
pub struct ChainProbe;

impl crate::Wire for ChainProbe {
    const TAG: &'static str = "chain.probe";
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
    /// Not answered in time, or this node's state is still being completed: a write may still
    /// commit; retry with the same sequence number.
    NotCommitted,
    /// This node is not in the current chain, the client's epoch is not this node's, or this
    /// node's lease ran out.
    WrongEpoch {
        /// This node's configuration. When it is newer than the client's, the client can go
        /// straight to the chain it names (a supervisor pushed it only once the manager held
        /// it) instead of asking the manager first.
        config: ChainConfig,
    },
    /// This node left the chain while the write waited for its commit. The node had applied
    /// it and may have passed it on, so it may still commit: the outcome is unknown; retry
    /// with the same sequence number at the new chain.
    Abandoned {
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
    pub client: ClientId,
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

/// A node's place in its chain's configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChainRole {
    /// First of several: takes the writes.
    Head,
    /// Between the head and the tail.
    Middle,
    /// Last of several: commits the writes (and, without CRAQ, serves the reads).
    Tail,
    /// The only node: head and tail.
    Alone,
    /// Being added behind the tail: receives the state, serves nobody yet.
    Joining,
    /// In no configuration this node knows (a spare, or removed and not added back yet).
    Out,
}

impl ChainRole {
    /// The role of `node` in `config`.
    pub fn of(node: NodeId, config: &ChainConfig) -> ChainRole {
        if config.joining == Some(node) {
            return ChainRole::Joining;
        }
        match config.nodes.iter().position(|&n| n == node) {
            None => ChainRole::Out,
            Some(_) if config.nodes.len() == 1 => ChainRole::Alone,
            Some(0) => ChainRole::Head,
            Some(i) if i + 1 == config.nodes.len() => ChainRole::Tail,
            Some(_) => ChainRole::Middle,
        }
    }

    /// The role's name as `troupe status` prints it.
    pub fn name(self) -> &'static str {
        match self {
            ChainRole::Head => "head",
            ChainRole::Middle => "middle",
            ChainRole::Tail => "tail",
            ChainRole::Alone => "head+tail",
            ChainRole::Joining => "joining",
            ChainRole::Out => "out",
        }
    }
}

/// What a chain node shows an operator ([`ChainInspect`]'s answer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainView {
    /// The epoch of the configuration it runs.
    pub epoch: Epoch,
    /// Its place in that configuration.
    pub role: ChainRole,
    /// Its highest applied sequence number.
    pub applied: Seq,
    /// The highest sequence number it knows committed.
    pub committed: Seq,
    /// Whether its state is known complete.
    pub synced: bool,
    /// Whether its lease lets it serve clients now.
    pub leased: bool,
}

/// Asks a chain node for its [`ChainView`].
#[derive(Debug, Clone, Serialize, Deserialize, actix::Message)]
#[rtype(result = "ChainView")]
pub struct ChainInspect;

impl crate::Wire for ChainInspect {
    const TAG: &'static str = "chain.inspect";
}
