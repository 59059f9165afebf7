//! `troupe mr worker --coordinator ADDR`: one worker in this process, like the lab's
//! `mrworker`. It asks the coordinator for tasks until the job is done, then exits 0; it also
//! exits 0 once the coordinator has been gone for 10 s (a done coordinator exits). A task that
//! fails ends it with exit status 1, for whoever supervises it (`troupe mr run`'s pool) to
//! start another.

use super::{arm, credentials};
use anyhow::{bail, Result};
use clap::Args;
use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use troupe_actors::mapreduce::worker::{CoordinatorLink, Worker, WorkerConfig};
use troupe_runtime::{ExitReason, Node, NodeId};

/// The flags of `troupe mr worker`.
#[derive(Args)]
pub struct WorkerArgs {
    /// The coordinator's address (the first line `troupe mr coordinator` prints).
    #[arg(long)]
    coordinator: SocketAddr,
    /// The worker's id among the job's workers (default: this process's id).
    #[arg(long)]
    id: Option<u64>,
    /// The secret the coordinator and its workers share (default: TROUPE_MR_SECRET, or the
    /// fixed one local jobs use).
    #[arg(long)]
    secret: Option<String>,
    /// Arm a planted bug (needs a build with the cargo feature `planted-bugs`).
    #[arg(long, hide = true)]
    plant: Option<String>,
}

/// Runs the worker until it ends.
pub fn run(args: WorkerArgs) -> Result<()> {
    arm(args.plant.as_deref())?;
    let id = args.id.unwrap_or_else(|| u64::from(std::process::id()));
    let link = Rc::new(CoordinatorLink::port(
        args.coordinator,
        credentials(&super::secret(args.secret.as_deref())),
    ));
    let ended: Rc<RefCell<Option<ExitReason>>> = Rc::default();
    let system = actix_rt::System::new();
    let seen = ended.clone();
    system.block_on(async move {
        let node = Node::local(NodeId(1));
        let worker = Worker::spawn(&node, "mr-worker", link, WorkerConfig::new(id))?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        worker.on_exit(move |reason| {
            *seen.borrow_mut() = Some(reason.clone());
            let _ = tx.send(());
        });
        let _ = rx.await;
        Ok::<_, anyhow::Error>(())
    })?;
    let reason = ended.borrow_mut().take();
    match reason {
        Some(ExitReason::Normal) => Ok(()),
        Some(reason) => bail!("worker {id} stopped: {reason:?}"),
        None => bail!("worker {id} stopped for no known reason"),
    }
}
