//! MapReduce (the paper's §3, and the first lab of MIT 6.824): applications given by name,
//! the partitioning of intermediate keys into reduce buckets, and the sequential reference run
//! every distributed run is compared with.
//!
//! - [`apps`]: the applications (`wc`, `indexer`), each a map and a reduce function, and
//!   [`test_apps`], those of 6.824's test script.
//! - [`functions`]: a job's functions, compiled in or streaming commands run by `sh -c`.
//! - [`partition`]: which of `n_reduce` buckets a key goes to.
//! - [`sequential`]: one process runs the whole job, like the lab's `mrsequential`.
//! - [`task_files`]: a worker's map and reduce tasks on real files, written atomically.
//! - [`tasks`]: the coordinator's task table: hand-outs, timeouts, backup tasks, restarts.
//! - [`coordinator`]: the coordinator actor, its task table persisted through the node's
//!   persister.
//! - [`worker`]: the worker actor: asks for a task, runs it, reports it, until the job is done.

pub mod apps;
pub mod coordinator;
pub mod functions;
pub mod partition;
pub mod sequential;
pub mod task_files;
pub mod tasks;
pub mod test_apps;
pub mod worker;

pub use apps::{app, App, KeyValue, APPS};
pub use functions::Functions;

/// What can go wrong in a MapReduce job.
#[derive(Debug, thiserror::Error)]
pub enum MapReduceError {
    /// No application has this name.
    #[error("no MapReduce application `{0}` (known: {known})", known = APPS.join(", "))]
    NoSuchApp(String),
    /// A streaming mapper or reducer could not be run, or failed.
    #[error("the command `{command}` failed: {reason}")]
    Command {
        /// The command line.
        command: String,
        /// What went wrong.
        reason: String,
    },
    /// An input or output file could not be read or written.
    #[error("cannot read or write {path}")]
    Io {
        /// The file.
        path: String,
        /// What the operating system said.
        source: std::io::Error,
    },
}
