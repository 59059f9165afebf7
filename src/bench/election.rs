//! `troupe bench election`: how long Raft takes to elect a new leader after the leader
//! crashes, over many seeded trials on the simulated network, in virtual time.
//!
//! A trial that elects no leader within [`LIMIT`] (before or after the crash) is a failed
//! trial: it is counted, printed with its seed, and kept in the statistics as slower than the
//! limit, so that failures show in the high percentiles instead of vanishing from them. The
//! command fails if any trial failed.

use super::raft::LINK;
use anyhow::{bail, Result};
use serde::Serialize;
use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;
use troupe::systems::raft_kv::RaftKv;
use troupe::systems::topology;
use troupe_actors::raft::peer::NAME as RAFT;
use troupe_actors::raft::RaftConfig;
use troupe_messages::raft::GetStatus;
use troupe_runtime::sim::{block_on, LinkFaults};
use troupe_runtime::testkit::Cluster;
use troupe_runtime::{ActorPath, NodeId};

/// How long a trial waits for a leader, first and after the crash.
const LIMIT: Duration = Duration::from_secs(10);
/// The election timeouts compared, in ms.
const TIMEOUTS: [(u32, u32); 4] = [(150, 155), (150, 175), (150, 200), (150, 300)];

/// Why a trial failed.
#[derive(Serialize, Clone, Copy, Debug)]
#[serde(rename_all = "snake_case")]
enum Failure {
    /// No leader within the limit from the start.
    NoFirstLeader,
    /// No other peer led within the limit after the leader crashed.
    NoNewLeader,
}

impl Failure {
    fn describe(self) -> &'static str {
        match self {
            Failure::NoFirstLeader => "no first leader",
            Failure::NoNewLeader => "no new leader after the crash",
        }
    }
}

#[derive(Serialize)]
struct FailedTrial {
    seed: u64,
    failure: Failure,
}

#[derive(Serialize)]
struct ElectionResult {
    timeout_ms: (u32, u32),
    trials: usize,
    elected: usize,
    failed: Vec<FailedTrial>,
    /// Percentiles over every trial, a failed one counted as slower than the limit: `None`
    /// where the percentile falls on a failed trial.
    min_ms: Option<f64>,
    p50_ms: Option<f64>,
    p90_ms: Option<f64>,
    p99_ms: Option<f64>,
    max_ms: Option<f64>,
}

/// The value at `p` of all trials sorted, failures (`None`) last: `None` if it is a failure.
fn percentile(sorted: &[Option<u64>], p: f64) -> Option<f64> {
    let rank = ((sorted.len().checked_sub(1)?) as f64 * p).round() as usize;
    sorted[rank].map(|ns| ns as f64 / 1e6)
}

/// Sorts trial times ascending, failures last: a failed trial is slower than any that elected.
fn sort_failures_last(times: &mut [Option<u64>]) {
    times.sort_unstable_by_key(|t| t.unwrap_or(u64::MAX));
}

/// One trial: 5 peers elect a leader; it crashes; how long until another leads?
fn election_trial(seed: u64, timeout_ms: (u32, u32)) -> Result<u64, Failure> {
    block_on(async move {
        let mut system = RaftKv::new(5).bare();
        system.options.raft.config = RaftConfig {
            election_ticks_min: timeout_ms.0,
            election_ticks_max: timeout_ms.1,
            heartbeat_ticks: 50,
            ..RaftConfig::default()
        };
        system.options.raft.tick = Duration::from_millis(1);
        let members = system.servers().to_vec();
        let cluster = Cluster::builder(seed)
            .nodes(5)
            .faults(LinkFaults::reliable().with_delay(LINK.0, LINK.1))
            .topology(topology(system))
            .build();
        let leader = |skip: Option<NodeId>| {
            let cluster = cluster.clone();
            let members = members.clone();
            async move {
                for &id in &members {
                    if Some(id) == skip {
                        continue;
                    }
                    if let Some(node) = cluster.net().node(id) {
                        let status = node
                            .call(
                                &ActorPath::new(id, RAFT),
                                GetStatus,
                                Duration::from_millis(10),
                            )
                            .await;
                        if status.is_ok_and(|s| s.is_leader) {
                            return Some(id);
                        }
                    }
                }
                None
            }
        };
        let first = Rc::new(Cell::new(None));
        cluster
            .wait_for("a first leader", LIMIT, Duration::from_millis(5), || {
                let probe = leader(None);
                let found = first.clone();
                async move {
                    found.set(probe.await);
                    found.get().is_some()
                }
            })
            .await
            .map_err(|_| Failure::NoFirstLeader)?;
        // Let it settle into steady heartbeats, then crash it.
        cluster.run_for(Duration::from_millis(500)).await;
        let old = first.get().ok_or(Failure::NoFirstLeader)?;
        cluster.crash(old.0);
        let took = cluster
            .wait_for("a new leader", LIMIT, Duration::from_millis(1), || {
                let probe = leader(Some(old));
                async move { probe.await.is_some() }
            })
            .await
            .map_err(|_| Failure::NoNewLeader)?;
        Ok(took.as_nanos() as u64)
    })
}

fn run_timeout(timeout: (u32, u32), trials: u64) -> ElectionResult {
    let mut times = Vec::new();
    let mut failed = Vec::new();
    for seed in 1..=trials {
        match election_trial(seed, timeout) {
            Ok(ns) => times.push(Some(ns)),
            Err(failure) => {
                times.push(None);
                failed.push(FailedTrial { seed, failure });
            }
        }
    }
    sort_failures_last(&mut times);
    ElectionResult {
        timeout_ms: timeout,
        trials: times.len(),
        elected: times.len() - failed.len(),
        failed,
        min_ms: percentile(&times, 0.0),
        p50_ms: percentile(&times, 0.5),
        p90_ms: percentile(&times, 0.9),
        p99_ms: percentile(&times, 0.99),
        max_ms: percentile(&times, 1.0),
    }
}

fn cell(ms: Option<f64>) -> String {
    ms.map_or_else(
        || format!(">{}", LIMIT.as_millis()),
        |ms| format!("{ms:.0}"),
    )
}

/// `troupe bench election`. Fails if any trial elected no leader within the limit.
pub fn run(quick: bool, json: bool) -> Result<()> {
    let trials = if quick { 100 } else { 1000 };
    if !json {
        println!(
            "troupe bench election: 5 peers, links {:?}-{:?} one way, 1 ms ticks, heartbeats \
             every 50 ms, PreVote and CheckQuorum on; the leader crashes after 0.5 s of steady \
             state; time until another peer leads, over {trials} trials (seeds 1..={trials}); \
             a trial with no leader within {LIMIT:?} fails and counts as slower than that",
            LINK.0, LINK.1
        );
        println!("timeouts ms   min     p50     p90     p99     max   (ms)   failed");
    }
    let mut results = Vec::new();
    for timeout in TIMEOUTS {
        let r = run_timeout(timeout, trials);
        if !json {
            println!(
                "{:>3}-{:<3}   {:>7} {:>7} {:>7} {:>7} {:>7}        {} of {}",
                timeout.0,
                timeout.1,
                cell(r.min_ms),
                cell(r.p50_ms),
                cell(r.p90_ms),
                cell(r.p99_ms),
                cell(r.max_ms),
                r.failed.len(),
                r.trials
            );
            for f in &r.failed {
                println!(
                    "    failed: seed {}: {} within {LIMIT:?}",
                    f.seed,
                    f.failure.describe()
                );
            }
        }
        results.push(r);
    }
    if json {
        println!("{}", serde_json::to_string(&results)?);
    }
    let failed: usize = results.iter().map(|r| r.failed.len()).sum();
    if failed > 0 {
        bail!("{failed} election trials elected no leader within {LIMIT:?}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_trials_count_as_slower_than_any_election() {
        let ms = |n: u64| Some(n * 1_000_000);
        let mut times = vec![ms(300), None, ms(100), ms(200)];
        sort_failures_last(&mut times);
        assert_eq!(percentile(&times, 0.0), Some(100.0));
        assert_eq!(percentile(&times, 0.5), Some(300.0));
        assert_eq!(percentile(&times, 1.0), None);
        assert_eq!(cell(percentile(&times, 1.0)), ">10000");
        assert_eq!(percentile(&[], 0.5), None);
    }
}
