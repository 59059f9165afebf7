//! ZooKeeper's data model as troupe's ZooKeeper service carries it: a znode's [`Stat`], how a
//! znode is created ([`CreateMode`]), the writes ([`Op`]) and what they yield ([`OpResult`]),
//! the errors a caller acts on ([`ZkError`], with ZooKeeper's own codes), and the changes a
//! watch sees ([`WatchEvent`]).
//!
//! The numbers (error codes, create-mode flags, event types) are ZooKeeper's, so that the jute
//! codec that speaks to kazoo and zkCli translates field for field.

use serde::{Deserialize, Serialize};

/// A znode's metadata, ZooKeeper's `Stat`, field for field (and in its wire order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Stat {
    /// The zxid of the write that created the znode.
    pub czxid: i64,
    /// The zxid of the write that last changed its data (its creation, at first).
    pub mzxid: i64,
    /// When it was created, in milliseconds since the epoch (the leader's clock).
    pub ctime: i64,
    /// When its data last changed.
    pub mtime: i64,
    /// How many times its data changed.
    pub version: i32,
    /// How many times its children changed (creates and deletes).
    pub cversion: i32,
    /// How many times its ACL changed: always 0 (troupe has no ACLs).
    pub aversion: i32,
    /// The session that owns it if it is ephemeral, else 0.
    pub ephemeral_owner: i64,
    /// The length of its data.
    pub data_length: i32,
    /// How many children it has.
    pub num_children: i32,
    /// The zxid of the last write that created or deleted one of its children.
    pub pzxid: i64,
}

/// How a znode is created: ZooKeeper's `CreateMode`, the combinations of ephemeral and
/// sequential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CreateMode {
    /// Deleted when its session ends.
    pub ephemeral: bool,
    /// Its name gets a 10-digit suffix, the parent's child-change count, unique under the
    /// parent.
    pub sequential: bool,
}

impl CreateMode {
    /// PERSISTENT.
    pub const PERSISTENT: CreateMode = CreateMode {
        ephemeral: false,
        sequential: false,
    };
    /// EPHEMERAL.
    pub const EPHEMERAL: CreateMode = CreateMode {
        ephemeral: true,
        sequential: false,
    };
    /// PERSISTENT_SEQUENTIAL.
    pub const PERSISTENT_SEQUENTIAL: CreateMode = CreateMode {
        ephemeral: false,
        sequential: true,
    };
    /// EPHEMERAL_SEQUENTIAL.
    pub const EPHEMERAL_SEQUENTIAL: CreateMode = CreateMode {
        ephemeral: true,
        sequential: true,
    };

    /// The mode of ZooKeeper's flag number (0 to 3); None for the modes troupe does not have
    /// (containers, TTL nodes).
    pub fn from_flags(flags: i32) -> Option<CreateMode> {
        match flags {
            0 => Some(Self::PERSISTENT),
            1 => Some(Self::EPHEMERAL),
            2 => Some(Self::PERSISTENT_SEQUENTIAL),
            3 => Some(Self::EPHEMERAL_SEQUENTIAL),
            _ => None,
        }
    }

    /// ZooKeeper's flag number.
    pub fn flags(self) -> i32 {
        i32::from(self.ephemeral) | (i32::from(self.sequential) << 1)
    }
}

/// One write, alone or as a member of a multi. A version of -1 matches any version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    /// Create `path` (for a sequential node, the prefix of its name) holding `data`.
    Create {
        /// The path, or a sequential node's prefix.
        path: String,
        /// Its data.
        #[serde(with = "serde_bytes")]
        data: Vec<u8>,
        /// Ephemeral, sequential, both or neither.
        mode: CreateMode,
    },
    /// Delete `path`, which must have no children, if its version is `version`.
    Delete {
        /// The path.
        path: String,
        /// The expected version, or -1.
        version: i32,
    },
    /// Replace `path`'s data if its version is `version`.
    SetData {
        /// The path.
        path: String,
        /// The new data.
        #[serde(with = "serde_bytes")]
        data: Vec<u8>,
        /// The expected version, or -1.
        version: i32,
    },
    /// Change nothing, but fail (and with it the multi) unless `path`'s version is `version`.
    Check {
        /// The path.
        path: String,
        /// The expected version, or -1.
        version: i32,
    },
}

impl Op {
    /// The path the operation names.
    pub fn path(&self) -> &str {
        match self {
            Op::Create { path, .. }
            | Op::Delete { path, .. }
            | Op::SetData { path, .. }
            | Op::Check { path, .. } => path,
        }
    }
}

/// What one write yields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum OpResult {
    /// The znode was created, under this path (a sequential node's full name), with this stat.
    Created {
        /// The created path.
        path: String,
        /// Its stat.
        stat: Stat,
    },
    /// The znode was deleted.
    Deleted,
    /// The data was set; the znode's new stat.
    DataSet {
        /// The new stat.
        stat: Stat,
    },
    /// The version matched.
    Checked,
    /// A multi's member that went through, undone because a later one failed (ZooKeeper's
    /// error result with code 0).
    RolledBack,
    /// The write failed, and changed nothing.
    Failed(ZkError),
}

/// The errors of ZooKeeper's API that a caller acts on, each with ZooKeeper's code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ZkError {
    /// A multi member after the failing one: not tried (-2).
    RuntimeInconsistency,
    /// The server lost the request's fate (-4).
    ConnectionLoss,
    /// Not implemented by this server (-6).
    Unimplemented,
    /// The request was malformed: a bad path, a sequential root (-8).
    BadArguments,
    /// The node does not exist (-101).
    NoNode,
    /// The expected version is not the node's (-103).
    BadVersion,
    /// An ephemeral node cannot have children (-108).
    NoChildrenForEphemerals,
    /// The node exists already (-110).
    NodeExists,
    /// The node has children (-111).
    NotEmpty,
    /// The session has expired or was closed (-112).
    SessionExpired,
    /// The server serves no writes, and the client asked for read-write mode (-119).
    NotReadOnly,
}

impl ZkError {
    /// ZooKeeper's code.
    pub fn code(self) -> i32 {
        match self {
            ZkError::RuntimeInconsistency => -2,
            ZkError::ConnectionLoss => -4,
            ZkError::Unimplemented => -6,
            ZkError::BadArguments => -8,
            ZkError::NoNode => -101,
            ZkError::BadVersion => -103,
            ZkError::NoChildrenForEphemerals => -108,
            ZkError::NodeExists => -110,
            ZkError::NotEmpty => -111,
            ZkError::SessionExpired => -112,
            ZkError::NotReadOnly => -119,
        }
    }

    /// The error of ZooKeeper's `code`, if troupe knows it.
    pub fn from_code(code: i32) -> Option<ZkError> {
        ALL_ERRORS.iter().copied().find(|e| e.code() == code)
    }
}

const ALL_ERRORS: [ZkError; 11] = [
    ZkError::RuntimeInconsistency,
    ZkError::ConnectionLoss,
    ZkError::Unimplemented,
    ZkError::BadArguments,
    ZkError::NoNode,
    ZkError::BadVersion,
    ZkError::NoChildrenForEphemerals,
    ZkError::NodeExists,
    ZkError::NotEmpty,
    ZkError::SessionExpired,
    ZkError::NotReadOnly,
];

impl std::fmt::Display for ZkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?} ({})", self.code())
    }
}

impl std::error::Error for ZkError {}

/// What changed at a path, as a watch sees it: ZooKeeper's event types, with their numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventType {
    /// The node was created (1).
    NodeCreated,
    /// The node was deleted (2).
    NodeDeleted,
    /// The node's data changed (3).
    NodeDataChanged,
    /// A child was created or deleted (4).
    NodeChildrenChanged,
}

impl EventType {
    /// ZooKeeper's number.
    pub fn code(self) -> i32 {
        match self {
            EventType::NodeCreated => 1,
            EventType::NodeDeleted => 2,
            EventType::NodeDataChanged => 3,
            EventType::NodeChildrenChanged => 4,
        }
    }
}

/// One change a write made, which fires the watches set on its path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchEvent {
    /// What happened.
    pub kind: EventType,
    /// Where.
    pub path: String,
}

/// Entries a server proposes to the leader, in order (each an encoded log entry). The
/// leader starts them in its Raft log in this order; a server sends its next batch only after
/// the answer to this one, so that a client's writes keep their order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, actix::Message)]
#[rtype(result = "ZkProposed")]
pub struct ZkPropose {
    /// The encoded entries.
    pub entries: Vec<serde_bytes::ByteBuf>,
}

impl crate::Wire for ZkPropose {
    const TAG: &'static str = "zk.propose";
}

/// The leader's answer to [`ZkPropose`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, actix::MessageResponse)]
pub struct ZkProposed {
    /// Whether it leads and started the entries.
    pub accepted: bool,
    /// Who it believes leads, if not itself.
    pub leader: Option<crate::NodeId>,
}

/// Sessions a server's clients were heard from, for the leader's session tracker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, actix::Message)]
#[rtype(result = "()")]
pub struct ZkTouch {
    /// The session ids.
    pub sessions: Vec<i64>,
}

impl crate::Wire for ZkTouch {
    const TAG: &'static str = "zk.touch";
}

/// Asks a ZooKeeper server for its [`ZkServerStatus`].
#[derive(Debug, Clone, Copy, Serialize, Deserialize, actix::Message)]
#[rtype(result = "ZkServerStatus")]
pub struct GetZkStatus;

impl crate::Wire for GetZkStatus {
    const TAG: &'static str = "zk.status";
}

/// A ZooKeeper server's view of itself.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, actix::MessageResponse,
)]
pub struct ZkServerStatus {
    /// The zxid of the last write its replica applied.
    pub last_zxid: i64,
    /// Live sessions, cluster-wide, as its replica knows them.
    pub sessions: u64,
    /// Client connections open on this server.
    pub connections: u64,
    /// Znodes in its replica.
    pub znodes: u64,
}

/// A frame of a ZooKeeper connection carried over troupe's network (the simulated one has no
/// byte streams): `seq` numbers a connection's frames from 0 (the handshake), so the server
/// takes them in order whatever order they arrive in. The answer carries every frame the
/// server sent on the connection up to and including this frame's reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, actix::Message)]
#[rtype(result = "ZkNetFrames")]
pub struct ZkNetFrame {
    /// The client's node.
    pub client: crate::NodeId,
    /// The connection, unique on the client's node.
    pub conn: u32,
    /// The frame's number on the connection.
    pub seq: u64,
    /// The frame (jute, without its length prefix).
    pub frame: serde_bytes::ByteBuf,
}

impl crate::Wire for ZkNetFrame {
    const TAG: &'static str = "zk.net-frame";
}

/// The server's frames on a connection, in order, and whether it closed the connection.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, actix::MessageResponse)]
pub struct ZkNetFrames {
    /// The frames.
    pub frames: Vec<serde_bytes::ByteBuf>,
    /// The connection is closed: nothing more comes on it.
    pub closed: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_modes_and_error_codes_are_zookeepers() {
        for flags in 0..4 {
            let mode = CreateMode::from_flags(flags).expect("a mode");
            assert_eq!(mode.flags(), flags);
        }
        assert_eq!(
            CreateMode::from_flags(3),
            Some(CreateMode::EPHEMERAL_SEQUENTIAL)
        );
        assert_eq!(
            CreateMode::from_flags(4),
            None,
            "containers are not troupe's"
        );
        assert_eq!(ZkError::NoNode.code(), -101);
        assert_eq!(ZkError::NodeExists.code(), -110);
        for e in ALL_ERRORS {
            assert_eq!(ZkError::from_code(e.code()), Some(e));
        }
    }
}
