//! What `troupe kv` and `troupe status` share: a clerk over the nodes' client ports, a runtime
//! to drive it, and the words for a node's failure.

use anyhow::{Context as _, Result};
use std::net::SocketAddr;
use troupe::config::ClusterConfig;
use troupe_actors::kv::remote::RemoteClerk;
use troupe_messages::{ClientId, NodeId};

/// A fresh random client id: no other client of the cluster, before or after, has it.
pub fn random_client_id() -> ClientId {
    let mut bytes = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
    ClientId::from_random_bytes(bytes)
}

/// A clerk of `config`'s cluster with a fresh random client id.
pub fn clerk(config: &ClusterConfig) -> Result<RemoteClerk> {
    troupe::deploy::clerk(config, random_client_id())
}

/// A current-thread runtime for the client side.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Every node of `config`: its id and its client address.
pub fn nodes(config: &ClusterConfig) -> Result<Vec<(NodeId, SocketAddr)>> {
    config
        .nodes
        .iter()
        .map(|n| Ok((n.id.parse::<NodeId>()?, n.client_addr)))
        .collect()
}

/// Why a node did not answer, in words that do not name the client's own end (a failed
/// connection reads "n0/ADDR is unreachable: ..." otherwise).
pub use troupe_actors::kv::remote::describe_error as describe;
