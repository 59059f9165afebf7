//! `troupe status` of a GFS cluster: each node's roles (master replica, chunkserver), whether
//! its master replica leads and serves, how many chunks its chunkserver holds, and, from the
//! serving master, the live chunkservers and the chunks short of replicas. A node that cannot
//! be reached is down, with the reason.

use super::client::{describe, runtime};
use anyhow::Result;
use std::net::SocketAddr;
use troupe::config::ClusterConfig;
use troupe_actors::kv::remote::RemoteClerk;
use troupe_messages::client::GfsNodeStatus;
use troupe_messages::NodeId;

/// What one node answered, with the roles the configuration gives it.
struct Row {
    id: NodeId,
    roles: Vec<&'static str>,
    status: Result<GfsNodeStatus, String>,
}

impl Row {
    /// The node's role now: `master-leader` (its master replica serves), `master` (a master
    /// replica that does not lead), `chunkserver`, or `down` (unreachable, or no role of it
    /// answered).
    fn role(&self) -> &'static str {
        let Ok(status) = &self.status else {
            return "down";
        };
        match (&status.master, &status.chunkserver) {
            (Some(master), _) if master.serving => "master-leader",
            (Some(_), _) => "master",
            (None, Some(_)) => "chunkserver",
            (None, None) => "down",
        }
    }

    /// How many chunks its chunkserver holds, if it answered.
    fn chunks(&self) -> Option<usize> {
        let status = self.status.as_ref().ok()?;
        Some(status.chunkserver.as_ref()?.chunks.len())
    }
}

/// Prints the status of a GFS cluster's `nodes`; whether a reachable master replica serves.
pub fn show(
    config: &ClusterConfig,
    mut clerk: RemoteClerk,
    nodes: &[(NodeId, SocketAddr)],
    json: bool,
) -> Result<bool> {
    let masters = config.nodes_with_role("master")?;
    let chunkservers = config.nodes_with_role("chunkserver")?;
    let rows: Vec<Row> = runtime()?.block_on(async {
        let mut rows = Vec::new();
        for (id, _) in nodes {
            let mut roles = Vec::new();
            if masters.contains(id) {
                roles.push("master");
            }
            if chunkservers.contains(id) {
                roles.push("chunkserver");
            }
            let status = clerk.gfs_status(*id).await.map_err(|e| describe(&e));
            rows.push(Row {
                id: *id,
                roles,
                status,
            });
        }
        rows
    });
    let leader = rows.iter().find_map(|row| {
        let master = row.status.as_ref().ok()?.master.as_ref()?;
        master.serving.then_some((row.id, master))
    });
    if json {
        let nodes: Vec<serde_json::Value> = rows
            .iter()
            .map(|row| {
                let master = row.status.as_ref().ok().and_then(|s| s.master.as_ref());
                let mut node = serde_json::json!({
                    "id": row.id.to_string(),
                    "roles": row.roles,
                    "role": row.role(),
                    "reachable": row.status.is_ok(),
                    "serving": master.map(|m| m.serving),
                    "chunks": row.chunks(),
                });
                if let Some(m) = master.filter(|m| m.serving) {
                    node["files"] = m.files.into();
                    node["master_chunks"] = m.chunks.into();
                    node["live_servers"] = m.live_servers.len().into();
                    node["under_replicated"] = m.under_replicated.into();
                }
                if let Err(e) = &row.status {
                    node["error"] = e.clone().into();
                }
                node
            })
            .collect();
        let mut out = serde_json::json!({ "system": "gfs", "nodes": nodes });
        if let Some((id, master)) = leader {
            out["master"] = serde_json::json!({
                "leader": id.to_string(),
                "files": master.files,
                "chunks": master.chunks,
                "live_servers": master.live_servers.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
                "under_replicated": master.under_replicated,
            });
        }
        println!("{out}");
        return Ok(leader.is_some());
    }
    println!(
        "{:<6} {:<20} {:<14} {:>7}  reachable",
        "node", "roles", "role", "chunks"
    );
    for row in &rows {
        let chunks = row.chunks().map_or("-".to_string(), |n| n.to_string());
        let reachable = match &row.status {
            Ok(_) => "yes".to_string(),
            Err(e) => format!("no ({e})"),
        };
        println!(
            "{:<6} {:<20} {:<14} {chunks:>7}  {reachable}",
            row.id.to_string(),
            row.roles.join(","),
            row.role()
        );
    }
    match leader {
        Some((id, master)) => println!(
            "master: {id} serves; {} files, {} chunks, {} live chunkservers, {} chunks \
             under-replicated",
            master.files,
            master.chunks,
            master.live_servers.len(),
            master.under_replicated
        ),
        None => println!("master: no reachable replica serves"),
    }
    Ok(leader.is_some())
}
