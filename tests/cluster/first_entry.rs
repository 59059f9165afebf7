//! `troupe cluster init` writes a config; three `troupe node` processes find each other over
//! TCP, elect a leader and replicate its first entry; after SIGKILL, each node's data directory
//! still holds the term and the replicated entry.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use troupe_actors::raft::storage::RaftStorage;
use troupe_runtime::FilePersister;

fn troupe() -> Command {
    Command::new(env!("CARGO_BIN_EXE_troupe"))
}

/// Kills the node processes however the test ends.
struct Nodes(Vec<Child>);

impl Drop for Nodes {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Reads a running node's Raft state from a copy of its data directory (the node keeps
/// writing the original): (term, last index, term of entry 1).
fn peek(dir: &Path, scratch: &Path) -> Option<(u64, u64, Option<u64>)> {
    let _ = std::fs::remove_dir_all(scratch);
    std::fs::create_dir_all(scratch).ok()?;
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        std::fs::copy(entry.path(), scratch.join(entry.file_name())).ok()?;
    }
    let persister = Arc::new(FilePersister::open(scratch).ok()?);
    let (_, durable, _) = RaftStorage::load(persister).ok()?;
    Some((
        durable.term,
        durable.log.last_index(),
        durable.log.term_at(1),
    ))
}

#[test]
fn three_processes_elect_and_replicate_and_keep_it_through_sigkill() {
    let dir = std::env::temp_dir().join(format!("troupe-cluster-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = troupe()
        .args(["cluster", "init", "--nodes", "3", "--dir"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let config = dir.join("cluster.toml");
    assert!(String::from_utf8_lossy(&out.stdout).contains("cluster.toml"));

    // An id the config does not have is an error, not a crash.
    let bad = troupe()
        .args(["node", "--id", "n9", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("no node n9"));

    let mut nodes = Nodes(Vec::new());
    for id in ["n1", "n2", "n3"] {
        let child = troupe()
            .args(["node", "--id", id, "--config"])
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        nodes.0.push(child);
    }
    // Every node persists a term and at least the leader's first entry.
    let data: Vec<PathBuf> = (1..=3)
        .map(|i| dir.join("data").join(format!("n{i}")))
        .collect();
    let scratch = dir.join("peek");
    let start = Instant::now();
    loop {
        let replicated = data
            .iter()
            .all(|d| peek(d, &scratch).is_some_and(|(term, last, _)| term >= 1 && last >= 1));
        if replicated {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the nodes did not elect and replicate within 20 s"
        );
        for child in &mut nodes.0 {
            assert!(
                child.try_wait().unwrap().is_none(),
                "a node process exited early"
            );
        }
        std::thread::yield_now();
    }
    drop(nodes); // SIGKILL

    let mut first_entries = Vec::new();
    for d in &data {
        let persister = Arc::new(FilePersister::open(d).expect("the data survives SIGKILL"));
        let (_, durable, _) = RaftStorage::load(persister).expect("raft state reads");
        assert!(durable.term >= 1, "{}: no term persisted", d.display());
        assert!(
            durable.log.last_index() >= 1,
            "{}: nothing replicated",
            d.display()
        );
        first_entries.push(durable.log.term_at(1));
    }
    assert!(
        first_entries.windows(2).all(|w| w[0] == w[1]),
        "logs disagree: {first_entries:?}"
    );
    std::fs::remove_dir_all(&dir).ok();
}
