//! GFS as real processes: a three-process cluster from `troupe cluster init --system gfs`
//! (every process a chunkserver and a master replica) stores a file of a few MB with `troupe
//! gfs put` and gives the same bytes back to `get`, lists it and removes it. Then four clients
//! append records to one file through the nodes' client ports while the process of the
//! primary of the file's last chunk is killed with SIGKILL and later restarted: the appends go
//! on, and at the end `troupe gfs records` prints every acknowledged record exactly once, and
//! the file's raw bytes hold each at least once. `troupe gfs` refuses more data than a request
//! carries, says node by node why it got no answer, and refuses another system's cluster.

use super::support::{runtime, troupe, Processes};
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use troupe_actors::kv::remote::RemoteClerk;
use troupe_messages::client::{ClientRequest, ClientResponse, GfsClientOp, GfsClientReply};
use troupe_messages::{ClientId, NodeId};

/// The record-append file.
const LOG: &str = "/logs/appends";

/// How many appends are acknowledged before the kill, after it, and after the restart.
const APPENDS_PER_PHASE: usize = 30;

/// How long one append may take, through every node (a dead primary's lease runs 5 s).
const APPEND_WITHIN: Duration = Duration::from_secs(60);

/// `troupe gfs --config ... ARGS`, once.
fn gfs(cluster: &Processes, args: &[&str]) -> std::process::Output {
    troupe()
        .args(["gfs", "--timeout", "60s", "--config"])
        .arg(&cluster.config_path)
        .args(args)
        .output()
        .expect("troupe gfs runs")
}

/// `troupe gfs ARGS`, which must succeed; what it printed.
fn gfs_ok(cluster: &Processes, args: &[&str]) -> String {
    let out = gfs(cluster, args);
    assert!(
        out.status.success(),
        "troupe gfs {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Polls `troupe status --json` until a master replica serves and knows `servers` live
/// chunkservers; returns the status.
fn ready(cluster: &Processes, servers: usize, within: Duration) -> serde_json::Value {
    let start = Instant::now();
    loop {
        let status = cluster.status_json();
        if status["master"]["live_servers"]
            .as_array()
            .is_some_and(|live| live.len() == servers)
        {
            return status;
        }
        assert!(
            start.elapsed() < within,
            "no master serving with {servers} live chunkservers within {within:?}: {status}"
        );
    }
}

/// Asks node after node, from `first`, until one answers `request` with a GFS reply other than
/// a failure to try elsewhere; panics after `within`.
async fn ask_until_answered(
    clerk: &mut RemoteClerk,
    nodes: &[NodeId],
    first: usize,
    request: &ClientRequest,
    within: Duration,
) -> GfsClientReply {
    let start = Instant::now();
    let mut turn = first;
    loop {
        let node = nodes[turn % nodes.len()];
        let last = match clerk.ask_node(node, request).await {
            Ok(ClientResponse::Gfs(GfsClientReply::Failed { reason, .. })) => reason,
            Ok(ClientResponse::Gfs(reply)) => return reply,
            Ok(other) => format!("{other:?}"),
            Err(e) => e.to_string(),
        };
        assert!(
            start.elapsed() < within,
            "{request:?} not answered within {within:?}; {node} said: {last}"
        );
        turn += 1;
        tokio::task::yield_now().await;
    }
}

/// Client `c` appends distinct records to [`LOG`] until `stop`, each retried (through the
/// next node, with the same id) until acknowledged, recording each acknowledged payload with
/// when it was first sent and when it was acknowledged.
async fn append_until(
    c: u64,
    clerk: &mut RemoteClerk,
    nodes: &[NodeId],
    stop: &Cell<bool>,
    acked: &RefCell<Vec<Acked>>,
    progress: &Notify,
) {
    let client = ClientId::from(1_000 + c);
    let mut seq = 0;
    while !stop.get() {
        seq += 1;
        let payload = format!("<c{c}-{seq}>");
        let request = ClientRequest::Gfs(GfsClientOp::Append {
            path: LOG.into(),
            data: payload.clone().into_bytes(),
            client,
            seq,
        });
        let first = (c as usize + seq as usize) % nodes.len();
        let sent = Instant::now();
        match ask_until_answered(clerk, nodes, first, &request, APPEND_WITHIN).await {
            GfsClientReply::Appended { .. } => {
                acked.borrow_mut().push(Acked {
                    payload,
                    sent,
                    acked: Instant::now(),
                });
                progress.notify_waiters();
            }
            other => panic!("append {payload}: {other:?}"),
        }
    }
}

/// An acknowledged append.
struct Acked {
    payload: String,
    /// When it was first sent.
    sent: Instant,
    /// When a node acknowledged it.
    acked: Instant,
}

/// Waits until `acked` holds at least `count` appends.
async fn acked_at_least(acked: &RefCell<Vec<Acked>>, progress: &Notify, count: usize) {
    let within = Duration::from_secs(120);
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

/// Bytes of a file of a few MB that are not one byte repeated.
fn blob(len: usize) -> Vec<u8> {
    let mut x: u32 = 0x9e37_79b9;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

#[test]
fn gfs_processes_store_files_and_keep_every_acknowledged_record_through_a_primary_kill() {
    let mut cluster = Processes::init_with("gfs", 3, &["--system", "gfs"]);
    for id in cluster.ids() {
        cluster.start(id);
    }
    let status = ready(&cluster, 3, Duration::from_secs(30));
    assert_eq!(status["system"], "gfs", "{status}");
    for node in status["nodes"].as_array().expect("nodes") {
        assert_eq!(
            node["roles"],
            serde_json::json!(["master", "chunkserver"]),
            "{status}"
        );
    }

    // A file of a few MB: put, get (the same bytes), ls, rm.
    let data = blob(3 << 20);
    let local = cluster.dir.join("blob.in");
    std::fs::write(&local, &data).expect("write the local file");
    let local = local.to_str().expect("a UTF-8 path");
    let started = Instant::now();
    gfs_ok(&cluster, &["put", local, "/files/blob"]);
    let put = started.elapsed();
    let back = cluster.dir.join("blob.out");
    gfs_ok(
        &cluster,
        &[
            "--node",
            "n3",
            "get",
            "/files/blob",
            back.to_str().expect("UTF-8"),
        ],
    );
    let get = started.elapsed() - put;
    eprintln!("gfs: a 3 MB put took {put:?}, its get {get:?} (each a whole `troupe gfs` run)");
    let read = std::fs::read(&back).expect("the file got");
    assert!(
        read == data,
        "get gave {} bytes, not the {} put",
        read.len(),
        data.len()
    );
    let listed = gfs_ok(&cluster, &["ls"]);
    assert!(listed.lines().any(|l| l == "/files/blob"), "ls: {listed}");
    gfs_ok(&cluster, &["rm", "/files/blob"]);
    let listed = gfs_ok(&cluster, &["ls", "/files"]);
    assert!(
        !listed.lines().any(|l| l == "/files/blob"),
        "ls after rm: {listed}"
    );

    // Record appends by four clients, through a SIGKILL of the primary and its restart.
    let nodes = cluster.ids();
    let (victim, recovery) = runtime().block_on(async {
        let acked = RefCell::new(Vec::new());
        let progress = Notify::new();
        let stop = Cell::new(false);
        let cluster = RefCell::new(cluster);
        let mut clerks: Vec<RemoteClerk> = (0..4)
            .map(|c| {
                let mut clerk = cluster.borrow().clerk(100 + c);
                clerk.attempt_timeout = Duration::from_secs(30);
                clerk
            })
            .collect();
        let mut inspector = cluster.borrow().clerk(99);
        inspector.attempt_timeout = Duration::from_secs(30);
        let writers = clerks.iter_mut().enumerate().map(|(c, clerk)| {
            let (stop, acked, progress, nodes) = (&stop, &acked, &progress, &nodes);
            async move { append_until(c as u64, clerk, nodes, stop, acked, progress).await }
        });
        let killer = async {
            acked_at_least(&acked, &progress, APPENDS_PER_PHASE).await;
            let lease = ClientRequest::Gfs(GfsClientOp::Lease { path: LOG.into() });
            let within = Duration::from_secs(30);
            let victim = match ask_until_answered(&mut inspector, &nodes, 0, &lease, within).await {
                GfsClientReply::Lease { primary, .. } => primary,
                other => panic!("no lease: {other:?}"),
            };
            // Appends are in flight: the kill lands during them.
            cluster.borrow_mut().kill(victim);
            let killed_at = Instant::now();
            let at_kill = acked.borrow().len();
            acked_at_least(&acked, &progress, at_kill + APPENDS_PER_PHASE).await;
            // Recovery: from the kill to the first acknowledgement of an append sent after it.
            let recovery = acked.borrow()[at_kill..]
                .iter()
                .filter(|a| a.sent >= killed_at)
                .map(|a| a.acked.duration_since(killed_at))
                .min()
                .unwrap_or_default();
            cluster.borrow_mut().start(victim);
            let restarted_at = Instant::now();
            let at_restart = acked.borrow().len();
            acked_at_least(&acked, &progress, at_restart + APPENDS_PER_PHASE).await;
            eprintln!(
                "gfs: {APPENDS_PER_PHASE} appends after {victim}'s restart took {:?}",
                restarted_at.elapsed()
            );
            stop.set(true);
            (victim, recovery)
        };
        let ((), (victim, recovery)) = tokio::join!(
            async {
                futures_util::future::join_all(writers).await;
            },
            killer
        );
        cluster.borrow_mut().assert_running();
        let cluster = cluster.into_inner();
        let acked: Vec<String> = acked.into_inner().into_iter().map(|a| a.payload).collect();
        eprintln!(
            "gfs: killed the primary {victim}; the first append sent after the kill was \
             acknowledged {recovery:?} after it; {} appends acknowledged in all",
            acked.len()
        );

        // Every acknowledged record once in `records`, and nothing else.
        let printed = gfs_ok(&cluster, &["records", LOG]);
        let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
        for line in printed.lines() {
            *seen.entry(line).or_default() += 1;
        }
        for payload in &acked {
            assert_eq!(
                seen.get(payload.as_str()),
                Some(&1),
                "the acknowledged record {payload} is not in `records` exactly once"
            );
        }
        assert_eq!(
            seen.len(),
            acked.len(),
            "records has more than the acknowledged"
        );
        assert!(seen.values().all(|&n| n == 1), "a record printed twice");

        // The raw file holds each at least once (a retried append may have written it twice).
        let raw = cluster.dir.join("log.raw");
        gfs_ok(&cluster, &["get", LOG, raw.to_str().expect("UTF-8")]);
        let raw = std::fs::read(&raw).expect("the raw file");
        for payload in &acked {
            assert!(
                raw.windows(payload.len()).any(|w| w == payload.as_bytes()),
                "{payload} is not in the file's bytes"
            );
        }

        // The restarted node serves again: its chunkserver and master replica answer.
        let status = ready(&cluster, 3, Duration::from_secs(30));
        let node = status["nodes"]
            .as_array()
            .and_then(|nodes| nodes.iter().find(|n| n["id"] == victim.to_string()))
            .cloned()
            .unwrap_or_default();
        assert_ne!(node["role"], "down", "{status}");
        (victim, recovery)
    });
    assert!(recovery < APPEND_WITHIN, "{victim}: {recovery:?}");
}

#[test]
fn troupe_gfs_refuses_what_it_cannot_carry_and_says_why_each_node_failed() {
    let cluster = Processes::init_with("gfs-refusals", 2, &["--system", "gfs"]);
    // Over 12 MB: refused before any node is asked.
    let big = cluster.dir.join("big.in");
    std::fs::write(&big, vec![1u8; 13 << 20]).expect("write the local file");
    let out = gfs(&cluster, &["put", big.to_str().expect("UTF-8"), "/big"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("over the 12582912 bytes"), "{stderr}");

    // No node runs: each node's reason, and exit 1.
    let out = troupe()
        .args(["gfs", "--timeout", "1s", "--config"])
        .arg(&cluster.config_path)
        .args(["ls"])
        .output()
        .expect("troupe gfs runs");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("n1 (") && stderr.contains("n2 ("),
        "{stderr}"
    );

    // Another system's cluster is not a GFS cluster.
    let kv = Processes::init("gfs-not-gfs", 1);
    let out = troupe()
        .args(["gfs", "--config"])
        .arg(&kv.config_path)
        .args(["ls"])
        .output()
        .expect("troupe gfs runs");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("raft-kv cluster"));
}
