//! A job's coordinator in this process: a node of its own (with a file persister in the job's
//! directory, where the task table is kept), the coordinator under its supervisor, and a client
//! port where workers ask for tasks. `troupe mr coordinator` runs it until the job is done;
//! `troupe mr run` runs it beside its worker pool.

use super::{arm, credentials, JobArgs};
use anyhow::{Context, Result};
use clap::Args;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use troupe::systems::mapreduce::coordinator_path;
use troupe_actors::mapreduce::tasks::TaskTiming;
use troupe_messages::mapreduce::{JobProgress, JobSpec, MrReply, MrRequest};
use troupe_runtime::tcp::clients::{serve_clients, ClientPortConfig};
use troupe_runtime::tcp::frames::MAX_FRAME;
use troupe_runtime::tcp::net::{start_node, TcpConfig};
use troupe_runtime::{FilePersister, Node, NodeConfig};
use troupe_supervisors::failover::mapreduce;
use troupe_supervisors::Supervisor;

/// Where the coordinator keeps its state, inside the job's directory.
pub const STATE_DIR: &str = ".mr-coordinator";

/// How long the coordinator waits for its own actor to answer a worker.
const ANSWER: Duration = Duration::from_secs(2);

/// How long a done coordinator keeps answering, so that workers asking for work learn that the
/// job is over (the rest find it gone and exit after their give-up time).
const LINGER: Duration = Duration::from_secs(1);

/// The flags of `troupe mr coordinator`.
#[derive(Args)]
pub struct CoordinatorArgs {
    #[command(flatten)]
    job: JobArgs,
    /// Where workers reach it (port 0: any free port). Its address is the first line it prints.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
}

/// A coordinator running in this process.
pub struct Running {
    /// Its node.
    pub node: Node,
    /// Where workers reach it.
    pub addr: SocketAddr,
}

/// Starts `job`'s coordinator on a node of this process, its table kept under the job's
/// directory, and serves workers on `listen`. Must run inside an actix System.
pub async fn start(
    job: &JobSpec,
    timing: TaskTiming,
    listen: SocketAddr,
    secret: &str,
) -> Result<Running> {
    let state = Path::new(&job.dir).join(STATE_DIR);
    let persister = FilePersister::open(&state).with_context(|| {
        format!(
            "the coordinator cannot keep its state in {}",
            state.display()
        )
    })?;
    let credentials = credentials(secret);
    let peers = TcpListener::bind("127.0.0.1:0")
        .await
        .context("cannot open the coordinator node's peer port")?;
    let node = start_node(
        peers,
        TcpConfig::new(credentials.clone(), Default::default()),
        Arc::new(persister),
        NodeConfig::default(),
    )?;
    Supervisor::start(&node, mapreduce::coordinator(job.clone(), timing))
        .context("the coordinator did not start")?;
    let clients = TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen for workers on {listen}"))?;
    let addr = clients.local_addr()?;
    let port = ClientPortConfig {
        credentials,
        max_frame: MAX_FRAME,
        handshake_timeout: Duration::from_secs(5),
        tls: None,
    };
    let answering = node.clone();
    actix_rt::spawn(serve_clients(clients, port, move |request: MrRequest| {
        let node = answering.clone();
        async move {
            let path = coordinator_path(node.id());
            // A coordinator being restarted by its supervisor answers nothing for a moment:
            // the worker is told to wait and ask again.
            node.call(&path, request, ANSWER)
                .await
                .unwrap_or(MrReply::Wait)
        }
    }));
    Ok(Running { node, addr })
}

impl Running {
    /// The job's progress, if the coordinator answers.
    pub async fn progress(&self) -> Option<JobProgress> {
        let path = coordinator_path(self.node.id());
        match self.node.call(&path, MrRequest::Progress, ANSWER).await {
            Ok(MrReply::Progress(progress)) => Some(progress),
            _ => None,
        }
    }

    /// Waits until the job is done, calling `each` with every progress seen.
    pub async fn until_done(&self, mut each: impl FnMut(&JobProgress)) -> JobProgress {
        loop {
            if let Some(progress) = self.progress().await {
                each(&progress);
                if progress.done() {
                    return progress;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// `troupe mr coordinator`: serves the job until it is done.
pub fn coordinator(args: CoordinatorArgs) -> Result<()> {
    arm(args.job.plant.as_deref())?;
    let (job, timing) = args.job.job()?;
    actix_rt::System::new().block_on(async move {
        let running = start(&job, timing, args.listen, &args.job.secret()).await?;
        // The address first, alone on its line, for scripts and workers to pick up.
        println!("{}", running.addr);
        let mut last = None;
        let done = running
            .until_done(|p| {
                let now = (p.maps_done, p.reduces_done);
                if last != Some(now) {
                    eprintln!(
                        "troupe: map {}/{}, reduce {}/{}",
                        p.maps_done, p.maps, p.reduces_done, p.reduces
                    );
                    last = Some(now);
                }
            })
            .await;
        tokio::time::sleep(LINGER).await;
        eprintln!(
            "troupe: job done: {} tasks handed out again ({} backups), {} late completions ignored",
            done.reissued, done.backups, done.duplicates
        );
        Ok(())
    })
}
