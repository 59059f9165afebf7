//! `troupe sim register`: the one register server under a nemesis, with clients putting and
//! getting registers and recording every operation. At the end the network is healed, a fresh
//! client must be able to put and to read every register, no acknowledged put may be lost, and
//! the run must pass the rules of [`super::rules`] like every key-value run.
//!
//! The nemesis never takes down more than a minority of its targets, and the one server is a
//! majority of one: with `--nemesis crash` or `all`, this run crashes the server itself, for up
//! to a second at a time, at seeded instants. There is one server whatever `--nodes` says (the
//! report says 1).

use super::narrate::Timeline;
use super::report::{finish, FinalPhase, RunOutcome};
use super::{Common, SimSystem};
use anyhow::Result;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant as WallInstant};
use troupe::systems::register::Register;
use troupe::systems::{topology, Assembly};
use troupe::testkit::client_id;
use troupe::testkit::register::{final_reads, register_history};
use troupe::testkit::workload::{run_clients_for, Recorder, Workload, WorkloadClient};
use troupe_actors::client::{KvClient, Outcome};
use troupe_actors::register::RegisterClient;
use troupe_messages::kv::KvOp;
use troupe_runtime::history::{OpKind, Operation};
use troupe_runtime::nemesis::{Nemesis, NemesisEvent, NemesisKind, NemesisReport};
use troupe_runtime::sim::{block_on, derive_seed};
use troupe_runtime::testkit::Cluster;
use troupe_runtime::{Node, NodeId};

/// After healing: how long clients keep going.
const SETTLE: Duration = Duration::from_secs(5);

/// How long the final client may take for each operation.
const FINAL_DEADLINE: Duration = Duration::from_secs(10);

/// The random stream of the server's crashes.
const CRASH_STREAM: u64 = 77;

/// `troupe sim register` has no flags of its own.
#[derive(clap::Args, Debug)]
pub struct RegisterArgs {}

impl SimSystem for RegisterArgs {
    const NAME: &'static str = "register";

    fn run(self, args: &Common) -> Result<bool> {
        run(self, args)
    }
}

/// Gets and puts only, half and half.
fn workload() -> Workload {
    Workload {
        gets_in_ten: 5,
        puts_only: true,
        ..Workload::default()
    }
}

fn run(system_args: RegisterArgs, args: &Common) -> Result<bool> {
    let wall = WallInstant::now();
    let args = &Common {
        nodes: 1,
        ..args.clone()
    };
    let events = args.events_file()?;
    let (clients, seed) = (args.clients, args.seed);
    let links = args.links();
    let system = Register::new();
    // Nodes: the server, the clients, the final client.
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
        let faults = Rc::new(RefCell::new(NemesisReport::default()));
        let nemesis = async {
            let nemesis = Nemesis::new(args.nemesis, cluster.net())
                .targets(vec![system.server])
                .run(args.duration);
            let crashes = crash_server(&cluster, system.server, args);
            let (mut report, crashes) = tokio::join!(nemesis, crashes);
            report.crashes += crashes.crashes;
            report.restarts += crashes.restarts;
            report.timeline.extend(crashes.timeline);
            *faults.borrow_mut() = report;
        };
        let d = args.duration + SETTLE;
        run_clients_for(workload_clients, workload(), recorder.clone(), d, nemesis).await;
        let timeline = Timeline::default();
        timeline.final_phase();
        let mut recorder = std::mem::take(&mut *recorder.borrow_mut());
        let checker = cluster.up(last);
        let mut clerk = system.client(checker.clone(), client_id(seed, u64::from(clients) + 1));
        let end = final_phase(&mut clerk, &checker, u64::from(clients), &mut recorder).await;
        let mut problems = Vec::new();
        if register_history(&recorder.history).is_none() {
            problems.push("the workload appended, which a register cannot do".to_string());
        }
        if let Err(e) = cluster.net().log().flush() {
            tracing::warn!("event log flush failed: {e}");
        }
        let faults = std::mem::take(&mut *faults.borrow_mut());
        RunOutcome {
            recorder,
            faults,
            net: cluster.stats(),
            leader_changes: 0,
            own: serde_json::Map::new(),
            problems,
            end,
            virtual_secs: start.elapsed().as_secs_f64(),
            timeline,
        }
    });
    finish(&system_args, args, outcome, wall)
}

/// After healing, a fresh client on `node` (number `client` in the history) puts `end;` to k0,
/// then reads every key: each read must succeed and show every acknowledged put. The final
/// operations join `recorder`'s history, so the checker sees them.
async fn final_phase(
    clerk: &mut RegisterClient,
    node: &Node,
    client: u64,
    recorder: &mut Recorder,
) -> FinalPhase {
    let clock = || node.now_ns();
    let call = clock();
    let (key, value) = ("k0".to_string(), "end;".to_string());
    let put = KvOp::Put {
        key: key.clone(),
        value: value.clone(),
    };
    let wrote = clerk.run(put, FINAL_DEADLINE).await == Outcome::Done(None);
    if wrote {
        recorder.history.push(Operation {
            client,
            op: OpKind::Put,
            key,
            value: Some(value),
            output: None,
            call,
            ret: Some(clock()),
        });
    }
    let keys = workload().keys;
    let who = (client, &clock as &dyn Fn() -> u64);
    let found = final_reads(clerk, &recorder.history, keys, FINAL_DEADLINE, who).await;
    recorder.history.extend(found.reads);
    FinalPhase {
        wrote,
        problems: found.problems,
    }
}

/// With `--nemesis crash` or `all`: crashes the server every 1-5 s for 50 ms to 1 s, until
/// `--duration` is over, and leaves it up.
async fn crash_server(cluster: &Cluster, server: NodeId, args: &Common) -> NemesisReport {
    let mut report = NemesisReport::default();
    if !matches!(args.nemesis, NemesisKind::Crash | NemesisKind::All) {
        return report;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(derive_seed(args.seed, CRASH_STREAM));
    let end = tokio::time::Instant::now() + args.duration;
    loop {
        let up = Duration::from_millis(rng.gen_range(1_000..=5_000));
        let down = Duration::from_millis(rng.gen_range(50..=1_000));
        if tokio::time::Instant::now() + up + down >= end {
            return report;
        }
        tokio::time::sleep(up).await;
        cluster.net().crash(server);
        report.crashes += 1;
        report.log(NemesisEvent::Crash(server));
        tokio::time::sleep(down).await;
        // The nemesis may have restarted it already (it restarts what it finds down).
        if cluster.net().node(server).is_none() {
            cluster.net().restart(server);
            report.restarts += 1;
            report.log(NemesisEvent::Restart(server));
        }
    }
}
