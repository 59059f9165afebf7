//! MapReduce (the paper's §3, and the first lab of MIT 6.824): applications given by name,
//! the partitioning of intermediate keys into reduce buckets, and the sequential reference run
//! every distributed run is compared with.
//!
//! - [`apps`]: the applications (`wc`, `indexer`), each a map and a reduce function.
//! - [`partition`]: which of `n_reduce` buckets a key goes to.
//! - [`sequential`]: one process runs the whole job, like the lab's `mrsequential`.
//! - [`task_files`]: a worker's map and reduce tasks on real files, written atomically.
//! - [`tasks`]: the coordinator's task table: hand-outs, timeouts, backup tasks, restarts.

pub mod apps;
pub mod partition;
pub mod sequential;
pub mod task_files;
pub mod tasks;

pub use apps::{app, App, KeyValue, APPS};

/// What can go wrong in a MapReduce job.
#[derive(Debug, thiserror::Error)]
pub enum MapReduceError {
    /// No application has this name.
    #[error("no MapReduce application `{0}` (known: {known})", known = APPS.join(", "))]
    NoSuchApp(String),
    /// An input or output file could not be read or written.
    #[error("cannot read or write {path}")]
    Io {
        /// The file.
        path: String,
        /// What the operating system said.
        source: std::io::Error,
    },
}
