//! `troupe sim zk`: ZooKeeper on troupe's Raft ([`Zk`]) on `--nodes` servers, with clients
//! speaking ZooKeeper's protocol over the simulated network (see [`workload`]) under a
//! nemesis that crashes, cuts off and slows the servers. Each client records its operations,
//! with each reply's zxid and the order in which its session heard replies and notifications;
//! the history is judged by a znode-tree model ([`check`]): linearizable writes, reads at
//! their zxid, FIFO client order, watches fired before the replies that reveal their change,
//! and nothing of a closed session. The report's `linearizable` is that model's verdict.
//!
//! After the faults stop, every workload session is closed or abandoned; once abandoned and
//! stalled sessions have had time to expire, a fresh client syncs, reads every shared node and
//! the queue (those reads join the history, so a lost write is a stale read), must find no
//! ephemeral node left (every session that made one is gone), and writes once (progress).

pub mod check;
pub mod history;
pub mod workload;

use super::narrate::Timeline;
use super::raft_kv::count_leader_terms;
use super::report::{finish_judged, FinalPhase, RunOutcome};
use super::rules::PassRules;
use super::{Common, SimSystem};
use anyhow::Result;
use history::{ZkOpKind, ZkRecord};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant as WallInstant};
use troupe::systems::topology;
use troupe::systems::zk::Zk;
use troupe::testkit::workload::Recorder;
use troupe_actors::zk::client::Answer;
use troupe_actors::zk::jute::request::{JuteOp, Request};
use troupe_messages::zk::CreateMode;
use troupe_messages::NodeId;
use troupe_runtime::nemesis::Nemesis;
use troupe_runtime::sim::{block_on, derive_seed};
use troupe_runtime::testkit::Cluster;
use troupe_runtime::Node;
use workload::{perform, Session, Shared, EPHEMERALS, KEYS, QUEUE};

/// The session timeout the clients ask for: ZooKeeper's tick is 1 s here, so 2 ticks.
const SESSION_TIMEOUT: Duration = Duration::from_secs(2);

/// After the faults stop and the clients close: time for abandoned sessions to expire.
const SETTLE: Duration = Duration::from_secs(6);

/// The time the run's entries count from (a fixed wall clock keeps runs deterministic).
const EPOCH_MS: i64 = 1_700_000_000_000;

/// `troupe sim zk` has no flags of its own.
#[derive(clap::Args, Debug)]
pub struct ZkArgs {}

impl SimSystem for ZkArgs {
    const NAME: &'static str = "zk";

    fn run(self, args: &Common) -> Result<bool> {
        run(self, args)
    }

    /// ZooKeeper's model, and floors set from measurement. The workload spends time on
    /// purpose where no operation succeeds: a stall holds a client's messages back for about
    /// its session timeout (one roll in 25), after which its session has usually expired;
    /// and a client whose server crashed silently waits two thirds of its session timeout
    /// before it moves on. Each stall leaves its create in doubt. Over seeds 1-200 of each
    /// nemesis (every run's model check passed) the slowest run acknowledged 0.28 operations
    /// per client per virtual second (`all`, median 1.0; `partition` 1.2, `unreliable` 2.0,
    /// `crash` 2.1, none 2.8) and the most doubtful left 29.7% of its acknowledged-or-doubtful
    /// operations in doubt (`all`; `partition` 17%, `crash` 12%, none 10%): the bounds below
    /// leave that margin and no more.
    fn rules() -> PassRules {
        PassRules {
            min_ok_per_client_sec: 0.2,
            max_unknown_fraction: 0.35,
            model_broken: "a ZooKeeper guarantee was broken (see the findings: write order, \
                           reads at their zxid, FIFO client order, watch order, sessions)",
            model_name: "znode model",
            model_means: "writes in zxid order respect real time and explain every result; \
                          every read equals the tree at its reply's zxid; a session's replies \
                          never go back in zxid; every watch fired before the reply that \
                          revealed its change; no closed session's node or write survived",
            final_means: "once the faults stopped and every session had ended, a fresh client \
                          read every node (nothing lost), found no ephemeral node left, and \
                          wrote",
        }
    }
}

fn run(system_args: ZkArgs, args: &Common) -> Result<bool> {
    let wall = WallInstant::now();
    let events = args.events_file()?;
    let (servers, clients, seed) = (args.nodes, args.clients, args.seed);
    let links = args.links();
    let history_file = args.history.clone();
    let (outcome, verdict) = block_on(async move {
        let mut system = Zk::on((1..=servers).map(NodeId).collect(), EPOCH_MS);
        system.options.tick = Duration::from_secs(1);
        let members = system.servers().to_vec();
        let checker_id = servers + clients + 1;
        let cluster = Cluster::builder(seed)
            .nodes(checker_id)
            .baseline(links)
            .topology(topology(system.clone()))
            .build();
        super::log_events(&cluster, events);
        let start = tokio::time::Instant::now();
        let timeline = Timeline::default();
        let shared = Shared::default();
        let checker = cluster.up(checker_id);
        let setup = set_up(&shared, &checker, &members, u64::from(clients)).await;
        timeline.note(if setup {
            "the shared nodes, /q and /e are created"
        } else {
            "the setup could not create every node"
        });
        let watching = Rc::new(Cell::new(true));
        let leader = Rc::new(Cell::new(None));
        let leaders = actix_rt::spawn(count_leader_terms(
            cluster.clone(),
            members.clone(),
            watching.clone(),
            leader.clone(),
            timeline.clone(),
        ));
        let until = tokio::time::Instant::now() + args.duration;
        let workers = (0..clients).map(|c| {
            let plan = workload::Plan {
                client: u64::from(c),
                node: cluster.up(servers + 1 + c),
                servers: members.clone(),
                net: cluster.net().clone(),
                rng: ChaCha8Rng::seed_from_u64(derive_seed(seed, 1_000 + u64::from(c))),
                until,
                timeout: SESSION_TIMEOUT,
            };
            workload::work(plan, &shared)
        });
        let nemesis = Nemesis::new(args.nemesis, cluster.net())
            .targets(members.clone())
            .focus(move || leader.get().into_iter().collect())
            .run(args.duration);
        let (faults, _) = tokio::join!(nemesis, futures_util::future::join_all(workers));
        timeline.note("the clients stop and close their sessions; the abandoned ones expire");
        tokio::time::sleep(SETTLE).await;
        timeline.final_phase();
        let end = final_phase(&shared, &checker, &members, u64::from(clients)).await;
        watching.set(false);
        let leader_terms = leaders.await.unwrap_or_default();
        if let Err(e) = cluster.net().log().flush() {
            tracing::warn!("event log flush failed: {e}");
        }
        let records = shared.records.take();
        let findings = check::check(&records);
        let mut problems = findings.examples.clone();
        if let Some(path) = &history_file {
            if let Err(e) = history::write(&records, path) {
                problems.push(format!("cannot write the history: {e}"));
            }
        }
        let recorder = counts(&records);
        let mut own = serde_json::Map::new();
        if let Ok(serde_json::Value::Object(stats)) = serde_json::to_value(shared.stats.take()) {
            own.extend(stats);
        }
        if let Ok(serde_json::Value::Object(found)) = serde_json::to_value(&findings) {
            own.extend(found.into_iter().filter(|(k, _)| k != "examples"));
        }
        let outcome = RunOutcome {
            recorder,
            faults,
            net: cluster.stats(),
            leader_changes: leader_terms.saturating_sub(1),
            own,
            problems,
            end,
            virtual_secs: start.elapsed().as_secs_f64(),
            timeline,
        };
        (outcome, findings.holds())
    });
    finish_judged(&system_args, args, outcome, wall, Some(Some(verdict)))
}

/// The report's counts: operations answered without an error took effect; answered with an
/// error (and reads without an answer) took none; writes without an answer are in doubt.
fn counts(records: &[ZkRecord]) -> Recorder {
    let mut recorder = Recorder::default();
    for r in records.iter().filter(|r| r.op != ZkOpKind::Notified) {
        if r.ok() {
            recorder.ok += 1;
        } else if r.answered() || !r.op.writes() {
            recorder.failed += 1;
        } else {
            recorder.unknown += 1;
        }
    }
    recorder
}

/// Creates `/w`, the shared nodes, `/q` and `/e` (recorded as client `client`'s writes);
/// whether all were made.
async fn set_up(shared: &Shared, node: &Node, servers: &[NodeId], client: u64) -> bool {
    let Some(mut session) =
        workload::open(node, servers, SESSION_TIMEOUT, Duration::from_secs(30)).await
    else {
        return false;
    };
    let caller = Caller {
        shared,
        node,
        client,
    };
    let mut paths = vec![("/w".to_string(), String::new())];
    paths.extend((0..KEYS).map(|i| (workload::key(i), format!("init-{i}"))));
    paths.push((QUEUE.to_string(), String::new()));
    paths.push((EPHEMERALS.to_string(), String::new()));
    let mut made = true;
    for (path, value) in paths {
        let request = workload::create(&path, &value, CreateMode::PERSISTENT);
        let answer = caller
            .call(&mut session, ZkOpKind::Create, &path, request, Some(value))
            .await;
        made &= answer.result.is_ok();
    }
    made && caller.close(&mut session).await
}

/// The final client: syncs, reads every shared node, `/q` and `/e` (which must be empty:
/// every session has ended), and writes once.
async fn final_phase(shared: &Shared, node: &Node, servers: &[NodeId], client: u64) -> FinalPhase {
    let mut problems = Vec::new();
    let Some(mut session) =
        workload::open(node, servers, SESSION_TIMEOUT * 5, Duration::from_secs(30)).await
    else {
        problems.push("no server gave the final client a session".to_string());
        return FinalPhase {
            wrote: false,
            problems,
        };
    };
    let caller = Caller {
        shared,
        node,
        client,
    };
    if let Err(e) = session.zk.sync("/").await {
        problems.push(format!("the final sync failed: {e}"));
    }
    let mut reads: Vec<(ZkOpKind, String, Request)> = (0..KEYS)
        .map(|i| {
            let path = workload::key(i);
            (
                ZkOpKind::Get,
                path.clone(),
                Request::GetData { path, watch: false },
            )
        })
        .collect();
    for parent in [QUEUE, EPHEMERALS] {
        let request = Request::GetChildren {
            path: parent.into(),
            watch: false,
            with_stat: false,
        };
        reads.push((ZkOpKind::Children, parent.to_string(), request));
    }
    for (op, path, request) in reads {
        let answer = caller.call(&mut session, op, &path, request, None).await;
        match (&answer.result, path.as_str()) {
            (Err(e), _) if answer.zxid.is_none() => {
                problems.push(format!("the final read of {path} failed: {e}"));
            }
            (Ok(troupe_actors::zk::jute::reply::Response::Children(left)), EPHEMERALS)
                if !left.is_empty() =>
            {
                problems.push(format!(
                    "{} ephemeral node(s) outlived their sessions (every session had ended): {}",
                    left.len(),
                    left.iter().take(4).cloned().collect::<Vec<_>>().join(", ")
                ));
            }
            _ => {}
        }
    }
    let path = workload::key(0);
    let value = format!("final-{client}");
    let set = Request::Write(JuteOp::SetData {
        path: path.clone(),
        data: value.clone().into_bytes(),
        version: -1,
    });
    let answer = caller
        .call(&mut session, ZkOpKind::Set, &path, set, Some(value))
        .await;
    let mut wrote = answer.result.is_ok();
    if answer.result == Err(troupe_messages::zk::ZkError::NoNode) {
        let value = format!("final-create-{client}");
        let request = workload::create(&path, &value, CreateMode::PERSISTENT);
        let answer = caller
            .call(&mut session, ZkOpKind::Create, &path, request, Some(value))
            .await;
        wrote = answer.result.is_ok();
    }
    let _ = caller.close(&mut session).await;
    FinalPhase { wrote, problems }
}

/// The set-up and final clients' calls: client `client` on `node`, recorded in `shared`.
struct Caller<'a> {
    shared: &'a Shared,
    node: &'a Node,
    client: u64,
}

impl Caller<'_> {
    /// Sends `request`, recorded with the `value` it writes (None for a read or a close).
    async fn call(
        &self,
        session: &mut Session,
        op: ZkOpKind,
        path: &str,
        request: Request,
        value: Option<String>,
    ) -> Answer {
        let (answer, _) = perform(
            self.shared,
            self.node,
            self.client,
            session,
            op,
            path,
            request,
            |r| r.value = value,
        )
        .await;
        answer
    }

    /// Closes `session`; whether the close was answered without error.
    async fn close(&self, session: &mut Session) -> bool {
        let answer = self
            .call(session, ZkOpKind::Close, "/", Request::Close, None)
            .await;
        answer.result.is_ok()
    }
}
