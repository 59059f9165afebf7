//! `troupe kv`: one key-value operation on a real cluster. It tries node after node (any node
//! serves: followers forward to the leader, chain nodes to the chain) until one confirms the
//! operation or the time is up, and keeps each node's last answer, so that a failure says, node
//! by node, why: connection refused, no answer in time, not the leader, ...

use super::client::{describe, nodes, random_client_id, runtime};
use crate::parse::positive_duration;
use anyhow::{bail, Context as _, Result};
use clap::{Args, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use troupe::config::ClusterConfig;
use troupe_actors::client::Outcome;
use troupe_messages::kv::KvOp;

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
    clerk.prefer(first);
    let outcome = runtime()?.block_on(clerk.run(op, args.timeout));
    match outcome {
        Outcome::Done(value) if name == "get" => {
            println!("{}", value.unwrap_or_default());
            return Ok(ExitCode::SUCCESS);
        }
        Outcome::Done(_) => {
            println!("ok");
            return Ok(ExitCode::SUCCESS);
        }
        Outcome::NotApplied | Outcome::Unknown => {}
    }
    let maybe_applied = outcome == Outcome::Unknown;
    let within = humantime::format_duration(args.timeout);
    let headline = if name == "get" {
        format!("the get read nothing: no node answered it within {within}")
    } else if maybe_applied {
        format!(
            "the {name}'s outcome is unknown: a node started it but none confirmed it within \
             {within}, so it may or may not have taken effect"
        )
    } else {
        format!("the {name} did not take effect: no node took it within {within}")
    };
    eprintln!("troupe: {headline}. Each node's last answer:");
    for (id, addr) in &nodes {
        match clerk.refusals().get(id) {
            Some(refusal) => eprintln!("  {id} ({addr}): {refusal}"),
            None => eprintln!("  {id} ({addr}): not tried before the time was up"),
        }
    }
    Ok(ExitCode::FAILURE)
}
