//! `troupe bench chain --real`: chain replication against CRAQ as real processes, at chain
//! length 3, 0% and 10% writes, in one run. Two clusters from `troupe cluster init --system
//! chain` (one plain, one `--craq`) run for the whole benchmark, and their rounds interleave
//! (CR, CRAQ, CR, CRAQ, ...) so that the machine's noise falls on both alike.
//!
//! Each node process may be capped to a share of a CPU with a cgroup of its own
//! (`--cpu-per-node`, default 0.4): on one machine, three processes would otherwise share
//! every core, and a tail that is busy would simply take CPU from the idle nodes, hiding what
//! the paper measures on separate machines (CR's reads are bounded by the tail's capacity;
//! CRAQ's use every node's). The client side runs in this process, uncapped.
//!
//! Clients are closed loops (one operation in flight each), spread evenly over the nodes'
//! client ports. A node's gateway runs a read at the tail (CR) or, with CRAQ, at its own chain
//! node; a write at the head. 1,000 keys of 64 bytes are written before the rounds.

use super::compare::{histogram, Spread};
use super::nodes::{caps_for, describe_caps, scratch_dir, CpuCaps, Nodes};
use anyhow::{bail, Context as _, Result};
use futures_util::future::join_all;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use troupe::config::ClusterConfig;
use troupe_actors::client::Outcome;
use troupe_messages::kv::KvOp;
use troupe_messages::NodeId;

const CLIENTS: usize = 48;
const KEYS: usize = 1000;
const VALUE_BYTES: usize = 64;
const WRITE_PERCENTS: [u32; 2] = [0, 10];

/// One measured round of one system at one write share.
#[derive(Serialize, Clone)]
struct ChainRound {
    system: &'static str,
    write_percent: u32,
    round: usize,
    reads: u64,
    writes: u64,
    failed: u64,
    reads_per_sec: f64,
    writes_per_sec: f64,
    read_p50_ms: f64,
    read_p99_ms: f64,
}

/// One system at one write share, over its rounds: medians and ranges.
#[derive(Serialize)]
struct ChainSummary {
    system: &'static str,
    write_percent: u32,
    rounds: usize,
    reads_per_sec_median: f64,
    reads_per_sec_min: f64,
    reads_per_sec_max: f64,
    writes_per_sec_median: f64,
    read_p99_ms_median: f64,
    failed: u64,
}

#[derive(Serialize)]
struct Report {
    conditions: String,
    rounds: Vec<ChainRound>,
    summaries: Vec<ChainSummary>,
    /// CRAQ's median reads per second over CR's, per write share.
    craq_over_cr: Vec<(u32, f64)>,
}

/// A system under test: its name, its processes and their scratch directory.
struct System {
    name: &'static str,
    nodes: Nodes,
    dir: PathBuf,
}

impl Drop for System {
    fn drop(&mut self) {
        self.nodes.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The median of `xs` (0 if empty).
fn median(xs: Vec<f64>) -> f64 {
    Spread::of(xs).map_or(0.0, |s| s.median)
}

/// Starts one 3-process chain cluster with its data in a scratch directory.
fn start(name: &'static str, craq: bool, cpu: Option<&CpuCaps>) -> Result<System> {
    let mut config = ClusterConfig::local("chain", 3)?;
    if let Some(settings) = config.chain.as_mut() {
        settings.craq = craq;
    }
    let dir = scratch_dir("chain", name);
    let nodes = Nodes::start_cluster(&dir, config, cpu)?;
    Ok(System { name, nodes, dir })
}

/// Polls until every node answers in one epoch of a full chain.
async fn settled(nodes: &Nodes, within: Duration) -> Result<()> {
    let mut clerk = nodes.clerk(u64::MAX)?;
    clerk.attempt_timeout = Duration::from_millis(300);
    let start = Instant::now();
    let ids: Vec<NodeId> = (1..=3).map(NodeId).collect();
    while start.elapsed() < within {
        let mut epochs = Vec::new();
        for &id in &ids {
            if let Ok(status) = clerk.chain_status(id).await {
                if let Some(Some(view)) = status.chains.first() {
                    if view.synced && view.leased {
                        epochs.push(view.epoch);
                    }
                }
            }
        }
        if epochs.len() == ids.len() && epochs.iter().all(|&e| e == epochs[0] && e > 0) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    bail!("the chain did not settle within {within:?}")
}

/// Writes every key once, through the clients' spread of nodes.
async fn preload(nodes: &Nodes, next_id: &mut u64) -> Result<()> {
    let value = "v".repeat(VALUE_BYTES);
    let mut clerks = Vec::new();
    for c in 0..8 {
        let mut clerk = nodes.clerk(*next_id)?;
        *next_id += 1;
        clerk.prefer(NodeId(1 + (c % 3) as u32));
        clerks.push(clerk);
    }
    let results = join_all(clerks.iter_mut().enumerate().map(|(c, clerk)| {
        let value = value.clone();
        async move {
            for k in (c..KEYS).step_by(8) {
                let op = KvOp::Put {
                    key: format!("k{k}"),
                    value: value.clone(),
                };
                if clerk.run(op, Duration::from_secs(10)).await != Outcome::Done(None) {
                    return Err(k);
                }
            }
            Ok(())
        }
    }))
    .await;
    if let Some(Err(k)) = results.into_iter().find(Result::is_err) {
        bail!("preloading key k{k} failed");
    }
    Ok(())
}

/// One round: `CLIENTS` fresh clerks (ids never reused) run the mix for `run_for`.
async fn round(
    system: &System,
    write_percent: u32,
    round: usize,
    run_for: Duration,
    next_id: &mut u64,
) -> Result<ChainRound> {
    let mut clerks = Vec::new();
    for c in 0..CLIENTS {
        let mut clerk = system.nodes.clerk(*next_id)?;
        *next_id += 1;
        clerk.prefer(NodeId(1 + (c % 3) as u32));
        clerks.push(clerk);
    }
    let value = "w".repeat(VALUE_BYTES);
    let end = Instant::now() + run_for;
    let runs = join_all(clerks.iter_mut().enumerate().map(|(c, clerk)| {
        let value = value.clone();
        let mut rng = ChaCha8Rng::seed_from_u64((round as u64) << 32 | c as u64);
        async move {
            let (mut reads, mut writes, mut failed) = (histogram(), 0u64, 0u64);
            while Instant::now() < end {
                let key = format!("k{}", rng.gen_range(0..KEYS));
                let write = rng.gen_range(0..100) < write_percent;
                let op = if write {
                    KvOp::Put {
                        key,
                        value: value.clone(),
                    }
                } else {
                    KvOp::Get { key }
                };
                let started = Instant::now();
                match clerk.run(op, Duration::from_secs(5)).await {
                    Outcome::Done(_) if write => writes += 1,
                    Outcome::Done(_) => {
                        reads.saturating_record(started.elapsed().as_micros() as u64)
                    }
                    _ => failed += 1,
                }
            }
            (reads, writes, failed)
        }
    }))
    .await;
    let mut all = histogram();
    let (mut writes, mut failed) = (0, 0);
    for (h, w, f) in runs {
        all.add(h).expect("same bounds");
        writes += w;
        failed += f;
    }
    let secs = run_for.as_secs_f64();
    Ok(ChainRound {
        system: system.name,
        write_percent,
        round,
        reads: all.len(),
        writes,
        failed,
        reads_per_sec: all.len() as f64 / secs,
        writes_per_sec: writes as f64 / secs,
        read_p50_ms: all.value_at_quantile(0.5) as f64 / 1000.0,
        read_p99_ms: all.value_at_quantile(0.99) as f64 / 1000.0,
    })
}

/// Runs the benchmark; `cpu_per_node` 0 leaves the processes uncapped.
pub fn run(quick: bool, json: bool, cpu_per_node: f64) -> Result<()> {
    let (rounds, run_for, warm_up) = if quick {
        (1, Duration::from_secs(1), Duration::from_millis(300))
    } else {
        (3, Duration::from_secs(5), Duration::from_secs(1))
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    // The caps outlive the processes in them (declared first, dropped last).
    let cr_caps = caps_for("chain", "cr", 3, cpu_per_node)?;
    let craq_caps = caps_for("chain", "craq", 3, cpu_per_node)?;
    let cr = start("cr", false, cr_caps.as_ref())?;
    let craq = start("craq", true, craq_caps.as_ref())?;
    let cap = describe_caps(cpu_per_node);
    let conditions = format!(
        "{cores} cores; per system 3 `troupe node` processes on loopback (chain length 3, every \
         node a manager replica, chain server and supervisor; fsync on), {cap}; {CLIENTS} \
         closed-loop clients in this process spread over the 3 client ports; {KEYS} keys of \
         {VALUE_BYTES} B written first; {rounds} round(s) of {run_for:?} per system and write \
         share after {warm_up:?} of warm-up, CR and CRAQ interleaved"
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let report = runtime.block_on(async {
        let mut next_id = 1u64 << 20;
        for system in [&cr, &craq] {
            settled(&system.nodes, Duration::from_secs(30)).await?;
            preload(&system.nodes, &mut next_id).await?;
        }
        let mut all = Vec::new();
        for write_percent in WRITE_PERCENTS {
            for system in [&cr, &craq] {
                round(system, write_percent, 0, warm_up, &mut next_id).await?;
            }
            for r in 1..=rounds {
                for system in [&cr, &craq] {
                    all.push(round(system, write_percent, r, run_for, &mut next_id).await?);
                }
            }
        }
        anyhow::Ok(all)
    })?;
    let mut summaries = Vec::new();
    for write_percent in WRITE_PERCENTS {
        for name in ["cr", "craq"] {
            let mine: Vec<&ChainRound> = report
                .iter()
                .filter(|r| r.system == name && r.write_percent == write_percent)
                .collect();
            let reads = Spread::of(mine.iter().map(|r| r.reads_per_sec).collect())
                .context("a system ran no round")?;
            summaries.push(ChainSummary {
                system: mine[0].system,
                write_percent,
                rounds: mine.len(),
                reads_per_sec_median: reads.median,
                reads_per_sec_min: reads.min,
                reads_per_sec_max: reads.max,
                writes_per_sec_median: median(mine.iter().map(|r| r.writes_per_sec).collect()),
                read_p99_ms_median: median(mine.iter().map(|r| r.read_p99_ms).collect()),
                failed: mine.iter().map(|r| r.failed).sum(),
            });
        }
    }
    let craq_over_cr: Vec<(u32, f64)> = WRITE_PERCENTS
        .iter()
        .map(|&w| {
            let of = |name: &str| {
                summaries
                    .iter()
                    .find(|s| s.system == name && s.write_percent == w)
                    .map_or(0.0, |s| s.reads_per_sec_median)
            };
            (w, of("craq") / of("cr").max(f64::MIN_POSITIVE))
        })
        .collect();
    let failed: u64 = summaries.iter().map(|s| s.failed).sum();
    let result = Report {
        conditions,
        rounds: report,
        summaries,
        craq_over_cr,
    };
    if json {
        println!("{}", serde_json::to_string(&result)?);
    } else {
        println!("bench chain --real: {}", result.conditions);
        println!(
            "{:<6} {:>7} {:>14} {:>21} {:>10} {:>12} {:>7}",
            "system",
            "writes",
            "reads/s (med)",
            "reads/s (min-max)",
            "writes/s",
            "read p99 ms",
            "failed"
        );
        for s in &result.summaries {
            println!(
                "{:<6} {:>6}% {:>14.0} {:>10.0}-{:<10.0} {:>10.0} {:>12.2} {:>7}",
                s.system,
                s.write_percent,
                s.reads_per_sec_median,
                s.reads_per_sec_min,
                s.reads_per_sec_max,
                s.writes_per_sec_median,
                s.read_p99_ms_median,
                s.failed
            );
        }
        for (w, ratio) in &result.craq_over_cr {
            println!("CRAQ / CR reads at {w}% writes: {ratio:.2}x");
        }
    }
    if failed > 0 {
        bail!("{failed} operations failed");
    }
    Ok(())
}
