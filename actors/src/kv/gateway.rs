//! The gateway of a real node's client port: how a node answers a client. A key-value
//! operation goes to this node's server; if that server does not lead, the gateway forwards
//! the operation to the leader it names, over the peer network, so a client may talk to any
//! node. Status and local reads are answered by this node alone.

use super::server::NAME as KV;
use crate::raft::peer::NAME as RAFT;
use std::time::Duration;
use troupe_messages::client::{ClientRequest, ClientResponse, NodeStatus, Role};
use troupe_messages::kv::{KvReply, KvRequest, ReadLocal};
use troupe_messages::raft::GetStatus;
use troupe_runtime::{ActorPath, Error, Node};

/// Answers one client request on `node`, waiting at most `timeout` for each actor it asks.
pub async fn answer(node: Node, request: ClientRequest, timeout: Duration) -> ClientResponse {
    match request {
        ClientRequest::Kv(request) => ClientResponse::Kv(run_kv(&node, request, timeout).await),
        ClientRequest::Status => match raft_status(&node, timeout).await {
            Ok(status) => ClientResponse::Status(status),
            Err(e) => unavailable(e),
        },
        ClientRequest::ReadLocal { key } => {
            match node.call(&node.path(KV), ReadLocal { key }, timeout).await {
                Ok(value) => ClientResponse::Value(value),
                Err(e) => unavailable(e),
            }
        }
        ClientRequest::Gfs(_) => ClientResponse::Unavailable {
            reason: "this cluster runs the Raft key-value service, not GFS".into(),
        },
    }
}

/// This node's Raft peer's status, as a client is shown it.
pub async fn raft_status(node: &Node, timeout: Duration) -> troupe_runtime::Result<NodeStatus> {
    let status = node.call(&node.path(RAFT), GetStatus, timeout).await?;
    Ok(NodeStatus {
        id: node.id(),
        role: if status.is_leader {
            Role::Leader
        } else {
            Role::Follower
        },
        term: status.term,
        commit_index: status.commit_index,
        last_index: status.last_index,
        leader: status.leader,
    })
}

fn unavailable(e: Error) -> ClientResponse {
    ClientResponse::Unavailable {
        reason: e.to_string(),
    }
}

/// Runs a key-value operation here, or at the leader this node's server names.
async fn run_kv(node: &Node, request: KvRequest, timeout: Duration) -> KvReply {
    let here = node.call(&node.path(KV), request.clone(), timeout).await;
    let leader = match here {
        Ok(KvReply::WrongLeader { hint: Some(leader) }) if leader != node.id() => leader,
        other => return settle(other),
    };
    tracing::debug!(node = %node.id(), %leader, client = %request.client, "forwarding to the leader");
    match node
        .call(&ActorPath::new(leader, KV), request, timeout)
        .await
    {
        // The leader's node refused it (its replica is restarting): nothing was started.
        Err(Error::Rejected { .. }) => KvReply::WrongLeader { hint: Some(leader) },
        other => settle(other),
    }
}

/// A server's answer, or what a failed call means for the client.
fn settle(answer: troupe_runtime::Result<KvReply>) -> KvReply {
    match answer {
        Ok(reply) => reply,
        // The server is not there (its replica is restarting): nothing was started.
        Err(Error::Rejected { .. }) => KvReply::WrongLeader { hint: None },
        // The request may have reached the server and been started: the client retries with
        // the same sequence number, which takes effect at most once.
        Err(_) => KvReply::NotCommitted,
    }
}
