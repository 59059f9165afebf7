//! `troupe bench messaging`: what troupe's messaging costs.
//!
//! (a) Local one-way and request/response throughput through troupe's API (`Node::send` and
//!     `Node::call` by path) against raw actix (`Addr::do_send` and `Addr::send`) to the same
//!     actor type, in the same process, rounds interleaved; the median round of each counts.
//! (b) SimNet throughput: one-way messages per wall-clock second between two simulated nodes,
//!     rmp-serde encoding and decoding included.
//! (c) Virtual-time speed: virtual seconds per wall-clock second of the 5-node ping topology
//!     (every node calls every other node every 100 ms over 1-5 ms links), and of a 10x busier
//!     variant (every 10 ms).

use anyhow::{bail, Result};
use serde::Serialize;
use std::time::{Duration, Instant as WallInstant};
use troupe_actors::ping::{Pinger, NAME as PINGER};
use troupe_messages::ping::{GetCounts, Ping, Tick};
use troupe_runtime::sim::{block_on, LinkFaults};
use troupe_runtime::testkit::Cluster;
use troupe_runtime::{ActorPath, Node, NodeId};

const BATCH: u64 = 10_000;
const DEADLINE: Duration = Duration::from_secs(10);

#[derive(Serialize)]
struct Results {
    conditions: Conditions,
    local_oneway_raw_per_sec: f64,
    local_oneway_troupe_per_sec: f64,
    local_oneway_ratio: f64,
    local_call_raw_per_sec: f64,
    local_call_troupe_per_sec: f64,
    local_call_ratio: f64,
    simnet_messages_per_sec: f64,
    virtual_speed_ping_100ms: f64,
    virtual_speed_ping_10ms: f64,
}

#[derive(Serialize)]
struct Conditions {
    cores: usize,
    profile: &'static str,
    rounds: usize,
    oneway_messages_per_round: u64,
    calls_per_round: u64,
    simnet_messages: u64,
    virtual_secs: u64,
}

pub fn run(quick: bool, json: bool) -> Result<()> {
    let conditions = Conditions {
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        profile: if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
        rounds: if quick { 3 } else { 7 },
        oneway_messages_per_round: if quick { 50_000 } else { 500_000 },
        calls_per_round: if quick { 20_000 } else { 200_000 },
        simnet_messages: if quick { 50_000 } else { 500_000 },
        virtual_secs: if quick { 10 } else { 60 },
    };
    if !json {
        println!(
            "troupe bench messaging: {} cores, {} build, {} interleaved rounds of {} one-way \
             messages and {} calls; SimNet {} messages; ping topology for {} virtual s",
            conditions.cores,
            conditions.profile,
            conditions.rounds,
            conditions.oneway_messages_per_round,
            conditions.calls_per_round,
            conditions.simnet_messages,
            conditions.virtual_secs
        );
    }
    let (oneway_raw, oneway_troupe, call_raw, call_troupe) = local(&conditions);
    let simnet = simnet_throughput(conditions.simnet_messages)?;
    let speed_100 = virtual_speed(conditions.virtual_secs, Duration::from_millis(100));
    let speed_10 = virtual_speed(conditions.virtual_secs, Duration::from_millis(10));
    let results = Results {
        local_oneway_raw_per_sec: oneway_raw,
        local_oneway_troupe_per_sec: oneway_troupe,
        local_oneway_ratio: oneway_troupe / oneway_raw,
        local_call_raw_per_sec: call_raw,
        local_call_troupe_per_sec: call_troupe,
        local_call_ratio: call_troupe / call_raw,
        simnet_messages_per_sec: simnet,
        virtual_speed_ping_100ms: speed_100,
        virtual_speed_ping_10ms: speed_10,
        conditions,
    };
    let verdict = goals(&results);
    if json {
        println!("{}", serde_json::to_string(&results)?);
    } else {
        println!("(a) local one-way   raw actix do_send {:>12.0}/s   troupe send {:>12.0}/s   ratio {:.2}",
            results.local_oneway_raw_per_sec, results.local_oneway_troupe_per_sec, results.local_oneway_ratio);
        println!("    local call      raw actix send    {:>12.0}/s   troupe call {:>12.0}/s   ratio {:.2}",
            results.local_call_raw_per_sec, results.local_call_troupe_per_sec, results.local_call_ratio);
        println!(
            "(b) SimNet one-way, encoded and decoded: {:.0} messages per wall second",
            results.simnet_messages_per_sec
        );
        println!(
            "(c) virtual-time speed, 5-node ping every 100 ms: {:.0}x; every 10 ms: {:.0}x",
            results.virtual_speed_ping_100ms, results.virtual_speed_ping_10ms
        );
    }
    verdict
}

/// The goals: local messaging at 70% of raw actix or better, virtual time at 100x or better.
/// Only a release build is held to them.
fn goals(r: &Results) -> Result<()> {
    let mut missed = Vec::new();
    if r.local_oneway_ratio < 0.7 {
        missed.push(format!(
            "local one-way at {:.2} of raw actix (goal 0.70)",
            r.local_oneway_ratio
        ));
    }
    if r.local_call_ratio < 0.7 {
        missed.push(format!(
            "local call at {:.2} of raw actix (goal 0.70)",
            r.local_call_ratio
        ));
    }
    if r.virtual_speed_ping_100ms < 100.0 {
        missed.push(format!(
            "virtual-time speed {:.0}x (goal 100x)",
            r.virtual_speed_ping_100ms
        ));
    }
    match (missed.is_empty(), r.conditions.profile) {
        (true, _) => Ok(()),
        (false, "release") => bail!("goals missed: {}", missed.join("; ")),
        (false, _) => {
            eprintln!(
                "debug build, goals not checked (they would miss: {})",
                missed.join("; ")
            );
            Ok(())
        }
    }
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// Rounds of the four local measurements, interleaved so that noise hits all alike.
fn local(c: &Conditions) -> (f64, f64, f64, f64) {
    let system = actix_rt::System::new();
    system.block_on(async {
        let node = Node::local(NodeId(1));
        let target = Pinger::start(&node, [], Duration::from_secs(1))
            .expect("a fresh node has the name free");
        let raw = target.addr().clone();
        let path = ActorPath::new(NodeId(1), PINGER);
        let (mut ow_raw, mut ow_troupe, mut call_raw, mut call_troupe) =
            (vec![], vec![], vec![], vec![]);
        for _ in 0..c.rounds {
            let n = c.oneway_messages_per_round;
            let t = WallInstant::now();
            for batch in 0..n / BATCH {
                for i in 0..BATCH {
                    raw.do_send(Tick(batch * BATCH + i));
                }
                let _ = raw.send(GetCounts).await;
            }
            ow_raw.push(n as f64 / t.elapsed().as_secs_f64());

            let t = WallInstant::now();
            for batch in 0..n / BATCH {
                for i in 0..BATCH {
                    let _ = node.send(&path, Tick(batch * BATCH + i));
                }
                let _ = node.call(&path, GetCounts, DEADLINE).await;
            }
            ow_troupe.push(n as f64 / t.elapsed().as_secs_f64());

            let n = c.calls_per_round;
            let t = WallInstant::now();
            for i in 0..n {
                let _ = raw.send(Ping(i)).await;
            }
            call_raw.push(n as f64 / t.elapsed().as_secs_f64());

            let t = WallInstant::now();
            for i in 0..n {
                let _ = node.call(&path, Ping(i), DEADLINE).await;
            }
            call_troupe.push(n as f64 / t.elapsed().as_secs_f64());
        }
        (
            median(ow_raw),
            median(ow_troupe),
            median(call_raw),
            median(call_troupe),
        )
    })
}

/// One-way messages from n1 to n2 through the simulated network, per wall second.
fn simnet_throughput(n: u64) -> Result<f64> {
    let delivered = block_on(async move {
        let cluster = Cluster::builder(1)
            .nodes(2)
            .topology(|node| {
                Pinger::start(node, [], Duration::from_secs(1))
                    .expect("a fresh node has the name free");
            })
            .build();
        let n1 = cluster.up(1);
        let to = ActorPath::new(NodeId(2), PINGER);
        let t = WallInstant::now();
        for batch in 0..n / BATCH {
            for i in 0..BATCH {
                let _ = n1.send(&to, Tick(batch * BATCH + i));
            }
            let _ = n1.call(&to, GetCounts, DEADLINE).await;
        }
        let elapsed = t.elapsed();
        let ticks = n1
            .call(&to, GetCounts, DEADLINE)
            .await
            .map(|c| c.ticks)
            .unwrap_or(0);
        (ticks, elapsed)
    });
    if delivered.0 != n {
        bail!(
            "SimNet delivered {} of {} messages on a reliable network",
            delivered.0,
            n
        );
    }
    Ok(n as f64 / delivered.1.as_secs_f64())
}

/// Virtual seconds per wall second of 5 pinging nodes.
fn virtual_speed(virtual_secs: u64, every: Duration) -> f64 {
    let t = WallInstant::now();
    block_on(async move {
        let ids: Vec<NodeId> = (1..=5).map(NodeId).collect();
        let cluster = Cluster::builder(1)
            .nodes(5)
            .faults(
                LinkFaults::reliable()
                    .with_delay(Duration::from_millis(1), Duration::from_millis(5)),
            )
            .topology(move |node| {
                Pinger::start(node, ids.clone(), every).expect("a fresh node has the name free");
            })
            .build();
        cluster.run_for(Duration::from_secs(virtual_secs)).await;
    });
    virtual_secs as f64 / t.elapsed().as_secs_f64()
}
