//! The remote clerk: the key-value client of a real cluster, over the nodes' client ports. Like
//! the simulated [`Clerk`](super::clerk::Clerk), it tags every operation with (client id,
//! sequence number) so that a retry takes effect once, and it moves to another node when one
//! fails; any node serves (followers forward to the leader), but the clerk prefers the leader
//! when it learns who that is, to save a hop.

use crate::client::{Outcome, Retries};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use troupe_messages::client::{
    ChainNodeStatus, ClientRequest, ClientResponse, GfsNodeStatus, NodeStatus, Role,
    VmftNodeStatus, ZkNodeStatus,
};
use troupe_messages::kv::{KvOp, KvReply, KvRequest};
use troupe_messages::{ClientId, NodeId};
use troupe_runtime::tcp::clients::ClientConnection;
use troupe_runtime::tcp::frames::MAX_FRAME;
use troupe_runtime::tcp::handshake::Credentials;
use troupe_runtime::tcp::tls::Tls;
use troupe_runtime::{ActorPath, Error, Result};

/// A connection to a node's client port.
pub type Connection = ClientConnection<ClientRequest, ClientResponse>;

/// Why a node did not confirm an operation of [`RemoteClerk::run`]: its last answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// It does not lead, and named who does.
    NotLeader(NodeId),
    /// It could not run the operation: it knows no leader (or no chain to run it on).
    NoLeader,
    /// It started the operation and could not confirm it in time.
    NotCommitted,
    /// No answer: the connection failed, or the answer did not come in time.
    NoAnswer(String),
    /// Another answer (a node that is unavailable says why).
    Other(String),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::NotLeader(leader) => write!(f, "not the leader (it named {leader} instead)"),
            Refusal::NoLeader => {
                f.write_str("could not take it: it knows no leader or serving chain")
            }
            Refusal::NotCommitted => f.write_str("started it but could not confirm it in time"),
            Refusal::NoAnswer(why) | Refusal::Other(why) => f.write_str(why),
        }
    }
}

/// An error talking to a node, as a person reads it: the reason alone, without the client
/// port's actor path.
pub fn describe_error(error: &Error) -> String {
    match error {
        Error::Unreachable { reason, .. } => reason.clone(),
        Error::Timeout { after, .. } => format!("no answer within {after:?}"),
        other => other.to_string(),
    }
}

/// A clerk over TCP.
pub struct RemoteClerk {
    nodes: Vec<(NodeId, SocketAddr)>,
    credentials: Credentials,
    tls: Option<Tls>,
    connections: BTreeMap<usize, Arc<Connection>>,
    current: usize,
    id: ClientId,
    seq: u64,
    /// Each node's last answer in the latest [`RemoteClerk::run`] that it did not confirm.
    refusals: BTreeMap<NodeId, Refusal>,
    /// How long one attempt at one node may take.
    pub attempt_timeout: Duration,
    /// Pause after every node failed once, so that an election can finish.
    pub round_pause: Duration,
}

impl RemoteClerk {
    /// A clerk for the cluster whose nodes' client addresses are `nodes`, with the cluster's
    /// `credentials` and a client `id` unique among the cluster's clients (a random one will
    /// do).
    pub fn new(
        nodes: Vec<(NodeId, SocketAddr)>,
        credentials: Credentials,
        id: impl Into<ClientId>,
    ) -> Self {
        RemoteClerk {
            nodes,
            credentials,
            tls: None,
            connections: BTreeMap::new(),
            current: 0,
            id: id.into(),
            seq: 0,
            refusals: BTreeMap::new(),
            attempt_timeout: Duration::from_secs(2),
            round_pause: Duration::from_millis(100),
        }
    }

    /// Connect over TLS (for a cluster whose client ports use it).
    pub fn with_tls(mut self, tls: Option<Tls>) -> Self {
        self.tls = tls;
        self
    }

    /// Talk to this node first.
    pub fn prefer(&mut self, node: NodeId) {
        if let Some(i) = self.nodes.iter().position(|(id, _)| *id == node) {
            self.current = i;
        }
    }

    /// The node the clerk talks to first.
    pub fn preferred(&self) -> NodeId {
        self.nodes[self.current].0
    }

    async fn connection(&mut self, i: usize) -> Result<Arc<Connection>> {
        if let Some(conn) = self.connections.get(&i).filter(|c| c.is_open()) {
            return Ok(conn.clone());
        }
        let conn = Arc::new(
            Connection::connect(
                self.nodes[i].1,
                &self.credentials,
                self.tls.as_ref(),
                MAX_FRAME,
                self.attempt_timeout,
            )
            .await?,
        );
        self.connections.insert(i, conn.clone());
        Ok(conn)
    }

    /// Sends one request to node `i` (by its place in the list).
    async fn ask(&mut self, i: usize, request: &ClientRequest) -> Result<ClientResponse> {
        let conn = self.connection(i).await?;
        let answer = conn.call(request, self.attempt_timeout).await;
        if answer.is_err() {
            self.connections.remove(&i);
        }
        answer
    }

    /// Sends `request` to `node` alone and returns its answer as it is.
    pub async fn ask_node(
        &mut self,
        node: NodeId,
        request: &ClientRequest,
    ) -> Result<ClientResponse> {
        let i = self.index_of(node)?;
        self.ask(i, request).await
    }

    /// Asks `node` of a chain cluster for its status.
    pub async fn chain_status(&mut self, node: NodeId) -> Result<ChainNodeStatus> {
        match self.ask_node(node, &ClientRequest::Status).await? {
            ClientResponse::ChainStatus(status) => Ok(status),
            other => Err(unexpected(node, other)),
        }
    }

    /// Asks `node` of a VM-FT cluster for its status.
    pub async fn vmft_status(&mut self, node: NodeId) -> Result<VmftNodeStatus> {
        match self.ask_node(node, &ClientRequest::Status).await? {
            ClientResponse::VmftStatus(status) => Ok(status),
            other => Err(unexpected(node, other)),
        }
    }

    /// Asks `node` of a GFS cluster for its status.
    pub async fn gfs_status(&mut self, node: NodeId) -> Result<GfsNodeStatus> {
        match self.ask_node(node, &ClientRequest::Status).await? {
            ClientResponse::GfsStatus(status) => Ok(status),
            other => Err(unexpected(node, other)),
        }
    }

    /// Asks `node` of a ZooKeeper cluster for its status.
    pub async fn zk_status(&mut self, node: NodeId) -> Result<ZkNodeStatus> {
        match self.ask_node(node, &ClientRequest::Status).await? {
            ClientResponse::ZkStatus(status) => Ok(status),
            other => Err(unexpected(node, other)),
        }
    }

    /// Asks `node` for its status.
    pub async fn status(&mut self, node: NodeId) -> Result<NodeStatus> {
        let i = self.index_of(node)?;
        match self.ask(i, &ClientRequest::Status).await? {
            ClientResponse::Status(status) => Ok(status),
            other => Err(unexpected(node, other)),
        }
    }

    /// Reads `key` from `node`'s own replica (possibly stale).
    pub async fn read_local(&mut self, node: NodeId, key: &str) -> Result<String> {
        let i = self.index_of(node)?;
        let request = ClientRequest::ReadLocal { key: key.into() };
        match self.ask(i, &request).await? {
            ClientResponse::Value(value) => Ok(value),
            other => Err(unexpected(node, other)),
        }
    }

    /// Asks every node who leads and prefers the leader that a node reports about itself.
    pub async fn find_leader(&mut self) -> Option<NodeId> {
        let ids: Vec<NodeId> = self.nodes.iter().map(|(id, _)| *id).collect();
        for id in ids {
            if let Ok(status) = self.status(id).await {
                if status.role == Role::Leader {
                    self.prefer(id);
                    return Some(id);
                }
            }
        }
        None
    }

    fn index_of(&self, node: NodeId) -> Result<usize> {
        self.nodes
            .iter()
            .position(|(id, _)| *id == node)
            .ok_or_else(|| Error::Unreachable {
                target: ActorPath::new(node, "client"),
                reason: "no such node in the configuration".into(),
            })
    }

    /// Runs `op` until it is done or `deadline` has passed.
    pub async fn run(&mut self, op: KvOp, deadline: Duration) -> Outcome {
        self.seq += 1;
        let request = ClientRequest::Kv(KvRequest {
            client: self.id,
            seq: self.seq,
            op,
        });
        let started = Instant::now();
        let mut retries = Retries::new(self.nodes.len(), self.round_pause);
        self.refusals.clear();
        while started.elapsed() < deadline {
            let i = self.current;
            let node = self.nodes[i].0;
            let (refusal, maybe_applied) = match self.ask(i, &request).await {
                Ok(ClientResponse::Kv(KvReply::Ok { value })) => return Outcome::Done(value),
                Ok(ClientResponse::Kv(KvReply::WrongLeader { hint: Some(leader) }))
                    if leader != node && self.index_of(leader).is_ok() =>
                {
                    self.refusals.insert(node, Refusal::NotLeader(leader));
                    self.prefer(leader);
                    continue;
                }
                Ok(ClientResponse::Kv(KvReply::WrongLeader { .. })) => (Refusal::NoLeader, false),
                Ok(ClientResponse::Kv(KvReply::NotCommitted)) => (Refusal::NotCommitted, true),
                Ok(ClientResponse::Unavailable { reason }) => (Refusal::Other(reason), false),
                Ok(other) => (
                    Refusal::Other(format!("unexpected answer {other:?}")),
                    false,
                ),
                Err(e @ Error::Timeout { .. }) => (Refusal::NoAnswer(describe_error(&e)), true),
                Err(e) => (Refusal::NoAnswer(describe_error(&e)), false),
            };
            tracing::debug!(client = %self.id, %node, "kv attempt: {refusal}");
            self.refusals.insert(node, refusal);
            self.current = (self.current + 1) % self.nodes.len();
            retries.failed(maybe_applied).await;
        }
        retries.outcome()
    }

    /// Each node's last answer in the latest [`RemoteClerk::run`], for the nodes it asked and
    /// that did not confirm the operation.
    pub fn refusals(&self) -> &BTreeMap<NodeId, Refusal> {
        &self.refusals
    }
}

fn unexpected(node: NodeId, response: ClientResponse) -> Error {
    Error::Unreachable {
        target: ActorPath::new(node, "client"),
        reason: match response {
            ClientResponse::Unavailable { reason } => reason,
            other => format!("unexpected answer {other:?}"),
        },
    }
}
