//! `troupe bench zk`: troupe's ZooKeeper against Apache ZooKeeper 3.8, in one run, as the
//! ZooKeeper paper measured its own (§5.1, Table 1 and Figure 5): 3 servers each on loopback,
//! fsync on, and the same load generator for both, speaking ZooKeeper's protocol (troupe's Rust
//! client, `troupe_actors::zk::client`).
//!
//! The load: [`SESSIONS`] sessions spread evenly over the 3 servers, each keeping [`DEPTH`]
//! requests in flight (the paper's clients keep many outstanding), on [`ZNODES`] znodes of
//! 1 KB written first. Reads are getData, writes setData of 1 KB (version -1), so every write
//! goes through the leader and the log. Three workloads: 100% reads, 100% writes, and 70%
//! reads. Rounds interleave (troupe, Apache, troupe, ...) so that the machine's noise falls on
//! both alike, after a warm-up of each (the JVM's JIT). Each server process may be capped to a
//! share of a CPU with a cgroup of its own (`--cpu-per-node`), as separate machines would be;
//! the load generator runs in this process, uncapped.
//!
//! The table gives each system's median ops/s over its rounds (and their range), p50 and p99
//! latency, and troupe's over Apache's throughput; beside it, the shape of the paper's Table 1
//! for 3 servers (reads about 4 times writes). The goal: beat Apache ZooKeeper on writes and
//! match it on reads (at least 0.9 of its throughput), judged on the medians; below it the
//! command fails. The last line is JSON.

use super::apache_zk::Ensemble;
use super::compare::{histogram, Measured, Measures};
use super::nodes::{caps_for, describe_caps, scratch_dir, Nodes};
use anyhow::{bail, Context as _, Result};
use hdrhistogram::Histogram;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use troupe::config::ClusterConfig;
use troupe_actors::zk::client::ZkClient;
use troupe_messages::zk::{CreateMode, ZkError};

/// Sessions of the load generator, spread over the 3 servers.
const SESSIONS: usize = 24;
/// Requests each session keeps in flight.
const DEPTH: usize = 8;
/// Znodes read and written.
const ZNODES: usize = 100;
/// Bytes of each znode's data (the paper's 1 KB).
const VALUE: usize = 1024;
/// The paper's Table 1 for 3 servers: saturated throughput at 100% and 0% reads.
const PAPER_READS: f64 = 87_000.0;
const PAPER_WRITES: f64 = 21_000.0;

/// The workloads: a name and the share of reads in percent.
const WORKLOADS: [(&str, u32); 3] = [("reads", 100), ("writes", 0), ("70/30", 70)];

/// One measured round.
#[derive(Serialize, Clone)]
struct ZkRound {
    system: &'static str,
    workload: &'static str,
    round: usize,
    #[serde(flatten)]
    measured: Measured,
}

/// One system at one workload over its rounds.
#[derive(Serialize)]
struct ZkSummary {
    system: &'static str,
    workload: &'static str,
    #[serde(flatten)]
    measures: Measures,
}

fn summarise(
    rounds: &[ZkRound],
    system: &'static str,
    workload: &'static str,
) -> Option<ZkSummary> {
    let mine = rounds
        .iter()
        .filter(|r| r.system == system && r.workload == workload)
        .map(|r| &r.measured);
    Some(ZkSummary {
        system,
        workload,
        measures: Measures::over(mine)?,
    })
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
) -> Result<(Histogram<u64>, u64, f64)> {
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
                let (mut latencies, mut failed) = (histogram(), 0u64);
                let value = vec![b'w'; VALUE];
                while Instant::now() < end {
                    let path = znode(rng.gen_range(0..ZNODES));
                    let began = Instant::now();
                    let ok = if rng.gen_range(0..100) < reads {
                        zk.get_data(&path, false).await.is_ok()
                    } else {
                        zk.set_data(&path, &value, -1).await.is_ok()
                    };
                    if ok {
                        latencies.saturating_record(began.elapsed().as_micros() as u64);
                    } else {
                        failed += 1;
                    }
                }
                (latencies, failed)
            }));
        }
    }
    let mut all = histogram();
    let mut failed = 0;
    for task in tasks {
        let (latencies, f) = task.await.context("a load task panicked")?;
        all.add(latencies).context("histograms of one shape")?;
        failed += f;
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
pub fn run(quick: bool, json: bool, cpu_per_node: f64) -> Result<()> {
    let (rounds, run_for, warm_up) = if quick {
        (1, Duration::from_secs(1), Duration::from_secs(1))
    } else {
        (3, Duration::from_secs(4), Duration::from_secs(10))
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    // The caps outlive the processes in them (declared first, dropped last).
    let troupe_caps = caps_for("zk", "troupe", 3, cpu_per_node)?;
    let apache_caps = caps_for("zk", "apache", 3, cpu_per_node)?;
    let troupe_dir = scratch_dir("zk", "troupe");
    let nodes = Nodes::start_cluster(
        &troupe_dir,
        ClusterConfig::local("zk", 3)?,
        troupe_caps.as_ref(),
    )?;
    let apache = Ensemble::start(&scratch_dir("zk", "apache"), apache_caps.as_ref())?;
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
        "{cores} cores; per system 3 servers on loopback with fsync (troupe: `troupe node` \
         processes, ZooKeeper on troupe's Raft; Apache ZooKeeper 3.8 from Debian, Java), {cap}; \
         one load generator (one thread) in this process for both: {SESSIONS} sessions spread over the 3 \
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
        for (workload, reads) in WORKLOADS {
            for r in 1..=rounds {
                for (system, addrs) in [("troupe", &systems.troupe), ("apache", &systems.apache)] {
                    let seed = (r as u64) << 40 | u64::from(reads);
                    let (latencies, failed, secs) = round(addrs, reads, run_for, seed).await?;
                    let measured = Measured::of(&latencies, failed, secs);
                    if !json {
                        eprintln!(
                            "  {workload:<7} {system:<7} round {r}: {:>8.0} ops/s, p50 {:.2} ms, \
                             p99 {:.2} ms, {failed} failed",
                            measured.ops_per_sec, measured.p50_ms, measured.p99_ms
                        );
                    }
                    all.push(ZkRound {
                        system,
                        workload,
                        round: r,
                        measured,
                    });
                }
            }
        }
        anyhow::Ok(all)
    })?;
    drop(nodes);
    drop(apache);
    report(&all, &conditions, json)
}

/// Prints the table (or only the JSON line).
fn report(all: &[ZkRound], conditions: &str, json: bool) -> Result<()> {
    let mut summaries = Vec::new();
    let mut ratios = serde_json::Map::new();
    for (workload, _) in WORKLOADS {
        let (Some(t), Some(a)) = (
            summarise(all, "troupe", workload),
            summarise(all, "apache", workload),
        ) else {
            bail!("the {workload} workload did not run on both systems");
        };
        let ratio =
            t.measures.ops_per_sec.median / a.measures.ops_per_sec.median.max(f64::MIN_POSITIVE);
        ratios.insert(workload.to_string(), ratio.into());
        summaries.push((t, a, ratio));
    }
    let median = |w: &str, s: &str| {
        summaries
            .iter()
            .flat_map(|(t, a, _)| [t, a])
            .find(|x| x.workload == w && x.system == s)
            .map_or(0.0, |x| x.measures.ops_per_sec.median)
    };
    let shape = |s: &str| median("reads", s) / median("writes", s).max(f64::MIN_POSITIVE);
    let goal_writes = ratios
        .get("writes")
        .and_then(|v| v.as_f64())
        .is_some_and(|r| r > 1.0);
    let goal_reads = ratios
        .get("reads")
        .and_then(|v| v.as_f64())
        .is_some_and(|r| r >= 0.9);
    if !json {
        println!("conditions: {conditions}");
        println!("{:<8} {:<7} {}", "workload", "system", Measures::headings());
        for (t, a, ratio) in &summaries {
            for s in [t, a] {
                println!("{:<8} {:<7} {}", s.workload, s.system, s.measures.cells());
            }
            println!("{:<8} troupe/apache throughput: {ratio:.2}", t.workload);
        }
        println!(
            "shape: reads/writes throughput: troupe {:.1}x, apache {:.1}x; the paper's Table 1 \
             (3 servers, 2010 hardware): {PAPER_READS:.0} reads/s, {PAPER_WRITES:.0} writes/s, \
             {:.1}x",
            shape("troupe"),
            shape("apache"),
            PAPER_READS / PAPER_WRITES
        );
        println!(
            "goal: beat Apache ZooKeeper on writes ({}), match it on reads, at least 0.9 of \
             its throughput ({})",
            if goal_writes { "met" } else { "NOT met" },
            if goal_reads { "met" } else { "NOT met" }
        );
    }
    let out = serde_json::json!({
        "bench": "zk",
        "conditions": conditions,
        "summaries": summaries.iter().flat_map(|(t, a, _)| [t, a]).collect::<Vec<_>>(),
        "troupe_over_apache": ratios,
        "reads_over_writes": {"troupe": shape("troupe"), "apache": shape("apache"),
                              "paper": PAPER_READS / PAPER_WRITES},
        "goal_writes_met": goal_writes,
        "goal_reads_met": goal_reads,
        "rounds": all,
    });
    println!("{}", serde_json::to_string(&out)?);
    if !(goal_writes && goal_reads) {
        bail!("below the goal: beat Apache ZooKeeper on writes, match it on reads");
    }
    Ok(())
}
