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
//!
//! Every message is counted: one-way messages by the receiver's count, calls by their answers,
//! the ping topology's calls by the pingers' own counts. All paths are reliable here, so the
//! command fails on any message lost, in any build.

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
    delivery: Vec<Tally>,
}

/// Messages (or calls) that had to arrive, and those that did.
#[derive(Serialize, Clone, Copy)]
struct Tally {
    what: &'static str,
    expected: u64,
    delivered: u64,
}

impl Tally {
    fn new(what: &'static str) -> Self {
        Tally {
            what,
            expected: 0,
            delivered: 0,
        }
    }

    fn lost(&self) -> u64 {
        self.expected.saturating_sub(self.delivered)
    }
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
    let mut delivery = Vec::new();
    let (oneway_raw, oneway_troupe, call_raw, call_troupe) = local(&conditions, &mut delivery);
    let simnet = simnet_throughput(conditions.simnet_messages, &mut delivery);
    let speed_100 = virtual_speed(
        conditions.virtual_secs,
        Duration::from_millis(100),
        "ping calls, every 100 ms",
        &mut delivery,
    );
    let speed_10 = virtual_speed(
        conditions.virtual_secs,
        Duration::from_millis(10),
        "ping calls, every 10 ms",
        &mut delivery,
    );
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
        delivery,
        conditions,
    };
    let verdict = no_loss(&results.delivery).and(goals(&results));
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
        println!("delivered (of those that had to arrive):");
        for t in &results.delivery {
            println!(
                "    {:<34} {:>10} of {:>10}   lost {}",
                t.what,
                t.delivered,
                t.expected,
                t.lost()
            );
        }
    }
    verdict
}

/// Every path measured is reliable: one message lost fails the command, in any build.
fn no_loss(delivery: &[Tally]) -> Result<()> {
    let lost: Vec<String> = delivery
        .iter()
        .filter(|t| t.lost() > 0)
        .map(|t| format!("{}: {} of {} lost", t.what, t.lost(), t.expected))
        .collect();
    if lost.is_empty() {
        Ok(())
    } else {
        bail!("messages lost: {}", lost.join("; "))
    }
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

/// Rounds of the four local measurements, interleaved so that noise hits all alike; every
/// message is counted into `delivery`.
fn local(c: &Conditions, delivery: &mut Vec<Tally>) -> (f64, f64, f64, f64) {
    let system = actix_rt::System::new();
    let (rates, tallies) = system.block_on(async {
        let node = Node::local(NodeId(1));
        let target = Pinger::start(&node, [], Duration::from_secs(1))
            .expect("a fresh node has the name free");
        let raw = target.addr().clone();
        let path = ActorPath::new(NodeId(1), PINGER);
        let mut tallies = [
            Tally::new("local one-way, raw actix"),
            Tally::new("local one-way, troupe"),
            Tally::new("local calls, raw actix"),
            Tally::new("local calls, troupe"),
        ];
        let (mut ow_raw, mut ow_troupe, mut call_raw, mut call_troupe) =
            (vec![], vec![], vec![], vec![]);
        let mut ticks = 0;
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
            let now = raw.send(GetCounts).await.map_or(ticks, |c| c.ticks);
            tallies[0].expected += n;
            tallies[0].delivered += now - ticks;
            ticks = now;

            let t = WallInstant::now();
            for batch in 0..n / BATCH {
                for i in 0..BATCH {
                    let _ = node.send(&path, Tick(batch * BATCH + i));
                }
                let _ = node.call(&path, GetCounts, DEADLINE).await;
            }
            ow_troupe.push(n as f64 / t.elapsed().as_secs_f64());
            let now = raw.send(GetCounts).await.map_or(ticks, |c| c.ticks);
            tallies[1].expected += n;
            tallies[1].delivered += now - ticks;
            ticks = now;

            let n = c.calls_per_round;
            let mut answered = 0;
            let t = WallInstant::now();
            for i in 0..n {
                answered += u64::from(matches!(raw.send(Ping(i)).await, Ok(a) if a == i));
            }
            call_raw.push(n as f64 / t.elapsed().as_secs_f64());
            tallies[2].expected += n;
            tallies[2].delivered += answered;

            let mut answered = 0;
            let t = WallInstant::now();
            for i in 0..n {
                let answer = node.call(&path, Ping(i), DEADLINE).await;
                answered += u64::from(matches!(answer, Ok(a) if a == i));
            }
            call_troupe.push(n as f64 / t.elapsed().as_secs_f64());
            tallies[3].expected += n;
            tallies[3].delivered += answered;
        }
        let rates = (
            median(ow_raw),
            median(ow_troupe),
            median(call_raw),
            median(call_troupe),
        );
        (rates, tallies)
    });
    delivery.extend(tallies);
    rates
}

/// One-way messages from n1 to n2 through the simulated network, per wall second; the
/// messages n2 received are counted into `delivery`.
fn simnet_throughput(n: u64, delivery: &mut Vec<Tally>) -> f64 {
    let (ticks, elapsed) = block_on(async move {
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
    delivery.push(Tally {
        what: "SimNet one-way",
        expected: n,
        delivered: ticks,
    });
    n as f64 / elapsed.as_secs_f64()
}

/// Virtual seconds per wall second of 5 pinging nodes; their calls are counted into
/// `delivery` (a call still in flight at the end counts neither way).
fn virtual_speed(
    virtual_secs: u64,
    every: Duration,
    what: &'static str,
    delivery: &mut Vec<Tally>,
) -> f64 {
    let mut wall = Duration::ZERO;
    let counts = block_on(async {
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
        let t = WallInstant::now();
        cluster.run_for(Duration::from_secs(virtual_secs)).await;
        wall = t.elapsed();
        let mut counts = Vec::new();
        for id in 1..=5 {
            let path = ActorPath::new(NodeId(id), PINGER);
            if let Ok(c) = cluster.up(id).call(&path, GetCounts, DEADLINE).await {
                counts.push(c);
            }
        }
        counts
    });
    let answered: u64 = counts.iter().map(|c| c.pongs).sum();
    let failed: u64 = counts.iter().map(|c| c.failures).sum();
    // A pinger that did not answer its count lost everything it was to report.
    let missing = 5 - counts.len() as u64;
    delivery.push(Tally {
        what,
        expected: answered + failed + missing,
        delivered: answered,
    });
    virtual_secs as f64 / wall.as_secs_f64()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_lost_message_fails_the_bench() {
        let all = Tally {
            what: "all there",
            expected: 10,
            delivered: 10,
        };
        assert!(no_loss(&[all]).is_ok());
        let one_short = Tally {
            what: "one short",
            expected: 10,
            delivered: 9,
        };
        let err = no_loss(&[all, one_short]).expect_err("a loss fails");
        assert!(err.to_string().contains("one short: 1 of 10 lost"), "{err}");
    }
}
