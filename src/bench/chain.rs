//! `troupe bench chain`: read throughput against chain length (1 to 5) for chain replication
//! (reads at the tail) and CRAQ (reads at every node), at 0%, 10% and 50% writes.
//!
//! The chain runs on the simulated network under a capacity model: each chain node handles
//! one message per [`PER_MESSAGE`] of virtual time, as a server with one busy CPU would (the
//! network's per-node service time, `SimNet::set_service_time`). Without it, handling would take no virtual time and
//! every chain would read infinitely fast; with it, the numbers show what the protocols do with
//! the same per-node capacity, which is the paper's claim: CR's reads are bounded by the tail,
//! CRAQ's grow with the number of nodes, less the version queries dirty keys cost the tail.
//! Virtual time is deterministic, so the runs compare without the machine's noise.

use anyhow::{bail, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;
use troupe::systems::chain::Chain;
use troupe::systems::topology;
use troupe_actors::chain::clerk::ConfigSource;
use troupe_actors::client::Outcome;
use troupe_messages::kv::KvOp;
use troupe_runtime::sim::{block_on, derive_seed, LinkFaults};
use troupe_runtime::testkit::Cluster;

/// How long a node is busy with one message.
const PER_MESSAGE: Duration = Duration::from_micros(100);
/// One-way link delay: whole milliseconds, as the simulated clock's timers tick.
const LINK: (Duration, Duration) = (Duration::from_millis(1), Duration::from_millis(2));
/// Closed-loop clients: enough to keep five nodes busy.
const CLIENTS: u32 = 256;
/// Keys the clients spread over.
const KEYS: u32 = 1000;

#[derive(Serialize, Clone)]
struct ChainResult {
    length: u32,
    craq: bool,
    write_percent: u32,
    reads_per_virtual_sec: f64,
    writes_per_virtual_sec: f64,
}

fn run_one(length: u32, craq: bool, write_percent: u32, secs: u64) -> ChainResult {
    let (reads, writes) = block_on(async move {
        let system = Chain::unmanaged(length, craq);
        let config = system.initial.clone();
        let cluster = Cluster::builder(1)
            .nodes(length + CLIENTS)
            .faults(LinkFaults::reliable().with_delay(LINK.0, LINK.1))
            .topology(topology(system.clone()))
            .build();
        for &server in &system.servers {
            cluster.net().set_service_time(server, Some(PER_MESSAGE));
        }
        let reads = Rc::new(Cell::new(0u64));
        let writes = Rc::new(Cell::new(0u64));
        let measuring = Rc::new(Cell::new(false));
        let stop = Rc::new(Cell::new(false));
        let mut tasks = Vec::new();
        for c in 0..CLIENTS {
            let node = cluster.up(length + 1 + c);
            let id = u64::from(c) + 1;
            let mut clerk = system.client_with(node, id, 9, |_, _, _| {
                let known = config.clone();
                ConfigSource::Given(Box::new(move || known.clone()))
            });
            let mut rng = ChaCha8Rng::seed_from_u64(derive_seed(10, id));
            let (reads, writes) = (reads.clone(), writes.clone());
            let (measuring, stop) = (measuring.clone(), stop.clone());
            tasks.push(actix_rt::spawn(async move {
                while !stop.get() {
                    let key = format!("k{}", rng.gen_range(0..KEYS));
                    let write = rng.gen_range(0..100) < write_percent;
                    let op = if write {
                        KvOp::Put {
                            key,
                            value: format!("{id}"),
                        }
                    } else {
                        KvOp::Get { key }
                    };
                    let done = clerk.run(op, Duration::from_secs(5)).await;
                    if matches!(done, Outcome::Done(_)) && measuring.get() {
                        let counter = if write { &writes } else { &reads };
                        counter.set(counter.get() + 1);
                    }
                }
            }));
        }
        // Warm up (the clerks learn the chain, queues fill), then measure.
        cluster.run_for(Duration::from_millis(500)).await;
        measuring.set(true);
        cluster.run_for(Duration::from_secs(secs)).await;
        measuring.set(false);
        stop.set(true);
        for t in tasks {
            let _ = t.await;
        }
        (reads.get(), writes.get())
    });
    ChainResult {
        length,
        craq,
        write_percent,
        reads_per_virtual_sec: reads as f64 / secs as f64,
        writes_per_virtual_sec: writes as f64 / secs as f64,
    }
}

/// `troupe bench chain`. Fails if CRAQ at length 3 without writes is not 2.5 times as fast
/// as CR.
pub fn run(quick: bool, json: bool) -> Result<()> {
    let secs = if quick { 1 } else { 3 };
    if !json {
        println!(
            "troupe bench chain: simulated network, links {:?}-{:?} one way; each node handles \
             one message per {:?} of virtual time; {CLIENTS} closed-loop clients over {KEYS} \
             keys; {secs} virtual s per run after 0.5 s of warm-up",
            LINK.0, LINK.1, PER_MESSAGE
        );
        println!("reads per virtual second (CR = reads at the tail, the baseline; CRAQ = reads anywhere)");
        println!("length  writes   CR reads/s   CRAQ reads/s   CRAQ/CR");
    }
    let mut results = Vec::new();
    for write_percent in [0, 10, 50] {
        for length in 1..=5 {
            let cr = run_one(length, false, write_percent, secs);
            let craq = run_one(length, true, write_percent, secs);
            if !json {
                println!(
                    "{length:>6} {write_percent:>6}% {:>12.0} {:>14.0} {:>9.2}",
                    cr.reads_per_virtual_sec,
                    craq.reads_per_virtual_sec,
                    craq.reads_per_virtual_sec / cr.reads_per_virtual_sec
                );
            }
            results.push(cr);
            results.push(craq);
        }
    }
    if json {
        println!("{}", serde_json::to_string(&results)?);
    }
    let at = |craq: bool| {
        results
            .iter()
            .find(|r| r.length == 3 && r.write_percent == 0 && r.craq == craq)
            .map_or(0.0, |r| r.reads_per_virtual_sec)
    };
    let ratio = at(true) / at(false);
    if ratio < 2.5 {
        bail!("CRAQ at length 3 without writes reads {ratio:.2} times as fast as CR (goal 2.5)");
    }
    Ok(())
}
