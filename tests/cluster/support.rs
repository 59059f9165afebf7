//! A cluster of `troupe node` processes for tests: started from `troupe cluster init`, each
//! node's stderr in a file of its own, killed with SIGKILL however the test ends.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};
use troupe::config::ClusterConfig;
use troupe_actors::kv::remote::RemoteClerk;
use troupe_messages::client::Role;
use troupe_messages::NodeId;

/// The `troupe` binary under test.
pub fn troupe() -> Command {
    Command::new(env!("CARGO_BIN_EXE_troupe"))
}

/// Node processes of one cluster.
pub struct Processes {
    pub dir: PathBuf,
    pub config_path: PathBuf,
    pub config: ClusterConfig,
    children: BTreeMap<NodeId, Child>,
    starts: BTreeMap<NodeId, u32>,
}

impl Processes {
    /// Writes a config for `nodes` nodes in a fresh directory named after `name`.
    pub fn init(name: &str, nodes: u32) -> Processes {
        Self::init_with(name, nodes, &[])
    }

    /// The same, with more arguments for `troupe cluster init` (such as `--tls`).
    pub fn init_with(name: &str, nodes: u32, extra: &[&str]) -> Processes {
        let dir = std::env::temp_dir().join(format!("troupe-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let out = troupe()
            .args(["cluster", "init", "--nodes", &nodes.to_string(), "--dir"])
            .arg(&dir)
            .args(extra)
            .output()
            .expect("troupe runs");
        assert!(out.status.success(), "cluster init failed: {out:?}");
        let config_path = dir.join("cluster.toml");
        let config = ClusterConfig::load(&config_path).expect("the config reads");
        Processes {
            dir,
            config_path,
            config,
            children: BTreeMap::new(),
            starts: BTreeMap::new(),
        }
    }

    /// Every node's id.
    pub fn ids(&self) -> Vec<NodeId> {
        (1..=self.config.nodes.len() as u32).map(NodeId).collect()
    }

    /// Starts node `id`; its stderr goes to `stderr_of(id)` (a new file per start).
    pub fn start(&mut self, id: NodeId) {
        let n = self.starts.entry(id).or_default();
        *n += 1;
        let log = std::fs::File::create(self.dir.join(format!("{id}.{n}.stderr"))).expect("log");
        let child = troupe()
            .args(["node", "--id", &id.to_string(), "--config"])
            .arg(&self.config_path)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("troupe node starts");
        self.children.insert(id, child);
    }

    /// What node `id` printed on stderr in its latest start.
    pub fn stderr_of(&self, id: NodeId) -> String {
        let n = self.starts.get(&id).copied().unwrap_or(0);
        std::fs::read_to_string(self.dir.join(format!("{id}.{n}.stderr"))).unwrap_or_default()
    }

    /// SIGKILL.
    pub fn kill(&mut self, id: NodeId) {
        if let Some(mut child) = self.children.remove(&id) {
            child.kill().expect("kill");
            child.wait().expect("reap");
        }
    }

    /// Panics if a node that should run has exited.
    pub fn assert_running(&mut self) {
        for (id, child) in &mut self.children {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("node {id} exited ({status})");
            }
        }
    }

    /// Reads the configuration again (after a new `cluster init` in the same directory).
    pub fn reload(&mut self) {
        self.config = ClusterConfig::load(&self.config_path).expect("the config reads");
    }

    /// `troupe kv --config ... ARGS` (with `--timeout 1s` before them), retried until it
    /// succeeds; what it printed last.
    pub fn kv_until_ok(&self, args: &[&str], within: Duration) -> String {
        let start = Instant::now();
        loop {
            let out = troupe()
                .args(["kv", "--timeout", "1s", "--config"])
                .arg(&self.config_path)
                .args(args)
                .output()
                .expect("troupe kv runs");
            if out.status.success() {
                let stdout = String::from_utf8_lossy(&out.stdout);
                return stdout.lines().last().unwrap_or_default().to_string();
            }
            assert!(
                start.elapsed() < within,
                "kv {args:?} did not succeed within {within:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }

    /// Node `id`'s data directory.
    pub fn data_dir(&self, id: NodeId) -> PathBuf {
        self.config.data_dir_of(id)
    }

    /// `troupe kv --node NODE --config ... get KEY`: the value it prints (it must succeed).
    pub fn kv_get_via(&self, node: &str, key: &str) -> String {
        let out = troupe()
            .args(["kv", "--node", node, "--config"])
            .arg(&self.config_path)
            .args(["get", key])
            .output()
            .expect("troupe kv runs");
        assert!(out.status.success(), "{out:?}");
        let stdout = String::from_utf8_lossy(&out.stdout);
        stdout.lines().last().unwrap_or_default().to_string()
    }

    /// `troupe status --json --config ...`: the JSON it prints.
    pub fn status_json(&self) -> serde_json::Value {
        let out = troupe()
            .args(["status", "--json", "--config"])
            .arg(&self.config_path)
            .output()
            .expect("troupe status runs");
        serde_json::from_slice(&out.stdout).expect("status prints JSON")
    }

    /// A clerk over every node's client port.
    pub fn clerk(&self, client: u64) -> RemoteClerk {
        troupe::deploy::clerk(&self.config, client).expect("a clerk")
    }

    /// Polls until some running node reports itself leader; returns it.
    pub async fn leader(&mut self, within: Duration) -> NodeId {
        self.assert_running();
        let running: Vec<NodeId> = self.children.keys().copied().collect();
        leader_among(&mut self.clerk(u64::MAX), &running, within).await
    }

    /// Polls until every node's own replica holds `expected` (key -> value).
    pub async fn wait_replicated(&self, expected: &BTreeMap<String, String>, within: Duration) {
        let mut clerk = self.clerk(u64::MAX - 1);
        clerk.attempt_timeout = Duration::from_secs(1);
        let start = Instant::now();
        for id in self.ids() {
            let mut missing: Vec<(&String, &String)> = expected.iter().collect();
            while !missing.is_empty() {
                let mut still = Vec::new();
                for (key, value) in missing {
                    if clerk.read_local(id, key).await.ok().as_ref() != Some(value) {
                        still.push((key, value));
                    }
                }
                missing = still;
                assert!(
                    start.elapsed() < within,
                    "node {id} still lacks {} acknowledged writes after {within:?}, e.g. {:?}",
                    missing.len(),
                    missing.first()
                );
            }
        }
    }
}

impl Drop for Processes {
    fn drop(&mut self) {
        for child in self.children.values_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Polls `nodes` until one reports itself leader; returns it.
pub async fn leader_among(clerk: &mut RemoteClerk, nodes: &[NodeId], within: Duration) -> NodeId {
    clerk.attempt_timeout = Duration::from_millis(500);
    let start = Instant::now();
    loop {
        for &id in nodes {
            if let Ok(status) = clerk.status(id).await {
                if status.role == Role::Leader {
                    return id;
                }
            }
        }
        assert!(start.elapsed() < within, "no leader within {within:?}");
        tokio::task::yield_now().await;
    }
}

/// Waits for `child` to exit, polling until `within` has passed; kills it and panics if it
/// has not exited by then. Returns its exit status and what it wrote to stderr (if piped).
pub fn exit_within(mut child: Child, within: Duration, what: &str) -> (ExitStatus, String) {
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if start.elapsed() > within {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not exit within {within:?}");
        }
        std::thread::yield_now();
    };
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut pipe, &mut stderr);
    }
    (status, stderr)
}

/// The newest log file of a node's data directory.
pub fn newest_log(dir: &Path) -> PathBuf {
    std::fs::read_dir(dir)
        .expect("data dir")
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let generation: u64 = name.strip_prefix("log.")?.parse().ok()?;
            Some((generation, e.path()))
        })
        .max()
        .map(|(_, path)| path)
        .expect("a log file")
}

/// A current-thread runtime for a test's client side.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Sends each line of `from` into `to` (a reader thread, e.g. for a child's stdout).
pub fn forward_lines(
    from: impl std::io::Read + Send + 'static,
    to: std::sync::mpsc::Sender<String>,
) {
    use std::io::BufRead as _;
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(from).lines().map_while(Result::ok) {
            if to.send(line).is_err() {
                return;
            }
        }
    });
}
