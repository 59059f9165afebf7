//! `troupe cluster init --tls` and `troupe cluster up`: every node of the config runs as a child
//! process, over TLS; the cluster serves `troupe kv`; Ctrl-C (SIGINT) stops every node cleanly.
//! A second `cluster up` of a running config starts nothing and exits at once; `cluster up`
//! exits non-zero once none of its nodes is left.

use super::support::{exit_within, troupe, Processes};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// Whether process `pid` still exists (and is not a zombie awaiting its parent).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| !stat.contains(") Z "))
        .unwrap_or(false)
}

#[test]
fn cluster_up_serves_and_ctrl_c_stops_every_node() {
    // The config only; `cluster up` starts the nodes.
    let cluster = Processes::init_with("up", 3, &["--tls"]);
    assert!(cluster.config.tls.is_some(), "init --tls configures TLS");
    let mut up = troupe()
        .args(["cluster", "up", "--config"])
        .arg(&cluster.config_path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("cluster up starts");
    let start = Instant::now();
    loop {
        let out = troupe()
            .args(["kv", "--timeout", "1s", "--config"])
            .arg(&cluster.config_path)
            .args(["put", "greeting", "hello"])
            .output()
            .expect("troupe kv runs");
        if out.status.success() {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the cluster did not serve within 30 s: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let get = troupe()
        .args(["kv", "--config"])
        .arg(&cluster.config_path)
        .args(["get", "greeting"])
        .output()
        .expect("troupe kv runs");
    assert_eq!(
        String::from_utf8_lossy(&get.stdout).lines().last(),
        Some("hello")
    );

    // SIGINT, as Ctrl-C in a terminal sends.
    // SAFETY: kill(2) on our own child with a valid signal.
    unsafe { libc::kill(up.id() as i32, libc::SIGINT) };
    let start = Instant::now();
    let status = loop {
        if let Some(status) = up.try_wait().expect("wait") {
            break status;
        }
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "cluster up did not stop"
        );
        std::thread::yield_now();
    };
    assert!(status.success(), "cluster up exited with {status}");
    let mut stdout = String::new();
    std::io::Read::read_to_string(&mut up.stdout.take().expect("stdout"), &mut stdout)
        .expect("read");
    let pids: Vec<u32> = stdout
        .lines()
        .filter_map(|l| l.split_once(": pid ")?.1.split(',').next()?.parse().ok())
        .collect();
    assert_eq!(pids.len(), 3, "{stdout}");
    for pid in pids {
        assert!(!alive(pid), "node process {pid} outlived cluster up");
    }
    // A client now fails, and says so with a non-zero exit.
    let out = troupe()
        .args(["kv", "--timeout", "1s", "--config"])
        .arg(&cluster.config_path)
        .args(["get", "greeting"])
        .output()
        .expect("troupe kv runs");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("troupe:"));
}

#[test]
fn a_second_cluster_up_on_a_running_config_exits_at_once_naming_the_node_and_address() {
    let mut cluster = Processes::init("up-twice", 3);
    for id in cluster.ids() {
        cluster.start(id);
    }
    // Every node is listening once each client port takes connections.
    let start = Instant::now();
    for node in cluster.config.nodes.clone() {
        while std::net::TcpStream::connect(node.client_addr).is_err() {
            cluster.assert_running();
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "{} did not listen",
                node.id
            );
            std::thread::yield_now();
        }
    }
    let second = spawn_up(&cluster);
    let (status, stderr) = exit_within(second, Duration::from_secs(10), "the second cluster up");
    assert!(!status.success(), "{stderr}");
    let first = &cluster.config.nodes[0];
    assert!(
        stderr.contains(&format!("node {}", first.id))
            && stderr.contains(&first.peer_addr.to_string()),
        "the error names the node and its address: {stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    // The running cluster is untouched.
    cluster.assert_running();
}

#[test]
fn cluster_up_exits_non_zero_once_every_node_has_exited() {
    let cluster = Processes::init("up-all-exit", 3);
    // No node can open its data directory: `data` is a file.
    std::fs::write(cluster.dir.join("data"), b"not a directory").expect("write");
    let up = spawn_up(&cluster);
    let (status, stderr) = exit_within(up, Duration::from_secs(20), "cluster up");
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("every node has exited"), "{stderr}");
}

/// `troupe cluster up` on `cluster`'s config, its stderr captured.
fn spawn_up(cluster: &Processes) -> std::process::Child {
    troupe()
        .args(["cluster", "up", "--config"])
        .arg(&cluster.config_path)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cluster up starts")
}
