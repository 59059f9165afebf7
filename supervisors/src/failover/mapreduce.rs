//! MapReduce's supervisors: the worker pool, which restarts crashed workers, and the
//! coordinator's, which restarts the coordinator from its persisted task table.
//!
//! A worker that ends normally (the job is done, or its coordinator is gone for good) stays
//! down: the pool's children are transient. One that fails (a task could not run, its process
//! died) is started again after a backoff; the task it held goes to another worker after the
//! coordinator's timeout. The pool tolerates many restarts (a job's worker may keep dying on a
//! bad machine, as 6.824's `crash` application makes it) before it escalates.

use crate::{ChildSpec, Restart, Strategy, SupervisorSpec};
use std::time::Duration;
use troupe_actors::mapreduce::coordinator::Coordinator;
use troupe_actors::mapreduce::tasks::TaskTiming;
use troupe_messages::mapreduce::JobSpec;
use troupe_runtime::{ActorHandle, Node};

/// The name of the worker pool's supervisor on its node.
pub const POOL: &str = "mr-worker-pool";

/// The name of the coordinator's supervisor on its node.
pub const COORDINATOR: &str = "mr-coordinator-supervisor";

/// A worker pool of `size` workers; `start(node, i)` starts worker `i` (named `mr-worker-<i>`
/// by convention) and returns its handle. At most 1000 restarts a minute, 50 ms backoff
/// doubling to 1 s.
pub fn worker_pool(
    size: usize,
    start: impl Fn(&Node, usize) -> troupe_runtime::Result<ActorHandle> + Clone + 'static,
) -> SupervisorSpec {
    let mut spec = SupervisorSpec::new(POOL)
        .strategy(Strategy::OneForOne)
        .intensity(1000, Duration::from_secs(60))
        .backoff(Duration::from_millis(50), Duration::from_secs(1));
    for i in 0..size {
        let start = start.clone();
        let child = ChildSpec::new(format!("worker-{i}"), move |node| start(node, i));
        spec = spec.child(child.restart(Restart::Transient));
    }
    spec
}

/// The coordinator of `job` under a supervisor that restarts it (from the node's persister)
/// when it stops: at most 5 restarts in 10 s.
pub fn coordinator(job: JobSpec, timing: TaskTiming) -> SupervisorSpec {
    SupervisorSpec::new(COORDINATOR)
        .strategy(Strategy::OneForOne)
        .intensity(5, Duration::from_secs(10))
        .backoff(Duration::from_millis(50), Duration::from_secs(1))
        .child(ChildSpec::new("coordinator", move |node| {
            Coordinator::spawn(node, &job, timing)
        }))
}
