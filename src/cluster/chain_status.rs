//! `troupe status` of a chain cluster: each node's place in each chain, the epoch, and its
//! manager role; a node that cannot be reached shows as down, with the reason.

use super::client::{describe, runtime};
use super::status::role_name;
use anyhow::Result;
use std::net::SocketAddr;
use troupe_actors::kv::remote::RemoteClerk;
use troupe_messages::chain::ChainRole;
use troupe_messages::NodeId;

/// Prints the status of a chain cluster's `nodes`; whether a reachable node serves in a chain.
pub fn show(mut clerk: RemoteClerk, nodes: &[(NodeId, SocketAddr)], json: bool) -> Result<bool> {
    let statuses = runtime()?.block_on(async {
        let mut statuses = Vec::new();
        for (id, _) in nodes {
            statuses.push((*id, clerk.chain_status(*id).await));
        }
        statuses
    });
    let serving = statuses.iter().any(|(_, status)| {
        status
            .as_ref()
            .is_ok_and(|s| s.chains.iter().flatten().any(|view| serves(view.role)))
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
                Err(e) => serde_json::json!({
                    "id": id.to_string(),
                    "reachable": false,
                    "role": "down",
                    "epoch": null,
                    "chains": [],
                    "manager": null,
                    "error": describe(e),
                }),
            })
            .collect();
        println!(
            "{}",
            serde_json::json!({ "system": "chain", "nodes": nodes })
        );
        return Ok(serving);
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
                "{:<6} {:<10} {:>6} {:>10} {:>10}  {:<9} no ({})",
                id.to_string(),
                "down",
                "-",
                "-",
                "-",
                "-",
                describe(e)
            ),
        }
    }
    Ok(serving)
}

/// Whether a chain node in `role` serves clients (a joining node, or one in no chain, does not).
fn serves(role: ChainRole) -> bool {
    matches!(
        role,
        ChainRole::Head | ChainRole::Middle | ChainRole::Tail | ChainRole::Alone
    )
}
