//! Simulated histories carry the exact real-time order: at default settings, under every
//! nemesis, no two timestamps of a history are equal (ties at one virtual instant are broken
//! in execution order), and operations take time (links have latency), so the checker sees
//! which operations really overlapped.

use std::process::Command;
use troupe_runtime::history::{self, Operation};

fn history_of(args: &[&str], name: &str) -> Vec<Operation> {
    let dir = std::env::temp_dir().join(format!("troupe-timing-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.jsonl"));
    let out = Command::new(env!("CARGO_BIN_EXE_troupe"))
        .arg("sim")
        .args(args)
        .args(["--duration", "5s", "--seed", "3", "--json", "--history"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success(), "troupe sim {args:?}: {out:?}");
    let ops = history::read(std::io::BufReader::new(std::fs::File::open(&path).unwrap())).unwrap();
    std::fs::remove_file(&path).ok();
    ops
}

#[test]
fn no_two_timestamps_tie_and_the_median_operation_takes_time() {
    for nemesis in ["none", "crash", "partition", "unreliable", "all"] {
        for system in [
            &["raft-kv"][..],
            &["chain", "--nodes", "3"],
            &["chain", "--craq", "--nodes", "3"],
        ] {
            let args: Vec<&str> = system
                .iter()
                .copied()
                .chain(["--nemesis", nemesis])
                .collect();
            let ops = history_of(&args, &format!("{}-{nemesis}", system.join("")));
            assert!(ops.len() > 100, "{args:?}: only {} operations", ops.len());
            let mut stamps: Vec<u64> = ops
                .iter()
                .flat_map(|o| [Some(o.call), o.ret])
                .flatten()
                .collect();
            let all = stamps.len();
            stamps.sort_unstable();
            stamps.dedup();
            assert_eq!(stamps.len(), all, "{args:?}: some timestamps tie");
            let mut took: Vec<u64> = ops.iter().filter_map(|o| Some(o.ret? - o.call)).collect();
            took.sort_unstable();
            let median = took[took.len() / 2];
            assert!(
                median >= 1_000_000,
                "{args:?}: the median operation took {median} ns"
            );
        }
    }
}
