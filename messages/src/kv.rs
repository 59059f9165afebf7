//! The key-value service's wire types: what a clerk asks and what a server answers.

use crate::ids::{ClientId, NodeId};
use crate::Wire;
use serde::{Deserialize, Serialize};

/// A key-value operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum KvOp {
    /// Read a key ("" if missing).
    Get {
        /// The key.
        key: String,
    },
    /// Replace a key's value.
    Put {
        /// The key.
        key: String,
        /// The new value.
        value: String,
    },
    /// Append to a key's value.
    Append {
        /// The key.
        key: String,
        /// What to append.
        value: String,
    },
    /// Compare and swap: replace the key's value with `value` only if it is `expect` now ("" for
    /// a missing key). Answers the value found, so the caller knows whether it won.
    Cas {
        /// The key.
        key: String,
        /// The value the caller expects.
        expect: String,
        /// The new value.
        value: String,
    },
}

/// A clerk's request, tagged so that a retry is applied at most once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, actix::Message)]
#[rtype(result = "KvReply")]
pub struct KvRequest {
    /// The clerk's id.
    pub client: ClientId,
    /// The clerk's sequence number for this operation (the same for every retry).
    pub seq: u64,
    /// The operation.
    pub op: KvOp,
}

impl Wire for KvRequest {
    const TAG: &'static str = "kv.request";
}

/// A server's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, actix::MessageResponse)]
pub enum KvReply {
    /// Done. A get carries the value ("" for a missing key).
    Ok {
        /// The value read, for a get.
        value: Option<String>,
    },
    /// This server does not lead; try `hint` if known. Nothing was started.
    WrongLeader {
        /// Who this server believes leads.
        hint: Option<NodeId>,
    },
    /// Started but not committed in time (or leadership was lost): the operation may or may
    /// not take effect; retry with the same sequence number.
    NotCommitted,
}

/// Asks a server for a key's value in its own replica, without going through the log: possibly
/// stale, for checking that a replica caught up, never for a linearizable read. Answers the
/// value ("" for a missing key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, actix::Message)]
#[rtype(result = "String")]
pub struct ReadLocal {
    /// The key.
    pub key: String,
}

impl Wire for ReadLocal {
    const TAG: &'static str = "kv.read_local";
}
