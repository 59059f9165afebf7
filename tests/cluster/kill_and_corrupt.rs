//! The acceptance tests of real deployment: a thousand writes through the client port while
//! the leader process is killed with SIGKILL and later restarted, and a node whose log tail is
//! torn (cut mid-record) or corrupt (a flipped byte) restarting, reporting the truncation and
//! rejoining. Afterwards every acknowledged write is in every node's own replica.

use super::support::{leader_among, newest_log, runtime, troupe, Processes};
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use troupe_actors::client::Outcome;
use troupe_actors::kv::remote::RemoteClerk;
use troupe_messages::kv::KvOp;
use troupe_messages::NodeId;

const OP_DEADLINE: Duration = Duration::from_secs(30);

/// Writes `keys` with `clerk`, recording each acknowledged write.
async fn write(
    clerk: &mut RemoteClerk,
    keys: impl Iterator<Item = usize>,
    acked: &RefCell<BTreeMap<String, String>>,
    progress: &Notify,
) {
    for i in keys {
        let (key, value) = (format!("key{i:04}"), format!("value{i}"));
        let op = KvOp::Put {
            key: key.clone(),
            value: value.clone(),
        };
        match clerk.run(op, OP_DEADLINE).await {
            Outcome::Done(_) => {
                acked.borrow_mut().insert(key, value);
                progress.notify_one();
            }
            other => panic!("{key}: not acknowledged within {OP_DEADLINE:?}: {other:?}"),
        }
    }
}

#[test]
fn a_thousand_writes_survive_sigkill_of_the_leader() {
    let mut cluster = Processes::init("sigkill", 3);
    for id in cluster.ids() {
        cluster.start(id);
    }
    runtime().block_on(async {
        let first_leader = cluster.leader(Duration::from_secs(20)).await;
        let acked = RefCell::new(BTreeMap::new());
        let progress = Notify::new();
        let killed = Cell::new(None::<(NodeId, usize)>);
        let cluster = RefCell::new(cluster);

        // Four clients write 250 keys each; when 300 writes are acknowledged, the leader's
        // process is killed with SIGKILL, and the clients keep writing.
        let mut clerks: Vec<RemoteClerk> =
            (0..4).map(|c| cluster.borrow().clerk(100 + c)).collect();
        let writers = clerks.iter_mut().enumerate().map(|(c, clerk)| {
            let (acked, progress) = (&acked, &progress);
            async move { write(clerk, (c * 250)..((c + 1) * 250), acked, progress).await }
        });
        let killer = async {
            while acked.borrow().len() < 300 {
                progress.notified().await;
            }
            let (mut clerk, ids) = (cluster.borrow().clerk(99), cluster.borrow().ids());
            let leader = leader_among(&mut clerk, &ids, Duration::from_secs(20)).await;
            cluster.borrow_mut().kill(leader);
            killed.set(Some((leader, acked.borrow().len())));
        };
        tokio::join!(futures_util::future::join_all(writers), killer);
        let mut cluster = cluster.into_inner();
        let acked = acked.into_inner();
        assert_eq!(acked.len(), 1000, "every write is acknowledged");
        let (killed, acked_before_kill) = killed.get().expect("the leader was killed");
        assert!(
            acked_before_kill < 1000,
            "the writes went on after the kill (first leader {first_leader})"
        );

        // A new leader took over; the old one comes back and catches up.
        let new_leader = cluster.leader(Duration::from_secs(20)).await;
        assert_ne!(new_leader, killed);
        cluster.start(killed);
        cluster
            .wait_replicated(&acked, Duration::from_secs(60))
            .await;

        // The command-line client and status agree.
        assert_eq!(
            cluster.kv_get_via(&killed.to_string(), "key0999"),
            "value999"
        );
        let status = cluster.status_json();
        let nodes = status["nodes"].as_array().expect("a nodes array");
        assert_eq!(nodes.len(), 3);
        assert!(nodes.iter().all(|n| n["reachable"] == true), "{status}");
        let leaders = nodes.iter().filter(|n| n["role"] == "leader").count();
        assert_eq!(leaders, 1, "{status}");
        assert!(
            nodes
                .iter()
                .all(|n| n["commit_index"].as_u64() >= Some(1000)),
            "{status}"
        );
    });
}

/// Kills `node`, damages the tail of its newest log with `damage`, restarts it, and waits for
/// it to report the truncation.
fn damage_and_restart(cluster: &mut Processes, node: NodeId, damage: impl FnOnce(&mut Vec<u8>)) {
    cluster.kill(node);
    let log = newest_log(&cluster.data_dir(node));
    let mut bytes = std::fs::read(&log).expect("read the log");
    assert!(bytes.len() > 16, "{}: the log is empty", log.display());
    damage(&mut bytes);
    std::fs::write(&log, &bytes).expect("write the damaged log");
    cluster.start(node);
    let start = Instant::now();
    while !cluster.stderr_of(node).contains("truncated a torn tail") {
        cluster.assert_running();
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{node} did not report the truncation: {}",
            cluster.stderr_of(node)
        );
        std::thread::yield_now();
    }
}

#[test]
fn a_torn_or_corrupt_log_tail_is_truncated_and_the_node_rejoins() {
    let mut cluster = Processes::init("torn", 3);
    for id in cluster.ids() {
        cluster.start(id);
    }
    let rt = runtime();
    let acked = RefCell::new(BTreeMap::new());
    let progress = Notify::new();
    let mut clerk = cluster.clerk(7);
    let mut next = 0;
    let mut write_some = |clerk: &mut RemoteClerk, n: usize| {
        rt.block_on(write(clerk, next..next + n, &acked, &progress));
        next += n;
    };
    write_some(&mut clerk, 100);
    let leader = rt.block_on(cluster.leader(Duration::from_secs(20)));
    let follower = cluster
        .ids()
        .into_iter()
        .find(|&id| id != leader)
        .expect("a follower");

    // 1. Cut mid-record: the last record loses its last three bytes.
    damage_and_restart(&mut cluster, follower, |bytes| {
        bytes.truncate(bytes.len() - 3)
    });
    write_some(&mut clerk, 50);
    rt.block_on(cluster.wait_replicated(&acked.borrow(), Duration::from_secs(30)));

    // 2. A flipped byte in the last record: its checksum fails.
    damage_and_restart(&mut cluster, follower, |bytes| {
        let at = bytes.len() - 2;
        bytes[at] ^= 0x5a;
    });
    write_some(&mut clerk, 50);
    rt.block_on(cluster.wait_replicated(&acked.borrow(), Duration::from_secs(30)));
    assert_eq!(acked.borrow().len(), 200);

    // 3. Damage before the tail is not a torn write: the node refuses to start, and says why.
    cluster.kill(follower);
    let log = newest_log(&cluster.data_dir(follower));
    let mut bytes = std::fs::read(&log).expect("read the log");
    bytes[10] ^= 0x5a; // inside the first record
    std::fs::write(&log, &bytes).expect("write the damaged log");
    let out = troupe()
        .args(["node", "--id", &follower.to_string(), "--config"])
        .arg(&cluster.config_path)
        .output()
        .expect("troupe node runs");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("refusing to start"), "{stderr}");
    // The other two keep serving.
    write_some(&mut clerk, 10);
}
