//! The gateway of a ZooKeeper node's troupe client port: it answers `troupe status` (the Raft
//! peer's role, term and snapshot, the server's last zxid, sessions and connections). Reads
//! and writes go through the node's ZooKeeper port (`zk_addr`) with any ZooKeeper client.

use super::server::actor::NAME as ZK;
use crate::kv::gateway::raft_status;
use crate::raft::peer::NAME as RAFT;
use std::time::Duration;
use troupe_messages::client::{ClientRequest, ClientResponse, ZkNodeStatus};
use troupe_messages::raft::GetStatus;
use troupe_messages::zk::GetZkStatus;
use troupe_runtime::Node;

/// Answers one client request on `node`, waiting at most `timeout` for each actor it asks.
pub async fn answer(node: Node, request: ClientRequest, timeout: Duration) -> ClientResponse {
    let ClientRequest::Status = request else {
        return ClientResponse::Unavailable {
            reason: "this cluster runs ZooKeeper: use a ZooKeeper client (kazoo, zkCli) on a \
                     node's zk_addr"
                .into(),
        };
    };
    let status = async {
        let raft = raft_status(&node, timeout).await?;
        let snapshot_index = node
            .call(&node.path(RAFT), GetStatus, timeout)
            .await?
            .snapshot_index;
        let server = node.call(&node.path(ZK), GetZkStatus, timeout).await?;
        Ok::<_, troupe_runtime::Error>(ZkNodeStatus {
            raft,
            snapshot_index,
            server,
        })
    };
    match status.await {
        Ok(status) => ClientResponse::ZkStatus(status),
        Err(e) => ClientResponse::Unavailable {
            reason: e.to_string(),
        },
    }
}
