//! Beyond test-mr.sh: workers that crash (under `troupe mr run`'s worker pool), a coordinator
//! killed and restarted mid-job, a straggler overtaken by its backup, streaming jobs, and the
//! same output whatever the number of workers.

use crate::support::*;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Child, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// `troupe mr run` with `args`, in `dir`; while it runs, every `mr-out-*` is read every few
/// milliseconds and each content seen is kept. Returns how the run exited and the contents
/// seen per file.
fn run_watched(dir: &Path, args: &[String]) -> (ExitStatus, BTreeMap<String, BTreeSet<String>>) {
    let mut run = troupe()
        .args(["mr", "run", "--out"])
        .arg(dir)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("troupe mr run starts");
    let mut seen: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let deadline = Instant::now() + JOB_DEADLINE;
    loop {
        for entry in std::fs::read_dir(dir).expect("the job directory").flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with("mr-out-") {
                if let Ok(text) = std::fs::read_to_string(entry.path()) {
                    seen.entry(name).or_default().insert(text);
                }
            }
        }
        if let Some(status) = run.try_wait().expect("troupe mr run to wait for") {
            return (status, seen);
        }
        assert!(Instant::now() < deadline, "troupe mr run still running");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// `run_watched` for a run that must succeed; returns the contents seen.
fn run_ok(dir: &Path, args: &[String]) -> BTreeMap<String, BTreeSet<String>> {
    let (status, seen) = run_watched(dir, args);
    assert!(status.success(), "troupe mr run: {status}");
    seen
}

/// 6.824's crash test: the `crash` application exits the worker process in a third of its
/// calls and stalls it for up to 10 s in another third; the pool starts new processes. Returns
/// what was wrong, if anything: the run failed, its output differs from the no-crash run's, or
/// an output file was read with contents other than its final ones.
fn crash_run(name: &str, extra: &[&str]) -> Result<(), String> {
    let dir = job_dir(name);
    let mut args = extra.iter().map(|a| a.to_string()).collect::<Vec<_>>();
    args.extend(app_job("crash", &["--workers", "3"]));
    let (status, seen) = run_watched(&dir, &args);
    let verdict = if !status.success() {
        Err(format!("troupe mr run: {status}"))
    } else if sorted_output(&dir) != sequential(&["--app", "nocrash"], &inputs()) {
        Err("the crash run's output differs from the no-crash run's".to_string())
    } else {
        // An output file, once it exists, is complete: every content ever read is the final one.
        seen.iter().try_for_each(|(name, contents)| {
            let last = std::fs::read_to_string(dir.join(name)).unwrap_or_default();
            match contents.iter().filter(|c| **c != last).count() {
                0 => Ok(()),
                n => Err(format!(
                    "{name} was read with {n} other contents before its final one"
                )),
            }
        })
    };
    let _ = std::fs::remove_dir_all(&dir);
    verdict
}

#[test]
fn with_workers_that_crash_and_stall_the_output_equals_the_no_crash_run() {
    if let Err(wrong) = crash_run("crash", &[]) {
        panic!("{wrong}");
    }
}

/// A reduce output written in place instead of renamed: a reader sees it half written. The
/// crash test catches it (a run misses it only when no read lands mid-write, about one run in
/// a hundred, so up to three runs are made).
#[cfg(feature = "planted-bugs")]
#[test]
fn a_reduce_output_written_in_place_is_caught_by_the_crash_test() {
    let caught = (0..3)
        .find_map(|_| crash_run("planted-in-place", &["--plant", "reduce-written-in-place"]).err());
    assert!(
        caught.is_some(),
        "three crash runs with outputs written in place all passed"
    );
}

/// A late result of a timed-out task counted a second time: the phase ends before all its
/// tasks did, and reduces miss map output. The crash app seldom produces a late result (its
/// stalls end before the 10 s timeout, its crashes report nothing), so `troupe sim mapreduce`
/// is the check that catches it: slow nodes, crashes and partitions on links with latency.
#[cfg(feature = "planted-bugs")]
#[test]
fn a_late_result_counted_twice_is_caught_by_the_simulation() {
    let caught: Vec<u64> = (1..=3)
        .filter(|seed| {
            let out = troupe()
                .args(["sim", "mapreduce", "--nemesis", "all", "--json", "--seed"])
                .arg(seed.to_string())
                .args(["--plant", "late-result-counted-twice"])
                .output()
                .expect("troupe sim runs");
            let report = String::from_utf8_lossy(&out.stdout);
            report
                .lines()
                .last()
                .unwrap_or("")
                .contains("\"passed\":false")
        })
        .collect();
    assert!(
        !caught.is_empty(),
        "seeds 1..=3 all passed with late results counted twice"
    );
}

#[test]
fn a_restarted_coordinator_goes_on_without_redoing_completed_tasks() {
    // jobcount's maps take 2 to 5 s each and leave a marker per run: the output `a N` says how
    // many map tasks ran in all.
    let dir = job_dir("coordinator-restart");
    let args = app_job("jobcount", &[]);
    let mut first = coordinator(&dir, &args, "127.0.0.1:0");
    let addr = first.addr;
    let mut workers: Vec<Child> = (0..2).map(|_| worker(addr, &dir)).collect();
    let maps_done = |lines: &[String]| -> usize {
        lines
            .iter()
            .filter_map(|l| {
                l.strip_prefix("troupe: map ")?
                    .split('/')
                    .next()?
                    .parse()
                    .ok()
            })
            .max()
            .unwrap_or(0)
    };
    let deadline = Instant::now() + JOB_DEADLINE;
    while maps_done(&first.stderr.lines()) < 3 {
        assert!(
            Instant::now() < deadline,
            "no progress: {:?}",
            first.stderr.lines()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    first.child.kill().expect("SIGKILL the coordinator");
    let _ = first.child.wait();
    let done_before = maps_done(&first.stderr.lines());
    // The same command on the same directory and address: the workers find it again.
    let mut second = coordinator(&dir, &args, &addr.to_string());
    let statuses = wait_all(&mut workers, JOB_DEADLINE);
    assert!(statuses.iter().all(|s| s.success()), "{statuses:?}");
    wait_all(std::slice::from_mut(&mut second.child), JOB_DEADLINE);
    let resumed = second.stderr.lines();
    assert!(
        resumed
            .first()
            .is_some_and(|l| maps_done(std::slice::from_ref(l)) >= done_before),
        "the restarted coordinator did not start from {done_before} maps done: {resumed:?}"
    );
    // At most the two maps running at the crash ran again; forgetting the done ones would
    // have run at least `done_before` more.
    let out = sorted_output(&dir);
    let runs: usize = out
        .first()
        .and_then(|l| l.strip_prefix("a "))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no job count: {out:?}"));
    assert!(
        (8..=10).contains(&runs),
        "{runs} map runs for 8 tasks with {done_before} done before the crash"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A streaming word count: shell tools as mapper and reducer, with `--map` and `--reduce`.
const STREAMING_MAP: &str = r"tr -cs 'A-Za-z' '\n' | grep . | sed 's/$/\t1/'";
const STREAMING_REDUCE: &str = "cut -f1 | uniq -c | awk '{print $2, $1}'";

#[test]
fn a_streaming_job_with_shell_tools_equals_word_count() {
    let dir = job_dir("streaming");
    let mut args = vec![
        "--map".to_string(),
        STREAMING_MAP.to_string(),
        "--reduce".to_string(),
        STREAMING_REDUCE.to_string(),
        "--workers".to_string(),
        "2".to_string(),
    ];
    args.extend(inputs().iter().map(|p| p.display().to_string()));
    run_ok(&dir, &args);
    assert!(
        sorted_output(&dir) == sequential(&["--app", "wc"], &inputs()),
        "the streaming word count differs from wc"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_straggler_is_overtaken_by_its_backup() {
    // The first map attempt of the job sleeps for a minute (a bad disk); the task timeout is
    // longer still, so only a backup can finish the job early.
    let dir = job_dir("straggler");
    let map = format!("if mkdir straggled 2>/dev/null; then sleep 60; fi; {STREAMING_MAP}");
    let mut args = vec![
        "--map".to_string(),
        map,
        "--reduce".to_string(),
        STREAMING_REDUCE.to_string(),
        "--task-timeout".to_string(),
        "120".to_string(),
    ];
    args.extend(inputs().iter().take(4).map(|p| p.display().to_string()));
    let started = Instant::now();
    let mut coordinator = coordinator(&dir, &args, "127.0.0.1:0");
    let mut workers: Vec<Child> = (0..2).map(|_| worker(coordinator.addr, &dir)).collect();
    let status = wait_all(std::slice::from_mut(&mut coordinator.child), JOB_DEADLINE);
    let took = started.elapsed();
    for w in &mut workers {
        let _ = w.kill();
        let _ = w.wait();
    }
    assert!(status[0].success());
    assert!(
        took < Duration::from_secs(30),
        "the job waited for its straggler: {took:?}"
    );
    let stderr = coordinator.stderr.lines();
    let summary = stderr.last().cloned().unwrap_or_default();
    assert!(summary.contains("(1 backups)"), "{stderr:?}");
    assert!(sorted_output(&dir) == sequential(&["--app", "wc"], &inputs()[..4]));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_sorted_output_is_the_same_for_any_number_of_workers() {
    let expected = sequential(&["--app", "wc"], &inputs());
    for workers in ["1", "2", "4"] {
        let dir = job_dir("workers");
        run_ok(
            &dir,
            &app_job("wc", &["--workers", workers, "--reduce", "7"]),
        );
        assert!(
            sorted_output(&dir) == expected,
            "{workers} workers: the output differs"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
