//! `troupe sim raft-kv`: a key-value service on Raft under a nemesis, with clients recording
//! every operation. At the end the network is healed, a fresh client must be able to write and
//! read every key, and the run must pass the rules of [`super::rules`]: a linearizable history
//! (those final reads included), progress, few unknown outcomes, nothing lost.

use super::narrate::Timeline;
use super::report::{final_phase, finish, RunOutcome};
use super::{Common, SimSystem};
use anyhow::Result;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::cell::{Cell, RefCell};
use std::collections::BTreeSet;
use std::rc::Rc;
use std::time::{Duration, Instant as WallInstant};
use troupe::systems::raft_kv::RaftKv;
use troupe::systems::topology;
use troupe::testkit::client_id;
use troupe::testkit::workload::{run_client, Recorder, Workload};
use troupe_actors::raft::peer::NAME as RAFT;
use troupe_messages::raft::GetStatus;
use troupe_runtime::nemesis::Nemesis;
use troupe_runtime::sim::{block_on, derive_seed};
use troupe_runtime::testkit::Cluster;
use troupe_runtime::{ActorPath, NodeId};

/// How long a client waits for one server before it tries the next.
const ATTEMPT_TIMEOUT: Duration = Duration::from_millis(50);

/// After healing: how long clients keep going.
const SETTLE: Duration = Duration::from_secs(5);

/// `troupe sim raft-kv` has no flags of its own.
#[derive(clap::Args, Debug)]
pub struct RaftKvArgs {}

impl SimSystem for RaftKvArgs {
    const NAME: &'static str = "raft-kv";

    fn run(self, args: &Common) -> Result<bool> {
        run(self, args)
    }
}

fn run(system_args: RaftKvArgs, args: &Common) -> Result<bool> {
    let wall = WallInstant::now();
    let events = args.events_file()?;
    let (servers, clients, seed) = (args.nodes, args.clients, args.seed);
    let links = args.links();
    let outcome = block_on(async move {
        let system = RaftKv::new(servers);
        let members = system.servers().to_vec();
        let cluster = Cluster::builder(seed)
            .nodes(servers + clients + 1)
            .baseline(links)
            .topology(topology(system.clone()))
            .build();
        super::log_events(&cluster, events);
        let start = tokio::time::Instant::now();
        let recorder = Rc::new(RefCell::new(Recorder::default()));
        let stop = Rc::new(Cell::new(false));
        let watching = Rc::new(Cell::new(true));
        let leader = Rc::new(Cell::new(None));
        let timeline = Timeline::default();
        let leaders = actix_rt::spawn(count_leader_terms(
            cluster.clone(),
            members.clone(),
            watching.clone(),
            leader.clone(),
            timeline.clone(),
        ));
        let mut tasks = Vec::new();
        for c in 0..clients {
            let node = cluster.up(servers + 1 + c);
            let mut clerk = system.client(node.clone(), client_id(seed, u64::from(c) + 1));
            // Impatient clients move on from a silent server quickly, so that some of them
            // reach a new leader while others still talk to the old one.
            clerk.attempt_timeout = ATTEMPT_TIMEOUT;
            let rng = ChaCha8Rng::seed_from_u64(derive_seed(seed, 1_000 + u64::from(c)));
            tasks.push(actix_rt::spawn(run_client(
                clerk,
                u64::from(c),
                Workload::default(),
                rng,
                recorder.clone(),
                stop.clone(),
                move || node.now_ns(),
            )));
        }
        let faults = Nemesis::new(args.nemesis, cluster.net())
            .targets(members.clone())
            .focus(move || leader.get().into_iter().collect())
            .run(args.duration)
            .await;
        cluster.run_for(SETTLE).await;
        timeline.final_phase();
        stop.set(true);
        for t in tasks {
            let _ = t.await;
        }
        let checker = cluster.up(servers + clients + 1);
        let mut clerk = system.client(checker.clone(), client_id(seed, u64::from(clients) + 1));
        let keys = Workload::default().keys;
        let mut recorder = Rc::try_unwrap(recorder)
            .map(RefCell::into_inner)
            .unwrap_or_else(|shared| std::mem::take(&mut shared.borrow_mut()));
        let end = final_phase(
            &mut clerk,
            &checker,
            u64::from(clients),
            keys,
            &mut recorder,
        )
        .await;
        watching.set(false);
        let leader_terms = leaders.await.unwrap_or_default();
        if let Err(e) = cluster.net().log().flush() {
            tracing::warn!("event log flush failed: {e}");
        }
        let virtual_secs = start.elapsed().as_secs_f64();
        RunOutcome {
            recorder,
            faults,
            net: cluster.stats(),
            leader_changes: leader_terms.saturating_sub(1),
            own: serde_json::Map::new(),
            problems: Vec::new(),
            end,
            virtual_secs,
            timeline,
        }
    });
    finish(&system_args, args, outcome, wall)
}

/// Counts the distinct terms in which some server was seen leading, polling every 50 ms, keeps
/// the latest leader seen in `leader` (the nemesis's focus), and notes each on the timeline.
pub(super) async fn count_leader_terms(
    cluster: Cluster,
    servers: Vec<NodeId>,
    watching: Rc<Cell<bool>>,
    leader: Rc<Cell<Option<NodeId>>>,
    timeline: Timeline,
) -> u64 {
    let mut terms = BTreeSet::new();
    while watching.get() {
        for &id in &servers {
            if let Some(node) = cluster.net().node(id) {
                let path = ActorPath::new(id, RAFT);
                if let Ok(status) = node.call(&path, GetStatus, Duration::from_millis(50)).await {
                    if status.is_leader && terms.insert(status.term) {
                        leader.set(Some(id));
                        timeline.note(format!("{id} leads (term {})", status.term));
                    }
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    terms.len() as u64
}
