//! MapReduce on real files: the sequential reference run, `troupe mr sequential`, checked
//! against the GNU pipeline over the Gutenberg texts of tests/data/gutenberg ([`lab`]: every
//! check of 6.824's test-mr.sh on real processes; [`faults`]: crashes, a coordinator restart,
//! a straggler, streaming jobs).

mod bench;
mod faults;
mod lab;
mod support;

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use support::inputs;

/// Runs `troupe mr sequential --app APP` over the inputs; the lines of its `mr-out-0`.
fn sequential(app: &str) -> Vec<String> {
    static RUNS: AtomicU64 = AtomicU64::new(0);
    let run = RUNS.fetch_add(1, Ordering::Relaxed);
    let out = std::env::temp_dir().join(format!("troupe-mr-{app}-{}-{run}", std::process::id()));
    let run = Command::new(env!("CARGO_BIN_EXE_troupe"))
        .args(["mr", "sequential", "--app", app, "--out"])
        .arg(&out)
        .args(inputs())
        .output()
        .expect("troupe runs");
    assert!(
        run.status.success(),
        "troupe mr sequential --app {app}: {run:?}"
    );
    let text = std::fs::read_to_string(out.join("mr-out-0")).expect("mr-out-0 was written");
    let _ = std::fs::remove_dir_all(&out);
    text.lines().map(str::to_string).collect()
}

#[test]
fn word_count_matches_the_gnu_pipeline_over_the_gutenberg_texts() {
    let troupe: BTreeMap<String, u64> = sequential("wc")
        .iter()
        .map(|line| {
            let (word, count) = line.split_once(' ').expect("a `word count` line");
            (word.to_string(), count.parse().expect("a count"))
        })
        .collect();
    let pipeline = Command::new("sh")
        .arg("-c")
        .arg("cat \"$@\" | tr -cs 'A-Za-z' '\\n' | LC_ALL=C sort | uniq -c")
        .arg("sh")
        .args(inputs())
        .output()
        .expect("sh, tr, sort and uniq run");
    assert!(pipeline.status.success());
    let gnu: BTreeMap<String, u64> = String::from_utf8(pipeline.stdout)
        .expect("ASCII")
        .lines()
        .filter_map(|line| {
            let (count, word) = line.trim_start().split_once(' ')?;
            (!word.is_empty()).then(|| (word.to_string(), count.parse().expect("a count")))
        })
        .collect();
    assert!(gnu.len() > 20_000, "{} words", gnu.len());
    assert_eq!(troupe.len(), gnu.len(), "distinct words");
    let differ: Vec<_> = gnu
        .iter()
        .filter(|(w, c)| troupe.get(*w) != Some(c))
        .take(5)
        .collect();
    assert!(differ.is_empty(), "counts differ: {differ:?}");
}

#[test]
fn the_output_is_in_key_order_and_the_indexer_names_sorted_documents() {
    let wc = sequential("wc");
    assert!(
        wc.windows(2).all(|w| w[0] < w[1]),
        "sorted, one line per key"
    );
    let index = sequential("indexer");
    let files = inputs().len();
    for line in &index {
        let mut parts = line.splitn(3, ' ');
        let (_, n, docs) = (parts.next(), parts.next(), parts.next());
        let n: usize = n.expect("a count").parse().expect("a number");
        let docs: Vec<&str> = docs.expect("documents").split(',').collect();
        assert_eq!(n, docs.len(), "{line}");
        assert!(n <= files && docs.windows(2).all(|d| d[0] < d[1]), "{line}");
    }
    assert_eq!(index.len(), wc.len(), "the same words");
}

#[test]
fn an_unknown_application_is_refused() {
    let output = Command::new(env!("CARGO_BIN_EXE_troupe"))
        .args([
            "mr",
            "sequential",
            "--app",
            "grep",
            "--out",
            "/nonexistent",
            "x",
        ])
        .output()
        .expect("troupe runs");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("known: wc, indexer"), "{stderr}");
}
