//! The troupe side of `troupe bench raft-kv --real`: 3 `troupe node` processes of this very
//! executable on loopback, with data (fsynced) in a scratch directory, and their clerks.

use anyhow::{bail, Context as _, Result};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use troupe::config::ClusterConfig;
use troupe_actors::kv::remote::RemoteClerk;
use troupe_messages::client::Role;
use troupe_messages::NodeId;

/// Node processes of the troupe cluster under test; dropped, they are killed.
pub struct Nodes {
    config_path: PathBuf,
    config: ClusterConfig,
    children: Vec<Option<Child>>,
}

impl Nodes {
    /// Starts the 3 node processes with a fresh configuration and data in `dir`.
    pub fn start(dir: &Path) -> Result<Nodes> {
        let _ = std::fs::remove_dir_all(dir);
        let config = ClusterConfig::local("raft-kv", 3)?;
        let config_path = config.write_to(dir)?;
        let config = ClusterConfig::load(&config_path)?;
        let mut nodes = Nodes {
            config_path,
            config,
            children: vec![None, None, None],
        };
        for i in 0..3 {
            nodes.spawn(i)?;
        }
        Ok(nodes)
    }

    /// Starts (or restarts) the process of the node at position `i`.
    pub fn spawn(&mut self, i: usize) -> Result<()> {
        let exe = std::env::current_exe()?;
        let child = Command::new(exe)
            .args(["node", "--id", &self.config.nodes[i].id, "--config"])
            .arg(&self.config_path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start a node process")?;
        self.children[i] = Some(child);
        Ok(())
    }

    /// Kills a node's process with SIGKILL.
    pub fn kill(&mut self, node: NodeId) {
        if let Some(mut child) = self.children[node.0 as usize - 1].take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// A clerk of the cluster with client id `id`.
    pub fn clerk(&self, id: u64) -> Result<RemoteClerk> {
        troupe::deploy::clerk(&self.config, id)
    }

    /// Polls until a node reports itself leader.
    pub async fn leader(&self, within: Duration) -> Result<NodeId> {
        Ok(self.leader_and_term(within).await?.0)
    }

    /// Polls until a node reports itself leader: that node and its term.
    pub async fn leader_and_term(&self, within: Duration) -> Result<(NodeId, u64)> {
        let mut clerk = self.clerk(u64::MAX)?;
        clerk.attempt_timeout = Duration::from_millis(300);
        let start = Instant::now();
        while start.elapsed() < within {
            if let Some(leader) = clerk.find_leader().await {
                if let Ok(status) = clerk.status(leader).await {
                    if status.role == Role::Leader {
                        return Ok((leader, status.term));
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        bail!("no troupe leader within {within:?}")
    }
}

impl Drop for Nodes {
    fn drop(&mut self) {
        for child in self.children.iter_mut().flatten() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
