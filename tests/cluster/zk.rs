//! ZooKeeper's own client, kazoo, unchanged, against a troupe ZooKeeper of three `troupe node`
//! processes (`troupe cluster init --system zk`): create, get, set, delete, exists and
//! children, ephemeral and sequential nodes, a transaction, data and child watches, kazoo's
//! Lock, Counter and Election recipes, and a session that survives the SIGKILL of the server
//! it is connected to. The checks are in tests/cluster/zk/kazoo_client.py; kazoo is installed
//! from PyPI into a virtual environment under the target directory, once.

use super::support::Processes;
use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// What the script reports, in order.
const STEPS: [&str; 7] = [
    "crud",
    "ephemeral-sequential",
    "transaction",
    "watches",
    "lock-counter",
    "election",
    "failover",
];

/// A Python with kazoo: a virtual environment made (and kazoo installed into it) on first use.
fn kazoo_python() -> PathBuf {
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("kazoo-venv");
    let python = venv.join("bin/python");
    let has_kazoo = |python: &Path| {
        Command::new(python)
            .args(["-c", "import kazoo"])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if has_kazoo(&python) {
        return python;
    }
    let made = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .output()
        .expect("python3 runs (needed to install kazoo)");
    assert!(made.status.success(), "python3 -m venv: {made:?}");
    let installed = Command::new(venv.join("bin/pip"))
        .args(["install", "-q", "kazoo>=2.9,<3"])
        .output()
        .expect("pip runs");
    assert!(
        installed.status.success() && has_kazoo(&python),
        "pip install kazoo: {installed:?}"
    );
    python
}

#[test]
fn kazoo_drives_a_troupe_zookeeper_of_three_processes() {
    let python = kazoo_python();
    let mut cluster = Processes::init_with("zk-kazoo", 3, &["--system", "zk"]);
    for id in cluster.ids() {
        cluster.start(id);
    }
    let addrs: Vec<(troupe_messages::NodeId, String)> = cluster
        .config
        .nodes
        .iter()
        .map(|n| {
            let id = n.id.parse().expect("a node id");
            (id, n.zk_addr.expect("a zk_addr per node").to_string())
        })
        .collect();
    let hosts: Vec<&str> = addrs.iter().map(|(_, a)| a.as_str()).collect();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cluster/zk/kazoo_client.py");
    let mut child = Command::new(&python)
        .arg(&script)
        .arg(hosts.join(","))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the kazoo script starts");
    let stdout = child.stdout.take().expect("stdout");
    let (lines, seen) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                return;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(180);
    let mut done = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match seen.recv_timeout(left) {
            Ok(line) => {
                if let Some(step) = line.strip_prefix("OK ") {
                    done.push(step.to_string());
                } else if let Some(addr) = line.strip_prefix("KILL ") {
                    let (victim, _) = addrs
                        .iter()
                        .find(|(_, a)| a == addr)
                        .unwrap_or_else(|| panic!("no server at {addr}"));
                    cluster.kill(*victim);
                    let stdin = child.stdin.as_mut().expect("stdin");
                    writeln!(stdin, "killed").expect("the script reads");
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let _ = child.kill();
                panic!("the kazoo script took over 180 s; done: {done:?}");
            }
        }
    }
    let out = child.wait_with_output().expect("the script ends");
    assert!(
        out.status.success() && done == STEPS,
        "kazoo: {} after {done:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}
