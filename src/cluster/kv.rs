//! `troupe kv`: one key-value operation on a real cluster. It tries node after node (any node
//! serves: followers forward to the leader, chain nodes to the chain) until one confirms the
//! operation or the time is up, and keeps each node's last answer, so that a failure says, node
//! by node, why: connection refused, no answer in time, not the leader, ...

use super::client::{describe, nodes, random_client_id, runtime};
use crate::parse::positive_duration;
use anyhow::{bail, Context as _, Result};
use clap::{Args, Subcommand};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};
use troupe::config::ClusterConfig;
use troupe_actors::client::{Outcome, Retries};
use troupe_actors::kv::remote::RemoteClerk;
use troupe_messages::client::{ClientRequest, ClientResponse};
use troupe_messages::kv::{KvOp, KvReply, KvRequest};
use troupe_messages::{ClientId, NodeId};
use troupe_runtime::Error;

/// `troupe kv --config FILE get KEY | put KEY VALUE | append KEY VALUE`.
#[derive(Args, Debug)]
pub struct KvArgs {
    /// The cluster configuration.
    #[arg(long)]
    config: PathBuf,
    /// Ask this node first (any node serves: followers forward to the leader).
    #[arg(long)]
    node: Option<String>,
    /// How long to keep trying before giving up (more than zero, e.g. 10s, 500ms).
    #[arg(long, default_value = "10s", value_parser = positive_duration)]
    timeout: Duration,
    #[command(subcommand)]
    op: KvCommand,
}

#[derive(Subcommand, Debug)]
enum KvCommand {
    /// Print a key's value ("" for a missing key) alone on the last line.
    Get {
        key: String,
        /// Read the node's own replica (needs --node): possibly stale, not linearizable.
        #[arg(long)]
        local: bool,
    },
    /// Replace a key's value.
    Put {
        key: String,
        #[arg(allow_hyphen_values = true)]
        value: String,
    },
    /// Append to a key's value.
    Append {
        key: String,
        #[arg(allow_hyphen_values = true)]
        value: String,
    },
}

/// Longest wait for one node's answer to one attempt.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);

/// Why a node did not confirm the operation: its last answer.
#[derive(Debug, thiserror::Error)]
enum Refusal {
    /// Time was up before this node's turn.
    #[error("not tried before the time was up")]
    NotTried,
    /// It does not lead, and named who does.
    #[error("not the leader (it named {0} instead)")]
    NotLeader(NodeId),
    /// It could not run the operation: it knows no leader (or no chain to run it on).
    #[error("could not take it: it knows no leader or serving chain")]
    NoLeader,
    /// It started the operation and could not confirm it in time.
    #[error("started it but could not confirm it in time")]
    NotCommitted,
    /// No answer: the connection failed, or the answer did not come in time.
    #[error("{0}")]
    NoAnswer(String),
    /// An answer that is not one to a key-value operation.
    #[error("{0}")]
    Other(String),
}

/// An operation no node confirmed.
struct Failure {
    /// Whether an attempt may have been started (then a write's outcome is unknown).
    maybe_applied: bool,
    /// Each node's last answer.
    last: BTreeMap<NodeId, Refusal>,
}

/// Runs one operation; exit 0 only if it took effect (a get: if it read a value).
pub fn kv(args: KvArgs) -> Result<ExitCode> {
    let config = ClusterConfig::load(&args.config)?;
    let client = random_client_id();
    let mut clerk = troupe::deploy::clerk(&config, client)?;
    clerk.attempt_timeout = ATTEMPT_TIMEOUT.min(args.timeout);
    let nodes = nodes(&config)?;
    let first = match &args.node {
        Some(node) => config.node(node)?.0,
        None => nodes.first().map(|(id, _)| *id).context("no nodes")?,
    };
    let (op, name) = match args.op {
        KvCommand::Get { key, local: true } => {
            let Some(node) = &args.node else {
                bail!("get --local reads one node's replica: name it with --node");
            };
            let value = runtime()?
                .block_on(clerk.read_local(first, &key))
                .map_err(|e| anyhow::anyhow!("the get read nothing: {node}: {}", describe(&e)))?;
            println!("{value}");
            return Ok(ExitCode::SUCCESS);
        }
        KvCommand::Get { key, local: false } => (KvOp::Get { key }, "get"),
        KvCommand::Put { key, value } => (KvOp::Put { key, value }, "put"),
        KvCommand::Append { key, value } => (KvOp::Append { key, value }, "append"),
    };
    let order: Vec<NodeId> = nodes.iter().map(|(id, _)| *id).collect();
    let outcome = runtime()?.block_on(run(&mut clerk, client, &order, first, op, args.timeout));
    let failure = match outcome {
        Ok(value) if name == "get" => {
            println!("{}", value.unwrap_or_default());
            return Ok(ExitCode::SUCCESS);
        }
        Ok(_) => {
            println!("ok");
            return Ok(ExitCode::SUCCESS);
        }
        Err(failure) => failure,
    };
    let within = humantime::format_duration(args.timeout);
    let headline = if name == "get" {
        format!("the get read nothing: no node answered it within {within}")
    } else if failure.maybe_applied {
        format!(
            "the {name}'s outcome is unknown: a node started it but none confirmed it within \
             {within}, so it may or may not have taken effect"
        )
    } else {
        format!("the {name} did not take effect: no node took it within {within}")
    };
    eprintln!("troupe: {headline}. Each node's last answer:");
    for (id, addr) in &nodes {
        let refusal = failure.last.get(id).unwrap_or(&Refusal::NotTried);
        eprintln!("  {id} ({addr}): {refusal}");
    }
    Ok(ExitCode::FAILURE)
}

/// Tries `op` at node after node of `order`, `first` first, following leader hints, until one
/// confirms it (`Ok`, with a get's value) or `deadline` has passed.
async fn run(
    clerk: &mut RemoteClerk,
    client: ClientId,
    order: &[NodeId],
    first: NodeId,
    op: KvOp,
    deadline: Duration,
) -> Result<Option<String>, Failure> {
    let request = ClientRequest::Kv(KvRequest { client, seq: 1, op });
    let started = Instant::now();
    let mut retries = Retries::new(order.len(), clerk.round_pause);
    let mut last = BTreeMap::new();
    let mut current = order.iter().position(|id| *id == first).unwrap_or(0);
    while started.elapsed() < deadline {
        let node = order[current];
        let (refusal, maybe_applied) = match clerk.ask_node(node, &request).await {
            Ok(ClientResponse::Kv(KvReply::Ok { value })) => return Ok(value),
            Ok(ClientResponse::Kv(KvReply::WrongLeader { hint: Some(leader) }))
                if leader != node && order.contains(&leader) =>
            {
                last.insert(node, Refusal::NotLeader(leader));
                current = order.iter().position(|id| *id == leader).unwrap_or(0);
                continue;
            }
            Ok(ClientResponse::Kv(KvReply::WrongLeader { .. })) => (Refusal::NoLeader, false),
            Ok(ClientResponse::Kv(KvReply::NotCommitted)) => (Refusal::NotCommitted, true),
            Ok(ClientResponse::Unavailable { reason }) => (Refusal::Other(reason), false),
            Ok(other) => (
                Refusal::Other(format!("unexpected answer {other:?}")),
                false,
            ),
            Err(e @ Error::Timeout { .. }) => (Refusal::NoAnswer(describe(&e)), true),
            Err(e) => (Refusal::NoAnswer(describe(&e)), false),
        };
        tracing::debug!(%node, "kv attempt: {refusal}");
        last.insert(node, refusal);
        current = (current + 1) % order.len();
        retries.failed(maybe_applied).await;
    }
    Err(Failure {
        maybe_applied: retries.outcome() == Outcome::Unknown,
        last,
    })
}
