//! `troupe status` of a VM-FT cluster: each node's VM host as primary, backup or spare (down if
//! the node cannot be reached, with the reason), its generation, log index and instruction
//! count, and its storage replica's Raft role and term.

use super::client::{describe, runtime};
use super::status::role_name;
use anyhow::Result;
use std::net::SocketAddr;
use troupe_actors::kv::remote::RemoteClerk;
use troupe_messages::vmft::VmftRole;
use troupe_messages::NodeId;

/// Prints the status of a VM-FT cluster's `nodes`; whether a reachable node runs the primary.
pub fn show(mut clerk: RemoteClerk, nodes: &[(NodeId, SocketAddr)], json: bool) -> Result<bool> {
    let statuses = runtime()?.block_on(async {
        let mut statuses = Vec::new();
        for (id, _) in nodes {
            statuses.push((*id, clerk.vmft_status(*id).await));
        }
        statuses
    });
    let serving = statuses.iter().any(|(_, status)| {
        status
            .as_ref()
            .is_ok_and(|s| s.host.as_ref().is_some_and(|h| h.role == VmftRole::Primary))
    });
    if json {
        let nodes: Vec<serde_json::Value> = statuses
            .iter()
            .map(|(id, status)| match status {
                Ok(s) => {
                    let host = s.host.as_ref();
                    serde_json::json!({
                        "id": id.to_string(),
                        "reachable": true,
                        // A host that did not answer (or a node without one) shows as down.
                        "role": host.map_or("down", |h| h.role.name()),
                        "generation": host.map(|h| h.generation),
                        "log_index": host.map(|h| h.log_index),
                        "count": host.map(|h| h.count),
                        "backup": host.and_then(|h| h.backup).map(|b| b.to_string()),
                        "replicated": host.map(|h| h.replicated),
                        "storage": s.storage.as_ref().map(|r| serde_json::json!({
                            "role": role_name(r.role),
                            "term": r.term,
                            "commit_index": r.commit_index,
                        })),
                    })
                }
                Err(e) => serde_json::json!({
                    "id": id.to_string(),
                    "reachable": false,
                    "role": "down",
                    "generation": null,
                    "log_index": null,
                    "count": null,
                    "backup": null,
                    "replicated": null,
                    "storage": null,
                    "error": describe(e),
                }),
            })
            .collect();
        println!(
            "{}",
            serde_json::json!({ "system": "vmft", "nodes": nodes })
        );
        return Ok(serving);
    }
    println!(
        "{:<6} {:<8} {:>10} {:>10} {:>14}  {:<9} {:>6}  reachable",
        "node", "role", "generation", "log", "instructions", "storage", "term"
    );
    for (id, status) in &statuses {
        match status {
            Ok(s) => {
                let (storage, term) = s.storage.as_ref().map_or(("-", "-".to_string()), |r| {
                    (role_name(r.role), r.term.to_string())
                });
                match &s.host {
                    Some(h) => println!(
                        "{:<6} {:<8} {:>10} {:>10} {:>14}  {storage:<9} {term:>6}  yes",
                        id.to_string(),
                        h.role.name(),
                        h.generation,
                        h.log_index,
                        h.count
                    ),
                    None => println!(
                        "{:<6} {:<8} {:>10} {:>10} {:>14}  {storage:<9} {term:>6}  yes (no VM host answering)",
                        id.to_string(),
                        "down",
                        "-",
                        "-",
                        "-"
                    ),
                }
            }
            Err(e) => println!(
                "{:<6} {:<8} {:>10} {:>10} {:>14}  {:<9} {:>6}  no ({})",
                id.to_string(),
                "down",
                "-",
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
