//! `troupe status`: every node's role and reachability, by the id the configuration gives it,
//! with the reason a node could not be reached. It exits 1 when the cluster cannot serve: no
//! reachable node leads (raft-kv), none has a place in a chain that serves (chain), none
//! runs the VM's primary (vmft), no master replica serves (gfs), or no server leads (zk).

use super::client::{clerk, describe, nodes, runtime};
use anyhow::Result;
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use troupe::config::ClusterConfig;
use troupe_messages::client::{NodeStatus, Role};
use troupe_messages::NodeId;

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

/// Prints every node's role and reachability: for a key-value cluster its Raft role, term and
/// commit index; for a chain cluster its place in each chain, the epoch, and its manager role;
/// for a VM-FT cluster its VM host's role, generation and log, and its storage replica's role;
/// for a GFS cluster its roles, its master replica's and chunkserver's state; for a ZooKeeper
/// cluster each server's role, term, last zxid, snapshot, sessions and connections.
/// Exit 0 if the cluster can serve, 1 if no reachable node can.
pub fn status(args: StatusArgs) -> Result<ExitCode> {
    let config = ClusterConfig::load(&args.config)?;
    let mut clerk = clerk(&config)?;
    clerk.attempt_timeout = Duration::from_secs(1);
    let nodes = nodes(&config)?;
    let serving = if config.system == "chain" {
        super::chain_status::show(clerk, &nodes, args.json)?
    } else if config.system == "vmft" {
        super::vmft_status::show(clerk, &nodes, args.json)?
    } else if config.system == "gfs" {
        super::gfs_status::show(&config, clerk, &nodes, args.json)?
    } else if config.system == "zk" {
        super::zk_status::show(clerk, &nodes, args.json)?
    } else {
        let statuses = runtime()?.block_on(async {
            let mut statuses = Vec::new();
            for (id, _) in &nodes {
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
                    Err(e) => serde_json::json!({
                        "id": id.to_string(),
                        "role": null,
                        "term": null,
                        "commit_index": null,
                        "reachable": false,
                        "error": describe(e),
                    }),
                })
                .collect();
            println!("{}", serde_json::json!({ "nodes": nodes }));
        } else {
            print_table(&statuses);
        }
        statuses
            .iter()
            .any(|(_, s)| s.as_ref().is_ok_and(|s| s.role == Role::Leader))
    };
    if serving {
        return Ok(ExitCode::SUCCESS);
    }
    let what = if config.system == "chain" {
        "no reachable node serves in a chain"
    } else if config.system == "vmft" {
        "no reachable node runs the VM's primary"
    } else if config.system == "gfs" {
        "no reachable master replica serves"
    } else {
        "no reachable node leads"
    };
    eprintln!("troupe: {what}: the cluster cannot serve clients now");
    Ok(ExitCode::FAILURE)
}

/// The table of a key-value cluster.
fn print_table(statuses: &[(NodeId, troupe_runtime::Result<NodeStatus>)]) {
    println!(
        "{:<6} {:<10} {:>6} {:>12}  reachable",
        "node", "role", "term", "commit"
    );
    for (id, status) in statuses {
        match status {
            Ok(s) => println!(
                "{:<6} {:<10} {:>6} {:>12}  yes",
                id.to_string(),
                role_name(s.role),
                s.term,
                s.commit_index
            ),
            Err(e) => println!(
                "{:<6} {:<10} {:>6} {:>12}  no ({})",
                id.to_string(),
                "-",
                "-",
                "-",
                describe(e)
            ),
        }
    }
}

/// A Raft role's name.
pub fn role_name(role: Role) -> &'static str {
    match role {
        Role::Leader => "leader",
        Role::Follower => "follower",
    }
}
