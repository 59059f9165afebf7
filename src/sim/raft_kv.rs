//! `troupe sim raft-kv`: a key-value service on Raft under a nemesis, with clients recording
//! every operation. At the end the network is healed, a fresh client must be able to write and
//! read every key, and the whole history (those final reads included) must be linearizable.

use super::SimArgs;
use anyhow::{Context as _, Result};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use std::cell::{Cell, RefCell};
use std::collections::BTreeSet;
use std::rc::Rc;
use std::time::{Duration, Instant as WallInstant};
use troupe_actors::kv::clerk::{Clerk, Outcome};
use troupe_actors::kv::server::KvOptions;
use troupe_actors::kv::workload::{run_client, Recorder, Workload};
use troupe_actors::raft::peer::NAME as RAFT;
use troupe_messages::kv::KvOp;
use troupe_messages::raft::GetStatus;
use troupe_runtime::history::{self, OpKind, Operation};
use troupe_runtime::linearizability::check;
use troupe_runtime::nemesis::{Nemesis, NemesisReport};
use troupe_runtime::sim::{block_on, derive_seed};
use troupe_runtime::testkit::Cluster;
use troupe_runtime::{ActorPath, NodeId};
use troupe_supervisors::failover::raft::kv_replica;
use troupe_supervisors::Supervisor;

/// After healing: how long clients keep going, and how long the final client may take.
const SETTLE: Duration = Duration::from_secs(5);
const FINAL_DEADLINE: Duration = Duration::from_secs(10);

#[derive(Serialize)]
struct Report {
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
    messages_sent: u64,
    messages_dropped: u64,
    #[serde(flatten)]
    faults: NemesisReport,
    progress_after_heal: bool,
    linearizable: bool,
}

pub fn run(args: SimArgs) -> Result<bool> {
    let wall = WallInstant::now();
    let events = args.events_file()?;
    let (servers, clients, seed) = (args.nodes, args.clients, args.seed);
    let outcome = block_on(async move {
        let members: Vec<NodeId> = (1..=servers).map(NodeId).collect();
        let group = members.clone();
        let cluster = Cluster::builder(seed)
            .nodes(servers + clients + 1)
            .topology(move |node| {
                if node.id().0 <= servers {
                    let spec = kv_replica(KvOptions::new(group.clone()));
                    if let Err(e) = Supervisor::start(node, spec) {
                        tracing::error!(node = %node.id(), "kv replica did not start: {e}");
                    }
                }
            })
            .build();
        if let Some(file) = events {
            cluster
                .net()
                .log()
                .write_to(Box::new(std::io::BufWriter::new(file)));
        }
        let start = tokio::time::Instant::now();
        let recorder = Rc::new(RefCell::new(Recorder::default()));
        let stop = Rc::new(Cell::new(false));
        let watching = Rc::new(Cell::new(true));
        let leaders = actix_rt::spawn(count_leader_terms(
            cluster.clone(),
            members.clone(),
            watching.clone(),
        ));
        let mut tasks = Vec::new();
        for c in 0..clients {
            let node = cluster.up(servers + 1 + c);
            let clerk = Clerk::new(node.clone(), members.clone(), u64::from(c) + 1);
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
            .run(args.duration)
            .await;
        cluster.run_for(SETTLE).await;
        stop.set(true);
        for t in tasks {
            let _ = t.await;
        }
        // A fresh client writes, then reads every key: progress after healing, and reads that
        // every acknowledged write must show up in (the checker sees them in the history).
        let checker = cluster.up(servers + clients + 1);
        let mut clerk = Clerk::new(checker.clone(), members.clone(), u64::from(clients) + 1);
        let final_client = u64::from(clients);
        let call = checker.now_ns();
        let wrote = clerk
            .run(
                KvOp::Append {
                    key: "k0".into(),
                    value: "end;".into(),
                },
                FINAL_DEADLINE,
            )
            .await;
        let progress = wrote == Outcome::Done(None);
        let mut final_ops = Vec::new();
        if progress {
            final_ops.push(op(
                final_client,
                OpKind::Append,
                "k0",
                Some("end;"),
                None,
                call,
                checker.now_ns(),
            ));
            for k in 0..Workload::default().keys {
                let key = format!("k{k}");
                let call = checker.now_ns();
                if let Outcome::Done(value) = clerk
                    .run(KvOp::Get { key: key.clone() }, FINAL_DEADLINE)
                    .await
                {
                    final_ops.push(op(
                        final_client,
                        OpKind::Get,
                        &key,
                        None,
                        value,
                        call,
                        checker.now_ns(),
                    ));
                }
            }
        }
        watching.set(false);
        let leader_terms = leaders.await.unwrap_or_default();
        if let Err(e) = cluster.net().log().flush() {
            tracing::warn!("event log flush failed: {e}");
        }
        let virtual_secs = start.elapsed().as_secs_f64();
        let mut recorder = Rc::try_unwrap(recorder)
            .map(RefCell::into_inner)
            .unwrap_or_else(|shared| std::mem::take(&mut shared.borrow_mut()));
        recorder.history.extend(final_ops);
        (
            recorder,
            faults,
            cluster.stats(),
            leader_terms,
            progress,
            virtual_secs,
        )
    });
    let (recorder, faults, net, leader_terms, progress, virtual_secs) = outcome;
    let linearizable = check(&recorder.history).is_linearizable();
    if let Some(path) = &args.history {
        let file = std::fs::File::create(path)
            .with_context(|| format!("cannot create the history {}", path.display()))?;
        history::write(&recorder.history, std::io::BufWriter::new(file))
            .with_context(|| format!("cannot write the history {}", path.display()))?;
    }
    let report = Report {
        system: "raft-kv",
        seed,
        nodes: servers,
        clients,
        nemesis: args.nemesis.to_string(),
        virtual_secs,
        wall_secs: wall.elapsed().as_secs_f64(),
        ops_ok: recorder.ok,
        ops_failed: recorder.failed,
        ops_unknown: recorder.unknown,
        leader_changes: leader_terms.saturating_sub(1),
        messages_sent: net.sent,
        messages_dropped: net.dropped(),
        faults,
        progress_after_heal: progress,
        linearizable,
    };
    if !args.json {
        println!(
            "raft-kv: {servers} servers, {clients} clients, nemesis {}, seed {seed}: {} ops ok, \
             {} failed, {} unknown; {} leader changes; {:.0} virtual s in {:.2} wall s",
            report.nemesis,
            report.ops_ok,
            report.ops_failed,
            report.ops_unknown,
            report.leader_changes,
            report.virtual_secs,
            report.wall_secs
        );
        println!("linearizable: {linearizable}; progress after healing: {progress}");
    }
    if !(linearizable && progress) {
        eprintln!(
            "troupe: the run failed its checks; replay it with `troupe sim raft-kv --seed {seed} \
             --nodes {servers} --clients {clients} --duration {} --nemesis {}`",
            humantime::format_duration(args.duration),
            report.nemesis
        );
    }
    println!("{}", serde_json::to_string(&report)?);
    Ok(linearizable && progress)
}

fn op(
    client: u64,
    kind: OpKind,
    key: &str,
    value: Option<&str>,
    output: Option<String>,
    call: u64,
    ret: u64,
) -> Operation {
    Operation {
        client,
        op: kind,
        key: key.to_string(),
        value: value.map(str::to_string),
        output,
        call,
        ret: Some(ret),
    }
}

/// Counts the distinct terms in which some server was seen leading, polling every 50 ms.
async fn count_leader_terms(
    cluster: Cluster,
    servers: Vec<NodeId>,
    watching: Rc<Cell<bool>>,
) -> u64 {
    let mut terms = BTreeSet::new();
    while watching.get() {
        for &id in &servers {
            if let Some(node) = cluster.net().node(id) {
                let path = ActorPath::new(id, RAFT);
                if let Ok(status) = node.call(&path, GetStatus, Duration::from_millis(50)).await {
                    if status.is_leader {
                        terms.insert(status.term);
                    }
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    terms.len() as u64
}
