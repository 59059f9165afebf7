//! `troupe mr`: MapReduce jobs on real files.
//!
//! ```text
//! troupe mr run --app wc --workers 4 --out /tmp/wc tests/data/gutenberg/pg-*.txt
//! troupe mr coordinator --app wc --reduce 10 --out /tmp/wc FILES...   # prints its address
//! troupe mr worker --coordinator 127.0.0.1:PORT                        # as many as you like
//! troupe mr sequential --app wc --out /tmp/wc FILES...                 # the reference
//! troupe mr run --map 'CMD' --reduce 'CMD' --out DIR FILES...          # a streaming job
//! ```
//!
//! A distributed job writes `mr-out-0` .. `mr-out-<R-1>` (each a line `key value` per key, in
//! key order) into its directory; the sequential run writes `mr-out-0` alone. Sorted, the lines
//! of both are the same.
//!
//! - [`serve`]: the coordinator on a node of this process, with its client port.
//! - [`worker`]: `troupe mr worker`, one worker in this process.
//! - [`run`]: `troupe mr run`: a coordinator, a pool of worker processes, and progress.

mod run;
mod serve;
mod worker;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use std::path::{Path, PathBuf};
use std::time::Duration;
use troupe_actors::mapreduce::tasks::TaskTiming;
use troupe_actors::mapreduce::{self, Functions, MapReduceError};
use troupe_messages::mapreduce::{AppSpec, JobSpec};
use troupe_runtime::tcp::handshake::Credentials;
use troupe_runtime::NodeId;

/// The cluster name a job's coordinator and workers present on the client port.
const JOB_CLUSTER: &str = "mapreduce";

/// The default shared secret of a job's coordinator and workers (`--secret` or
/// `TROUPE_MR_SECRET` to choose another).
const DEFAULT_SECRET: &str = "troupe-mapreduce";

/// `troupe mr` subcommands.
#[derive(Subcommand)]
pub enum MrCommand {
    /// Run a job with a coordinator and a pool of worker processes it starts and restarts,
    /// showing progress.
    Run(run::RunArgs),
    /// Run a job's coordinator: it prints its address, hands out tasks until the job is done,
    /// and exits. Restarted on the same directory, it goes on where it stopped.
    Coordinator(serve::CoordinatorArgs),
    /// Run one worker, which asks the coordinator at ADDR for tasks until the job is done.
    Worker(worker::WorkerArgs),
    /// Run a job in this one process (the reference a distributed run must match).
    Sequential(SequentialArgs),
}

/// Which functions a job runs: a compiled-in application, or streaming commands.
#[derive(Args, Debug, Clone)]
pub struct FunctionArgs {
    /// A compiled-in application: wc, indexer, or one of 6.824's test applications (mtiming,
    /// rtiming, jobcount, early_exit, crash, nocrash).
    #[arg(long, conflicts_with = "map")]
    app: Option<String>,
    /// A streaming mapper, run by `sh -c` with an input file on stdin; it writes
    /// `key<TAB>value` lines.
    #[arg(long, requires = "reduce")]
    map: Option<String>,
    /// With --map: the streaming reducer, run by `sh -c` with its bucket's `key<TAB>value`
    /// lines, sorted by key, on stdin; each line it writes is an output line. With --app: the
    /// number of reduce tasks, as in `--reduce 10`.
    #[arg(long)]
    reduce: Option<String>,
}

impl FunctionArgs {
    /// The job's functions, and the number of reduce tasks `--reduce` gave with `--app`.
    fn spec(&self) -> Result<(AppSpec, Option<usize>)> {
        match (&self.app, &self.map, &self.reduce) {
            (Some(app), None, reduce) => {
                if mapreduce::app(app).is_none() {
                    return Err(MapReduceError::NoSuchApp(app.clone()).into());
                }
                let n_reduce = reduce
                    .as_deref()
                    .map(|n| {
                        n.parse::<usize>()
                            .ok()
                            .filter(|n| *n > 0)
                            .with_context(|| format!("--reduce {n}: with --app, --reduce is the number of reduce tasks (at least 1)"))
                    })
                    .transpose()?;
                Ok((AppSpec::Named(app.clone()), n_reduce))
            }
            (None, Some(map), Some(reduce)) => Ok((
                AppSpec::Streaming {
                    map: map.clone(),
                    reduce: reduce.clone(),
                },
                None,
            )),
            _ => bail!("give --app NAME, or --map CMD and --reduce CMD for a streaming job"),
        }
    }
}

/// The flags of a distributed job (`mr run` and `mr coordinator`).
#[derive(Args, Debug, Clone)]
pub struct JobArgs {
    #[command(flatten)]
    functions: FunctionArgs,
    /// The number of reduce tasks (for a streaming job; with --app, --reduce N says it too).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    n_reduce: Option<u64>,
    /// The job's directory: intermediate files and `mr-out-*` go here (created if missing).
    #[arg(long, default_value = ".")]
    out: PathBuf,
    /// Seconds a task may run before it is handed out again.
    #[arg(long, default_value_t = 10.0)]
    task_timeout: f64,
    /// Seconds a straggler runs at least, near the end of a phase, before it gets a backup.
    #[arg(long, default_value_t = 1.0)]
    backup_after: f64,
    /// The secret the coordinator and its workers share (default: TROUPE_MR_SECRET, or a
    /// fixed one for local jobs).
    #[arg(long)]
    secret: Option<String>,
    /// Arm a planted bug (needs a build with the cargo feature `planted-bugs`).
    #[arg(long, hide = true)]
    plant: Option<String>,
    /// The input files.
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

impl JobArgs {
    /// The shared secret: `--secret`, else TROUPE_MR_SECRET, else the default.
    fn secret(&self) -> String {
        secret(self.secret.as_deref())
    }

    /// The job: inputs and directory as absolute paths, so workers may run anywhere.
    fn job(&self) -> Result<(JobSpec, TaskTiming)> {
        let (app, n_reduce) = self.functions.spec()?;
        let n_reduce = n_reduce.or(self.n_reduce.map(|n| n as usize)).unwrap_or(10);
        std::fs::create_dir_all(&self.out)
            .with_context(|| format!("cannot create {}", self.out.display()))?;
        let inputs = self
            .files
            .iter()
            .map(|f| absolute(f))
            .collect::<Result<Vec<_>>>()?;
        let timing = TaskTiming {
            timeout: seconds_ns(self.task_timeout, "--task-timeout")?,
            backup_after: seconds_ns(self.backup_after, "--backup-after")?,
        };
        let job = JobSpec {
            app,
            inputs,
            n_reduce,
            dir: absolute(&self.out)?,
        };
        Ok((job, timing))
    }
}

/// `path` made absolute and checked to exist.
fn absolute(path: &Path) -> Result<String> {
    let full = std::fs::canonicalize(path)
        .with_context(|| format!("cannot read or write {}", path.display()))?;
    Ok(full.display().to_string())
}

fn seconds_ns(secs: f64, flag: &str) -> Result<u64> {
    if !(secs.is_finite() && secs > 0.0) {
        bail!("{flag} must be a positive number of seconds");
    }
    Ok(Duration::from_secs_f64(secs).as_nanos() as u64)
}

/// `given`, else TROUPE_MR_SECRET, else the default secret.
fn secret(given: Option<&str>) -> String {
    given
        .map(str::to_string)
        .or_else(|| std::env::var("TROUPE_MR_SECRET").ok())
        .unwrap_or_else(|| DEFAULT_SECRET.to_string())
}

/// The credentials a job's coordinator and workers share.
fn credentials(secret: &str) -> Credentials {
    Credentials {
        cluster: JOB_CLUSTER.into(),
        node: NodeId(1),
        secret: secret.as_bytes().to_vec(),
    }
}

/// Arms `bug` for this process, if one is named.
fn arm(bug: Option<&str>) -> Result<()> {
    if let Some(bug) = bug {
        troupe_runtime::plant::arm(troupe_runtime::plant::Bug::named(bug)?)?;
    }
    Ok(())
}

/// The flags of `troupe mr sequential`.
#[derive(Args)]
pub struct SequentialArgs {
    #[command(flatten)]
    functions: FunctionArgs,
    /// The directory to write `mr-out-0` into (created if missing).
    #[arg(long)]
    out: PathBuf,
    /// The input files.
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

/// Runs a `troupe mr` command.
pub fn run(command: MrCommand) -> Result<()> {
    match command {
        MrCommand::Sequential(args) => {
            let (spec, _) = args.functions.spec()?;
            let functions = Functions::of(&spec)?;
            let out = mapreduce::sequential::run_files(&functions, &args.files, &args.out)
                .context("the sequential run failed")?;
            println!("{}", out.display());
            Ok(())
        }
        MrCommand::Coordinator(args) => serve::coordinator(args),
        MrCommand::Worker(args) => worker::run(args),
        MrCommand::Run(args) => run::run(args),
    }
}
