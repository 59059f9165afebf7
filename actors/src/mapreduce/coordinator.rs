//! The coordinator actor: a thin shell around the [`TaskTable`]. It answers a worker's
//! [`MrRequest`] with a task, "wait" or "exit", and records finished tasks.
//!
//! It goes beyond the lab's coordinator, which cannot fail: the job and its table are kept in
//! the node's persister (`mapreduce/table`), written before a completion is acknowledged, and
//! every start reads them back, so a restarted coordinator (a restart of its node, or of the
//! actor by its supervisor) goes on without redoing completed tasks. What was running at the
//! crash is handed out again; a worker that finishes such a task anyway is answered as usual.

use super::tasks::{Assignment, TaskTable, TaskTiming};
use actix::{Actor, ActorContext, Context, Handler};
use troupe_messages::mapreduce::{JobProgress, JobSpec, MrReply, MrRequest};
use troupe_messages::system::ExitReason;
use troupe_runtime::{ActorHandle, Node, PersisterExt};

/// The name the coordinator registers under.
pub const NAME: &str = "mr-coordinator";

/// Where the job and its task table are kept.
const TABLE: &str = "mapreduce/table";

/// The coordinator of one job.
pub struct Coordinator {
    node: Node,
    me: ActorHandle,
    job: JobSpec,
    table: TaskTable,
    /// The progress last logged, so that only changes are.
    logged: JobProgress,
}

impl Coordinator {
    /// Starts the coordinator of `job` on `node` under [`NAME`]: with the table the node's
    /// persister holds for this same job, or a fresh one. Returns its handle (a supervisor's
    /// child factory).
    pub fn spawn(
        node: &Node,
        job: &JobSpec,
        timing: TaskTiming,
    ) -> troupe_runtime::Result<ActorHandle> {
        let table = match node.persister().load_value::<(JobSpec, TaskTable)>(TABLE)? {
            Some((saved, table)) if saved == *job => {
                let progress = table.progress();
                tracing::info!(
                    node = %node.id(),
                    "coordinator resumes: {} of {} map tasks and {} of {} reduce tasks done",
                    progress.maps_done,
                    progress.maps,
                    progress.reduces_done,
                    progress.reduces
                );
                table.restarted()
            }
            saved => {
                if saved.is_some() {
                    tracing::warn!(node = %node.id(), "the stored task table is another job's: starting afresh");
                }
                TaskTable::new(job.inputs.len(), job.n_reduce, timing)
            }
        };
        let logged = table.progress();
        Ok(node
            .spawn_with(Some(NAME), |me| Coordinator {
                node: node.clone(),
                me: me.clone(),
                job: job.clone(),
                table,
                logged,
            })?
            .accept::<MrRequest>()
            .into_handle())
    }

    fn log_progress(&mut self) {
        let now = self.table.progress();
        if (now.maps_done, now.reduces_done) != (self.logged.maps_done, self.logged.reduces_done) {
            tracing::info!(
                node = %self.node.id(),
                "map {}/{}, reduce {}/{}",
                now.maps_done,
                now.maps,
                now.reduces_done,
                now.reduces
            );
        }
        self.logged = now;
    }
}

impl Actor for Coordinator {
    type Context = Context<Self>;
}

impl Handler<MrRequest> for Coordinator {
    type Result = MrReply;

    fn handle(&mut self, request: MrRequest, ctx: &mut Context<Self>) -> MrReply {
        let now = self.node.now_ns();
        match request {
            MrRequest::Ask { worker } => match self.table.request(worker, now) {
                Assignment::Run { task, attempt } => {
                    tracing::debug!(worker, %task, attempt, "task handed out");
                    MrReply::Run {
                        task,
                        attempt,
                        job: self.job.clone(),
                    }
                }
                Assignment::Wait => MrReply::Wait,
                Assignment::Exit => MrReply::Exit,
            },
            MrRequest::Finished { worker, task } => {
                let first = self.table.finished(task, now);
                tracing::debug!(worker, %task, first, "task finished");
                let saved = (&self.job, &self.table);
                if let Err(e) = self.node.persister().save_value(TABLE, &saved) {
                    // The completion is not durable: stop, so that a fresh coordinator starts
                    // from what is, and the worker reports again.
                    tracing::error!(node = %self.node.id(), "task table not persisted: {e}");
                    self.me
                        .stop_with(ExitReason::Failed(format!("persist failed: {e}")));
                    ctx.stop();
                    return MrReply::NotDurable;
                }
                self.log_progress();
                MrReply::Recorded { first }
            }
            MrRequest::Failed {
                worker,
                task,
                reason,
            } => {
                tracing::warn!(worker, %task, "task failed: {reason}");
                self.table.failed(worker, task);
                MrReply::Noted
            }
            MrRequest::Progress => MrReply::Progress(self.table.progress()),
        }
    }
}
