//! `troupe bench raft-kv` and `troupe bench election`: the key-value service's throughput and
//! latency in virtual time, and how long Raft takes to elect a new leader after a crash.
//!
//! Both run on the simulated network, so their numbers are virtual time, which the machine's
//! speed does not affect: they measure the protocol (round trips, timeouts, batching), not the
//! CPU. Simulation speed (virtual seconds per wall second) is reported beside them.

use anyhow::Result;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant as WallInstant};
use troupe_actors::kv::clerk::Clerk;
use troupe_actors::kv::server::{KvOptions, KvServer};
use troupe_actors::kv::workload::{run_client, Recorder, Workload};
use troupe_actors::raft::peer::NAME as RAFT;
use troupe_actors::raft::RaftConfig;
use troupe_messages::raft::GetStatus;
use troupe_runtime::sim::{block_on, derive_seed, LinkFaults};
use troupe_runtime::testkit::Cluster;
use troupe_runtime::{ActorPath, NodeId};

/// One-way link delay of the benchmark network.
const LINK: (Duration, Duration) = (Duration::from_millis(1), Duration::from_millis(3));

#[derive(Serialize)]
struct KvResult {
    servers: u32,
    clients: u32,
    ops_per_virtual_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
    virtual_per_wall: f64,
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[rank] as f64 / 1e6
}

fn kv_run(servers: u32, clients: u32, secs: u64) -> KvResult {
    let wall = WallInstant::now();
    let recorder = block_on(async move {
        let members: Vec<NodeId> = (1..=servers).map(NodeId).collect();
        let group = members.clone();
        let cluster = Cluster::builder(1)
            .nodes(servers + clients)
            .faults(LinkFaults::reliable().with_delay(LINK.0, LINK.1))
            .topology(move |node| {
                if node.id().0 <= servers {
                    let options = KvOptions {
                        max_raft_state: Some(64 * 1024),
                        ..KvOptions::new(group.clone())
                    };
                    if let Err(e) = KvServer::spawn(node, options) {
                        tracing::error!("kv server did not start: {e}");
                    }
                }
            })
            .build();
        // Let the first election finish before measuring.
        cluster.run_for(Duration::from_secs(1)).await;
        let recorder = Rc::new(RefCell::new(Recorder::default()));
        let stop = Rc::new(Cell::new(false));
        let workload = Workload {
            think: Duration::ZERO,
            ..Workload::default()
        };
        let mut tasks = Vec::new();
        for c in 0..clients {
            let node = cluster.up(servers + 1 + c);
            let clerk = Clerk::new(node.clone(), members.clone(), u64::from(c) + 1);
            let rng = ChaCha8Rng::seed_from_u64(derive_seed(7, u64::from(c)));
            tasks.push(actix_rt::spawn(run_client(
                clerk,
                u64::from(c),
                workload,
                rng,
                recorder.clone(),
                stop.clone(),
                move || node.now_ns(),
            )));
        }
        cluster.run_for(Duration::from_secs(secs)).await;
        stop.set(true);
        for t in tasks {
            let _ = t.await;
        }
        Rc::try_unwrap(recorder)
            .map(RefCell::into_inner)
            .unwrap_or_default()
    });
    let mut latencies: Vec<u64> = recorder
        .history
        .iter()
        .filter_map(|o| o.ret.map(|r| r - o.call))
        .collect();
    latencies.sort_unstable();
    KvResult {
        servers,
        clients,
        ops_per_virtual_sec: recorder.ok as f64 / secs as f64,
        p50_ms: percentile(&latencies, 0.5),
        p99_ms: percentile(&latencies, 0.99),
        virtual_per_wall: (secs + 1) as f64 / wall.elapsed().as_secs_f64(),
    }
}

/// `troupe bench raft-kv`.
pub fn kv(quick: bool, json: bool) -> Result<()> {
    let secs = if quick { 2 } else { 10 };
    if !json {
        println!(
            "troupe bench raft-kv: simulated network, links {:?}-{:?} one way, 10 ms Raft ticks, \
             heartbeats 50 ms, clients without think time, {secs} virtual s per run; latency \
             and throughput in virtual time",
            LINK.0, LINK.1
        );
        println!("servers clients  ops/virtual-s   p50 ms   p99 ms   virtual s per wall s");
    }
    let mut results = Vec::new();
    for servers in [3, 5] {
        for clients in [1, 8, 64] {
            let r = kv_run(servers, clients, secs);
            if !json {
                println!(
                    "{:>7} {:>7} {:>14.0} {:>8.1} {:>8.1} {:>22.0}",
                    r.servers,
                    r.clients,
                    r.ops_per_virtual_sec,
                    r.p50_ms,
                    r.p99_ms,
                    r.virtual_per_wall
                );
            }
            results.push(r);
        }
    }
    if json {
        println!("{}", serde_json::to_string(&results)?);
    }
    Ok(())
}

#[derive(Serialize)]
struct ElectionResult {
    timeout_ms: (u32, u32),
    trials: usize,
    min_ms: f64,
    p50_ms: f64,
    p90_ms: f64,
    p99_ms: f64,
    max_ms: f64,
}

/// One trial: 5 peers elect a leader; it crashes; how long until another leads?
fn election_trial(seed: u64, timeout_ms: (u32, u32)) -> Option<u64> {
    block_on(async move {
        let members: Vec<NodeId> = (1..=5).map(NodeId).collect();
        let group = members.clone();
        let config = RaftConfig {
            election_ticks_min: timeout_ms.0,
            election_ticks_max: timeout_ms.1,
            heartbeat_ticks: 50,
            ..RaftConfig::default()
        };
        let cluster = Cluster::builder(seed)
            .nodes(5)
            .faults(LinkFaults::reliable().with_delay(LINK.0, LINK.1))
            .topology(move |node| {
                let mut options = KvOptions::new(group.clone());
                options.raft.config = config;
                options.raft.tick = Duration::from_millis(1);
                if let Err(e) = KvServer::spawn(node, options) {
                    tracing::error!("kv server did not start: {e}");
                }
            })
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
            .wait_for(
                "a first leader",
                Duration::from_secs(10),
                Duration::from_millis(5),
                || {
                    let probe = leader(None);
                    let found = first.clone();
                    async move {
                        found.set(probe.await);
                        found.get().is_some()
                    }
                },
            )
            .await
            .ok()?;
        // Let it settle into steady heartbeats, then crash it.
        cluster.run_for(Duration::from_millis(500)).await;
        let old = first.get()?;
        cluster.crash(old.0);
        let took = cluster
            .wait_for(
                "a new leader",
                Duration::from_secs(10),
                Duration::from_millis(1),
                || {
                    let probe = leader(Some(old));
                    async move { probe.await.is_some() }
                },
            )
            .await
            .ok()?;
        Some(took.as_nanos() as u64)
    })
}

/// `troupe bench election`.
pub fn election(quick: bool, json: bool) -> Result<()> {
    let trials = if quick { 100 } else { 1000 };
    if !json {
        println!(
            "troupe bench election: 5 peers, links {:?}-{:?} one way, 1 ms ticks, heartbeats \
             every 50 ms, PreVote and CheckQuorum on; the leader crashes after 0.5 s of steady \
             state; time until another peer leads, over {trials} trials (seeds 1..={trials})",
            LINK.0, LINK.1
        );
        println!("timeouts ms   min     p50     p90     p99     max   (ms)");
    }
    let mut results = Vec::new();
    for timeout in [(150, 155), (150, 175), (150, 200), (150, 300)] {
        let mut times: Vec<u64> = (1..=trials as u64)
            .filter_map(|s| election_trial(s, timeout))
            .collect();
        times.sort_unstable();
        let r = ElectionResult {
            timeout_ms: timeout,
            trials: times.len(),
            min_ms: percentile(&times, 0.0),
            p50_ms: percentile(&times, 0.5),
            p90_ms: percentile(&times, 0.9),
            p99_ms: percentile(&times, 0.99),
            max_ms: percentile(&times, 1.0),
        };
        if !json {
            println!(
                "{:>3}-{:<3}   {:>7.0} {:>7.0} {:>7.0} {:>7.0} {:>7.0}   ({} of {trials} trials elected)",
                timeout.0, timeout.1, r.min_ms, r.p50_ms, r.p90_ms, r.p99_ms, r.max_ms, r.trials
            );
        }
        results.push(r);
    }
    if json {
        println!("{}", serde_json::to_string(&results)?);
    }
    Ok(())
}
