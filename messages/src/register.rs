//! The register service's wire types: what a client asks the one register server and what it
//! answers. The service is a map of named registers, each empty until first written; it is the
//! smallest system of troupe, made to show each layer of a system (docs/adding-a-system.md).
//!
//! Every request carries the client's id and sequence number, so that a put retried after a
//! lost answer takes effect once.

use crate::ids::ClientId;
use crate::Wire;
use serde::{Deserialize, Serialize};

/// What a client asks of a register.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RegisterOp {
    /// Replace the register's value.
    Put {
        /// The register's name.
        key: String,
        /// Its new value.
        value: String,
    },
    /// Read the register.
    Get {
        /// The register's name.
        key: String,
    },
}

/// A client's request, tagged so that a retry is applied at most once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, actix::Message)]
#[rtype(result = "RegisterReply")]
pub struct RegisterRequest {
    /// The client's id.
    pub client: ClientId,
    /// The client's number for this operation: the same for every retry, larger for each new
    /// operation.
    pub seq: u64,
    /// What to do.
    pub op: RegisterOp,
}

impl Wire for RegisterRequest {
    const TAG: &'static str = "register.request";
}

/// The server's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, actix::MessageResponse)]
pub enum RegisterReply {
    /// The put is durable (now, or at an earlier try with the same sequence number).
    Stored,
    /// What a get read: `None` for a register never written.
    Value(Option<String>),
    /// Refused: the client already had a later put applied (`latest`), so this request is an
    /// old duplicate that arrived late. Nothing was done.
    Stale {
        /// The sequence number of the client's latest put applied.
        latest: u64,
    },
    /// The server could not make the put durable and stopped; its supervisor restarts it from
    /// what is durable. The put may or may not have taken effect: retry with the same sequence
    /// number.
    NotDurable,
}
