//! Chain replication as real processes: a three-process CRAQ cluster from `troupe cluster init
//! --system chain --craq` takes writes from four clients while its middle process, then its
//! head, then its tail is killed with SIGKILL. Each time the writes go on without it, the
//! process restarts, rejoins the chain, and every acknowledged write reads back from every
//! node's own chain node. No process is special: each runs a manager replica, a chain server
//! and a failover supervisor, so the failover needs none of them in particular.

use super::support::{runtime, Processes};
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use troupe_actors::client::Outcome;
use troupe_actors::kv::remote::RemoteClerk;
use troupe_messages::chain::ChainRole;
use troupe_messages::kv::KvOp;
use troupe_messages::NodeId;

const OP_DEADLINE: Duration = Duration::from_secs(30);

/// How many writes are acknowledged before each kill, and again while the node is down.
const WRITES_PER_PHASE: usize = 40;

/// Polls until every one of `nodes` answers, all in one epoch, with one of them in `role`
/// and the others in the chain (none joining or out); returns the node in `role`.
async fn member_in_role(clerk: &mut RemoteClerk, nodes: &[NodeId], role: ChainRole) -> NodeId {
    let within = Duration::from_secs(60);
    let start = Instant::now();
    loop {
        let mut views = Vec::new();
        for &id in nodes {
            if let Ok(status) = clerk.chain_status(id).await {
                if let Some(Some(view)) = status.chains.first() {
                    views.push((id, view.clone()));
                }
            }
        }
        let settled = views.len() == nodes.len()
            && views
                .iter()
                .all(|(_, v)| v.epoch == views[0].1.epoch && v.synced)
            && views
                .iter()
                .all(|(_, v)| !matches!(v.role, ChainRole::Joining | ChainRole::Out));
        if settled {
            if let Some((id, _)) = views.iter().find(|(_, v)| v.role == role) {
                return *id;
            }
        }
        assert!(
            start.elapsed() < within,
            "no settled chain with a {} within {within:?}; last seen: {views:?}",
            role.name()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Client `c` writes its own keys until `stop`, recording each acknowledged write.
async fn write_until(
    c: usize,
    clerk: &mut RemoteClerk,
    stop: &Cell<bool>,
    acked: &RefCell<BTreeMap<String, String>>,
    progress: &Notify,
) {
    let mut i = 0;
    while !stop.get() {
        let (key, value) = (format!("c{c}-k{i:04}"), format!("v{i}"));
        let op = KvOp::Put {
            key: key.clone(),
            value: value.clone(),
        };
        match clerk.run(op, OP_DEADLINE).await {
            Outcome::Done(_) => {
                acked.borrow_mut().insert(key, value);
                progress.notify_waiters();
            }
            other => panic!("{key}: not acknowledged within {OP_DEADLINE:?}: {other:?}"),
        }
        i += 1;
    }
}

/// Waits until `acked` holds at least `count` writes.
async fn acked_at_least(
    acked: &RefCell<BTreeMap<String, String>>,
    progress: &Notify,
    count: usize,
) {
    let within = Duration::from_secs(60);
    let start = Instant::now();
    while acked.borrow().len() < count {
        let remaining = within.saturating_sub(start.elapsed());
        let woke = tokio::time::timeout(remaining, progress.notified()).await;
        assert!(
            woke.is_ok() || acked.borrow().len() >= count,
            "only {} of {count} writes acknowledged within {within:?}",
            acked.borrow().len()
        );
    }
}

#[test]
fn craq_processes_survive_sigkill_of_the_middle_the_head_and_the_tail() {
    let mut cluster = Processes::init_with("chain-sigkill", 3, &["--system", "chain", "--craq"]);
    for id in cluster.ids() {
        cluster.start(id);
    }
    let ids = cluster.ids();
    runtime().block_on(async {
        let mut probe = cluster.clerk(u64::MAX);
        probe.attempt_timeout = Duration::from_millis(500);
        member_in_role(&mut probe, &ids, ChainRole::Head).await;

        let acked = RefCell::new(BTreeMap::new());
        let progress = Notify::new();
        let stop = Cell::new(false);
        let killed = RefCell::new(Vec::new());
        let cluster = RefCell::new(cluster);
        let mut clerks: Vec<RemoteClerk> =
            (0..4).map(|c| cluster.borrow().clerk(100 + c)).collect();
        let writers = clerks.iter_mut().enumerate().map(|(c, clerk)| {
            let (stop, acked, progress) = (&stop, &acked, &progress);
            async move { write_until(c, clerk, stop, acked, progress).await }
        });
        let killer = async {
            for role in [ChainRole::Middle, ChainRole::Head, ChainRole::Tail] {
                let victim = member_in_role(&mut probe, &ids, role).await;
                let before = acked.borrow().len();
                acked_at_least(&acked, &progress, before + WRITES_PER_PHASE).await;
                cluster.borrow_mut().kill(victim);
                let at_kill = acked.borrow().len();
                // The writes go on without it.
                acked_at_least(&acked, &progress, at_kill + WRITES_PER_PHASE).await;
                let while_down = acked.borrow().len() - at_kill;
                cluster.borrow_mut().start(victim);
                // It rejoins: every node answers in one epoch, none of them joining.
                member_in_role(&mut probe, &ids, ChainRole::Tail).await;
                killed.borrow_mut().push((role, victim, while_down));
            }
            stop.set(true);
        };
        tokio::join!(futures_util::future::join_all(writers), killer);
        let cluster = cluster.into_inner();
        let acked = acked.into_inner();
        let killed = killed.into_inner();
        assert_eq!(killed.len(), 3, "{killed:?}");
        for (role, victim, while_down) in &killed {
            assert!(
                *while_down >= WRITES_PER_PHASE,
                "{} {victim}: only {while_down} writes while it was down",
                role.name()
            );
        }
        cluster
            .wait_replicated(&acked, Duration::from_secs(60))
            .await;

        // The command-line client reads through any node; status shows a full chain.
        assert_eq!(cluster.kv_get_via("n2", "c0-k0000"), "v0");
        let status = cluster.status_json();
        let nodes = status["nodes"].as_array().expect("a nodes array");
        let mut roles: Vec<&str> = nodes.iter().filter_map(|n| n["role"].as_str()).collect();
        roles.sort_unstable();
        assert_eq!(roles, ["head", "middle", "tail"], "{status}");
        let epochs: Vec<u64> = nodes.iter().filter_map(|n| n["epoch"].as_u64()).collect();
        assert!(
            epochs.len() == 3 && epochs.iter().all(|&e| e == epochs[0] && e > 1),
            "one epoch, after reconfigurations: {status}"
        );
        assert_eq!(
            nodes
                .iter()
                .filter(|n| n["manager"]["role"] == "leader")
                .count(),
            1,
            "{status}"
        );
    });
}
