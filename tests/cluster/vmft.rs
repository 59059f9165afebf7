//! VM-FT as real processes: a three-process cluster from `troupe cluster init --system vmft`
//! (every process a storage replica, a VM host and a failover supervisor) boots its VM with a
//! primary and a backup, takes appends from four clients through any node's client port, and
//! has its primary's process killed with SIGKILL while the appends go on. The backup goes live,
//! the appends carry on, every acknowledged append is in the values `troupe kv get` reads at
//! the end (none twice), and `troupe status` shows the old backup as the primary.

use super::support::{runtime, Processes};
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use troupe_actors::client::Outcome;
use troupe_actors::kv::remote::RemoteClerk;
use troupe_messages::kv::KvOp;
use troupe_messages::NodeId;

const OP_DEADLINE: Duration = Duration::from_secs(20);

/// How many appends are acknowledged before the kill, and again after it.
const APPENDS_PER_PHASE: usize = 40;

/// The keys the clients append to (two clients per key, so appends interleave).
const KEYS: [&str; 2] = ["log-a", "log-b"];

/// The roles `troupe status --json` shows, by node id.
fn roles(status: &serde_json::Value) -> BTreeMap<String, String> {
    status["nodes"]
        .as_array()
        .map(|nodes| {
            nodes
                .iter()
                .filter_map(|n| Some((n["id"].as_str()?.into(), n["role"].as_str()?.into())))
                .collect()
        })
        .unwrap_or_default()
}

/// Polls `troupe status --json` until it shows a primary that names its backup and that
/// backup in the role of backup; returns (primary, backup).
fn pair_from_status(cluster: &Processes, within: Duration) -> (String, String) {
    let start = Instant::now();
    loop {
        let status = cluster.status_json();
        let roles = roles(&status);
        let nodes = status["nodes"].as_array().cloned().unwrap_or_default();
        let pair = nodes.iter().find_map(|n| {
            let primary = n["id"].as_str()?;
            let backup = n["backup"].as_str()?;
            let in_sync = n["role"] == "primary"
                && n["replicated"] == true
                && roles.get(backup).map(String::as_str) == Some("backup");
            in_sync.then(|| (primary.to_string(), backup.to_string()))
        });
        if let Some(pair) = pair {
            return pair;
        }
        assert!(
            start.elapsed() < within,
            "no primary with a backup within {within:?}; last status: {status}"
        );
    }
}

/// Client `c` appends unique values to its key until `stop`, recording each acknowledged one.
async fn append_until(
    c: usize,
    clerk: &mut RemoteClerk,
    stop: &Cell<bool>,
    acked: &RefCell<Vec<(String, String)>>,
    progress: &Notify,
) {
    let key = KEYS[c % KEYS.len()].to_string();
    let mut i = 0;
    while !stop.get() {
        let value = format!("c{c}.{i};");
        let op = KvOp::Append {
            key: key.clone(),
            value: value.clone(),
        };
        match clerk.run(op, OP_DEADLINE).await {
            Outcome::Done(_) => {
                acked.borrow_mut().push((key.clone(), value));
                progress.notify_waiters();
            }
            other => panic!("{key} += {value}: not acknowledged within {OP_DEADLINE:?}: {other:?}"),
        }
        i += 1;
    }
}

/// Waits until `acked` holds at least `count` appends.
async fn acked_at_least(acked: &RefCell<Vec<(String, String)>>, progress: &Notify, count: usize) {
    let within = Duration::from_secs(20);
    let start = Instant::now();
    while acked.borrow().len() < count {
        let remaining = within.saturating_sub(start.elapsed());
        let woke = tokio::time::timeout(remaining, progress.notified()).await;
        assert!(
            woke.is_ok() || acked.borrow().len() >= count,
            "only {} of {count} appends acknowledged within {within:?}",
            acked.borrow().len()
        );
    }
}

#[test]
fn vmft_processes_fail_over_to_the_backup_when_the_primary_is_killed() {
    let mut cluster = Processes::init_with("vmft-sigkill", 3, &["--system", "vmft"]);
    for id in cluster.ids() {
        cluster.start(id);
    }
    let (primary, backup) = pair_from_status(&cluster, Duration::from_secs(20));
    let victim: NodeId = primary.parse().expect("a node id");

    runtime().block_on(async {
        let acked = RefCell::new(Vec::new());
        let progress = Notify::new();
        let stop = Cell::new(false);
        let after_kill = Cell::new(0);
        let cluster = RefCell::new(cluster);
        let mut clerks: Vec<RemoteClerk> = (0..4)
            .map(|c| {
                let mut clerk = cluster.borrow().clerk(100 + c);
                clerk.attempt_timeout = Duration::from_secs(3);
                clerk
            })
            .collect();
        let writers = clerks.iter_mut().enumerate().map(|(c, clerk)| {
            let (stop, acked, progress) = (&stop, &acked, &progress);
            async move { append_until(c, clerk, stop, acked, progress).await }
        });
        let killer = async {
            acked_at_least(&acked, &progress, APPENDS_PER_PHASE).await;
            // Appends are in flight: the kill lands during the writes.
            cluster.borrow_mut().kill(victim);
            let at_kill = acked.borrow().len();
            acked_at_least(&acked, &progress, at_kill + APPENDS_PER_PHASE).await;
            after_kill.set(acked.borrow().len() - at_kill);
            stop.set(true);
        };
        tokio::join!(futures_util::future::join_all(writers), killer);
        let cluster = cluster.into_inner();
        let acked = acked.into_inner();
        assert!(
            after_kill.get() >= APPENDS_PER_PHASE,
            "{}",
            after_kill.get()
        );

        // Every acknowledged append is in its key's final value, once.
        for key in KEYS {
            let value = cluster.kv_until_ok(&["get", key], Duration::from_secs(20));
            let parts: Vec<&str> = value.split_inclusive(';').collect();
            let mut seen = BTreeMap::new();
            for part in &parts {
                *seen.entry(*part).or_insert(0) += 1;
            }
            assert!(
                seen.values().all(|&n| n == 1),
                "{key}: an append applied twice: {value}"
            );
            for (_, part) in acked.iter().filter(|(k, _)| k == key) {
                assert!(
                    seen.contains_key(part.as_str()),
                    "{key}: the acknowledged append {part} is lost: {value}"
                );
            }
        }

        // The old backup runs the primary now (and the spare became its backup).
        let (new_primary, _) = pair_from_status(&cluster, Duration::from_secs(20));
        assert_eq!(new_primary, backup, "the old backup went live");
        let status = cluster.status_json();
        assert_eq!(
            roles(&status).get(&primary).map(String::as_str),
            Some("down"),
            "{status}"
        );
    });
}
