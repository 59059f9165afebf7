//! `troupe bench vmft --real`: the key-value guest's throughput with fault tolerance against
//! without, as real processes, in one run. Two vmft clusters of 3 `troupe node` processes run
//! for the whole benchmark:
//!
//! - **FT**: every node has every role (`storage`, `host`, `supervisor`), so the VM boots on one
//!   host and gets a backup on another; the primary holds each output until the backup has
//!   acknowledged the log entries before it.
//! - **non-FT**: the same, but only n1 has the `host` role (n2 and n3 keep `storage` and
//!   `supervisor`), so the VM runs alone and its outputs leave at once.
//!
//! The clusters differ in nothing else: the same shared storage (Raft, fsync on), the same
//! supervisors, the same gateways on every node's client port. Before measuring, the FT
//! cluster's status must show a primary whose backup is in sync, and the non-FT one's a
//! primary (polled, with a deadline). Rounds then interleave (FT, non-FT, FT, ...) so that the
//! machine's noise falls on both alike. Each node process may be capped to a share of a CPU
//! with a cgroup of its own (`--cpu-per-node`), as separate machines would be; the clients run
//! in this process, uncapped. Per round, the share of each node's active periods spent at its
//! cap (its cgroup's cpu.stat) tells whether the primary was CPU-bound or waiting.
//!
//! Clients are closed loops (one operation in flight each), spread evenly over the 3 client
//! ports; a node's gateway runs the operation on the guest wherever the primary is. Half the
//! operations are puts, half gets, of small values over a few keys written first. With closed
//! loops, throughput follows latency, so the table gives both. The last line is JSON with
//! `ft_over_non_ft`: the FT median of ops/s over the non-FT median.

use super::compare::{histogram, Measured, Measures, Spread};
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
use troupe_messages::vmft::VmftRole;
use troupe_messages::NodeId;

const CLIENTS: usize = 32;
const KEYS: usize = 64;
const VALUE_BYTES: usize = 32;
const PUT_PERCENT: u32 = 50;
/// What the paper reports for FT over non-FT throughput on its workloads.
const PAPER: &str = "0.94-0.99";

/// One measured round of one system.
#[derive(Serialize, Clone)]
struct VmftRound {
    system: &'static str,
    round: usize,
    #[serde(flatten)]
    measured: Measured,
    /// Per node, the share of its active 100 ms periods in which it hit its CPU cap (None
    /// when uncapped).
    throttled: Option<[f64; 3]>,
}

/// One system over its rounds: medians and ranges.
#[derive(Serialize)]
struct VmftSummary {
    system: &'static str,
    #[serde(flatten)]
    measures: Measures,
}

/// A system under test: its name, its processes, their CPU caps and their scratch directory.
struct System<'a> {
    name: &'static str,
    nodes: Nodes,
    caps: Option<&'a CpuCaps>,
    dir: PathBuf,
}

impl Drop for System<'_> {
    fn drop(&mut self) {
        self.nodes.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Starts one 3-process vmft cluster; without `ft`, only n1 runs a VM host.
fn start<'a>(name: &'static str, ft: bool, caps: Option<&'a CpuCaps>) -> Result<System<'a>> {
    let mut config = ClusterConfig::local("vmft", 3)?;
    if !ft {
        for node in config.nodes.iter_mut().skip(1) {
            node.roles.retain(|role| role != "host");
        }
    }
    let dir = scratch_dir("vmft", name);
    let nodes = Nodes::start_cluster(&dir, config, caps)?;
    Ok(System {
        name,
        nodes,
        caps,
        dir,
    })
}

/// Polls until the cluster runs its VM: with `ft`, a primary whose backup is in sync and
/// reports itself backup; without, a primary. The primary and its backup.
async fn settled(nodes: &Nodes, ft: bool, within: Duration) -> Result<(NodeId, Option<NodeId>)> {
    let mut clerk = nodes.clerk(u64::MAX)?;
    clerk.attempt_timeout = Duration::from_millis(300);
    let start = Instant::now();
    while start.elapsed() < within {
        let mut hosts = Vec::new();
        for id in (1..=3).map(NodeId) {
            if let Ok(Some(host)) = clerk.vmft_status(id).await.map(|s| s.host) {
                hosts.push((id, host));
            }
        }
        let primary = hosts.iter().find(|(_, h)| h.role == VmftRole::Primary);
        let ready = match primary {
            Some((_, p)) if ft => {
                p.replicated
                    && p.backup.is_some_and(|b| {
                        hosts
                            .iter()
                            .any(|(id, h)| *id == b && h.role == VmftRole::Backup)
                    })
            }
            Some(_) => true,
            None => false,
        };
        if let (true, Some((id, p))) = (ready, primary) {
            return Ok((*id, p.backup));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("the VM did not come up (ft: {ft}) within {within:?}")
}

/// Writes every key once.
async fn preload(nodes: &Nodes, next_id: &mut u64) -> Result<()> {
    let mut clerk = nodes.clerk(*next_id)?;
    *next_id += 1;
    for k in 0..KEYS {
        let op = KvOp::Put {
            key: format!("k{k}"),
            value: "v".repeat(VALUE_BYTES),
        };
        if !matches!(
            clerk.run(op, Duration::from_secs(10)).await,
            Outcome::Done(_)
        ) {
            bail!("preloading key k{k} failed");
        }
    }
    Ok(())
}

/// One round: `CLIENTS` fresh clerks (ids never reused) run the mix for `run_for`.
async fn round(
    system: &System<'_>,
    round: usize,
    run_for: Duration,
    next_id: &mut u64,
) -> Result<VmftRound> {
    let mut clerks = Vec::new();
    for c in 0..CLIENTS {
        let mut clerk = system.nodes.clerk(*next_id)?;
        *next_id += 1;
        clerk.prefer(NodeId(1 + (c % 3) as u32));
        clerks.push(clerk);
    }
    let throttling = |caps: &CpuCaps| (0..3).map(|i| caps.throttling(i)).collect::<Vec<_>>();
    let before = system.caps.map(throttling);
    let end = Instant::now() + run_for;
    let runs = join_all(clerks.iter_mut().enumerate().map(|(c, clerk)| {
        let mut rng = ChaCha8Rng::seed_from_u64((round as u64) << 32 | c as u64);
        async move {
            let (mut latencies, mut failed) = (histogram(), 0u64);
            while Instant::now() < end {
                let key = format!("k{}", rng.gen_range(0..KEYS));
                let op = if rng.gen_range(0..100) < PUT_PERCENT {
                    let value = format!("{c:0>width$}", width = VALUE_BYTES);
                    KvOp::Put { key, value }
                } else {
                    KvOp::Get { key }
                };
                let started = Instant::now();
                match clerk.run(op, Duration::from_secs(5)).await {
                    Outcome::Done(_) => {
                        latencies.saturating_record(started.elapsed().as_micros() as u64)
                    }
                    _ => failed += 1,
                }
            }
            (latencies, failed)
        }
    }))
    .await;
    let throttled = system.caps.zip(before).and_then(|(caps, before)| {
        let after = throttling(caps);
        let mut shares = [0.0; 3];
        for (i, share) in shares.iter_mut().enumerate() {
            let ((p0, t0), (p1, t1)) = (before[i]?, after[i]?);
            *share = (t1 - t0) as f64 / (p1 - p0).max(1) as f64;
        }
        Some(shares)
    });
    let mut all = histogram();
    let mut failed = 0;
    for (h, f) in runs {
        all.add(h).expect("same bounds");
        failed += f;
    }
    Ok(VmftRound {
        system: system.name,
        round,
        measured: Measured::of(&all, failed, run_for.as_secs_f64()),
        throttled,
    })
}

/// The summary of `system`'s rounds.
fn summarise(rounds: &[VmftRound], system: &'static str) -> Result<VmftSummary> {
    let mine = rounds
        .iter()
        .filter(|r| r.system == system)
        .map(|r| &r.measured);
    Ok(VmftSummary {
        system,
        measures: Measures::over(mine).context("a system ran no round")?,
    })
}

/// Runs the benchmark; `cpu_per_node` 0 leaves the processes uncapped.
pub fn run(quick: bool, json: bool, cpu_per_node: f64) -> Result<()> {
    let (rounds, run_for, warm_up) = if quick {
        (2, Duration::from_secs(2), Duration::from_millis(500))
    } else {
        (3, Duration::from_secs(5), Duration::from_secs(1))
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    // The caps outlive the processes in them (declared first, dropped last).
    let ft_caps = caps_for("vmft", "ft", 3, cpu_per_node)?;
    let alone_caps = caps_for("vmft", "alone", 3, cpu_per_node)?;
    let ft = start("ft", true, ft_caps.as_ref())?;
    let alone = start("non-ft", false, alone_caps.as_ref())?;
    let cap = describe_caps(cpu_per_node);
    let conditions = format!(
        "{cores} cores; per system 3 `troupe node` processes on loopback (every node a storage \
         replica and supervisor; FT: every node a VM host, the VM with a backup; non-FT: only n1 \
         a VM host, the VM alone; Raft storage fsync on), {cap}; {CLIENTS} closed-loop clients \
         in this process spread over the 3 client ports; {PUT_PERCENT}% puts, the rest gets, \
         {VALUE_BYTES} B values over {KEYS} keys written first; {rounds} round(s) of \
         {run_for:?} per system after {warm_up:?} of warm-up, FT and non-FT interleaved"
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (all, placed) = runtime.block_on(async {
        let mut next_id = 1u64 << 20;
        let mut placed = Vec::new();
        for (system, is_ft) in [(&ft, true), (&alone, false)] {
            placed.push(settled(&system.nodes, is_ft, Duration::from_secs(60)).await?);
            preload(&system.nodes, &mut next_id).await?;
        }
        for system in [&ft, &alone] {
            round(system, 0, warm_up, &mut next_id).await?;
        }
        let mut all = Vec::new();
        for r in 1..=rounds {
            for system in [&ft, &alone] {
                all.push(round(system, r, run_for, &mut next_id).await?);
            }
        }
        // Still as set up: a failover during the rounds would measure something else.
        let after = settled(&ft.nodes, true, Duration::from_secs(5))
            .await
            .context("after the rounds, the FT cluster's VM no longer had its backup in sync")?;
        if after != placed[0] {
            bail!(
                "the FT cluster's VM moved during the rounds: {:?} then {after:?}",
                placed[0]
            );
        }
        anyhow::Ok((all, placed))
    })?;
    let (with, without) = (summarise(&all, "ft")?, summarise(&all, "non-ft")?);
    let ratio = with.measures.ops_per_sec.median
        / without.measures.ops_per_sec.median.max(f64::MIN_POSITIVE);
    // Round by round, each FT round against the non-FT round right after it.
    let pairs = Spread::of(
        (1..=rounds)
            .filter_map(|r| {
                let of = |name| all.iter().find(|x| x.system == name && x.round == r);
                let (ft, alone) = (of("ft")?.measured, of("non-ft")?.measured);
                Some(ft.ops_per_sec / alone.ops_per_sec.max(f64::MIN_POSITIVE))
            })
            .collect(),
    )
    .context("no pair of rounds")?;
    let added_p50 = with.measures.p50_ms.median - without.measures.p50_ms.median;
    let failed = with.measures.failed + without.measures.failed;
    let (ft_primary, ft_backup) = placed[0];
    let alone_primary = placed[1].0;
    // The median share of active periods in which `node` of `system` hit its cap.
    let throttled = |system: &str, node: NodeId| {
        let shares = all
            .iter()
            .filter(|r| r.system == system)
            .filter_map(|r| Some(r.throttled?[node.0 as usize - 1]))
            .collect();
        Spread::of(shares).map(|s| s.median)
    };
    let ft_primary_throttled = throttled("ft", ft_primary);
    let alone_primary_throttled = throttled("non-ft", alone_primary);
    if !json {
        println!("bench vmft --real: {conditions}");
        let backup = ft_backup.map_or("none".into(), |b| b.to_string());
        println!("FT: primary {ft_primary}, backup {backup}; non-FT: primary {alone_primary}");
        println!(
            "{:<7} {:>5} {:>9} {:>7} {:>10} {:>8} {:>8}  at CPU cap n1/n2/n3",
            "system", "round", "ops", "failed", "ops/s", "p50 ms", "p99 ms"
        );
        for r in &all {
            let capped = r.throttled.map_or("-".into(), |t| {
                format!("{:.0}%/{:.0}%/{:.0}%", t[0] * 1e2, t[1] * 1e2, t[2] * 1e2)
            });
            println!(
                "{:<7} {:>5} {:>9} {:>7} {:>10.0} {:>8.2} {:>8.2}  {capped}",
                r.system,
                r.round,
                r.measured.ops,
                r.measured.failed,
                r.measured.ops_per_sec,
                r.measured.p50_ms,
                r.measured.p99_ms
            );
        }
        println!("{:<7} {}", "system", Measures::headings());
        for s in [&with, &without] {
            println!("{:<7} {}", s.system, s.measures.cells());
        }
        println!(
            "FT / non-FT throughput (medians): {ratio:.3}; round by round {:.3}-{:.3}; the \
             paper: {PAPER}",
            pairs.min, pairs.max
        );
        println!(
            "median latency: FT {:.2} ms, non-FT {:.2} ms ({added_p50:+.2} ms with FT)",
            with.measures.p50_ms.median, without.measures.p50_ms.median
        );
        let bound = |share: Option<f64>| share.is_some_and(|s| s >= 0.5);
        if let (Some(f), Some(a)) = (ft_primary_throttled, alone_primary_throttled) {
            println!(
                "the primary's node was at its CPU cap in {:.0}% (FT) and {:.0}% (non-FT) of its \
                 active 100 ms periods",
                f * 1e2,
                a * 1e2
            );
        }
        if added_p50 <= 0.0 {
            println!(
                "FT added no latency at the median in this run: its cost is within the noise."
            );
        } else if bound(ft_primary_throttled) {
            println!(
                "The FT primary's CPU bounds it: FT's cost here is the primary's extra work per \
                 operation (logging each input, sending the entries to its backup) on top of \
                 holding each output until the backup acknowledges them."
            );
        } else {
            println!(
                "The FT primary was mostly not at its cap, so what dominates is the wait: each \
                 output held until the backup acknowledges the log entries before it (a round \
                 trip to another process on loopback); with closed-loop clients, throughput \
                 follows latency."
            );
        }
        if bound(alone_primary_throttled) {
            println!("The non-FT primary was at its cap: its throughput is the cap's.");
        }
    }
    let report = serde_json::json!({
        "bench": "vmft",
        "real": true,
        "cpu_per_node": cpu_per_node,
        "clients": CLIENTS,
        "round_s": run_for.as_secs_f64(),
        "rounds": rounds,
        "ops_per_s_ft": with.measures.ops_per_sec.median,
        "ops_per_s_non_ft": without.measures.ops_per_sec.median,
        "p50_ms_ft": with.measures.p50_ms.median,
        "p50_ms_non_ft": without.measures.p50_ms.median,
        "p99_ms_ft": with.measures.p99_ms.median,
        "p99_ms_non_ft": without.measures.p99_ms.median,
        "ft_over_non_ft": ratio,
        "ft_over_non_ft_rounds": [pairs.min, pairs.max],
        "primary_at_cpu_cap_ft": ft_primary_throttled,
        "primary_at_cpu_cap_non_ft": alone_primary_throttled,
        "paper": PAPER,
        "failed": failed,
        "per_round": all,
        "conditions": conditions,
    });
    println!("{report}");
    if failed > 0 {
        bail!("{failed} operations failed");
    }
    Ok(())
}
