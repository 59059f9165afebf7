//! `troupe sim mapreduce`: one MapReduce job on simulated nodes in virtual time, over real
//! files in a temporary directory, while the nemesis crashes nodes (the coordinator's too) and
//! cuts links. The input is generated from the seed (word-count text over a skewed vocabulary),
//! and every worker node's disk has a speed, one node in four five times slower (the paper's
//! stragglers), so tasks take virtual time in proportion to their data. The speed is set so
//! that the job, without faults, lasts most of `--duration`, and the nemesis meets it in both
//! phases; the task timeout is three times a normal task's time.
//!
//! The checks, all strict:
//! - the job finishes once the faults stop;
//! - `cat mr-out-* | sort` equals the sequential run's output;
//! - every output file, whenever it exists, is complete: an observer reads the outputs every
//!   20 virtual ms and compares each with what its bucket must hold;
//! - nothing changes after the job is done (the observer goes on reading for a while);
//! - no task attempt fails: the disks never fail, so a failure means a task was handed out
//!   before its input existed.

use super::narrate::{story, Timeline};
use super::{replay_command, Common, SimSystem};
use anyhow::{bail, Context as _, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant as WallInstant};
use troupe::systems::mapreduce::MapReduce;
use troupe::systems::{topology, Assembly};
use troupe_actors::mapreduce::partition::bucket;
use troupe_actors::mapreduce::sequential::run_in_memory;
use troupe_actors::mapreduce::task_files::output;
use troupe_actors::mapreduce::tasks::TaskTiming;
use troupe_actors::mapreduce::{app, APPS};
use troupe_messages::mapreduce::{AppSpec, JobProgress, JobSpec};
use troupe_runtime::derive_seed;
use troupe_runtime::nemesis::{Nemesis, NemesisReport};
use troupe_runtime::sim::block_on;
use troupe_runtime::testkit::Cluster;

/// How long the job may take once the faults have stopped.
const FINISH_WITHIN: Duration = Duration::from_secs(120);
/// How long the observer keeps reading after the job is done.
const AFTER_DONE: Duration = Duration::from_secs(10);
/// How often the observer reads the outputs.
const OBSERVE_EVERY: Duration = Duration::from_millis(20);
/// How much slower a straggler's disk is.
const SLOWER: u64 = 5;
/// The share of `--duration` a fault-free job takes: the run sets the disks' speed to it.
const JOB_SHARE: f64 = 0.4;

/// `troupe sim mapreduce`'s own flags.
#[derive(clap::Args, Debug)]
pub struct MapReduceArgs {
    /// The application: wc or indexer.
    #[arg(long, default_value = "wc")]
    app: String,
    /// Input files (map tasks), generated from the seed.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..))]
    maps: u64,
    /// Reduce tasks.
    #[arg(long, default_value_t = 12, value_parser = clap::value_parser!(u64).range(1..))]
    reduces: u64,
    /// Kilobytes per input file.
    #[arg(long, default_value_t = 15, value_parser = clap::value_parser!(u64).range(1..))]
    input_kb: u64,
    /// Workers on each worker node.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..))]
    workers_per_node: u64,
}

impl SimSystem for MapReduceArgs {
    const NAME: &'static str = "mapreduce";
    const NEEDS_CLIENTS: bool = false;

    fn run(self, args: &Common) -> Result<bool> {
        run(self, args)
    }

    fn flags(&self) -> String {
        format!(
            " --app {} --maps {} --reduces {} --input-kb {} --workers-per-node {}",
            self.app, self.maps, self.reduces, self.input_kb, self.workers_per_node
        )
    }
}

/// The report: the contract's fields (a task done is an operation; there are no clients and no
/// history), and the job's own.
#[derive(Serialize)]
struct MapReduceReport {
    system: &'static str,
    seed: u64,
    nodes: u32,
    clients: u32,
    nemesis: String,
    virtual_secs: f64,
    wall_secs: f64,
    ops_ok: u64,
    ops_failed: u64,
    ops_unknown: u64,
    leader_changes: u64,
    linearizable: Option<bool>,
    messages_sent: u64,
    messages_dropped: u64,
    #[serde(flatten)]
    faults: NemesisReport,
    latency: String,
    progress_after_heal: bool,
    job_done: bool,
    job_virtual_secs: f64,
    maps: usize,
    reduces: usize,
    reissued: u64,
    backups: u64,
    late_completions: u64,
    failed_attempts: u64,
    output_lines: usize,
    expected_lines: usize,
    partial_outputs_seen: u64,
    passed: bool,
    failures: Vec<String>,
}

/// What the observer saw.
#[derive(Default)]
struct Observed {
    /// Reads of an output file whose content was not its bucket's full output.
    partial: u64,
    /// The first such read, described.
    first: Option<String>,
}

fn run(system_args: MapReduceArgs, args: &Common) -> Result<bool> {
    let wall = WallInstant::now();
    if args.history.is_some() {
        bail!(
            "a MapReduce run has no client history: its output is checked against a sequential run"
        );
    }
    let Some(functions) = app(&system_args.app) else {
        bail!("--app {}: not one of {}", system_args.app, APPS.join(", "));
    };
    if !matches!(system_args.app.as_str(), "wc" | "indexer") {
        bail!(
            "--app: the simulation runs wc or indexer (the test applications act on the process)"
        );
    }
    let events = args.events_file()?;
    let dir = std::env::temp_dir().join(format!(
        "troupe-sim-mapreduce-{}-{}",
        std::process::id(),
        args.seed
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let texts = generate_inputs(args.seed, system_args.maps, system_args.input_kb * 1000);
    let mut inputs = Vec::new();
    for (i, text) in texts.iter().enumerate() {
        let path = dir.join(format!("input-{i:02}.txt"));
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
        inputs.push(path.display().to_string());
    }
    let expected = run_in_memory(
        functions.as_ref(),
        inputs
            .iter()
            .map(String::as_str)
            .zip(texts.iter().map(String::as_str)),
    );
    let n_reduce = system_args.reduces as usize;
    let buckets = bucket_contents(&expected, n_reduce);
    let worker_nodes = args.nodes.saturating_sub(1).max(1);
    let mut system = MapReduce::new(
        JobSpec {
            app: AppSpec::Named(system_args.app.clone()),
            inputs,
            n_reduce,
            dir: dir.display().to_string(),
        },
        worker_nodes,
        system_args.workers_per_node as usize,
    );
    let (disk, timing) = pace(
        &texts,
        &expected,
        n_reduce,
        system.workers.len() * system.per_node,
        args.duration,
    );
    system.timing = timing;
    let mut rng = ChaCha8Rng::seed_from_u64(derive_seed(args.seed, 7));
    let slow = rng.gen_range(0..system.workers.len());
    for (i, node) in system.workers.iter().enumerate() {
        let slow = i == slow || (i % 4 == 3 && rng.gen_bool(0.5));
        let speed = if slow { disk / SLOWER } else { disk };
        system.speeds.insert(*node, speed.max(1));
    }
    let observer_node = system.last_node() + 1;
    let links = args.links();
    let seed = args.seed;
    let outcome = block_on(async move {
        let cluster = Cluster::builder(seed)
            .nodes(observer_node)
            .baseline(links)
            .topology(topology(system.clone()))
            .build();
        super::log_events(&cluster, events);
        let start = tokio::time::Instant::now();
        let observer = cluster.up(observer_node);
        let observed = Rc::new(RefCell::new(Observed::default()));
        let watching = Rc::new(std::cell::Cell::new(true));
        let watch = actix_rt::spawn(observe(
            PathBuf::from(&system.job.dir),
            buckets,
            observed.clone(),
            watching.clone(),
        ));
        let mut targets = system.workers.clone();
        targets.push(system.coordinator);
        let nemesis = Nemesis::new(args.nemesis, cluster.net())
            .targets(targets)
            .observers(vec![troupe_runtime::NodeId(observer_node)])
            .run(args.duration);
        let progress = Rc::new(std::cell::Cell::new(JobProgress::default()));
        let done_at = Rc::new(std::cell::Cell::new(None));
        let poller = actix_rt::spawn(poll_progress(
            system.clone(),
            observer.clone(),
            progress.clone(),
            done_at.clone(),
        ));
        let faults = nemesis.await;
        cluster.heal();
        let healed = tokio::time::Instant::now();
        while done_at.get().is_none() && healed.elapsed() < FINISH_WITHIN {
            cluster.run_for(Duration::from_millis(200)).await;
        }
        poller.abort();
        let (progress, done_at) = (progress.get(), done_at.get().map(|t| t - start));
        if done_at.is_some() {
            cluster.run_for(AFTER_DONE).await;
        }
        watching.set(false);
        let _ = watch.await;
        if let Err(e) = cluster.net().log().flush() {
            tracing::warn!("event log flush failed: {e}");
        }
        let observed = std::mem::take(&mut *observed.borrow_mut());
        (
            faults,
            progress,
            done_at,
            observed,
            cluster.stats(),
            start.elapsed(),
        )
    });
    let (faults, progress, done_at, observed, net, virtual_time) = outcome;
    let got = sorted_lines(&dir, n_reduce);
    let mut sorted_expected = expected.clone();
    sorted_expected.sort();
    let mut failures = Vec::new();
    if done_at.is_none() {
        failures.push(format!(
            "the job was not done {}s after the faults stopped (map {}/{}, reduce {}/{})",
            FINISH_WITHIN.as_secs(),
            progress.maps_done,
            progress.maps,
            progress.reduces_done,
            progress.reduces
        ));
    } else if got != sorted_expected {
        failures.push(describe_difference(&got, &sorted_expected));
    }
    if progress.failed > 0 {
        failures.push(format!(
            "{} task attempt(s) failed, on disks that never fail (a reduce handed out before \
             every map was done cannot read its input)",
            progress.failed
        ));
    }
    if observed.partial > 0 {
        failures.push(format!(
            "an output file was read while incomplete or wrong {} time(s), first: {}",
            observed.partial,
            observed.first.as_deref().unwrap_or("?")
        ));
    }
    let passed = failures.is_empty();
    let report = MapReduceReport {
        system: MapReduceArgs::NAME,
        seed: args.seed,
        nodes: args.nodes,
        clients: 0,
        nemesis: args.nemesis.to_string(),
        virtual_secs: virtual_time.as_secs_f64(),
        wall_secs: wall.elapsed().as_secs_f64(),
        ops_ok: (progress.maps_done + progress.reduces_done) as u64,
        ops_failed: progress.reissued,
        ops_unknown: 0,
        leader_changes: 0,
        linearizable: None,
        messages_sent: net.sent,
        messages_dropped: net.dropped(),
        faults,
        latency: args.latency.to_string(),
        progress_after_heal: done_at.is_some(),
        job_done: done_at.is_some(),
        job_virtual_secs: done_at.map_or(0.0, |d| d.as_secs_f64()),
        maps: progress.maps,
        reduces: progress.reduces,
        reissued: progress.reissued,
        backups: progress.backups,
        late_completions: progress.duplicates,
        failed_attempts: progress.failed,
        output_lines: got.len(),
        expected_lines: sorted_expected.len(),
        partial_outputs_seen: observed.partial,
        passed,
        failures,
    };
    let _ = std::fs::remove_dir_all(&dir);
    print_report(&system_args, args, &report)?;
    Ok(passed)
}

fn print_report(system: &MapReduceArgs, args: &Common, report: &MapReduceReport) -> Result<()> {
    if args.narrates() {
        let timeline = Timeline::default();
        timeline.faults(&report.faults.timeline);
        for line in story(&timeline, &[], report.virtual_secs) {
            println!("{line}");
        }
    }
    if !args.json {
        println!(
            "mapreduce: {} map and {} reduce tasks on {} worker nodes, nemesis {}, seed {}: done {} after {:.1} virtual s; {} hand-outs repeated ({} backups), {} late completions",
            report.maps,
            report.reduces,
            args.nodes.saturating_sub(1).max(1),
            args.nemesis,
            args.seed,
            report.job_done,
            report.job_virtual_secs,
            report.reissued,
            report.backups,
            report.late_completions
        );
        println!(
            "output: {} lines, {} expected from the sequential run; partial outputs seen: {}",
            report.output_lines, report.expected_lines, report.partial_outputs_seen
        );
    }
    if !report.passed {
        eprintln!(
            "troupe: the run failed its checks; replay with `{}`",
            replay_command(system, args)
        );
    }
    println!("{}", serde_json::to_string(report)?);
    Ok(())
}

/// Asks the coordinator for the job's progress every 200 ms, until the job is done (and
/// when).
async fn poll_progress(
    system: MapReduce,
    observer: troupe_runtime::Node,
    progress: Rc<std::cell::Cell<JobProgress>>,
    done_at: Rc<std::cell::Cell<Option<tokio::time::Instant>>>,
) {
    loop {
        if let Some(now) = system.progress(&observer, Duration::from_secs(1)).await {
            progress.set(now);
            if now.done() {
                done_at.set(Some(tokio::time::Instant::now()));
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `maps` texts of about `bytes` each: words of a vocabulary drawn from the seed, skewed so
/// that a few are very common (as in real text), in lines of about 60 characters.
fn generate_inputs(seed: u64, maps: u64, bytes: u64) -> Vec<String> {
    let mut rng = ChaCha8Rng::seed_from_u64(derive_seed(seed, 3));
    let vocabulary: Vec<String> = (0..3000)
        .map(|_| {
            let len = rng.gen_range(2..10);
            let capital = rng.gen_bool(0.1);
            (0..len)
                .map(|i| {
                    let c = rng.gen_range(b'a'..=b'z');
                    char::from(if i == 0 && capital {
                        c.to_ascii_uppercase()
                    } else {
                        c
                    })
                })
                .collect()
        })
        .collect();
    (0..maps)
        .map(|_| {
            let mut text = String::new();
            let mut line = 0;
            while (text.len() as u64) < bytes {
                let skew: f64 = rng.gen::<f64>().powi(3);
                let word = &vocabulary[(skew * vocabulary.len() as f64) as usize];
                text.push_str(word);
                line += word.len() + 1;
                if line > 60 {
                    text.push('\n');
                    line = 0;
                } else {
                    text.push_str(if rng.gen_bool(0.1) { ", " } else { " " });
                }
            }
            text
        })
        .collect()
}

/// The disks' speed (bytes per virtual second) at which `workers` workers, without faults,
/// take [`JOB_SHARE`] of `duration` for the job, and the task timing that goes with it: a task
/// times out after three times a normal task's time, and may get a backup after one.
fn pace(
    texts: &[String],
    expected: &[String],
    n_reduce: usize,
    workers: usize,
    duration: Duration,
) -> (u64, TaskTiming) {
    // A map task pays for the input it reads, a reduce task for the output it writes.
    let input: u64 = texts.iter().map(|t| t.len() as u64).sum();
    let output: u64 = expected.iter().map(|l| l.len() as u64 + 1).sum();
    let longest_map = texts.iter().map(|t| t.len() as u64).max().unwrap_or(1);
    let longest_task = longest_map.max(2 * output / n_reduce.max(1) as u64);
    let seconds = (duration.as_secs_f64() * JOB_SHARE).max(1.0);
    let disk = (((input + output) as f64 / (workers.max(1) as f64 * seconds)) as u64).max(1);
    let task = Duration::from_secs_f64(longest_task as f64 / disk as f64);
    let timing = TaskTiming {
        timeout: (task * 3).as_nanos() as u64,
        backup_after: task.as_nanos() as u64,
    };
    (disk, timing)
}

/// What each `mr-out-<r>` must hold: its bucket's lines of `expected`, in key order.
fn bucket_contents(expected: &[String], n_reduce: usize) -> Vec<String> {
    let mut buckets = vec![String::new(); n_reduce];
    for line in expected {
        let key = line.split(' ').next().unwrap_or("");
        let text = &mut buckets[bucket(key, n_reduce)];
        text.push_str(line);
        text.push('\n');
    }
    buckets
}

/// Reads every output every [`OBSERVE_EVERY`] while `watching`, counting reads that are not
/// their bucket's full output.
async fn observe(
    dir: PathBuf,
    buckets: Vec<String>,
    observed: Rc<RefCell<Observed>>,
    watching: Rc<std::cell::Cell<bool>>,
) {
    while watching.get() {
        for (r, want) in buckets.iter().enumerate() {
            let path = output(&dir, r);
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            if text != *want {
                let mut seen = observed.borrow_mut();
                seen.partial += 1;
                let at = troupe_runtime::sim::virtual_elapsed().unwrap_or_default();
                seen.first.get_or_insert_with(|| {
                    format!(
                        "mr-out-{r} at {:.2} virtual s held {} of {} bytes",
                        at.as_secs_f64(),
                        text.len(),
                        want.len()
                    )
                });
            }
        }
        tokio::time::sleep(OBSERVE_EVERY).await;
    }
}

/// `cat mr-out-* | sort` over the job's `n_reduce` outputs.
fn sorted_lines(dir: &Path, n_reduce: usize) -> Vec<String> {
    let mut lines: Vec<String> = (0..n_reduce)
        .filter_map(|r| std::fs::read_to_string(output(dir, r)).ok())
        .flat_map(|text| text.lines().map(str::to_string).collect::<Vec<_>>())
        .collect();
    lines.sort();
    lines
}

/// One sentence on how the output differs from the sequential run's.
fn describe_difference(got: &[String], expected: &[String]) -> String {
    let have: BTreeMap<&str, ()> = got.iter().map(|l| (l.as_str(), ())).collect();
    let missing = expected
        .iter()
        .filter(|l| !have.contains_key(l.as_str()))
        .count();
    let want: BTreeMap<&str, ()> = expected.iter().map(|l| (l.as_str(), ())).collect();
    let extra = got
        .iter()
        .filter(|l| !want.contains_key(l.as_str()))
        .count();
    format!(
        "the output differs from the sequential run: {} lines, {} expected; {missing} missing, {extra} not expected",
        got.len(),
        expected.len()
    )
}
