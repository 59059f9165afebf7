//! The clients of a cluster whose every node is down say so, node by node: `troupe status`
//! names each node by its id with the reason it is unreachable and exits 1; `troupe kv` lists
//! each node's last error and says that the operation did not take effect (or read nothing).
//! A client that was connected to a node when its process died learns it at its next call,
//! without waiting out the call's timeout.

use super::support::{runtime, troupe, Processes};
use std::process::Output;
use std::time::{Duration, Instant};
use troupe_messages::NodeId;

fn run(cluster: &Processes, args: &[&str]) -> Output {
    let (command, rest) = args.split_first().expect("a command");
    troupe()
        .arg(command)
        .arg("--config")
        .arg(&cluster.config_path)
        .args(rest)
        .output()
        .expect("troupe runs")
}

/// Each node of `cluster` appears on a line of `text` of its own, with `reason`, by its id
/// (never as the client's own id `n0`).
fn names_each_node(cluster: &Processes, text: &str, reason: &str) {
    assert!(!text.contains("n0"), "{text}");
    for node in &cluster.config.nodes {
        let line = text
            .lines()
            .find(|l| l.trim_start().starts_with(&node.id))
            .unwrap_or_else(|| panic!("no line for {}: {text}", node.id));
        assert!(line.contains(reason), "{line}");
    }
}

#[test]
fn status_with_every_node_down_exits_1_and_names_each_node() {
    for system in ["raft-kv", "chain", "vmft"] {
        let cluster =
            Processes::init_with(&format!("status-down-{system}"), 3, &["--system", system]);
        let out = run(&cluster, &["status"]);
        assert_eq!(out.status.code(), Some(1), "{system}: {out:?}");
        let stdout = String::from_utf8_lossy(&out.stdout);
        names_each_node(&cluster, &stdout, "refused");
        assert!(String::from_utf8_lossy(&out.stderr).contains("cannot serve"));

        let out = run(&cluster, &["status", "--json"]);
        assert_eq!(out.status.code(), Some(1), "{system}: {out:?}");
        let status: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
        let nodes = status["nodes"].as_array().expect("a nodes array");
        let ids: Vec<&str> = nodes.iter().filter_map(|n| n["id"].as_str()).collect();
        assert_eq!(ids, ["n1", "n2", "n3"], "{status}");
        assert!(nodes.iter().all(|n| n["reachable"] == false), "{status}");
        assert!(
            nodes
                .iter()
                .all(|n| n["error"].as_str().is_some_and(|e| e.contains("refused"))),
            "{status}"
        );
    }
}

#[test]
fn kv_with_every_node_down_lists_each_nodes_error() {
    let cluster = Processes::init("kv-down", 3);
    let out = run(&cluster, &["kv", "--timeout", "1s", "put", "k", "v"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("the put did not take effect"), "{stderr}");
    names_each_node(&cluster, &stderr, "refused");

    let out = run(&cluster, &["kv", "--timeout", "1s", "get", "k"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("the get read nothing"), "{stderr}");
    names_each_node(&cluster, &stderr, "refused");
    assert!(out.stdout.is_empty(), "a failed get prints no value");
}

#[test]
fn a_call_on_a_connection_to_a_killed_node_fails_at_once() {
    let mut cluster = Processes::init("down-connected", 1);
    cluster.start(NodeId(1));
    runtime().block_on(async {
        let mut clerk = cluster.clerk(7);
        clerk.attempt_timeout = Duration::from_secs(1);
        let start = Instant::now();
        while clerk.status(NodeId(1)).await.is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "n1 never answered"
            );
        }
        cluster.kill(NodeId(1));
        // The connection the clerk keeps to n1 is dead now; a write may still go into its
        // socket, but the call must not wait for an answer that cannot come.
        clerk.attempt_timeout = Duration::from_secs(30);
        let asked = Instant::now();
        // Let the connection's reader see the end of the stream first: the runtime polls its
        // sockets between turns of its tasks.
        for _ in 0..1_000 {
            tokio::task::yield_now().await;
        }
        let answer = clerk.status(NodeId(1)).await;
        assert!(answer.is_err(), "{answer:?}");
        assert!(
            asked.elapsed() < Duration::from_secs(5),
            "the call waited {:?}: {answer:?}",
            asked.elapsed()
        );
    });
}
