//! `troupe bench raft-kv`: the key-value service's throughput and latency on the simulated
//! network, in virtual time, which the machine's speed does not affect.
//!
//! Handling a message takes no virtual time in the simulation, so without more the throughput
//! would only be the clients divided by their latency. Each server therefore has a service time
//! in the simulated network (`SimNet::set_service_time`): every message it receives (client
//! requests and peer messages) occupies it for [`PER_MESSAGE`] of virtual time, one at a time,
//! as one busy CPU would; what arrives meanwhile waits and is handed over as a batch, and what
//! the server sends in answer leaves when that work is done. The leader, which handles a
//! request per operation, saturates; the numbers show the protocol's round trips and batching
//! at a fixed per-server capacity. Simulation speed (virtual seconds
//! per wall second) is reported beside them.

use anyhow::Result;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant as WallInstant};
use troupe::systems::raft_kv::RaftKv;
use troupe::systems::topology;
use troupe::testkit::workload::{run_client, Recorder, Workload};
use troupe_runtime::sim::{block_on, derive_seed, LinkFaults};
use troupe_runtime::testkit::Cluster;

/// One-way link delay of the benchmark network (also `troupe bench election`'s).
pub(super) const LINK: (Duration, Duration) = (Duration::from_millis(1), Duration::from_millis(3));
/// How long a Raft peer is busy with one message (the capacity model).
const PER_MESSAGE: Duration = Duration::from_micros(100);
/// Closed-loop clients per run: from one to more than the leader can serve.
const CLIENTS: [u32; 5] = [1, 8, 64, 256, 512];

#[derive(Serialize)]
struct KvResult {
    servers: u32,
    clients: u32,
    ops_per_virtual_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
    /// Operations that did not succeed (timed out or not committed), not counted above.
    failed: u64,
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
        let mut system = RaftKv::new(servers).bare();
        system.options.max_raft_state = Some(64 * 1024);
        let cluster = Cluster::builder(1)
            .nodes(servers + clients)
            .faults(LinkFaults::reliable().with_delay(LINK.0, LINK.1))
            .topology(topology(system.clone()))
            .build();
        for &server in system.servers() {
            cluster.net().set_service_time(server, Some(PER_MESSAGE));
        }
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
            let clerk = system.client(node.clone(), u64::from(c) + 1);
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
        failed: recorder.failed + recorder.unknown,
        virtual_per_wall: (secs + 1) as f64 / wall.elapsed().as_secs_f64(),
    }
}

/// `troupe bench raft-kv`.
pub fn kv(quick: bool, json: bool) -> Result<()> {
    let secs = if quick { 2 } else { 10 };
    if !json {
        println!(
            "troupe bench raft-kv: simulated network, links {:?}-{:?} one way, 10 ms Raft ticks, \
             heartbeats 50 ms; each server handles one message it receives (request or peer message) per \
             {:?} of virtual time; closed-loop clients without think time, {secs} virtual s \
             per run after 1 s; latency and throughput in virtual time",
            LINK.0, LINK.1, PER_MESSAGE
        );
        println!(
            "servers clients  ops/virtual-s   p50 ms   p99 ms   failed   virtual s per wall s"
        );
    }
    let mut results = Vec::new();
    for servers in [3, 5] {
        for clients in CLIENTS {
            let r = kv_run(servers, clients, secs);
            if !json {
                println!(
                    "{:>7} {:>7} {:>14.0} {:>8.1} {:>8.1} {:>8} {:>22.0}",
                    r.servers,
                    r.clients,
                    r.ops_per_virtual_sec,
                    r.p50_ms,
                    r.p99_ms,
                    r.failed,
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
