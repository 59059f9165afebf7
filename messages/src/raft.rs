//! Raft's wire types: the peer-to-peer protocol (with PreVote), and what a service asks of its
//! Raft peer.

use crate::ids::NodeId;
use crate::Wire;
use serde::{Deserialize, Serialize};

/// A log index (1-based; 0 means "before the first entry").
pub type Index = u64;
/// A term.
pub type Term = u64;

/// One log entry: the term it was created in and the service's command, opaque to Raft.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The leader's term when it appended the entry.
    pub term: Term,
    /// The service's command (empty for the no-op a new leader appends).
    #[serde(with = "serde_bytes")]
    pub command: Vec<u8>,
}

/// The messages Raft peers exchange. All are one-way; answers are messages of their own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RaftMessage {
    /// A (pre-)candidate asks for a vote. A pre-vote changes no one's term or vote: it asks
    /// "would you vote for me?" so that a node cut off from the cluster cannot disrupt it when
    /// it comes back with an inflated term.
    RequestVote {
        /// The term the candidate is (or, for a pre-vote, would be) in.
        term: Term,
        /// Index of the candidate's last log entry.
        last_log_index: Index,
        /// Term of the candidate's last log entry.
        last_log_term: Term,
        /// True for a pre-vote.
        pre_vote: bool,
    },
    /// The answer to a (pre-)vote request.
    Vote {
        /// The voter's term (for a pre-vote: the term asked about, if granted).
        term: Term,
        /// Whether the vote is granted.
        granted: bool,
        /// True for an answer to a pre-vote.
        pre_vote: bool,
    },
    /// The leader replicates entries (or, with none, sends a heartbeat).
    AppendEntries {
        /// The leader's term.
        term: Term,
        /// Index of the entry just before `entries`.
        prev_log_index: Index,
        /// Its term.
        prev_log_term: Term,
        /// Entries to store (empty for a heartbeat).
        entries: Vec<Entry>,
        /// The leader's commit index.
        leader_commit: Index,
    },
    /// The answer to `AppendEntries`.
    AppendReply {
        /// The follower's term.
        term: Term,
        /// Whether the follower's log matched at `prev_log_index`.
        success: bool,
        /// On success, the last index known to match the leader's log.
        match_index: Index,
        /// On failure, the `prev_log_index` that did not match (lets the leader ignore stale
        /// refusals and never move its next index forward on one).
        rejected_index: Index,
        /// On failure, the term of the conflicting entry (0 if the log is too short).
        conflict_term: Term,
        /// On failure, the first index of `conflict_term` in the follower's log, or its log
        /// length + 1 if the log is too short: where the leader should try next.
        conflict_index: Index,
        /// A number the follower drew when it started. A refusal from another boot than the
        /// success the leader last counted comes from a restarted follower, which may have
        /// lost a damaged log tail; within one boot a follower never loses what it matched.
        boot: u64,
    },
    /// The leader sends its snapshot to a follower that is too far behind.
    InstallSnapshot {
        /// The leader's term.
        term: Term,
        /// The last index the snapshot covers.
        last_included_index: Index,
        /// Its term.
        last_included_term: Term,
        /// The service's snapshot.
        #[serde(with = "serde_bytes")]
        data: Vec<u8>,
    },
    /// The answer to `InstallSnapshot`.
    SnapshotReply {
        /// The follower's term.
        term: Term,
        /// The last index the follower now has.
        last_included_index: Index,
    },
}

/// A Raft message with its sender, as it travels between peers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, actix::Message)]
#[rtype(result = "()")]
pub struct Peer {
    /// The sending peer.
    pub from: NodeId,
    /// The message.
    pub message: RaftMessage,
}

impl Wire for Peer {
    const TAG: &'static str = "raft.peer";
}

/// The outcome of asking a peer to start agreement on a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, actix::MessageResponse)]
pub struct Started {
    /// The index the command will have if it is committed.
    pub index: Index,
    /// The current term.
    pub term: Term,
    /// Whether this peer is the leader (if not, nothing was started).
    pub is_leader: bool,
    /// Who this peer believes leads, for a caller to try next.
    pub leader: Option<NodeId>,
}

/// A peer's view of itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, actix::MessageResponse)]
pub struct RaftStatus {
    /// Current term.
    pub term: Term,
    /// Whether it is the leader.
    pub is_leader: bool,
    /// Who it believes leads, if anyone.
    pub leader: Option<NodeId>,
    /// Highest index known committed.
    pub commit_index: Index,
    /// Index of its last log entry.
    pub last_index: Index,
    /// Last index covered by its snapshot.
    pub snapshot_index: Index,
}

/// Asks a peer for its [`RaftStatus`].
#[derive(Debug, Clone, Copy, Serialize, Deserialize, actix::Message)]
#[rtype(result = "RaftStatus")]
pub struct GetStatus;

impl Wire for GetStatus {
    const TAG: &'static str = "raft.status";
}

/// Asks a peer to start agreement on a command (from the service on the same node).
#[derive(Debug, Clone, Serialize, Deserialize, actix::Message)]
#[rtype(result = "Started")]
pub struct Start {
    /// The service's command; must not be empty.
    #[serde(with = "serde_bytes")]
    pub command: Vec<u8>,
}

impl Wire for Start {
    const TAG: &'static str = "raft.start";
}
