//! The README's first command, as a newcomer types it: it must run, pass, and tell the run's
//! story (the faults, the leaders, the verdict explained). The command is read from the README
//! itself, so the test and the README cannot drift apart.

use std::path::PathBuf;
use std::process::Command;

/// The first command of the README's "Two commands" section, e.g.
/// `cargo run -- sim raft-kv --nemesis all`.
fn first_command() -> String {
    let readme = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("README.md");
    let text = std::fs::read_to_string(&readme).expect("the README is in the repository");
    let section = text
        .split("## Two commands")
        .nth(1)
        .expect("the README has a \"Two commands\" section");
    let block = section
        .split("```sh")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("the section opens with a sh block");
    block
        .lines()
        .map(str::trim)
        .find(|line| !line.is_empty() && !line.starts_with('#'))
        .expect("the block holds a command")
        .to_string()
}

/// The troupe arguments of a `cargo run [--release] -- ARGS` command.
fn troupe_args(command: &str) -> Vec<String> {
    let (cargo, args) = command
        .split_once(" -- ")
        .unwrap_or_else(|| panic!("not a `cargo run ... -- ARGS` command: {command}"));
    assert!(cargo.starts_with("cargo run"), "{command}");
    args.split_whitespace().map(str::to_string).collect()
}

#[test]
fn the_first_command_passes_and_tells_its_story() {
    let command = first_command();
    let args = troupe_args(&command);
    assert_eq!(
        args[0], "sim",
        "the first command runs a simulation: {command}"
    );
    let output = Command::new(env!("CARGO_BIN_EXE_troupe"))
        .args(&args)
        .output()
        .expect("troupe runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "`{command}` failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for (what, needle) in [
        ("a timeline", "timeline (virtual ms"),
        ("a crash", " crashes"),
        ("a restart", " restarts"),
        ("a partition", "partition: {"),
        ("a leader change", "leads (term 2)"),
        ("the end of the faults", "--duration is over"),
        ("the throughput", "operations completed per virtual second"),
        ("the verdict", "verdict:"),
        ("what unknown means", "may or may not have taken effect"),
        ("the linearizability verdict", "linearizable: yes"),
        ("the pass verdict", "passed: yes"),
    ] {
        assert!(
            stdout.contains(needle),
            "the narration of `{command}` names no {what} (`{needle}`):\n{stdout}"
        );
    }
    let json = stdout.lines().last().unwrap_or_default();
    assert!(
        json.starts_with('{') && json.contains("\"linearizable\":true"),
        "the JSON report stays the last line: {json}"
    );
}

#[test]
fn json_alone_prints_only_the_report() {
    let ping = |narrate: bool| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_troupe"));
        command.args(["sim", "ping", "--nodes", "3", "--duration", "2s"]);
        command.args(["--nemesis", "crash", "--json"]);
        if narrate {
            command.arg("--narrate");
        }
        let output = command.output().expect("troupe runs");
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let quiet = ping(false);
    assert_eq!(quiet.lines().count(), 1, "{quiet}");
    let narrated = ping(true);
    assert!(narrated.contains("timeline (virtual ms"), "{narrated}");
    assert!(
        narrated.lines().last().is_some_and(|l| l.starts_with('{')),
        "{narrated}"
    );
}
