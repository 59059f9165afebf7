//! `troupe bench zk`: troupe's ZooKeeper against Apache ZooKeeper 3.8, in one run, as the
//! ZooKeeper paper measured its own (§5.1, Table 1 and Figure 5): ensembles of `--servers`
//! (3 by default) on loopback, fsync on, and the same load generator for both, speaking
//! ZooKeeper's protocol (troupe's Rust client, `troupe_actors::zk::client`).
//!
//! The load: [`SESSIONS`] sessions spread evenly over the servers, each keeping [`DEPTH`]
//! requests in flight (the paper's clients keep many outstanding), on [`ZNODES`] znodes of
//! 1 KB written first. Reads are getData, writes setData of 1 KB (version -1), so every write
//! goes through the leader and the log. The workloads are shares of reads (`--reads`, in
//! percent): by default 100% reads, 100% writes and 70% reads; a sweep from 0 to 100 traces
//! one curve of the paper's Figure 5. Rounds interleave (troupe, Apache, troupe, ...) so that
//! the machine's noise falls on both alike, after a warm-up of each (the JVM's JIT). Each
//! server process may be capped to a share of a CPU with a cgroup of its own
//! (`--cpu-per-node`), as separate machines would be; the load generator runs in this
//! process, uncapped.
//!
//! The report ([`report`]) gives each system's median ops/s over its rounds (and their range),
//! p50 and p99 latency, and troupe's over Apache's throughput, beside the paper's Table 1.
//! The goal, judged on the medians when both 100% reads and 100% writes ran: beat Apache
//! ZooKeeper on writes and match it on reads (at least 0.9 of its throughput); below it the
//! command fails. The last line is JSON.

mod report;

use super::apache_zk::Ensemble;
use super::compare::{histogram, Measured};
use super::nodes::{caps_for, describe_caps, scratch_dir, Nodes};
use anyhow::{bail, ensure, Context as _, Result};
use hdrhistogram::Histogram;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use troupe::config::ClusterConfig;
use troupe_actors::zk::client::ZkClient;
use troupe_messages::zk::{CreateMode, ZkError};

/// Sessions of the load generator, spread over the servers.
const SESSIONS: usize = 24;
/// Requests each session keeps in flight.
const DEPTH: usize = 8;
/// Znodes read and written.
const ZNODES: usize = 100;
/// Bytes of each znode's data (the paper's 1 KB).
const VALUE: usize = 1024;

/// What to run: the servers of each ensemble and the shares of reads measured.
pub struct Plan {
    /// Servers per ensemble (odd).
    pub servers: usize,
    /// Shares of reads, in percent, in the order measured.
    pub read_percents: Vec<u32>,
}

/// Failed operations by the client's error (its Debug form: `ConnectionLoss`, ...).
type Failures = BTreeMap<String, u64>;

/// One measured round.
#[derive(Serialize, Clone)]
struct ZkRound {
    system: &'static str,
    workload: String,
    read_percent: u32,
    round: usize,
    #[serde(flatten)]
    measured: Measured,
    /// The failed operations (`measured.failed` of them) by error.
    failures: Failures,
}

/// The name of the workload with `reads`% reads: "reads", "writes" or "70/30".
fn workload_name(reads: u32) -> String {
    match reads {
        100 => "reads".into(),
        0 => "writes".into(),
        p => format!("{p}/{}", 100 - p),
    }
}

/// The path of znode `i`.
fn znode(i: usize) -> String {
    format!("/bench/n{i}")
}

/// Creates the znodes (once; those that exist are kept), within `within`.
async fn preload(addrs: &[SocketAddr], within: Duration) -> Result<()> {
    let (zk, _) = ZkClient::connect(addrs.to_vec(), Duration::from_secs(10), within)
        .await
        .map_err(|e| anyhow::anyhow!("no session within {within:?}: {e}"))?;
    let value = vec![b'v'; VALUE];
    let mut paths = vec!["/bench".to_string()];
    paths.extend((0..ZNODES).map(znode));
    for path in paths {
        match zk.create(&path, &value, CreateMode::PERSISTENT).await {
            Ok(_) | Err(ZkError::NodeExists) => {}
            Err(e) => bail!("cannot create {path}: {e}"),
        }
    }
    let _ = zk.close().await;
    Ok(())
}

/// One round of `reads`% getData and the rest setData against `addrs`, for `run_for`: each
/// request's latency (µs) and the failures, and the seconds it took.
async fn round(
    addrs: &[SocketAddr],
    reads: u32,
    run_for: Duration,
    seed: u64,
) -> Result<(Histogram<u64>, Failures, f64)> {
    let mut sessions = Vec::new();
    for s in 0..SESSIONS {
        let host = vec![addrs[s % addrs.len()]];
        let (zk, _) = ZkClient::connect(host, Duration::from_secs(10), Duration::from_secs(10))
            .await
            .map_err(|e| anyhow::anyhow!("no session on {}: {e}", addrs[s % addrs.len()]))?;
        sessions.push(zk);
    }
    let start = Instant::now();
    let end = start + run_for;
    let mut tasks = Vec::new();
    for (s, zk) in sessions.iter().enumerate() {
        for d in 0..DEPTH {
            let zk = zk.clone();
            let mut rng = ChaCha8Rng::seed_from_u64(seed ^ ((s * DEPTH + d) as u64) << 16);
            tasks.push(tokio::spawn(async move {
                let (mut latencies, mut failed) = (histogram(), Failures::new());
                let value = vec![b'w'; VALUE];
                while Instant::now() < end {
                    let path = znode(rng.gen_range(0..ZNODES));
                    let began = Instant::now();
                    let done = if rng.gen_range(0..100) < reads {
                        zk.get_data(&path, false).await.map(drop)
                    } else {
                        zk.set_data(&path, &value, -1).await.map(drop)
                    };
                    match done {
                        Ok(()) => latencies.saturating_record(began.elapsed().as_micros() as u64),
                        Err(e) => *failed.entry(format!("{e:?}")).or_default() += 1,
                    }
                }
                (latencies, failed)
            }));
        }
    }
    let mut all = histogram();
    let mut failed = Failures::new();
    for task in tasks {
        let (latencies, f) = task.await.context("a load task panicked")?;
        all.add(latencies).context("histograms of one shape")?;
        for (kind, n) in f {
            *failed.entry(kind).or_default() += n;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    for zk in sessions {
        let _ = zk.close().await;
    }
    Ok((all, failed, secs))
}

/// The systems under test, their client addresses.
struct Systems {
    troupe: Vec<SocketAddr>,
    apache: Vec<SocketAddr>,
}

/// Runs the benchmark.
pub fn run(plan: Plan, quick: bool, json: bool, cpu_per_node: f64) -> Result<()> {
    let servers = plan.servers;
    ensure!(
        servers % 2 == 1 && servers >= 3,
        "an ensemble of {servers} servers: ZooKeeper ensembles have an odd number, 3 or more"
    );
    ensure!(
        !plan.read_percents.is_empty(),
        "no share of reads to measure"
    );
    let (rounds, run_for, warm_up) = if quick {
        (1, Duration::from_secs(1), Duration::from_secs(1))
    } else {
        (3, Duration::from_secs(4), Duration::from_secs(10))
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    // The caps outlive the processes in them (declared first, dropped last).
    let troupe_caps = caps_for("zk", "troupe", servers, cpu_per_node)?;
    let apache_caps = caps_for("zk", "apache", servers, cpu_per_node)?;
    let troupe_dir = scratch_dir("zk", "troupe");
    let nodes = Nodes::start_cluster(
        &troupe_dir,
        ClusterConfig::local("zk", servers as u32)?,
        troupe_caps.as_ref(),
    )?;
    let apache = Ensemble::start(&scratch_dir("zk", "apache"), servers, apache_caps.as_ref())?;
    let systems = Systems {
        troupe: nodes
            .config()
            .nodes
            .iter()
            .filter_map(|n| n.zk_addr)
            .collect(),
        apache: apache.addrs.clone(),
    };
    let cap = describe_caps(cpu_per_node);
    let conditions = format!(
        "{cores} cores; per system {servers} servers on loopback with fsync (troupe: `troupe node` \
         processes, ZooKeeper on troupe's Raft; Apache ZooKeeper 3.8 from Debian, Java), {cap}; \
         one load generator (one thread) in this process for both: {SESSIONS} sessions spread over the \
         servers, {DEPTH} requests in flight each, on {ZNODES} znodes of {VALUE} B: getData \
         for reads, setData (version -1) for writes; {rounds} round(s) of {run_for:?} per \
         system and workload after {warm_up:?} of warm-up, the systems interleaved"
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let all = runtime.block_on(async {
        for addrs in [&systems.troupe, &systems.apache] {
            preload(addrs, Duration::from_secs(60)).await?;
            round(addrs, 70, warm_up, 0).await?;
        }
        let mut all = Vec::new();
        for &reads in &plan.read_percents {
            let workload = workload_name(reads);
            for r in 1..=rounds {
                for (system, addrs) in [("troupe", &systems.troupe), ("apache", &systems.apache)] {
                    let seed = (r as u64) << 40 | u64::from(reads);
                    let (latencies, failed, secs) = round(addrs, reads, run_for, seed).await?;
                    let measured = Measured::of(&latencies, failed.values().sum(), secs);
                    if !json {
                        eprintln!(
                            "  {workload:<7} {system:<7} round {r}: {:>8.0} ops/s, p50 {:.2} ms, \
                             p99 {:.2} ms, {} failed {failed:?}",
                            measured.ops_per_sec, measured.p50_ms, measured.p99_ms, measured.failed
                        );
                    }
                    all.push(ZkRound {
                        system,
                        workload: workload.clone(),
                        read_percent: reads,
                        round: r,
                        measured,
                        failures: failed,
                    });
                }
            }
        }
        anyhow::Ok(all)
    })?;
    drop(apache);
    let failed: u64 = all
        .iter()
        .filter(|r| r.system == "troupe")
        .map(|r| r.measured.failed)
        .sum();
    let logs: Vec<PathBuf> = (0..servers).map(|i| nodes.log_path(i)).collect();
    drop(nodes);
    if failed == 0 {
        let _ = std::fs::remove_dir_all(&troupe_dir);
    } else if !json {
        eprintln!("troupe's operations failed: its servers' logs are kept in {logs:?}");
    }
    report::report(&all, servers, &plan.read_percents, &conditions, json)
}
