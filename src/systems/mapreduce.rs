//! MapReduce, assembled: a coordinator under its supervisor on one node, and a worker pool on
//! each worker node, whose workers reach the coordinator over troupe's network. `troupe sim
//! mapreduce` lays it out on simulated nodes; `troupe mr run`, `mr coordinator` and
//! `mr worker` use the same supervisors and actors with workers as processes, which reach the
//! coordinator's client port instead ([`CoordinatorLink::port`]).

use super::Assembly;
use crate::Error;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;
use troupe_actors::mapreduce::coordinator::NAME as COORDINATOR;
use troupe_actors::mapreduce::tasks::TaskTiming;
use troupe_actors::mapreduce::worker::{CoordinatorLink, Worker, WorkerConfig};
use troupe_messages::mapreduce::{JobProgress, JobSpec, MrReply, MrRequest};
use troupe_runtime::{ActorPath, Node, NodeId};
use troupe_supervisors::failover::mapreduce::{coordinator, worker_pool};
use troupe_supervisors::Supervisor;

/// A MapReduce job laid out on nodes.
#[derive(Clone, Debug)]
pub struct MapReduce {
    /// The job.
    pub job: JobSpec,
    /// When tasks time out and get backups.
    pub timing: TaskTiming,
    /// The coordinator's node.
    pub coordinator: NodeId,
    /// The worker nodes.
    pub workers: Vec<NodeId>,
    /// Workers per worker node.
    pub per_node: usize,
    /// Worker nodes' disk speeds in a simulation (bytes per virtual second); a node not listed
    /// runs at the machine's speed.
    pub speeds: BTreeMap<NodeId, u64>,
}

impl MapReduce {
    /// `job` with its coordinator on n1 and `worker_nodes` worker nodes after it, each with
    /// `per_node` workers, the lab's 10 s timeout.
    pub fn new(job: JobSpec, worker_nodes: u32, per_node: usize) -> MapReduce {
        MapReduce {
            job,
            timing: TaskTiming::DEFAULT,
            coordinator: NodeId(1),
            workers: (2..2 + worker_nodes).map(NodeId).collect(),
            per_node,
            speeds: BTreeMap::new(),
        }
    }

    /// The coordinator actor's path.
    pub fn coordinator_path(&self) -> ActorPath {
        coordinator_path(self.coordinator)
    }

    /// The job's progress as the coordinator tells it to `node`; None if it did not answer.
    pub async fn progress(&self, node: &Node, timeout: Duration) -> Option<JobProgress> {
        match node
            .call(&self.coordinator_path(), MrRequest::Progress, timeout)
            .await
        {
            Ok(MrReply::Progress(progress)) => Some(progress),
            _ => None,
        }
    }
}

/// The path of the coordinator actor on `node`.
pub fn coordinator_path(node: NodeId) -> ActorPath {
    ActorPath::new(node, COORDINATOR)
}

impl Assembly for MapReduce {
    fn last_node(&self) -> u32 {
        self.workers
            .iter()
            .map(|n| n.0)
            .chain([self.coordinator.0])
            .max()
            .unwrap_or(0)
    }

    fn start(&self, node: &Node) -> crate::Result<()> {
        let id = node.id();
        if id == self.coordinator {
            Supervisor::start(node, coordinator(self.job.clone(), self.timing))
                .map_err(|e| Error::role(id, "mapreduce coordinator", e))?;
        }
        if self.workers.contains(&id) {
            let path = self.coordinator_path();
            let pace = self.speeds.get(&id).copied();
            let pool = worker_pool(self.per_node, move |node, i| {
                let link = CoordinatorLink::Node {
                    node: node.clone(),
                    coordinator: path.clone(),
                };
                let mut config = WorkerConfig::new(u64::from(node.id().0) * 1000 + i as u64);
                // Simulated workers outlive any coordinator crash.
                config.give_up_after = None;
                config.pace = pace;
                Worker::spawn(node, &format!("mr-worker-{i}"), Rc::new(link), config)
            });
            Supervisor::start(node, pool).map_err(|e| Error::role(id, "mapreduce workers", e))?;
        }
        Ok(())
    }
}
