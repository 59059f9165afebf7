//! The troupe side of the real-process benchmarks (`troupe bench raft-kv --real`, `troupe bench
//! chain --real`): 3 `troupe node` processes of this very executable on loopback, with data
//! (fsynced) in a scratch directory, each optionally capped to a share of a CPU, and their
//! clerks.

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
    /// Starts the 3 node processes of a key-value cluster with a fresh configuration and data
    /// in `dir`.
    pub fn start(dir: &Path) -> Result<Nodes> {
        Self::start_cluster(dir, ClusterConfig::local("raft-kv", 3)?, None)
    }

    /// Starts every node of `config` with data in `dir` (emptied first), each process in a
    /// CPU cgroup of its own if `cpu` gives one per node.
    pub fn start_cluster(
        dir: &Path,
        config: ClusterConfig,
        cpu: Option<&CpuCaps>,
    ) -> Result<Nodes> {
        let _ = std::fs::remove_dir_all(dir);
        let config_path = config.write_to(dir)?;
        let config = ClusterConfig::load(&config_path)?;
        let mut nodes = Nodes {
            children: config.nodes.iter().map(|_| None).collect(),
            config_path,
            config,
        };
        for i in 0..nodes.children.len() {
            nodes.spawn(i)?;
            if let (Some(caps), Some(child)) = (cpu, &nodes.children[i]) {
                caps.place(i, child.id())?;
            }
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
            .stderr(Stdio::from(self.log_file(i)?))
            .spawn()
            .context("cannot start a node process")?;
        self.children[i] = Some(child);
        Ok(())
    }

    /// Where the node at position `i` writes its log (its stderr): `<id>.log` beside the
    /// cluster file, appended to across restarts.
    pub fn log_path(&self, i: usize) -> PathBuf {
        let dir = self.config_path.parent().unwrap_or(Path::new("."));
        dir.join(format!("{}.log", self.config.nodes[i].id))
    }

    fn log_file(&self, i: usize) -> Result<std::fs::File> {
        let path = self.log_path(i);
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("cannot open {}", path.display()))
    }

    /// Kills a node's process with SIGKILL.
    pub fn kill(&mut self, node: NodeId) {
        if let Some(mut child) = self.children[node.0 as usize - 1].take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The cluster's configuration (its nodes' addresses).
    pub fn config(&self) -> &ClusterConfig {
        &self.config
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

/// One cgroup (v1 cpu controller) per node process, each capped to `share` of a CPU, so that
/// processes on one machine compete as separate machines would not: each has its own budget.
pub struct CpuCaps {
    groups: Vec<PathBuf>,
}

impl CpuCaps {
    /// Makes `nodes` cgroups named `prefix-<i>` under /sys/fs/cgroup/cpu, each capped to
    /// `share` of a CPU; an error if the cpu controller is not there or not writable.
    pub fn new(prefix: &str, nodes: usize, share: f64) -> Result<CpuCaps> {
        let root = Path::new("/sys/fs/cgroup/cpu");
        let period = 100_000u64;
        let quota = (share * period as f64).round() as u64;
        let mut groups = Vec::new();
        for i in 0..nodes {
            let group = root.join(format!("{prefix}-{i}"));
            std::fs::create_dir_all(&group)
                .with_context(|| format!("cannot make the cgroup {}", group.display()))?;
            std::fs::write(group.join("cpu.cfs_period_us"), period.to_string())?;
            std::fs::write(group.join("cpu.cfs_quota_us"), quota.to_string())
                .with_context(|| format!("cannot cap {}", group.display()))?;
            groups.push(group);
        }
        Ok(CpuCaps { groups })
    }

    /// Node `i`'s enforcement periods so far and how many of them hit the cap (from its
    /// cgroup's cpu.stat), if readable.
    pub fn throttling(&self, i: usize) -> Option<(u64, u64)> {
        let stat = std::fs::read_to_string(self.groups[i].join("cpu.stat")).ok()?;
        let field = |name: &str| {
            stat.lines()
                .find_map(|l| l.strip_prefix(name)?.trim().parse::<u64>().ok())
        };
        Some((field("nr_periods ")?, field("nr_throttled ")?))
    }

    /// Moves process `pid` (every thread of it) into node `i`'s cgroup.
    pub fn place(&self, i: usize, pid: u32) -> Result<()> {
        let procs = self.groups[i].join("cgroup.procs");
        std::fs::write(&procs, pid.to_string())
            .with_context(|| format!("cannot move {pid} into {}", procs.display()))
    }
}

/// The CPU caps of one system under test in benchmark `bench`: `nodes` cgroups of
/// `cpu_per_node` of a CPU each, or none when `cpu_per_node` is 0 (uncapped). Declare them
/// before the processes they hold, so that they are dropped after them.
pub fn caps_for(
    bench: &str,
    system: &str,
    nodes: usize,
    cpu_per_node: f64,
) -> Result<Option<CpuCaps>> {
    if cpu_per_node <= 0.0 {
        return Ok(None);
    }
    let prefix = format!("troupe-bench-{bench}-{system}-{}", std::process::id());
    CpuCaps::new(&prefix, nodes, cpu_per_node)
        .map(Some)
        .context("capping each node's CPU needs the cgroup v1 cpu controller and root; --cpu-per-node 0 runs uncapped")
}

/// How a benchmark's conditions line says what `cpu_per_node` did.
pub fn describe_caps(cpu_per_node: f64) -> String {
    if cpu_per_node > 0.0 {
        format!("each capped to {cpu_per_node} of a CPU by a cgroup of its own")
    } else {
        "uncapped (all sharing the machine)".into()
    }
}

/// The scratch directory of `system` in benchmark `bench`, unique to this process.
pub fn scratch_dir(bench: &str, system: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "troupe-bench-{bench}-{system}-{}",
        std::process::id()
    ))
}

impl Drop for CpuCaps {
    fn drop(&mut self) {
        // A cgroup can be removed once its processes are gone (the nodes are killed first).
        for group in &self.groups {
            let _ = std::fs::remove_dir(group);
        }
    }
}

impl Nodes {
    /// Kills every node process (SIGKILL) and reaps it.
    pub fn stop(&mut self) {
        for child in self.children.iter_mut().filter_map(Option::take) {
            let mut child = child;
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Nodes {
    fn drop(&mut self) {
        self.stop();
    }
}
