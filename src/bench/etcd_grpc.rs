//! A client of etcd's gRPC API, as etcd's own tools speak it (etcdctl and etcd's `benchmark`
//! put through `KV.Put` over HTTP/2): tonic for gRPC, with the few messages the benchmark
//! needs declared with prost's derive, their field numbers those of etcd's
//! `etcdserverpb/rpc.proto` (fields the benchmark does not read are skipped when decoding).
//! Declaring them here spares the build a protobuf compiler.
//!
//! Built only with the `etcd-grpc` feature (`scripts/bench-real.sh` turns it on), so that the
//! default build does not compile a gRPC stack.

use anyhow::{Context as _, Result};
use std::net::SocketAddr;
use tonic::client::Grpc;
use tonic::codec::ProstCodec;
use tonic::transport::{Channel, Endpoint};

/// `etcdserverpb.PutRequest` (key = 1, value = 2; lease and flags left at their defaults).
#[derive(Clone, PartialEq, prost::Message)]
struct PutRequest {
    #[prost(bytes = "vec", tag = "1")]
    key: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    value: Vec<u8>,
}

/// `etcdserverpb.ResponseHeader`.
#[derive(Clone, PartialEq, prost::Message)]
struct ResponseHeader {
    #[prost(uint64, tag = "1")]
    cluster_id: u64,
    #[prost(uint64, tag = "2")]
    member_id: u64,
    #[prost(int64, tag = "3")]
    revision: i64,
    #[prost(uint64, tag = "4")]
    raft_term: u64,
}

/// `etcdserverpb.PutResponse` (the header; `prev_kv` is not asked for).
#[derive(Clone, PartialEq, prost::Message)]
struct PutResponse {
    #[prost(message, optional, tag = "1")]
    header: Option<ResponseHeader>,
}

/// `etcdserverpb.StatusRequest`.
#[derive(Clone, PartialEq, prost::Message)]
struct StatusRequest {}

/// `etcdserverpb.StatusResponse` (header = 1, leader = 4, raftTerm = 6).
#[derive(Clone, PartialEq, prost::Message)]
struct StatusResponse {
    #[prost(message, optional, tag = "1")]
    header: Option<ResponseHeader>,
    #[prost(uint64, tag = "4")]
    leader: u64,
    #[prost(uint64, tag = "6")]
    raft_term: u64,
}

/// What a member says of itself.
pub struct Status {
    /// Whether the member leads.
    pub is_leader: bool,
    /// Its Raft term.
    pub term: u64,
}

/// One gRPC channel (one HTTP/2 connection) to an etcd member.
pub struct EtcdClient {
    grpc: Grpc<Channel>,
}

impl EtcdClient {
    /// Connects to the member whose client URL is `http://{addr}`.
    pub async fn connect(addr: SocketAddr) -> Result<EtcdClient> {
        let channel = Endpoint::from_shared(format!("http://{addr}"))?
            .tcp_nodelay(true)
            .connect()
            .await
            .with_context(|| format!("cannot connect to etcd at {addr}"))?;
        Ok(EtcdClient {
            grpc: Grpc::new(channel),
        })
    }

    async fn unary<Q, A>(&mut self, path: &'static str, request: Q) -> Result<A>
    where
        Q: prost::Message + Send + Sync + 'static,
        A: prost::Message + Default + Send + Sync + 'static,
    {
        self.grpc.ready().await?;
        let answer = self
            .grpc
            .unary(
                tonic::Request::new(request),
                http::uri::PathAndQuery::from_static(path),
                ProstCodec::default(),
            )
            .await?;
        Ok(answer.into_inner())
    }

    /// `KV.Put`: puts `value` under `key`; returns once etcd acknowledged it (committed).
    pub async fn put(&mut self, key: &str, value: &[u8]) -> Result<()> {
        let request = PutRequest {
            key: key.as_bytes().to_vec(),
            value: value.to_vec(),
        };
        let _: PutResponse = self.unary("/etcdserverpb.KV/Put", request).await?;
        Ok(())
    }

    /// `Maintenance.Status` of the member this client is connected to.
    pub async fn status(&mut self) -> Result<Status> {
        let answer: StatusResponse = self
            .unary("/etcdserverpb.Maintenance/Status", StatusRequest {})
            .await?;
        let member = answer.header.map_or(0, |h| h.member_id);
        Ok(Status {
            is_leader: answer.leader != 0 && answer.leader == member,
            term: answer.raft_term,
        })
    }
}
