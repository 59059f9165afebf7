//! Wire types of every troupe protocol.
//!
//! This crate holds data, not logic: the structs and enums that travel between nodes, each
//! serialisable with serde (and encoded with rmp-serde by the runtime), each an actix
//! [`Message`](actix::Message) so that an actor handles it as the same Rust type whether it came
//! from its own node or across the network. Clients and servers both depend on it.
//!
//! A type becomes a *wire message* by implementing [`Wire`], which gives it a stable tag. The tag
//! is what the receiving node uses to pick the decoder, so it must be unique across the program
//! and must not change between versions that talk to each other.

pub mod chain;
pub mod client;
pub mod echo;
pub mod gfs;
pub mod ids;
pub mod kv;
pub mod mapreduce;
pub mod ping;
pub mod raft;
pub mod register;
pub mod supervision;
pub mod system;
pub mod vmft;
pub mod zk;

pub use ids::{ActorPath, ClientId, NodeId, TraceId};

use serde::de::DeserializeOwned;
use serde::Serialize;

/// A message that may cross a node boundary.
///
/// Implement it next to the type's derives:
///
/// ```
/// use serde::{Deserialize, Serialize};
/// use troupe_messages::Wire;
///
/// #[derive(Debug, Serialize, Deserialize, actix::Message)]
/// #[rtype(result = "u64")]
/// pub struct Add { pub by: u64 }
///
/// impl Wire for Add { const TAG: &'static str = "counter.add"; }
/// ```
///
/// The reply type (`rtype`) must be serialisable too, so that a remote `call` can carry it back.
pub trait Wire: actix::Message + Serialize + DeserializeOwned + Send + 'static
where
    Self::Result: Serialize + DeserializeOwned + Send + 'static,
{
    /// The stable, program-wide unique name of this message kind on the wire.
    const TAG: &'static str;
}
