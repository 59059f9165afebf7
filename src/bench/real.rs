//! `troupe bench raft-kv --real`: the key-value service as 3 real node processes on loopback
//! (fsync on) against a 3-member etcd cluster on the same machine (Debian's etcd-server),
//! both running for the whole benchmark, driven in interleaved rounds: for each client count
//! (1, 16, 64), troupe, etcd, troupe, etcd, ... so that the machine's noise falls on both
//! alike. Clients put 256 B values, troupe's through its client port, etcd's through its gRPC
//! API (`KV.Put`). Then the time from SIGKILL of troupe's leader process to the first
//! acknowledged write, over 20 trials.
//!
//! Every client is a sequential loop (one operation in flight), all clients of a round run as
//! tasks of one thread of the bench process, each with its own connection to the leader, for
//! troupe and etcd alike. The command fails if the goal ([`compare::Goal`]) is missed.

use super::compare::{self, histogram, Goal, Round, Summary};
use super::nodes::Nodes;
use anyhow::{bail, Result};
use futures_util::future::join_all;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use troupe_actors::client::Outcome;
use troupe_messages::kv::KvOp;

#[cfg(feature = "etcd-grpc")]
use super::etcd::{self, Etcd};

/// Without the `etcd-grpc` feature there is no etcd client, hence no baseline.
#[cfg(not(feature = "etcd-grpc"))]
enum Etcd {}

const VALUE_BYTES: usize = 256;
const LEVELS: [usize; 3] = [1, 16, 64];

#[derive(Serialize)]
struct Failover {
    trials: usize,
    p50_ms: f64,
    p90_ms: f64,
    max_ms: f64,
    min_ms: f64,
}

/// How long, how often.
struct Plan {
    rounds: usize,
    round: Duration,
    warm_up: Duration,
    trials: usize,
}

fn value() -> String {
    "v".repeat(VALUE_BYTES)
}

/// One round of troupe: `clients` fresh clerks (client ids from `next_id` on, never reused,
/// so no request is taken for a retry of an earlier one) put for `run_for`.
async fn troupe_round(
    nodes: &Nodes,
    clients: usize,
    round: usize,
    run_for: Duration,
    next_id: &mut u64,
) -> Result<Round> {
    let (leader, term) = nodes.leader_and_term(Duration::from_secs(10)).await?;
    let mut clerks = Vec::new();
    for _ in 0..clients {
        let mut clerk = nodes.clerk(*next_id)?;
        *next_id += 1;
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
    let (_, term_after) = nodes.leader_and_term(Duration::from_secs(10)).await?;
    Ok(Round::of(
        "troupe",
        clients,
        round,
        runs,
        run_for.as_secs_f64(),
        term_after.saturating_sub(term),
    ))
}

/// One round of etcd: `clients` fresh gRPC connections to the leader put for `run_for`.
#[cfg(feature = "etcd-grpc")]
async fn etcd_round(
    cluster: &Etcd,
    clients: usize,
    round: usize,
    run_for: Duration,
) -> Result<Round> {
    use super::etcd_grpc::EtcdClient;
    let (leader, term) = cluster.leader_and_term(Duration::from_secs(10)).await?;
    let mut conns = Vec::new();
    for _ in 0..clients {
        conns.push(EtcdClient::connect(leader).await?);
    }
    let value = value().into_bytes();
    let end = Instant::now() + run_for;
    let runs = join_all(conns.iter_mut().enumerate().map(|(c, conn)| {
        let value = &value;
        async move {
            let (mut h, mut failed, mut i) = (histogram(), 0u64, 0u64);
            while Instant::now() < end {
                let key = format!("c{c}-{}", i % 1000);
                let started = Instant::now();
                match conn.put(&key, value).await {
                    Ok(()) => h.saturating_record(started.elapsed().as_micros() as u64),
                    Err(_) => failed += 1,
                }
                i += 1;
            }
            (h, failed)
        }
    }))
    .await;
    let (_, term_after) = cluster.leader_and_term(Duration::from_secs(10)).await?;
    Ok(Round::of(
        "etcd",
        clients,
        round,
        runs,
        run_for.as_secs_f64(),
        term_after.saturating_sub(term),
    ))
}

#[cfg(not(feature = "etcd-grpc"))]
async fn etcd_round(cluster: &Etcd, _: usize, _: usize, _: Duration) -> Result<Round> {
    match *cluster {}
}

/// Starts the baseline if there is one: the `etcd` binary found, and this build able to
/// speak gRPC to it.
#[cfg(feature = "etcd-grpc")]
async fn start_etcd(path: Option<&Path>, dir: &Path) -> Result<Option<Etcd>> {
    match path {
        Some(path) => Ok(Some(Etcd::start(path, dir).await?)),
        None => Ok(None),
    }
}

#[cfg(not(feature = "etcd-grpc"))]
async fn start_etcd(_: Option<&Path>, _: &Path) -> Result<Option<Etcd>> {
    Ok(None)
}

/// What the baseline is, or why there is none.
#[cfg(feature = "etcd-grpc")]
fn describe_baseline(path: Option<&Path>) -> Result<String> {
    Ok(match path {
        Some(p) => format!(
            "{} ({}), 3 members on loopback, fsync on, driven through its gRPC API \
             (KV.Put over HTTP/2, one connection per client, to the leader)",
            etcd::version(p)?,
            p.display()
        ),
        None => "none: etcd not found (install Debian's etcd-server, or pass --etcd PATH): \
                 troupe only"
            .into(),
    })
}

#[cfg(not(feature = "etcd-grpc"))]
fn describe_baseline(_: Option<&Path>) -> Result<String> {
    Ok(
        "none: this build has no etcd client (build with --features etcd-grpc, as \
        scripts/bench-real.sh does): troupe only"
            .into(),
    )
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

/// The machine's load averages (1, 5, 15 min) as the kernel reports them, if it does.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "unknown".into())
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

/// Both clusters up, a warm-up of each, then the interleaved rounds of every level.
async fn rounds(
    scratch: &Path,
    etcd_path: Option<&Path>,
    plan: &Plan,
    json: bool,
) -> Result<Vec<Round>> {
    let nodes = Nodes::start(&scratch.join("troupe"))?;
    nodes.leader(Duration::from_secs(20)).await?;
    let etcd = start_etcd(etcd_path, &scratch.join("etcd")).await?;
    let mut next_id = 1_000_000;
    // Warm-up, not counted: connections, caches, the first log segments.
    troupe_round(&nodes, 16, 0, plan.warm_up, &mut next_id).await?;
    if let Some(etcd) = &etcd {
        etcd_round(etcd, 16, 0, plan.warm_up).await?;
    }
    let mut rounds = Vec::new();
    for clients in LEVELS {
        for round in 1..=plan.rounds {
            let mut these =
                vec![troupe_round(&nodes, clients, round, plan.round, &mut next_id).await?];
            if let Some(etcd) = &etcd {
                these.push(etcd_round(etcd, clients, round, plan.round).await?);
            }
            if !json {
                for r in &these {
                    println!(
                        "{:>3} clients, round {round}/{}: {:<6} {:>6.0} ops/s  p50 {:>6.2} ms  p99 {:>6.2} ms  failed {}  new terms {}",
                        clients, plan.rounds, r.system, r.ops_per_sec, r.p50_ms, r.p99_ms, r.failed, r.new_terms
                    );
                }
            }
            rounds.extend(these);
        }
    }
    Ok(rounds)
}

/// Runs the whole benchmark.
pub fn run(quick: bool, json: bool, etcd_path: Option<PathBuf>) -> Result<()> {
    let plan = Plan {
        rounds: if quick { 3 } else { 5 },
        round: Duration::from_secs(if quick { 1 } else { 5 }),
        warm_up: Duration::from_secs(if quick { 1 } else { 3 }),
        trials: if quick { 3 } else { 20 },
    };
    let etcd_path = find_etcd(etcd_path);
    let scratch = std::env::temp_dir().join(format!("troupe-bench-real-{}", std::process::id()));
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let baseline = describe_baseline(etcd_path.as_deref())?;
    let load_at_start = load_average();
    if !json {
        println!("# troupe bench raft-kv --real");
        println!(
            "conditions: {cores} cores; 3 node processes on loopback, data in {}, fsync on; \
             puts of {VALUE_BYTES} B values to 1000 keys per client; clients 1, 16, 64 (one op \
             in flight each); per client count {} interleaved rounds of {} s per system \
             (troupe, etcd, troupe, ...) after a {} s warm-up of each; failover: SIGKILL of \
             the leader process, {} trials",
            scratch.display(),
            plan.rounds,
            plan.round.as_secs(),
            plan.warm_up.as_secs(),
            plan.trials
        );
        println!("baseline: {baseline}");
        println!("load average at the start (1, 5, 15 min): {load_at_start}");
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let result = runtime.block_on(async {
        let rounds = rounds(&scratch, etcd_path.as_deref(), &plan, json).await?;
        let mut nodes = Nodes::start(&scratch.join("failover"))?;
        let failover = failover_trials(&mut nodes, plan.trials).await?;
        anyhow::Ok((rounds, failover))
    });
    let _ = std::fs::remove_dir_all(&scratch);
    let (rounds, failover) = result?;
    let summaries: Vec<Summary> = LEVELS
        .iter()
        .flat_map(|&c| ["troupe", "etcd"].map(|s| compare::summarise(&rounds, s, c)))
        .flatten()
        .collect();
    let goal = Goal::judge(&summaries);
    let conditions = serde_json::json!({
        "cores": cores,
        "value_bytes": VALUE_BYTES,
        "rounds_per_level": plan.rounds,
        "round_secs": plan.round.as_secs(),
        "warm_up_secs": plan.warm_up.as_secs(),
        "baseline": baseline,
        "load_average_start": load_at_start,
        "load_average_end": load_average(),
    });
    report(
        &conditions,
        &rounds,
        &summaries,
        &failover,
        goal.as_ref(),
        json,
    );
    match goal {
        Some(g) if !g.met => bail!(
            "goal missed at {} clients (medians): troupe {:.0} ops/s, p99 {:.2} ms; etcd {:.0} ops/s, p99 {:.2} ms",
            g.clients, g.troupe_ops_per_sec, g.troupe_p99_ms, g.etcd_ops_per_sec, g.etcd_p99_ms
        ),
        _ => Ok(()),
    }
}

fn report(
    conditions: &serde_json::Value,
    rounds: &[Round],
    summaries: &[Summary],
    failover: &Failover,
    goal: Option<&Goal>,
    json: bool,
) {
    if json {
        println!(
            "{}",
            serde_json::json!({
                "conditions": conditions,
                "rounds": rounds,
                "levels": summaries,
                "goal": goal,
                "failover": failover,
            })
        );
        return;
    }
    compare::print_table(summaries, &LEVELS);
    println!(
        "\nSIGKILL of the leader -> first acknowledged write ({} trials): min {:.0} ms, p50 {:.0} ms, p90 {:.0} ms, max {:.0} ms",
        failover.trials, failover.min_ms, failover.p50_ms, failover.p90_ms, failover.max_ms
    );
    println!(
        "load average at the end (1, 5, 15 min): {}",
        conditions["load_average_end"].as_str().unwrap_or("unknown")
    );
    match goal {
        Some(g) => println!(
            "goal at {} clients, on medians (throughput >= etcd's, p99 no worse): {}",
            g.clients,
            if g.met { "met" } else { "missed" }
        ),
        None => println!("goal: not checked (no etcd baseline in this run)"),
    }
}
