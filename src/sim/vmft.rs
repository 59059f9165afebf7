//! `troupe sim vmft`: one fault-tolerant VM running the key-value guest on `--nodes` hosts (a
//! primary, a backup and spares), with its record and disk in a shared storage (a Raft group
//! on n1-n3, which also run the failover supervisor), clients recording every operation, and a
//! nemesis.
//!
//! The fault model is the paper's: the pair survives one failure, and a failover is followed by
//! a new backup's state transfer. So the run strikes only while the pair is whole (its backup
//! recorded and replaying, and nothing down), every 1 to 4 seconds: it crashes a node (a host
//! or a storage replica) for 50 ms to 1 s, or cuts the logging channel between primary and
//! backup for 300 ms to 2 s while both stay up. The runtime's nemesis adds partitions of the
//! hosts (aimed at the primary or the backup half of the time) and unreliable links.
//!
//! At the end the network is healed, a fresh client must be able to write and read every key,
//! and the whole history must be linearizable. A backup that diverged, or a VM lost with the
//! host that ran it, fails the run.

use super::narrate::Timeline;
use super::report::{final_phase, finish, RunOutcome};
use super::{Common, SimSystem};
use anyhow::Result;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::{Duration, Instant as WallInstant};
use troupe::systems::vmft::{Vmft, HOST};
use troupe::systems::{topology, Assembly};
use troupe::testkit::client_id;
use troupe::testkit::workload::{run_clients_for, Recorder, Workload, WorkloadClient};
use troupe_actors::vmft::host::{HostStats, HostStatsRequest};
use troupe_actors::vmft::record::FtRecord;
use troupe_messages::vmft::{VmftInspect, VmftRole};
use troupe_runtime::nemesis::{Nemesis, NemesisEvent, NemesisKind, NemesisReport};
use troupe_runtime::sim::{block_on, derive_seed};
use troupe_runtime::testkit::Cluster;
use troupe_runtime::{ActorPath, NodeId};

/// After healing: how long clients keep going.
const SETTLE: Duration = Duration::from_secs(5);

/// The random stream of the run's own crashes.
const CRASH_STREAM: u64 = 0x766d_6674; // "vmft"

/// Every client writes, and every write is an append to one of 50 keys: a lost write is what
/// the output rule prevents and what a failover could lose, and with no put to overwrite it,
/// the final reads find every acknowledged append a failover lost. (Fifty keys keep each value
/// under the guest's largest, about 4 KB, over a minute of appends.)
fn workload() -> Workload {
    Workload {
        keys: 50,
        gets_in_ten: 3,
        appends_only: true,
        read_only_every: 0,
        ..Workload::default()
    }
}

/// The flags of `troupe sim vmft`.
#[derive(clap::Args, Debug)]
pub struct VmftArgs {}

impl SimSystem for VmftArgs {
    const NAME: &'static str = "vmft";

    fn run(self, args: &Common) -> Result<bool> {
        run(self, args)
    }
}

fn run(system_args: VmftArgs, args: &Common) -> Result<bool> {
    let wall = WallInstant::now();
    let events = args.events_file()?;
    let (hosts, clients, seed) = (args.nodes.max(2), args.clients, args.seed);
    let links = args.links();
    let system = Vmft::managed(hosts);
    let first_client = system.last_node() + 1;
    let last = first_client + clients;
    let outcome = block_on(async move {
        let cluster = Cluster::builder(seed)
            .nodes(last)
            .baseline(links)
            .topology(topology(system.clone()))
            .build();
        super::log_events(&cluster, events);
        let start = tokio::time::Instant::now();
        let recorder = Rc::new(RefCell::new(Recorder::default()));
        let workload_clients = (0..clients)
            .map(|c| {
                let node = cluster.up(first_client + c);
                WorkloadClient {
                    client: u64::from(c),
                    clerk: system.client(node.clone(), client_id(seed, u64::from(c) + 1)),
                    node,
                    rng: ChaCha8Rng::seed_from_u64(derive_seed(seed, 1_000 + u64::from(c))),
                }
            })
            .collect();
        let watch = Watch::default();
        let watching = Rc::new(Cell::new(true));
        let watcher = actix_rt::spawn(watch_pair(
            system.clone(),
            cluster.up(last),
            client_id(seed, 1 << 40),
            watching.clone(),
            watch.clone(),
        ));
        let faults = Rc::new(RefCell::new(NemesisReport::default()));
        let nemesis = async {
            let record = watch.record.clone();
            let network = Nemesis::new(args.nemesis, cluster.net())
                .targets(system.hosts().to_vec())
                .focus(move || record.get().map(|r| r.hosts()).unwrap_or_default())
                .without_crashes()
                .run(args.duration);
            let crashes = fault_the_pair(&cluster, &system, &watch, args, cluster.up(last));
            let (mut report, crashes) = tokio::join!(network, crashes);
            report.crashes += crashes.crashes;
            report.restarts += crashes.restarts;
            report.timeline.extend(crashes.timeline);
            report.timeline.sort_by_key(|(at, _)| *at);
            *faults.borrow_mut() = report;
        };
        let d = args.duration + SETTLE;
        let workload = workload();
        run_clients_for(workload_clients, workload, recorder.clone(), d, nemesis).await;
        watch.timeline.final_phase();
        let checker = cluster.up(last);
        let mut final_clerk =
            system.client(checker.clone(), client_id(seed, u64::from(clients) + 1));
        let mut recorder = std::mem::take(&mut *recorder.borrow_mut());
        let client = u64::from(clients);
        let end = final_phase(
            &mut final_clerk,
            &checker,
            client,
            workload.keys,
            &mut recorder,
        )
        .await;
        watching.set(false);
        let _ = watcher.await;
        let lost = vm_lost(&system, &checker, seed).await;
        if let Err(e) = cluster.net().log().flush() {
            tracing::warn!("event log flush failed: {e}");
        }
        let faults = std::mem::take(&mut *faults.borrow_mut());
        let stats = watch.totals();
        let mut problems = Vec::new();
        if stats.divergences > 0 {
            problems.push(format!(
                "a backup diverged from its primary {} time(s): the replay is not deterministic",
                stats.divergences
            ));
        }
        if let Some(primary) = lost {
            problems.push(format!(
                "the VM is lost: the record names {primary} as primary, which runs no VM"
            ));
        }
        let own = serde_json::Map::from_iter([
            ("failovers".to_string(), stats.went_live.into()),
            ("backups_started".to_string(), stats.backups_started.into()),
            ("log_entries".to_string(), stats.log_entries.into()),
            ("log_bytes".to_string(), stats.log_bytes.into()),
            (
                "longest_output_hold_ms".to_string(),
                (stats.longest_hold as f64 / 1e6).into(),
            ),
            ("divergences".to_string(), stats.divergences.into()),
            (
                "lost_test_and_set".to_string(),
                stats.lost_test_and_set.into(),
            ),
            ("vm_lost".to_string(), lost.is_some().into()),
        ]);
        RunOutcome {
            recorder,
            faults,
            net: cluster.stats(),
            leader_changes: stats.went_live,
            own,
            problems,
            end,
            virtual_secs: start.elapsed().as_secs_f64(),
            timeline: watch.timeline.clone(),
        }
    });
    finish(&system_args, args, outcome, wall)
}

/// What the watcher learns as the run goes: the pair, its changes, and the hosts' counters.
#[derive(Clone, Default)]
struct Watch {
    /// The record as last read (its hosts are the nemesis's focus).
    record: Rc<Cell<Option<FtRecord>>>,
    /// Each host's counters: the sum over its earlier incarnations, and its current one.
    stats: Rc<RefCell<BTreeMap<NodeId, (HostStats, HostStats)>>>,
    timeline: Timeline,
}

impl Watch {
    /// Every host's counters, summed over its incarnations.
    fn totals(&self) -> HostStats {
        let mut total = HostStats::default();
        for (before, now) in self.stats.borrow().values() {
            total.absorb(before);
            total.absorb(now);
        }
        total
    }
}

/// Every 100 ms while `watching`: reads the record (noting its changes in the timeline) and
/// each host's counters.
async fn watch_pair(
    system: Vmft,
    node: troupe_runtime::Node,
    id: troupe_messages::ClientId,
    watching: Rc<Cell<bool>>,
    watch: Watch,
) {
    let mut storage = system.storage_client(node.clone(), id);
    let mut last: Option<FtRecord> = None;
    while watching.get() {
        if let Some(record) = system
            .record(&mut storage, Duration::from_millis(500))
            .await
        {
            if last.is_none_or(|l| l.generation < record.generation) {
                describe(last, record, &watch);
                last = Some(record);
            }
            watch.record.set(Some(record));
        }
        for &host in system.hosts() {
            let path = ActorPath::new(host, HOST);
            let Ok(now) = node
                .call(&path, HostStatsRequest, Duration::from_millis(50))
                .await
            else {
                continue;
            };
            let mut stats = watch.stats.borrow_mut();
            let entry = stats.entry(host).or_default();
            if now.incarnation != entry.1.incarnation {
                // A new incarnation: keep what the last one counted.
                let old = entry.1;
                entry.0.absorb(&old);
            }
            entry.1 = now;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Whether `record`'s pair is whole: its primary runs the record's generation and its backup
/// replays (asked from `node`).
async fn whole(node: &troupe_runtime::Node, record: FtRecord) -> bool {
    let Some(backup) = record.backup else {
        return false;
    };
    let ask = |host| {
        let path = ActorPath::new(host, HOST);
        async move {
            node.call(&path, VmftInspect, Duration::from_millis(50))
                .await
                .ok()
        }
    };
    let (primary, backup) = tokio::join!(ask(record.primary), ask(backup));
    primary.is_some_and(|p| {
        p.role == VmftRole::Primary && p.generation == record.generation && !p.deciding
    }) && backup.is_some_and(|b| b.role == VmftRole::Backup && !b.deciding)
}

/// Notes a change of the record in the timeline and the counts.
fn describe(last: Option<FtRecord>, record: FtRecord, watch: &Watch) {
    let line = match (last, record.backup) {
        (None, _) => format!("{} boots the VM as primary", record.primary),
        (Some(l), None) if l.primary != record.primary => {
            format!(
                "{} goes live: it won the test-and-set (generation {})",
                record.primary, record.generation
            )
        }
        (Some(_), None) => {
            format!(
                "{} goes on alone: it won the test-and-set against its backup (generation {})",
                record.primary, record.generation
            )
        }
        (Some(_), Some(backup)) => {
            format!(
                "{backup} is in sync as {}'s backup after a state transfer (generation {})",
                record.primary, record.generation
            )
        }
    };
    watch.timeline.note(line);
}

/// The record's primary, if it runs no VM at the end: the VM was lost with it.
async fn vm_lost(system: &Vmft, node: &troupe_runtime::Node, seed: u64) -> Option<NodeId> {
    let mut storage = system.storage_client(node.clone(), client_id(seed, (1 << 40) + 1));
    let record = system.record(&mut storage, Duration::from_secs(5)).await?;
    let path = ActorPath::new(record.primary, HOST);
    match node.call(&path, VmftInspect, Duration::from_secs(1)).await {
        Ok(status) if status.role == VmftRole::Spare => Some(record.primary),
        _ => None,
    }
}

/// The run's own faults on a whole pair, every 1 to 4 s and only while the pair is whole:
/// with `--nemesis crash`, a crash of one node (a host or a storage replica; half the time one
/// of the pair) for 50 ms to 1 s; with `--nemesis partition`, a cut of the logging channel
/// between primary and backup, both up and every other link working, for 300 ms to 2 s; with
/// `all`, either. Until `--duration` is over.
async fn fault_the_pair(
    cluster: &Cluster,
    system: &Vmft,
    watch: &Watch,
    args: &Common,
    checker: troupe_runtime::Node,
) -> NemesisReport {
    let mut report = NemesisReport::default();
    let (crashes, cuts) = match args.nemesis {
        NemesisKind::Crash => (true, false),
        NemesisKind::Partition => (false, true),
        NemesisKind::All => (true, true),
        NemesisKind::None | NemesisKind::Unreliable => return report,
    };
    let mut rng = ChaCha8Rng::seed_from_u64(derive_seed(args.seed, CRASH_STREAM));
    let mut targets: Vec<NodeId> = system.plan.storage.clone();
    targets.extend(system.hosts());
    targets.sort();
    targets.dedup();
    let end = tokio::time::Instant::now() + args.duration;
    loop {
        let up = Duration::from_millis(rng.gen_range(300..=2_000));
        let down = Duration::from_millis(rng.gen_range(50..=1_000));
        let cut = Duration::from_millis(rng.gen_range(300..=1_000));
        let crash = crashes && (!cuts || rng.gen_bool(0.5));
        if tokio::time::Instant::now() + up + down.max(cut) >= end {
            return report;
        }
        tokio::time::sleep(up).await;
        // Whole now, asked afresh: no failover under way and the logging channel up. A second
        // fault inside a failover is more than the design survives (the paper's too).
        let Some(record) = watch.record.get() else {
            continue;
        };
        let pair = record.hosts();
        let net = cluster.net();
        let linked = pair.len() == 2
            && !net.is_blocked(pair[0], pair[1])
            && !net.is_blocked(pair[1], pair[0]);
        if !linked || !whole(&checker, record).await {
            continue;
        }
        if crash {
            // Half the time the primary, which is what failover is for; a quarter of the time
            // the backup; else any node (a spare or a storage replica).
            let victim = match rng.gen_range(0..4) {
                0 | 1 => record.primary,
                2 => pair[1],
                _ => targets[rng.gen_range(0..targets.len())],
            };
            cluster.net().crash(victim);
            report.crashes += 1;
            report.log(NemesisEvent::Crash(victim));
            tokio::time::sleep(down).await;
            cluster.net().restart(victim);
            report.restarts += 1;
            report.log(NemesisEvent::Restart(victim));
        } else {
            let (a, b) = (pair[0], pair[1]);
            cluster.net().block(a, b);
            cluster.net().block(b, a);
            report.partitions += 1;
            report.log(NemesisEvent::LinkCut(a, b));
            tokio::time::sleep(cut).await;
            cluster.net().unblock(a, b);
            cluster.net().unblock(b, a);
            report.log(NemesisEvent::LinkRestored(a, b));
        }
    }
}
