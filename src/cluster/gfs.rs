//! `troupe gfs`: one file operation on a real GFS cluster. Any node serves (its gateway runs
//! the operation with a GFS client of its own); the command tries node after node until one
//! answers or the time is up, and says, node by node, why each failed.
//!
//! Data crosses the client port in one frame: a put, an append, a get or a file's records
//! over 12 MB are refused, with the reason.

use super::client::{describe, nodes, random_client_id, runtime};
use crate::parse::positive_duration;
use anyhow::{bail, Context as _, Result};
use clap::{Args, Subcommand};
use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use tokio::time::Instant;
use troupe::config::ClusterConfig;
use troupe::deploy::GFS_GATEWAY_TIMEOUT;
use troupe_actors::kv::remote::RemoteClerk;
use troupe_messages::client::{
    ClientRequest, ClientResponse, GfsClientOp, GfsClientReply, GFS_MAX_DATA,
};
use troupe_messages::NodeId;

/// `troupe gfs --config FILE [--node nX] [--timeout 30s] OP`.
#[derive(Args, Debug)]
pub struct GfsArgs {
    /// The cluster configuration (of a `system = "gfs"` cluster).
    #[arg(long)]
    config: PathBuf,
    /// Ask this node first (any node serves).
    #[arg(long)]
    node: Option<String>,
    /// How long to keep trying before giving up (more than zero, e.g. 30s, 500ms).
    #[arg(long, default_value = "30s", value_parser = positive_duration)]
    timeout: Duration,
    #[command(subcommand)]
    op: GfsCommand,
}

#[derive(Subcommand, Debug)]
enum GfsCommand {
    /// Copy a local file into a new file PATH (at most 12 MB; PATH must not exist).
    Put { local: PathBuf, path: String },
    /// Copy PATH into a local file (at most 12 MB).
    Get { path: String, local: PathBuf },
    /// Print PATH's bytes (at most 12 MB).
    Cat { path: String },
    /// List the files under a directory (every file by default).
    Ls {
        #[arg(default_value = "/")]
        path: String,
    },
    /// Delete PATH (its chunks are reclaimed later).
    Rm { path: String },
    /// Append standard input to PATH as one record (a trailing newline is dropped), creating
    /// the file if it is missing; retried through other nodes as the same record.
    Append { path: String },
    /// Print each record of a record-append file once, one per line, in file order (padding,
    /// fragments and duplicates of retried appends skipped).
    Records { path: String },
}

/// How a run of one operation over the nodes ended.
enum Ended {
    /// A node answered this.
    Answered(GfsClientReply),
    /// A node said the operation may have taken effect without confirming it; trying again
    /// elsewhere could apply it twice.
    Unknown(NodeId, String),
    /// The time ran out.
    TimedOut,
}

/// Runs one file operation; exit 0 only if it took effect (a read: if it read).
pub fn gfs(args: GfsArgs) -> Result<ExitCode> {
    let config = ClusterConfig::load(&args.config)?;
    if config.system != "gfs" {
        bail!(
            "{} is a {} cluster: `troupe gfs` talks to a gfs cluster",
            args.config.display(),
            config.system
        );
    }
    let client = random_client_id();
    let (op, name) = match &args.op {
        GfsCommand::Put { local, path } => {
            let data =
                std::fs::read(local).with_context(|| format!("cannot read {}", local.display()))?;
            check_size(data.len(), &local.display().to_string())?;
            let path = path.clone();
            (GfsClientOp::Put { path, data }, "put")
        }
        GfsCommand::Get { path, .. } => (GfsClientOp::Get { path: path.clone() }, "get"),
        GfsCommand::Cat { path } => (GfsClientOp::Cat { path: path.clone() }, "cat"),
        GfsCommand::Ls { path } => (GfsClientOp::Ls { dir: path.clone() }, "ls"),
        GfsCommand::Rm { path } => (GfsClientOp::Rm { path: path.clone() }, "rm"),
        GfsCommand::Append { path } => {
            let mut data = Vec::new();
            std::io::stdin()
                .read_to_end(&mut data)
                .context("cannot read standard input")?;
            if data.last() == Some(&b'\n') {
                data.pop();
            }
            check_size(data.len(), "standard input")?;
            let op = GfsClientOp::Append {
                path: path.clone(),
                data,
                client,
                seq: 1,
            };
            (op, "append")
        }
        GfsCommand::Records { path } => (GfsClientOp::Records { path: path.clone() }, "records"),
    };
    let mut clerk = troupe::deploy::clerk(&config, client)?;
    let nodes = nodes(&config)?;
    let first = match &args.node {
        Some(node) => config.node(node)?.0,
        None => nodes.first().map(|(id, _)| *id).context("no nodes")?,
    };
    let order = starting_at(&nodes, first);
    let mut said = BTreeMap::new();
    let ended = runtime()?.block_on(run(&mut clerk, &order, &op, args.timeout, &mut said));
    let reply = match ended {
        Ended::Answered(GfsClientReply::Refused(reason)) => {
            eprintln!("troupe: the {name} was refused: {reason}");
            return Ok(ExitCode::FAILURE);
        }
        Ended::Answered(reply) => reply,
        Ended::Unknown(node, reason) => {
            eprintln!(
                "troupe: the {name}'s outcome is unknown: {node} started it but could not \
                 confirm it ({reason}), so it may or may not have taken effect"
            );
            return Ok(ExitCode::FAILURE);
        }
        Ended::TimedOut => {
            let within = humantime::format_duration(args.timeout);
            eprintln!("troupe: no node did the {name} within {within}. Each node's last answer:");
            for (id, addr) in &nodes {
                match said.get(id) {
                    Some(why) => eprintln!("  {id} ({addr}): {why}"),
                    None => eprintln!("  {id} ({addr}): not tried before the time was up"),
                }
            }
            return Ok(ExitCode::FAILURE);
        }
    };
    show(&args.op, reply)
}

/// Refuses data larger than one request carries.
fn check_size(len: usize, what: &str) -> Result<()> {
    if len > GFS_MAX_DATA {
        bail!(
            "{what} holds {len} bytes, over the {GFS_MAX_DATA} bytes one request through a \
             node's client port may carry"
        );
    }
    Ok(())
}

/// The nodes' ids, `first` first and the rest in the file's order after it.
fn starting_at(nodes: &[(NodeId, std::net::SocketAddr)], first: NodeId) -> Vec<NodeId> {
    let at = nodes.iter().position(|(id, _)| *id == first).unwrap_or(0);
    nodes[at..]
        .iter()
        .chain(&nodes[..at])
        .map(|(id, _)| *id)
        .collect()
}

/// Tries `op` on node after node of `order` until one answers it or `timeout` passes; `said`
/// gets each node's last answer that was no answer to the operation.
async fn run(
    clerk: &mut RemoteClerk,
    order: &[NodeId],
    op: &GfsClientOp,
    timeout: Duration,
    said: &mut BTreeMap<NodeId, String>,
) -> Ended {
    let end = Instant::now() + timeout;
    // A put is not retried once it may have started: its file would be there, half written.
    let once = matches!(op, GfsClientOp::Put { .. });
    let request = ClientRequest::Gfs(op.clone());
    // Whether an earlier try may have deleted the file (then a later "no file" is success).
    let mut maybe_removed = false;
    loop {
        for &id in order {
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ended::TimedOut;
            }
            // The node's gateway gives up after its own timeout; wait a little longer.
            clerk.attempt_timeout = left.min(GFS_GATEWAY_TIMEOUT + Duration::from_secs(5));
            match clerk.ask_node(id, &request).await {
                Ok(ClientResponse::Gfs(GfsClientReply::Refused(_)))
                    if maybe_removed && matches!(op, GfsClientOp::Rm { .. }) =>
                {
                    return Ended::Answered(GfsClientReply::Done);
                }
                Ok(ClientResponse::Gfs(GfsClientReply::Failed {
                    reason,
                    maybe_applied,
                })) => {
                    if maybe_applied && once {
                        return Ended::Unknown(id, reason);
                    }
                    maybe_removed |= maybe_applied;
                    said.insert(id, reason);
                }
                Ok(ClientResponse::Gfs(reply)) => return Ended::Answered(reply),
                Ok(ClientResponse::Unavailable { reason }) => {
                    said.insert(id, reason);
                }
                Ok(other) => {
                    said.insert(id, format!("an answer of another system: {other:?}"));
                }
                Err(e) => {
                    let timed_out = matches!(e, troupe_runtime::Error::Timeout { .. });
                    if timed_out && once {
                        return Ended::Unknown(id, describe(&e));
                    }
                    maybe_removed |= timed_out;
                    said.insert(id, describe(&e));
                }
            }
        }
        // Every node failed once: give an election or a lease a moment before the next round.
        let left = end.saturating_duration_since(Instant::now());
        tokio::time::sleep(clerk.round_pause.min(left)).await;
    }
}

/// Prints (or writes) what a node answered.
fn show(command: &GfsCommand, reply: GfsClientReply) -> Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    match (command, reply) {
        (GfsCommand::Get { local, .. }, GfsClientReply::Data(bytes)) => {
            std::fs::write(local, &bytes)
                .with_context(|| format!("cannot write {}", local.display()))?;
            writeln!(out, "{} bytes", bytes.len())?;
        }
        (_, GfsClientReply::Data(bytes)) => out.write_all(&bytes)?,
        (_, GfsClientReply::Done) => writeln!(out, "ok")?,
        (_, GfsClientReply::Listed(files)) => {
            for file in files {
                writeln!(out, "{file}")?;
            }
        }
        (_, GfsClientReply::Appended { chunk, offset, .. }) => {
            writeln!(out, "appended at chunk {chunk}, offset {offset}")?;
        }
        (_, GfsClientReply::Records(records)) => {
            for record in records {
                out.write_all(&record)?;
                out.write_all(b"\n")?;
            }
        }
        (_, GfsClientReply::Lease { chunk, primary, .. }) => {
            writeln!(out, "chunk {chunk}: primary {primary}")?;
        }
        (_, GfsClientReply::Refused(_) | GfsClientReply::Failed { .. }) => {
            bail!("internal: a refusal reached the output")
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
