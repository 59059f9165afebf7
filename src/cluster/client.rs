//! `troupe kv` and `troupe status`: clients of a real cluster, over the nodes' client ports.

use anyhow::{bail, Context as _, Result};
use clap::{Args, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use troupe::config::ClusterConfig;
use troupe_actors::client::Outcome;
use troupe_actors::kv::remote::RemoteClerk;
use troupe_messages::client::Role;
use troupe_messages::kv::KvOp;
use troupe_messages::{ClientId, NodeId};

/// `troupe kv --config FILE get KEY | put KEY VALUE | append KEY VALUE`.
#[derive(Args, Debug)]
pub struct KvArgs {
    /// The cluster configuration.
    #[arg(long)]
    config: PathBuf,
    /// Ask this node first (any node serves: followers forward to the leader).
    #[arg(long)]
    node: Option<String>,
    /// How long to keep trying before giving up.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
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

/// `troupe status --config FILE [--json]`.
#[derive(Args, Debug)]
pub struct StatusArgs {
    /// The cluster configuration.
    #[arg(long)]
    config: PathBuf,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

fn clerk(config: &ClusterConfig) -> Result<RemoteClerk> {
    // A fresh random client id: no other client of the cluster, before or after, has it.
    let mut bytes = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
    troupe::deploy::clerk(config, ClientId::from_random_bytes(bytes))
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Runs one operation; exit 0 only if it took effect.
pub fn kv(args: KvArgs) -> Result<ExitCode> {
    let config = ClusterConfig::load(&args.config)?;
    let mut clerk = clerk(&config)?;
    if let Some(node) = &args.node {
        clerk.prefer(config.node(node)?.0);
    }
    let op = match args.op {
        KvCommand::Get { key, local: true } => {
            let Some(node) = &args.node else {
                bail!("get --local reads one node's replica: name it with --node");
            };
            let node = config.node(node)?.0;
            let value = runtime()?.block_on(clerk.read_local(node, &key))?;
            println!("{value}");
            return Ok(ExitCode::SUCCESS);
        }
        KvCommand::Get { key, local: false } => KvOp::Get { key },
        KvCommand::Put { key, value } => KvOp::Put { key, value },
        KvCommand::Append { key, value } => KvOp::Append { key, value },
    };
    let is_get = matches!(op, KvOp::Get { .. });
    let outcome = runtime()?.block_on(clerk.run(op, args.timeout));
    match outcome {
        Outcome::Done(value) => {
            if is_get {
                println!("{}", value.unwrap_or_default());
            } else {
                println!("ok");
            }
            Ok(ExitCode::SUCCESS)
        }
        Outcome::NotApplied => {
            eprintln!(
                "troupe: no node accepted the operation within {:?}; it did not take effect",
                args.timeout
            );
            Ok(ExitCode::FAILURE)
        }
        Outcome::Unknown => {
            eprintln!(
                "troupe: the operation was not confirmed within {:?}; it may or may not have taken effect",
                args.timeout
            );
            Ok(ExitCode::FAILURE)
        }
    }
}

/// Prints every node's role and reachability: for a key-value cluster its Raft role, term and
/// commit index; for a chain cluster its place in each chain, the epoch, and its manager role.
pub fn status(args: StatusArgs) -> Result<()> {
    let config = ClusterConfig::load(&args.config)?;
    let mut clerk = clerk(&config)?;
    clerk.attempt_timeout = Duration::from_secs(1);
    let ids = config
        .nodes
        .iter()
        .map(|n| Ok(n.id.parse::<NodeId>()?))
        .collect::<Result<Vec<_>>>()?;
    if config.system == "chain" {
        return chain_status(clerk, &ids, args.json);
    }
    let statuses = runtime()?.block_on(async {
        let mut statuses = Vec::new();
        for id in &ids {
            statuses.push((*id, clerk.status(*id).await));
        }
        statuses
    });
    if args.json {
        let nodes: Vec<serde_json::Value> = statuses
            .iter()
            .map(|(id, status)| match status {
                Ok(s) => serde_json::json!({
                    "id": id.to_string(),
                    "role": role_name(s.role),
                    "term": s.term,
                    "commit_index": s.commit_index,
                    "reachable": true,
                }),
                Err(_) => serde_json::json!({
                    "id": id.to_string(),
                    "role": null,
                    "term": null,
                    "commit_index": null,
                    "reachable": false,
                }),
            })
            .collect();
        println!("{}", serde_json::json!({ "nodes": nodes }));
    } else {
        println!(
            "{:<6} {:<10} {:>6} {:>12}  reachable",
            "node", "role", "term", "commit"
        );
        for (id, status) in &statuses {
            match status {
                Ok(s) => println!(
                    "{:<6} {:<10} {:>6} {:>12}  yes",
                    id.to_string(),
                    role_name(s.role),
                    s.term,
                    s.commit_index
                ),
                Err(e) => println!(
                    "{:<6} {:<10} {:>6} {:>12}  no ({e})",
                    id.to_string(),
                    "-",
                    "-",
                    "-"
                ),
            }
        }
    }
    Ok(())
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::Leader => "leader",
        Role::Follower => "follower",
    }
}

/// `troupe status` of a chain cluster.
fn chain_status(mut clerk: RemoteClerk, ids: &[NodeId], json: bool) -> Result<()> {
    let statuses = runtime()?.block_on(async {
        let mut statuses = Vec::new();
        for id in ids {
            statuses.push((*id, clerk.chain_status(*id).await));
        }
        statuses
    });
    if json {
        let nodes: Vec<serde_json::Value> = statuses
            .iter()
            .map(|(id, status)| match status {
                Ok(s) => {
                    let chains: Vec<serde_json::Value> = s
                        .chains
                        .iter()
                        .map(|view| match view {
                            Some(v) => serde_json::json!({
                                "role": v.role.name(),
                                "epoch": v.epoch,
                                "applied": v.applied,
                                "committed": v.committed,
                                "synced": v.synced,
                                "leased": v.leased,
                            }),
                            None => serde_json::json!({ "role": "down", "epoch": null }),
                        })
                        .collect();
                    // Chain 0's role and epoch stand for the node (null if it reports none).
                    let first = chains.first().cloned().unwrap_or_default();
                    serde_json::json!({
                        "id": id.to_string(),
                        "reachable": true,
                        "role": first["role"],
                        "epoch": first["epoch"],
                        "chains": chains,
                        "manager": s.manager.as_ref().map(|m| serde_json::json!({
                            "role": role_name(m.role),
                            "term": m.term,
                            "commit_index": m.commit_index,
                        })),
                    })
                }
                Err(_) => serde_json::json!({
                    "id": id.to_string(),
                    "reachable": false,
                    "role": "down",
                    "epoch": null,
                    "chains": [],
                    "manager": null,
                }),
            })
            .collect();
        println!(
            "{}",
            serde_json::json!({ "system": "chain", "nodes": nodes })
        );
        return Ok(());
    }
    println!(
        "{:<6} {:<10} {:>6} {:>10} {:>10}  {:<9} reachable",
        "node", "role", "epoch", "applied", "committed", "manager"
    );
    for (id, status) in &statuses {
        match status {
            Ok(s) => {
                let manager = s.manager.as_ref().map_or("-", |m| role_name(m.role));
                for (chain, view) in s.chains.iter().enumerate() {
                    let node = if s.chains.len() > 1 {
                        format!("{id}/{chain}")
                    } else {
                        id.to_string()
                    };
                    match view {
                        Some(v) => println!(
                            "{node:<6} {:<10} {:>6} {:>10} {:>10}  {manager:<9} yes",
                            v.role.name(),
                            v.epoch,
                            v.applied,
                            v.committed
                        ),
                        None => println!(
                            "{node:<6} {:<10} {:>6} {:>10} {:>10}  {manager:<9} yes (chain node not answering)",
                            "down", "-", "-", "-"
                        ),
                    }
                }
            }
            Err(e) => println!(
                "{:<6} {:<10} {:>6} {:>10} {:>10}  {:<9} no ({e})",
                id.to_string(),
                "down",
                "-",
                "-",
                "-",
                "-"
            ),
        }
    }
    Ok(())
}
