//! The linearizability checker against Porcupine's own verdicts, and `troupe check` as a
//! command: exit 0 for a linearizable history, 1 for one that is not, 2 for an unreadable one
//! or bad arguments, 3 when the search budget runs out first.

mod timing;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};
use troupe_runtime::history::{self, OpKind, Operation};
use troupe_runtime::linearizability::check;

fn oracle(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/porcupine-kv")
        .join(format!("{name}.jsonl"))
}

fn load(name: &str) -> Vec<Operation> {
    let file = std::fs::File::open(oracle(name)).expect("the oracle files are in the repository");
    history::read(std::io::BufReader::new(file)).expect("the oracle files are valid histories")
}

#[test]
fn porcupine_verdicts_each_in_under_a_second() {
    for (name, expected) in [
        ("c01-ok", true),
        ("c01-bad", false),
        ("c10-ok", true),
        ("c10-bad", false),
        ("c50-ok", true),
        ("c50-bad", false),
    ] {
        let ops = load(name);
        let started = Instant::now();
        let verdict = check(&ops);
        let took = started.elapsed();
        eprintln!("{name}: {took:.2?}");
        assert_eq!(verdict.is_linearizable(), expected, "{name}: {verdict:?}");
        assert!(took < Duration::from_secs(1), "{name} took {took:?}");
    }
}

fn op(
    client: u64,
    kind: OpKind,
    value: Option<&str>,
    output: Option<&str>,
    call: u64,
    ret: u64,
) -> Operation {
    Operation {
        client,
        op: kind,
        key: "x".into(),
        value: value.map(str::to_string),
        output: output.map(str::to_string),
        call,
        ret: Some(ret),
    }
}

#[test]
fn the_command_rejects_a_stale_read_and_accepts_a_fresh_one() {
    let dir = std::env::temp_dir().join(format!("troupe-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let write = |name: &str, ops: &[Operation]| {
        let path = dir.join(name);
        history::write(ops, std::fs::File::create(&path).unwrap()).unwrap();
        path
    };
    // Client 1 writes "new" and is acknowledged; afterwards client 2 still reads "old".
    let stale = write(
        "stale.jsonl",
        &[
            op(1, OpKind::Put, Some("old"), None, 0, 10),
            op(1, OpKind::Put, Some("new"), None, 20, 30),
            op(2, OpKind::Get, None, Some("old"), 40, 50),
        ],
    );
    let fresh = write(
        "fresh.jsonl",
        &[
            op(1, OpKind::Put, Some("old"), None, 0, 10),
            op(1, OpKind::Put, Some("new"), None, 20, 30),
            op(2, OpKind::Get, None, Some("new"), 40, 50),
        ],
    );
    let troupe = env!("CARGO_BIN_EXE_troupe");
    let run = |path: &PathBuf| {
        Command::new(troupe)
            .arg("check")
            .arg(path)
            .output()
            .unwrap()
    };
    let rejected = run(&stale);
    assert_eq!(rejected.status.code(), Some(1), "{rejected:?}");
    let said = String::from_utf8_lossy(&rejected.stdout);
    assert!(
        said.contains("NOT linearizable") && said.contains(r#"could not place get("x") -> "old""#),
        "{said}"
    );
    let accepted = run(&fresh);
    assert_eq!(accepted.status.code(), Some(0), "{accepted:?}");
    for name in ["c50-ok", "c10-ok"] {
        assert_eq!(run(&oracle(name)).status.code(), Some(0), "{name}");
    }
    for name in ["c50-bad", "c10-bad"] {
        assert_eq!(run(&oracle(name)).status.code(), Some(1), "{name}");
    }
    // Not a history at all: an error, distinct from a verdict.
    let garbage = dir.join("garbage.jsonl");
    std::fs::write(&garbage, "this is not json\n").unwrap();
    let refused = run(&garbage);
    assert_eq!(
        refused.status.code(),
        Some(2),
        "an unreadable file is not a verdict: {refused:?}"
    );
    assert!(String::from_utf8_lossy(&refused.stderr).contains("line 1"));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn the_command_checks_registers_with_their_own_lines() {
    let dir = std::env::temp_dir().join(format!("troupe-register-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let troupe = env!("CARGO_BIN_EXE_troupe");
    let run = |name: &str, lines: &[&str], model: &str| {
        let path = dir.join(name);
        std::fs::write(&path, lines.join("\n")).unwrap();
        Command::new(troupe)
            .args(["check", "--model", model])
            .arg(&path)
            .output()
            .unwrap()
    };
    let write =
        r#"{"client":1,"op":"write","key":"r","value":"a","output":null,"call":0,"return":10}"#;
    let swap = r#"{"client":1,"op":"cas","key":"r","expect":"a","value":"b","output":true,"call":20,"return":30}"#;
    let fresh = r#"{"client":2,"op":"read","key":"r","output":"b","call":40,"return":50}"#;
    let stale = r#"{"client":2,"op":"read","key":"r","output":"a","call":40,"return":50}"#;
    let out = run("fresh.jsonl", &[write, swap, fresh], "register");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let out = run("stale.jsonl", &[write, swap, stale], "register");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains(r#"could not place read("r") -> "a""#),
        "{said}"
    );
    // A read that answers a boolean is a malformed line, and register lines are no
    // key-value history: errors, not verdicts.
    let bad = r#"{"client":2,"op":"read","key":"r","output":true,"call":40,"return":50}"#;
    let out = run("bad.jsonl", &[write, bad], "register");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("line 2"),
        "{out:?}"
    );
    let out = run("kv.jsonl", &[write, swap, fresh], "kv");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    std::fs::remove_dir_all(&dir).ok();
}

/// Sixteen concurrent appends of "x", then a read of seventeen: refuted only after the search
/// has tried every subset of the appends (about a million states).
fn too_many_appends() -> Vec<Operation> {
    let mut history: Vec<Operation> = (0..16)
        .map(|c| op(c, OpKind::Append, Some("x"), None, c, 100))
        .collect();
    history.push(op(99, OpKind::Get, None, Some(&"x".repeat(17)), 200, 210));
    history
}

#[test]
fn the_command_is_inconclusive_when_its_budget_runs_out() {
    let dir = std::env::temp_dir().join(format!("troupe-budget-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let hard = dir.join("hard.jsonl");
    history::write(&too_many_appends(), std::fs::File::create(&hard).unwrap()).unwrap();
    let troupe = env!("CARGO_BIN_EXE_troupe");
    let run = |args: &[&str]| {
        Command::new(troupe)
            .arg("check")
            .args(args)
            .arg(&hard)
            .output()
            .unwrap()
    };
    let out = run(&["--budget-states", "1000"]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("INCONCLUSIVE") && stdout.contains("state budget"),
        "{stdout}"
    );
    let out = run(&["--budget-time", "1ns"]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("time budget"));
    // The default budget is enough, and so is an explicit model.
    let out = run(&["--model", "kv"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("NOT linearizable"));
    // An unknown model, or a budget that is not a number, is an error, not a verdict.
    for args in [&["--model", "queue"][..], &["--budget-states", "lots"]] {
        let out = run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_raft_kv_run_replays_exactly_from_its_seed() {
    let dir = std::env::temp_dir().join(format!("troupe-replay-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let troupe = env!("CARGO_BIN_EXE_troupe");
    let run = |seed: u64, name: &str| {
        let events = dir.join(format!("{name}.events.jsonl"));
        let history = dir.join(format!("{name}.history.jsonl"));
        let out = Command::new(troupe)
            .args([
                "sim",
                "raft-kv",
                "--duration",
                "5s",
                "--nemesis",
                "all",
                "--json",
            ])
            .args(["--seed", &seed.to_string()])
            .arg("--events")
            .arg(&events)
            .arg("--history")
            .arg(&history)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let report: serde_json::Value = serde_json::from_slice(
            out.stdout
                .split(|&b| b == b'\n')
                .rfind(|l| !l.is_empty())
                .unwrap(),
        )
        .unwrap();
        assert_eq!(report["linearizable"], true);
        let mut report = report;
        report.as_object_mut().unwrap().remove("wall_secs");
        (
            report,
            std::fs::read(events).unwrap(),
            std::fs::read(history).unwrap(),
        )
    };
    let a = run(11, "a");
    let b = run(11, "b");
    assert_eq!(a.0, b.0, "same seed, different reports");
    assert!(
        a.1.len() > 100_000 && a.1 == b.1,
        "same seed, different event logs"
    );
    assert!(a.2 == b.2, "same seed, different histories");
    let c = run(12, "c");
    assert!(a.1 != c.1, "seeds 11 and 12 gave the same event log");
    std::fs::remove_dir_all(&dir).ok();
}

/// A failing check shows the operations that conflict, as a small timeline, and the longest
/// linearizable prefix: on Porcupine's `c01-bad`, client 0 appends "x 0 3 y" to key 7 and
/// then reads it without that append.
#[test]
fn a_failing_check_prints_the_operations_that_conflict() {
    let out = Command::new(env!("CARGO_BIN_EXE_troupe"))
        .arg("check")
        .arg(oracle("c01-bad"))
        .output()
        .expect("troupe runs");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let said = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = said.lines().collect();
    assert!(
        said.contains(r#"3 operations of "7" that no order explains"#),
        "{said}"
    );
    for (client, call, ret, operation) in [
        ("0", "36", "37", r#"append("7", "x 0 0 y")"#),
        ("0", "54", "55", r#"append("7", "x 0 3 y")"#),
        ("0", "58", "59", r#"get("7") -> "x 0 0 y""#),
    ] {
        assert!(
            lines.iter().any(|line| {
                let words: Vec<&str> = line.split_whitespace().collect();
                words.len() > 3 && words[..3] == [client, call, ret] && line.ends_with(operation)
            }),
            "no timeline row {client} {call} {ret} {operation}:\n{said}"
        );
    }
    assert!(
        said.contains(r#"the longest linearizable prefix: the first 3 of the 5 operations of "7""#),
        "{said}"
    );
}
