//! `troupe mr run`: a whole job from one command. It starts the coordinator in this process,
//! and a worker pool whose workers are processes (`troupe mr worker`, in the job's directory);
//! the pool's supervisor starts a new process whenever one dies. It shows progress (tasks done
//! per phase, as a bar on a terminal) and prints the output files when the job is done.

use super::serve::{self, Running};
use super::{arm, JobArgs};
use actix::{Actor, ActorContext, ActorFutureExt, AsyncContext, Context, WrapFuture};
use anyhow::{Context as _, Result};
use clap::Args;
use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use troupe_actors::mapreduce::task_files::output;
use troupe_messages::mapreduce::JobProgress;
use troupe_runtime::{ActorHandle, ExitReason, Node};
use troupe_supervisors::failover::mapreduce::worker_pool;
use troupe_supervisors::Supervisor;

/// The flags of `troupe mr run`.
#[derive(Args)]
pub struct RunArgs {
    #[command(flatten)]
    job: JobArgs,
    /// How many worker processes to keep running.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..))]
    workers: u64,
}

/// How to start one worker process.
#[derive(Clone)]
struct WorkerCommand {
    program: PathBuf,
    coordinator: SocketAddr,
    secret: String,
    dir: PathBuf,
    plant: Option<String>,
}

/// An actor standing for one worker process: it starts the process and stops when the process
/// exits, normally if it exited 0 (the job is done) and as a failure otherwise, so that the
/// pool's supervisor starts another. Killing the actor kills the process.
struct WorkerProcess {
    me: ActorHandle,
    command: WorkerCommand,
    id: u64,
}

impl Actor for WorkerProcess {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let c = &self.command;
        let mut command = tokio::process::Command::new(&c.program);
        command
            .args(["mr", "worker", "--coordinator", &c.coordinator.to_string()])
            .args(["--id", &self.id.to_string()])
            .env("TROUPE_MR_SECRET", &c.secret)
            .current_dir(&c.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .kill_on_drop(true);
        if let Some(bug) = &c.plant {
            command.args(["--plant", bug]);
        }
        let me = self.me.clone();
        let id = self.id;
        let child = command.spawn();
        let waited = async move {
            match child {
                Ok(mut child) => child.wait().await.map_err(|e| e.to_string()),
                Err(e) => Err(format!("cannot start a worker process: {e}")),
            }
        };
        ctx.spawn(waited.into_actor(self).map(move |status, _, ctx| {
            match status {
                Ok(status) if status.success() => {}
                Ok(status) => {
                    tracing::info!(worker = id, "worker process exited with {status}");
                    me.stop_with(ExitReason::Failed(format!("exited with {status}")));
                }
                Err(e) => me.stop_with(ExitReason::Failed(e)),
            }
            ctx.stop();
        }));
    }
}

/// Runs the job and prints its output files.
pub fn run(args: RunArgs) -> Result<()> {
    arm(args.job.plant.as_deref())?;
    let (job, timing) = args.job.job()?;
    let program = std::env::current_exe().context("cannot find the troupe program")?;
    let secret = args.job.secret();
    let plant = args.job.plant.clone();
    let workers = args.workers;
    let dir = PathBuf::from(&job.dir);
    let n_reduce = job.n_reduce;
    let done = actix_rt::System::new().block_on(async move {
        let listen: SocketAddr = ([127, 0, 0, 1], 0).into();
        let running = serve::start(&job, timing, listen, &secret).await?;
        let command = WorkerCommand {
            program,
            coordinator: running.addr,
            secret,
            dir: dir.clone(),
            plant,
        };
        let pool = start_pool(&running.node, command, workers)?;
        let done = show_progress(&running).await;
        // Workers that are still busy (backups of tasks done meanwhile) are stopped with
        // their processes; every output is in place already.
        pool.kill(ExitReason::Shutdown);
        Ok::<_, anyhow::Error>(done)
    })?;
    eprintln!(
        "troupe: job done: {} tasks handed out again ({} backups), {} late completions ignored",
        done.reissued, done.backups, done.duplicates
    );
    for r in 0..n_reduce {
        println!("{}", output(Path::new(&args.job.out), r).display());
    }
    Ok(())
}

/// Starts the pool of `size` worker processes on `node`.
fn start_pool(node: &Node, command: WorkerCommand, size: u64) -> Result<ActorHandle> {
    let base = u64::from(std::process::id()) << 16;
    let restarts = std::rc::Rc::new(std::cell::Cell::new(0u64));
    let pool = worker_pool(size as usize, move |node, i| {
        // A fresh id for every process, so that the coordinator tells a restarted worker from
        // the one that died.
        restarts.set(restarts.get() + 1);
        let id = base + restarts.get();
        let command = command.clone();
        Ok(node
            .spawn_with(Some(&format!("mr-worker-{i}")), |me| WorkerProcess {
                me: me.clone(),
                command,
                id,
            })?
            .into_handle())
    });
    Ok(Supervisor::start(node, pool)
        .context("the worker pool did not start")?
        .into_handle())
}

/// Shows the job's progress until it is done: a bar redrawn in place on a terminal, a line per
/// change otherwise (both on stderr).
async fn show_progress(running: &Running) -> JobProgress {
    let terminal = std::io::stderr().is_terminal();
    let mut last = None;
    let done = running
        .until_done(|p| {
            let now = (p.maps_done, p.reduces_done);
            if last == Some(now) {
                return;
            }
            last = Some(now);
            let line = format!(
                "map {} {}/{}  reduce {} {}/{}",
                bar(p.maps_done, p.maps),
                p.maps_done,
                p.maps,
                bar(p.reduces_done, p.reduces),
                p.reduces_done,
                p.reduces
            );
            let mut err = std::io::stderr();
            if terminal {
                let _ = write!(err, "\r{line}");
            } else {
                let _ = writeln!(err, "troupe: {line}");
            }
            let _ = err.flush();
        })
        .await;
    if terminal {
        eprintln!();
    }
    done
}

/// A 20-character bar for `done` of `all`.
fn bar(done: usize, all: usize) -> String {
    let filled = (done * 20).checked_div(all).unwrap_or(20);
    format!(
        "[{}{}]",
        "#".repeat(filled),
        ".".repeat(20 - filled.min(20))
    )
}
