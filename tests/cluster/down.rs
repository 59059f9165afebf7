//! The clients of a cluster whose every node is down say so, node by node: `troupe status`
//! names each node by its id with the reason it is unreachable and exits 1; `troupe kv` lists
//! each node's last error and says that the operation did not take effect (or read nothing).

use super::support::{troupe, Processes};
use std::process::Output;

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
