//! The command line refuses values that would not mean what they say, before doing anything,
//! with a one-line error that names the flag: zero nodes, zero clients where a run is judged
//! by its clients, zero durations, timeouts and budgets.

use std::process::{Command, Output};

fn troupe(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_troupe"))
        .args(args)
        .output()
        .expect("troupe runs")
}

/// `args` are refused as a usage error (exit 2) whose first line names `flag`.
fn refused(args: &[&str], flag: &str) {
    let out = troupe(args);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let first = stderr.lines().next().unwrap_or_default();
    assert!(first.contains("error"), "{args:?}: {stderr}");
    assert!(
        first.contains(flag),
        "{args:?}: the error names {flag}: {stderr}"
    );
    assert!(out.stdout.is_empty(), "{args:?} printed {out:?}");
}

#[test]
fn cluster_init_refuses_node_and_chain_counts_it_cannot_lay_out() {
    let dir = std::env::temp_dir().join(format!("troupe-cli-init-{}", std::process::id()));
    let dir = dir.to_str().expect("a UTF-8 temp dir");
    refused(
        &["cluster", "init", "--nodes", "0", "--dir", dir],
        "--nodes",
    );
    refused(
        &["cluster", "init", "--nodes", "101", "--dir", dir],
        "--nodes",
    );
    refused(&["cluster", "init", "--nodes=-1", "--dir", dir], "--nodes");
    refused(
        &[
            "cluster", "init", "--system", "chain", "--chains", "0", "--dir", dir,
        ],
        "--chains",
    );
    assert!(
        !std::path::Path::new(dir).exists(),
        "a refused init writes nothing"
    );
}

#[test]
fn sim_refuses_zero_nodes_zero_clients_and_zero_durations() {
    for system in ["raft-kv", "chain", "register", "ping"] {
        refused(&["sim", system, "--nodes", "0"], "--nodes");
        refused(&["sim", system, "--duration", "0s"], "--duration");
        refused(&["sim", system, "--duration", "60"], "--duration");
    }
    for system in ["raft-kv", "chain", "register"] {
        refused(&["sim", system, "--clients", "0"], "--clients");
    }
}

#[test]
fn sim_ping_runs_without_clients() {
    // Ping has no clients: zero is what it runs anyway.
    let out = troupe(&[
        "sim",
        "ping",
        "--clients",
        "0",
        "--nodes",
        "2",
        "--duration",
        "1s",
        "--json",
    ]);
    assert!(out.status.success(), "{out:?}");
}

#[test]
fn client_timeouts_and_check_budgets_must_be_more_than_zero() {
    let config = "/nonexistent/cluster.toml";
    refused(
        &["kv", "--timeout", "0s", "--config", config, "get", "k"],
        "--timeout",
    );
    refused(
        &["check", "--budget-time", "0s", "h.jsonl"],
        "--budget-time",
    );
    refused(
        &["check", "--budget-states", "0", "h.jsonl"],
        "--budget-states",
    );
    refused(
        &["bench", "chain", "--real", "--cpu-per-node=-1"],
        "--cpu-per-node",
    );
}
