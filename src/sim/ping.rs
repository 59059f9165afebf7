//! `troupe sim ping`: every node pings every other node while the nemesis acts; afterwards
//! every node must make progress again.

use super::narrate::{story, Timeline};
use super::{replay_command, Common, SimSystem};
use anyhow::{bail, Result};
use serde::Serialize;
use std::time::{Duration, Instant as WallInstant};
use troupe_actors::ping::{Pinger, NAME as PINGER};
use troupe_messages::ping::{Counts, GetCounts};
use troupe_runtime::nemesis::{Nemesis, NemesisReport};
use troupe_runtime::sim::block_on;
use troupe_runtime::testkit::Cluster;
use troupe_runtime::{ActorPath, NodeId};

/// The report of a `troupe sim ping` run: the contract's fields (a ping is an operation; there
/// are no clients, leaders or history), and the pings' own counts.
#[derive(Serialize)]
struct PingReport {
    system: &'static str,
    seed: u64,
    nodes: u32,
    clients: u32,
    nemesis: String,
    virtual_secs: f64,
    wall_secs: f64,
    ops_ok: u64,
    ops_failed: u64,
    ops_unknown: u64,
    leader_changes: u64,
    linearizable: Option<bool>,
    pings_ok: u64,
    pings_failed: u64,
    messages_sent: u64,
    messages_delivered: u64,
    messages_dropped: u64,
    #[serde(flatten)]
    faults: NemesisReport,
    latency: String,
    progress_after_heal: bool,
    passed: bool,
    failures: Vec<String>,
}

/// How long after healing every node must have made progress.
const SETTLE: Duration = Duration::from_secs(2);

/// `troupe sim ping` has no flags of its own.
#[derive(clap::Args, Debug)]
pub struct PingArgs {}

impl SimSystem for PingArgs {
    const NAME: &'static str = "ping";
    const NEEDS_CLIENTS: bool = false;

    fn run(self, args: &Common) -> Result<bool> {
        run(self, args)
    }
}

/// Runs the ping topology; `Ok(false)` if some node made no progress after healing.
fn run(system: PingArgs, args: &Common) -> Result<bool> {
    let wall = WallInstant::now();
    if args.history.is_some() {
        bail!("the ping topology has no client history");
    }
    let events = args.events_file()?;
    let nodes = args.nodes;
    let links = args.links();
    let (report_parts, progress) = block_on(async move {
        let ids: Vec<NodeId> = (1..=nodes).map(NodeId).collect();
        let cluster = Cluster::builder(args.seed)
            .nodes(nodes)
            .baseline(links)
            .topology(move |node| {
                if let Err(e) = Pinger::start(node, ids.clone(), Duration::from_millis(100)) {
                    tracing::error!(node = %node.id(), "pinger did not start: {e}");
                }
            })
            .build();
        super::log_events(&cluster, events);
        if !args.json {
            println!(
                "running {nodes} pinging nodes for {:?} of virtual time, nemesis {}, seed {}",
                args.duration, args.nemesis, args.seed
            );
        }
        let faults = Nemesis::new(args.nemesis, cluster.net())
            .run(args.duration)
            .await;
        let before = counts(&cluster).await;
        cluster.run_for(SETTLE).await;
        let after = counts(&cluster).await;
        let progress = before
            .iter()
            .zip(&after)
            .all(|(b, a)| a.is_some_and(|a| a.pongs > b.map_or(0, |b| b.pongs)));
        let total = after.iter().flatten().fold(Counts::default(), |mut t, c| {
            t.pongs += c.pongs;
            t.failures += c.failures;
            t
        });
        if let Err(e) = cluster.net().log().flush() {
            tracing::warn!("event log flush failed: {e}");
        }
        ((faults, total, cluster.stats()), progress)
    });
    let (faults, total, net) = report_parts;
    let report = PingReport {
        system: PingArgs::NAME,
        seed: args.seed,
        nodes,
        clients: 0,
        nemesis: args.nemesis.to_string(),
        virtual_secs: (args.duration + SETTLE).as_secs_f64(),
        wall_secs: wall.elapsed().as_secs_f64(),
        ops_ok: total.pongs,
        ops_failed: total.failures,
        ops_unknown: 0,
        leader_changes: 0,
        linearizable: None,
        pings_ok: total.pongs,
        pings_failed: total.failures,
        messages_sent: net.sent,
        messages_delivered: net.delivered,
        messages_dropped: net.dropped(),
        faults,
        latency: args.latency.to_string(),
        progress_after_heal: progress,
        passed: progress,
        failures: if progress {
            Vec::new()
        } else {
            vec!["some node made no progress after the network was healed".to_string()]
        },
    };
    if args.narrates() {
        let timeline = Timeline::default();
        timeline.faults(&report.faults.timeline);
        for line in story(&timeline, &[], report.virtual_secs) {
            println!("{line}");
        }
    }
    if !args.json {
        let faults = &report.faults;
        println!(
            "{} pings answered, {} failed; {} crashes, {} restarts, {} partitions, {} unreliable periods",
            report.pings_ok, report.pings_failed, faults.crashes, faults.restarts, faults.partitions,
            faults.unreliable_periods
        );
        println!(
            "after healing, every node made progress: {}; {:.0} virtual seconds in {:.2} wall seconds",
            progress, report.virtual_secs, report.wall_secs
        );
    }
    if !progress {
        eprintln!(
            "troupe: some node made no progress after the network was healed; replay with `{}`",
            replay_command(&system, args)
        );
    }
    println!("{}", serde_json::to_string(&report)?);
    Ok(progress)
}

/// Every node's pinger counts (None for a node that is down).
async fn counts(cluster: &Cluster) -> Vec<Option<Counts>> {
    let mut all = Vec::new();
    for id in cluster.ids() {
        let counts = match cluster.net().node(id) {
            Some(node) => node
                .call(
                    &ActorPath::new(id, PINGER),
                    GetCounts,
                    Duration::from_secs(1),
                )
                .await
                .ok(),
            None => None,
        };
        all.push(counts);
    }
    all
}
