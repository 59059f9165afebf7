//! `troupe bench raft-kv --real`: the key-value service as 3 real node processes on loopback
//! (fsync on), driven through the client port by 1, 16 and 64 concurrent clients putting 256 B
//! values; in the same run, the same workload against a 3-member etcd cluster on the same
//! machine (Debian's etcd-server); then the time from SIGKILL of the leader process to the
//! first acknowledged write, over 20 trials.
//!
//! Every client is a sequential loop (one operation in flight), all clients of a level run as
//! tasks of one thread of the bench process, each with its own connection, for troupe and etcd
//! alike.

use super::etcd::{self, Etcd, EtcdClient};
use anyhow::{bail, Context as _, Result};
use futures_util::future::join_all;
use hdrhistogram::Histogram;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use troupe::config::ClusterConfig;
use troupe_actors::kv::clerk::Outcome;
use troupe_actors::kv::remote::RemoteClerk;
use troupe_messages::kv::KvOp;
use troupe_messages::NodeId;

const VALUE_BYTES: usize = 256;
const LEVELS: [usize; 3] = [1, 16, 64];

#[derive(Serialize, Clone)]
struct Level {
    system: &'static str,
    clients: usize,
    ops: u64,
    failed: u64,
    ops_per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
}

#[derive(Serialize)]
struct Failover {
    trials: usize,
    p50_ms: f64,
    p90_ms: f64,
    max_ms: f64,
    min_ms: f64,
}

/// Node processes of the troupe cluster under test; dropped, they are killed.
struct Nodes {
    config_path: PathBuf,
    config: ClusterConfig,
    children: Vec<Option<Child>>,
}

impl Nodes {
    fn start(dir: &Path) -> Result<Nodes> {
        let _ = std::fs::remove_dir_all(dir);
        let config = ClusterConfig::local(3)?;
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

    fn spawn(&mut self, i: usize) -> Result<()> {
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

    fn kill(&mut self, node: NodeId) {
        if let Some(mut child) = self.children[node.0 as usize - 1].take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn clerk(&self, id: u64) -> Result<RemoteClerk> {
        troupe::deploy::clerk(&self.config, id)
    }

    /// Polls until a node reports itself leader.
    async fn leader(&self, within: Duration) -> Result<NodeId> {
        let mut clerk = self.clerk(u64::MAX)?;
        clerk.attempt_timeout = Duration::from_millis(300);
        let start = Instant::now();
        while start.elapsed() < within {
            if let Some(leader) = clerk.find_leader().await {
                return Ok(leader);
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

/// Latencies of one level, in microseconds.
fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds")
}

fn summarise(
    system: &'static str,
    clients: usize,
    runs: Vec<(Histogram<u64>, u64)>,
    secs: f64,
) -> Level {
    let mut all = histogram();
    let mut failed = 0;
    for (h, f) in runs {
        all.add(h).expect("same bounds");
        failed += f;
    }
    Level {
        system,
        clients,
        ops: all.len(),
        failed,
        ops_per_sec: all.len() as f64 / secs,
        p50_ms: all.value_at_quantile(0.5) as f64 / 1000.0,
        p99_ms: all.value_at_quantile(0.99) as f64 / 1000.0,
    }
}

fn value() -> String {
    "v".repeat(VALUE_BYTES)
}

async fn troupe_level(nodes: &Nodes, clients: usize, run_for: Duration) -> Result<Level> {
    let leader = nodes.leader(Duration::from_secs(10)).await?;
    let mut clerks = Vec::new();
    for c in 0..clients {
        let mut clerk = nodes.clerk(1_000_000 * clients as u64 + c as u64)?;
        clerk.prefer(leader);
        clerks.push(clerk);
    }
    let value = value();
    let end = Instant::now() + run_for;
    let runs = join_all(clerks.iter_mut().enumerate().map(|(c, clerk)| {
        let value = value.clone();
        async move {
            let (mut h, mut failed, mut i) = (histogram(), 0u64, 0u64);
            while Instant::now() < end {
                let op = KvOp::Put {
                    key: format!("c{c}-{}", i % 1000),
                    value: value.clone(),
                };
                let started = Instant::now();
                match clerk.run(op, Duration::from_secs(5)).await {
                    Outcome::Done(_) => h.saturating_record(started.elapsed().as_micros() as u64),
                    _ => failed += 1,
                }
                i += 1;
            }
            (h, failed)
        }
    }))
    .await;
    Ok(summarise("troupe", clients, runs, run_for.as_secs_f64()))
}

async fn etcd_level(cluster: &Etcd, clients: usize, run_for: Duration) -> Result<Level> {
    let leader = cluster.leader().await?;
    let mut conns = Vec::new();
    for _ in 0..clients {
        conns.push(EtcdClient::connect(leader).await?);
    }
    let value = etcd::encode_value(&value());
    let end = Instant::now() + run_for;
    let runs = join_all(conns.iter_mut().enumerate().map(|(c, conn)| {
        let value = value.clone();
        async move {
            let (mut h, mut failed, mut i) = (histogram(), 0u64, 0u64);
            while Instant::now() < end {
                let key = format!("c{c}-{}", i % 1000);
                let started = Instant::now();
                match conn.put(&key, &value).await {
                    Ok(()) => h.saturating_record(started.elapsed().as_micros() as u64),
                    Err(_) => failed += 1,
                }
                i += 1;
            }
            (h, failed)
        }
    }))
    .await;
    Ok(summarise("etcd", clients, runs, run_for.as_secs_f64()))
}

/// Kills the leader process, times the first acknowledged write after it, restarts the node.
async fn failover_trials(nodes: &mut Nodes, trials: usize) -> Result<Failover> {
    let mut times = Vec::new();
    let mut clerk = nodes.clerk(42)?;
    clerk.attempt_timeout = Duration::from_millis(250);
    clerk.round_pause = Duration::from_millis(10);
    for trial in 0..trials {
        let leader = nodes.leader(Duration::from_secs(10)).await?;
        clerk.prefer(leader);
        // The clerk is connected and warm before the kill.
        let warm = KvOp::Put {
            key: "failover".into(),
            value: format!("before {trial}"),
        };
        if !matches!(
            clerk.run(warm, Duration::from_secs(10)).await,
            Outcome::Done(_)
        ) {
            bail!("trial {trial}: the cluster does not serve before the kill");
        }
        nodes.kill(leader);
        let killed = Instant::now();
        let op = KvOp::Put {
            key: "failover".into(),
            value: format!("after {trial}"),
        };
        if !matches!(
            clerk.run(op, Duration::from_secs(30)).await,
            Outcome::Done(_)
        ) {
            bail!("trial {trial}: no write acknowledged within 30 s of the kill");
        }
        times.push(killed.elapsed().as_secs_f64() * 1000.0);
        nodes.spawn(leader.0 as usize - 1)?;
        // The restarted node answers before the next trial.
        let mut probe = nodes.clerk(43)?;
        let start = Instant::now();
        while probe.status(leader).await.is_err() {
            if start.elapsed() > Duration::from_secs(20) {
                bail!("trial {trial}: {leader} did not come back");
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    times.sort_by(f64::total_cmp);
    let at = |p: f64| times[((times.len() - 1) as f64 * p).round() as usize];
    Ok(Failover {
        trials,
        min_ms: at(0.0),
        p50_ms: at(0.5),
        p90_ms: at(0.9),
        max_ms: at(1.0),
    })
}

fn find_etcd(given: Option<PathBuf>) -> Option<PathBuf> {
    given.or_else(|| {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|p| p.join("etcd"))
                .find(|p| p.is_file())
        })
    })
}

/// Runs the whole benchmark.
pub fn run(quick: bool, json: bool, etcd_path: Option<PathBuf>) -> Result<()> {
    let run_for = Duration::from_secs(if quick { 2 } else { 10 });
    let trials = if quick { 3 } else { 20 };
    let etcd_path = find_etcd(etcd_path);
    let scratch = std::env::temp_dir().join(format!("troupe-bench-real-{}", std::process::id()));
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!("# troupe bench raft-kv --real");
    println!(
        "conditions: {cores} cores; 3 node processes on loopback, data in {}, fsync on; \
         puts of {VALUE_BYTES} B values to 1000 keys per client; clients 1, 16, 64 (one op in flight each), \
         {}s per level; failover: SIGKILL of the leader process, {trials} trials",
        scratch.display(),
        run_for.as_secs()
    );
    match &etcd_path {
        Some(p) => println!("baseline: {} ({}), 3 members on loopback, fsync on, v3 JSON gateway over HTTP/1.1", etcd::version(p)?, p.display()),
        None => println!("baseline: etcd not found (install Debian's etcd-server, or pass --etcd PATH): troupe only"),
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let result = runtime.block_on(async {
        let mut levels = Vec::new();
        {
            let nodes = Nodes::start(&scratch.join("troupe"))?;
            nodes.leader(Duration::from_secs(20)).await?;
            for clients in LEVELS {
                levels.push(troupe_level(&nodes, clients, run_for).await?);
            }
        }
        if let Some(path) = &etcd_path {
            let cluster = Etcd::start(path, &scratch.join("etcd")).await?;
            for clients in LEVELS {
                levels.push(etcd_level(&cluster, clients, run_for).await?);
            }
        }
        let mut nodes = Nodes::start(&scratch.join("failover"))?;
        let failover = failover_trials(&mut nodes, trials).await?;
        anyhow::Ok((levels, failover))
    });
    let _ = std::fs::remove_dir_all(&scratch);
    let (levels, failover) = result?;
    report(&levels, &failover, json);
    Ok(())
}

fn report(levels: &[Level], failover: &Failover, json: bool) {
    if json {
        println!(
            "{}",
            serde_json::json!({ "levels": levels, "failover": failover })
        );
        return;
    }
    println!("\n| clients | troupe ops/s | troupe p50 ms | troupe p99 ms | etcd ops/s | etcd p50 ms | etcd p99 ms | throughput troupe/etcd |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|");
    for clients in LEVELS {
        let find = |system| {
            levels
                .iter()
                .find(|l| l.system == system && l.clients == clients)
        };
        let (Some(t), e) = (find("troupe"), find("etcd")) else {
            continue;
        };
        let (e_ops, e_p50, e_p99, ratio) = match e {
            Some(e) => (
                format!("{:.0}", e.ops_per_sec),
                format!("{:.2}", e.p50_ms),
                format!("{:.2}", e.p99_ms),
                format!("{:.2}", t.ops_per_sec / e.ops_per_sec),
            ),
            None => ("-".into(), "-".into(), "-".into(), "-".into()),
        };
        println!(
            "| {clients} | {:.0} | {:.2} | {:.2} | {e_ops} | {e_p50} | {e_p99} | {ratio} |",
            t.ops_per_sec, t.p50_ms, t.p99_ms
        );
    }
    let failed: u64 = levels.iter().map(|l| l.failed).sum();
    if failed > 0 {
        println!("operations that failed (not counted): {failed}");
    }
    println!(
        "\nSIGKILL of the leader -> first acknowledged write ({} trials): min {:.0} ms, p50 {:.0} ms, p90 {:.0} ms, max {:.0} ms",
        failover.trials, failover.min_ms, failover.p50_ms, failover.p90_ms, failover.max_ms
    );
    let at64 = |system| {
        levels
            .iter()
            .find(|l| l.system == system && l.clients == 64)
    };
    if let (Some(t), Some(e)) = (at64("troupe"), at64("etcd")) {
        let met = t.ops_per_sec >= e.ops_per_sec && t.p99_ms <= e.p99_ms;
        println!(
            "goal at 64 clients (throughput >= etcd's, p99 no worse): {}",
            if met { "met" } else { "missed" }
        );
    }
}
