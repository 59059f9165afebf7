//! Every check of 6.824's test-mr.sh, against real processes: a `troupe mr coordinator` and
//! `troupe mr worker`s, each its own process, working in one job directory.

use crate::support::*;
use std::process::Child;

#[test]
fn word_count_and_the_indexer_equal_the_sequential_run() {
    for (app, workers) in [("wc", 3), ("indexer", 2)] {
        let dir = job_dir(app);
        run_job(&dir, &app_job(app, &[]), workers);
        let expected = sequential(&["--app", app], &inputs());
        let got = sorted_output(&dir);
        assert_eq!(got.len(), expected.len(), "{app}: lines");
        assert!(
            got == expected,
            "{app}: the output differs from the sequential run"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn map_tasks_run_in_parallel() {
    let dir = job_dir("mtiming");
    run_job(&dir, &app_job("mtiming", &[]), 2);
    let out = sorted_output(&dir);
    let workers = out.iter().filter(|l| l.starts_with("times-")).count();
    assert_eq!(workers, 2, "saw {workers} workers rather than 2: {out:?}");
    assert!(
        out.iter()
            .any(|l| l.starts_with("parallel-") && l.split(' ').skip(1).any(|n| n == "2")),
        "map workers did not run in parallel: {out:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn reduce_tasks_run_in_parallel() {
    let dir = job_dir("rtiming");
    run_job(&dir, &app_job("rtiming", &[]), 2);
    let out = sorted_output(&dir);
    let parallel = out
        .iter()
        .filter(|l| l.len() == 3 && l.ends_with(" 2"))
        .count();
    assert!(parallel >= 2, "too few parallel reduces: {out:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn each_map_task_runs_exactly_once_the_job_count() {
    let dir = job_dir("jobcount");
    run_job(&dir, &app_job("jobcount", &[]), 4);
    let out = sorted_output(&dir);
    assert_eq!(out, ["a 8"], "map tasks ran more or fewer times than 8");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn no_output_changes_after_the_first_process_exits() {
    let dir = job_dir("early-exit");
    let coordinator = coordinator(&dir, &app_job("early_exit", &[]), "127.0.0.1:0");
    let mut children: Vec<Child> = (0..3).map(|_| worker(coordinator.addr, &dir)).collect();
    children.push(coordinator.child);
    wait_any(&mut children, JOB_DEADLINE);
    let at_first_exit = sorted_output(&dir);
    wait_all(&mut children, JOB_DEADLINE);
    let at_the_end = sorted_output(&dir);
    assert!(!at_the_end.is_empty());
    assert_eq!(
        at_first_exit, at_the_end,
        "the output changed after the first process exited"
    );
    assert_eq!(at_the_end, sequential(&["--app", "early_exit"], &inputs()));
    let _ = std::fs::remove_dir_all(&dir);
}
