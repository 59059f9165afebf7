//! `troupe status` of a ZooKeeper cluster: each server's Raft role and term, the last zxid its
//! replica applied, its snapshot, the live sessions and its own client connections. A server
//! that cannot be reached is down, with the reason.

use super::client::{describe, runtime};
use super::status::role_name;
use anyhow::Result;
use std::net::SocketAddr;
use troupe_actors::kv::remote::RemoteClerk;
use troupe_messages::client::{Role, ZkNodeStatus};
use troupe_messages::NodeId;

/// Prints the status of a ZooKeeper cluster's `nodes`; whether a reachable server leads.
pub fn show(mut clerk: RemoteClerk, nodes: &[(NodeId, SocketAddr)], json: bool) -> Result<bool> {
    let rows: Vec<(NodeId, troupe_runtime::Result<ZkNodeStatus>)> = runtime()?.block_on(async {
        let mut rows = Vec::new();
        for (id, _) in nodes {
            rows.push((*id, clerk.zk_status(*id).await));
        }
        rows
    });
    if json {
        let nodes: Vec<serde_json::Value> = rows
            .iter()
            .map(|(id, status)| match status {
                Ok(s) => serde_json::json!({
                    "id": id.to_string(),
                    "role": role_name(s.raft.role),
                    "term": s.raft.term,
                    "last_zxid": s.server.last_zxid,
                    "snapshot_index": s.snapshot_index,
                    "sessions": s.server.sessions,
                    "connections": s.server.connections,
                    "znodes": s.server.znodes,
                    "reachable": true,
                }),
                Err(e) => serde_json::json!({
                    "id": id.to_string(),
                    "role": null,
                    "reachable": false,
                    "error": describe(e),
                }),
            })
            .collect();
        println!("{}", serde_json::json!({ "nodes": nodes }));
    } else {
        println!(
            "{:<6} {:<10} {:>6} {:>10} {:>9} {:>8} {:>6} {:>7}  reachable",
            "node", "role", "term", "last zxid", "snapshot", "sessions", "conns", "znodes"
        );
        for (id, status) in &rows {
            match status {
                Ok(s) => println!(
                    "{:<6} {:<10} {:>6} {:>10} {:>9} {:>8} {:>6} {:>7}  yes",
                    id.to_string(),
                    role_name(s.raft.role),
                    s.raft.term,
                    s.server.last_zxid,
                    s.snapshot_index,
                    s.server.sessions,
                    s.server.connections,
                    s.server.znodes
                ),
                Err(e) => println!(
                    "{:<6} {:<10} {:>6} {:>10} {:>9} {:>8} {:>6} {:>7}  no ({})",
                    id.to_string(),
                    "-",
                    "-",
                    "-",
                    "-",
                    "-",
                    "-",
                    "-",
                    describe(e)
                ),
            }
        }
    }
    Ok(rows
        .iter()
        .any(|(_, s)| s.as_ref().is_ok_and(|s| s.raft.role == Role::Leader)))
}
