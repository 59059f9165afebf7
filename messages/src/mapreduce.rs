//! MapReduce: what a worker and its coordinator say to each other. A worker asks for work,
//! runs the task it is given on the job's files, and reports it finished; the coordinator
//! answers with a task, "wait" or "exit". The same messages travel over the simulated network
//! (a `call` to the coordinator actor) and over a real coordinator's client port.

use crate::Wire;
use serde::{Deserialize, Serialize};

/// A task: its phase and its index in that phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum TaskId {
    /// Map task `i` reads input file `i`.
    Map(usize),
    /// Reduce task `r` reads bucket `r` of every map task's output.
    Reduce(usize),
}

impl std::fmt::Display for TaskId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TaskId::Map(i) => write!(f, "map {i}"),
            TaskId::Reduce(r) => write!(f, "reduce {r}"),
        }
    }
}

/// Which map and reduce functions a job runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AppSpec {
    /// An application compiled into troupe, by name (`wc`, `indexer`, ...).
    Named(String),
    /// Hadoop Streaming: each command is run by `sh -c`. The mapper reads one input file on
    /// stdin and writes `key<TAB>value` lines; the reducer reads its bucket's lines sorted by
    /// key and writes output lines.
    Streaming {
        /// The mapper's command line.
        map: String,
        /// The reducer's command line.
        reduce: String,
    },
}

/// One job: what runs, on which files, into how many buckets, in which directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobSpec {
    /// The map and reduce functions.
    pub app: AppSpec,
    /// The input files, one map task each (paths as the workers see them).
    pub inputs: Vec<String>,
    /// The number of reduce tasks (and of output files `mr-out-<r>`).
    pub n_reduce: usize,
    /// The job's directory: intermediate files and outputs go here.
    pub dir: String,
}

/// What a worker asks its coordinator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, actix::Message)]
#[rtype(result = "MrReply")]
pub enum MrRequest {
    /// Give `worker` a task.
    Ask {
        /// The worker's id (unique among the job's workers).
        worker: u64,
    },
    /// `worker` finished `task`: its output is in place.
    Finished {
        /// The worker's id.
        worker: u64,
        /// The task.
        task: TaskId,
    },
    /// `worker` could not run `task` (an input missing, a streaming command that failed):
    /// the task may be handed out again at once.
    Failed {
        /// The worker's id.
        worker: u64,
        /// The task.
        task: TaskId,
        /// What went wrong.
        reason: String,
    },
    /// How far the job has got.
    Progress,
}

impl Wire for MrRequest {
    const TAG: &'static str = "mapreduce.request";
}

/// How far a job has got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct JobProgress {
    /// Map tasks done.
    pub maps_done: usize,
    /// Map tasks in all.
    pub maps: usize,
    /// Reduce tasks done.
    pub reduces_done: usize,
    /// Reduce tasks in all.
    pub reduces: usize,
    /// Hand-outs of tasks after their first (timeouts and backups).
    pub reissued: u64,
    /// Hand-outs that were backups of a straggler.
    pub backups: u64,
    /// Completions reported for a task already done (backups and late attempts).
    pub duplicates: u64,
    /// Attempts that failed (their worker reported it).
    pub failed: u64,
}

impl JobProgress {
    /// Whether every task is done.
    pub fn done(&self) -> bool {
        self.maps_done == self.maps && self.reduces_done == self.reduces
    }
}

/// The coordinator's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, actix::MessageResponse)]
pub enum MrReply {
    /// Run `task` of `job`.
    Run {
        /// The task.
        task: TaskId,
        /// How many times it has been handed out, this one included.
        attempt: u32,
        /// The job it belongs to.
        job: JobSpec,
    },
    /// Nothing to hand out now: ask again soon.
    Wait,
    /// The job is done: exit.
    Exit,
    /// A failed attempt was recorded.
    Noted,
    /// A finished task was recorded (`first`: it was the task's first completion).
    Recorded {
        /// Whether this completion was the first.
        first: bool,
    },
    /// The job's progress.
    Progress(JobProgress),
    /// The coordinator could not make the completion durable; report it again.
    NotDurable,
}
