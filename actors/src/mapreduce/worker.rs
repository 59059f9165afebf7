//! The worker actor: asks its coordinator for a task, runs it on the job's files, reports it
//! finished, and asks again, until the coordinator says the job is done (or, where a
//! coordinator that is gone means the job is over, has been unreachable for a while).
//!
//! The actor only starts the loop ([`work`]) and stops when it ends: normally once the job is
//! done, as a failure when a task could not run (a file could not be read, a streaming command
//! failed). Its supervisor (the worker pool) restarts a failed worker; the task it held is
//! handed out again after its timeout. The coordinator is reached through a
//! [`CoordinatorLink`]: a `call` on troupe's network, or a real coordinator's client port.

use super::task_files::{run_map, run_reduce, TaskPlace};
use super::{Functions, MapReduceError};
use actix::{Actor, ActorContext, ActorFutureExt, AsyncContext, Context, WrapFuture};
use std::cell::RefCell;
use std::net::SocketAddr;
use std::path::Path;
use std::rc::Rc;
use std::time::Duration;
use troupe_messages::mapreduce::{JobSpec, MrReply, MrRequest, TaskId};
use troupe_messages::system::ExitReason;
use troupe_runtime::tcp::clients::ClientConnection;
use troupe_runtime::tcp::frames::MAX_FRAME;
use troupe_runtime::tcp::handshake::Credentials;
use troupe_runtime::{ActorHandle, ActorPath, Node};

/// How a worker reaches its coordinator.
pub enum CoordinatorLink {
    /// A `call` from `node` to the coordinator actor at `coordinator` (simulated or real
    /// troupe network).
    Node {
        /// The worker's node.
        node: Node,
        /// The coordinator actor.
        coordinator: ActorPath,
    },
    /// A real coordinator's client port, reconnected whenever the connection is lost.
    Port {
        /// The port's address.
        addr: SocketAddr,
        /// The job's name and secret.
        credentials: Credentials,
        /// The open connection, if any.
        connection: RefCell<Option<Rc<ClientConnection<MrRequest, MrReply>>>>,
    },
}

impl CoordinatorLink {
    /// A link to the client port at `addr`.
    pub fn port(addr: SocketAddr, credentials: Credentials) -> CoordinatorLink {
        CoordinatorLink::Port {
            addr,
            credentials,
            connection: RefCell::new(None),
        }
    }

    /// Sends `request` and waits up to `timeout` for the answer.
    pub async fn call(
        &self,
        request: MrRequest,
        timeout: Duration,
    ) -> troupe_runtime::Result<MrReply> {
        match self {
            CoordinatorLink::Node { node, coordinator } => {
                node.call(coordinator, request, timeout).await
            }
            CoordinatorLink::Port {
                addr,
                credentials,
                connection,
            } => {
                let open = connection.borrow().clone().filter(|c| c.is_open());
                let connected = match open {
                    Some(c) => c,
                    None => {
                        let c =
                            ClientConnection::connect(*addr, credentials, None, MAX_FRAME, timeout)
                                .await?;
                        let c = Rc::new(c);
                        *connection.borrow_mut() = Some(c.clone());
                        c
                    }
                };
                connected.call(&request, timeout).await
            }
        }
    }
}

/// How a worker behaves.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// The worker's id, unique among the job's workers.
    pub id: u64,
    /// How long to wait before asking again after "wait" or a failed call.
    pub poll: Duration,
    /// How long one call to the coordinator may take.
    pub call_timeout: Duration,
    /// Exit (normally) once the coordinator has been unreachable this long: the lab's rule,
    /// for a coordinator that exits when the job is done. None: keep trying.
    pub give_up_after: Option<Duration>,
    /// The worker's disk speed in a simulation (bytes per virtual second), or None.
    pub pace: Option<u64>,
}

impl WorkerConfig {
    /// Worker `id`: asks every 100 ms while told to wait, gives up after 10 s without its
    /// coordinator, runs at the machine's speed.
    pub fn new(id: u64) -> WorkerConfig {
        WorkerConfig {
            id,
            poll: Duration::from_millis(100),
            call_timeout: Duration::from_secs(2),
            give_up_after: Some(Duration::from_secs(10)),
            pace: None,
        }
    }
}

/// A worker: runs [`work`] and stops when it ends.
pub struct Worker {
    me: ActorHandle,
    link: Rc<CoordinatorLink>,
    config: WorkerConfig,
}

impl Worker {
    /// Starts a worker named `name` on `node`, and returns its handle (a supervisor's child
    /// factory).
    pub fn spawn(
        node: &Node,
        name: &str,
        link: Rc<CoordinatorLink>,
        config: WorkerConfig,
    ) -> troupe_runtime::Result<ActorHandle> {
        Ok(node
            .spawn_with(Some(name), |me| Worker {
                me: me.clone(),
                link,
                config,
            })?
            .into_handle())
    }
}

impl Actor for Worker {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let me = self.me.clone();
        let id = self.config.id;
        let run = work(self.link.clone(), self.config.clone());
        ctx.spawn(run.into_actor(self).map(move |ended, _, ctx| {
            if let Err(e) = ended {
                tracing::warn!(worker = id, "worker failed: {e}");
                me.stop_with(ExitReason::Failed(e.to_string()));
            }
            ctx.stop();
        }));
    }
}

/// Why the worker loop ended early.
#[derive(Debug, thiserror::Error)]
pub enum WorkerStop {
    /// A task could not run.
    #[error("{task} failed: {source}")]
    Task {
        /// The task.
        task: TaskId,
        /// Why.
        source: MapReduceError,
    },
}

/// Asks for tasks and runs them until the job is done (`Ok`), or a task fails.
pub async fn work(link: Rc<CoordinatorLink>, config: WorkerConfig) -> Result<(), WorkerStop> {
    let mut unreachable_since = None;
    loop {
        let asked = link
            .call(MrRequest::Ask { worker: config.id }, config.call_timeout)
            .await;
        match asked {
            Ok(MrReply::Run { task, attempt, job }) => {
                unreachable_since = None;
                tracing::debug!(worker = config.id, %task, attempt, "running");
                if let Err(source) = run_task(&job, task, &config).await {
                    // Tell the coordinator, so that the task goes out again at once; then
                    // stop, for the supervisor to start a fresh worker.
                    let failed = MrRequest::Failed {
                        worker: config.id,
                        task,
                        reason: source.to_string(),
                    };
                    let _ = link.call(failed, config.call_timeout).await;
                    return Err(WorkerStop::Task { task, source });
                }
                if !report(&link, task, &config).await {
                    return Ok(());
                }
            }
            Ok(MrReply::Exit) => return Ok(()),
            Ok(_) => {
                unreachable_since = None;
                tokio::time::sleep(config.poll).await;
            }
            Err(e) => {
                tracing::debug!(worker = config.id, "coordinator unreachable: {e}");
                let since = *unreachable_since.get_or_insert_with(tokio::time::Instant::now);
                if config.give_up_after.is_some_and(|g| since.elapsed() >= g) {
                    tracing::info!(worker = config.id, "the coordinator is gone: exiting");
                    return Ok(());
                }
                tokio::time::sleep(config.poll).await;
            }
        }
    }
}

/// Runs one task of `job`.
async fn run_task(
    job: &JobSpec,
    task: TaskId,
    config: &WorkerConfig,
) -> Result<(), MapReduceError> {
    let functions = Functions::of(&job.app)?;
    let place = TaskPlace {
        dir: job.dir.clone().into(),
        tag: format!("w{}", config.id),
        pace: config.pace,
    };
    match task {
        TaskId::Map(i) => {
            let input = job
                .inputs
                .get(i)
                .map(Path::new)
                .ok_or_else(|| MapReduceError::Io {
                    path: format!("input {i}"),
                    source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such input"),
                })?;
            run_map(&functions, i, input, job.n_reduce, &place).await
        }
        TaskId::Reduce(r) => run_reduce(&functions, r, job.inputs.len(), &place).await,
    }
}

/// Reports `task` finished until the coordinator records it. False if the coordinator stayed
/// unreachable past the give-up time (the job is over, for all this worker knows).
async fn report(link: &CoordinatorLink, task: TaskId, config: &WorkerConfig) -> bool {
    let started = tokio::time::Instant::now();
    loop {
        let finished = MrRequest::Finished {
            worker: config.id,
            task,
        };
        match link.call(finished, config.call_timeout).await {
            Ok(MrReply::Recorded { .. }) => return true,
            Ok(MrReply::Exit) => return false,
            Ok(other) => tracing::debug!(worker = config.id, "report answered {other:?}"),
            Err(e) => tracing::debug!(worker = config.id, "report failed: {e}"),
        }
        if config.give_up_after.is_some_and(|g| started.elapsed() >= g) {
            return false;
        }
        tokio::time::sleep(config.poll).await;
    }
}
