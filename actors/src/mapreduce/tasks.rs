//! The coordinator's task table, a plain struct: which map and reduce tasks are idle, running
//! (on which workers, since when) or done. Workers ask for work and report what they
//! finished; time comes in as `now` (ns).
//!
//! - Map tasks first, one per input file; reduce tasks only once every map task is done (a
//!   reduce task reads every map task's output).
//! - A task running longer than `timeout` is handed out again (the worker may have died).
//! - Near the end of a phase, when no task is idle and at most a tenth of the phase (at least
//!   one task) still runs, a running task is handed out once more as a backup (the paper's
//!   §3.6): whichever attempt finishes first counts.
//! - A task's first reported completion counts; later ones (a backup, or an attempt that timed
//!   out but finished after all) change nothing, so a task run twice is harmless.

use serde::{Deserialize, Serialize};

/// A task: its phase and its index in that phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum TaskId {
    /// Map task `i` reads input file `i`.
    Map(usize),
    /// Reduce task `r` reads bucket `r` of every map task's output.
    Reduce(usize),
}

/// What a worker asking for work is told.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Assignment {
    /// Run `task` (this is its `attempt`th hand-out).
    Run {
        /// The task.
        task: TaskId,
        /// How many times it has been handed out, this one included.
        attempt: u32,
    },
    /// Nothing to hand out now: ask again later.
    Wait,
    /// The job is done: exit.
    Exit,
}

/// One attempt at a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Attempt {
    worker: u64,
    started: u64,
}

/// One task's state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Task {
    /// Attempts handed out and not timed out.
    running: Vec<Attempt>,
    /// Hand-outs so far.
    handed_out: u32,
    done: bool,
}

/// The tasks of one phase, and how their ids are made.
type Phase<'a> = (&'a mut [Task], fn(usize) -> TaskId);

/// The task table of one job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskTable {
    maps: Vec<Task>,
    reduces: Vec<Task>,
    /// How long an attempt may run before its task is handed out again (ns).
    timeout: u64,
}

impl TaskTable {
    /// A job of `n_map` map tasks and `n_reduce` reduce tasks; attempts time out after
    /// `timeout` ns.
    pub fn new(n_map: usize, n_reduce: usize, timeout: u64) -> Self {
        TaskTable {
            maps: vec![Task::default(); n_map],
            reduces: vec![Task::default(); n_reduce],
            timeout,
        }
    }

    /// The tasks of the phase under way (maps until all are done, then reduces), none once
    /// the job is done.
    fn phase(&mut self) -> Option<Phase<'_>> {
        if self.maps.iter().any(|t| !t.done) {
            Some((self.maps.as_mut_slice(), TaskId::Map))
        } else if self.reduces.iter().any(|t| !t.done) {
            Some((self.reduces.as_mut_slice(), TaskId::Reduce))
        } else {
            None
        }
    }

    /// Work for `worker` at `now`: an idle or timed-out task, else a backup of a running one
    /// near the end of the phase, else wait (or exit once the job is done).
    pub fn request(&mut self, worker: u64, now: u64) -> Assignment {
        let timeout = self.timeout;
        let Some((tasks, id)) = self.phase() else {
            return Assignment::Exit;
        };
        for task in tasks.iter_mut() {
            task.running
                .retain(|a| now.saturating_sub(a.started) < timeout);
        }
        let attempt = Attempt {
            worker,
            started: now,
        };
        if let Some(i) = tasks.iter().position(|t| !t.done && t.running.is_empty()) {
            return hand_out(&mut tasks[i], id(i), attempt);
        }
        let still_running = tasks.iter().filter(|t| !t.done).count();
        let near_end = still_running <= (tasks.len() / 10).max(1);
        let backup = tasks
            .iter()
            .enumerate()
            .filter(|(_, t)| !t.done && t.running.len() == 1)
            .filter(|(_, t)| t.running.iter().all(|a| a.worker != worker))
            .min_by_key(|(_, t)| t.running[0].started)
            .map(|(i, _)| i);
        match backup {
            Some(i) if near_end => hand_out(&mut tasks[i], id(i), attempt),
            _ => Assignment::Wait,
        }
    }

    /// `task` finished (an attempt reported its output in place). True if this is its first
    /// completion; false if it was done already (a backup or a late attempt).
    pub fn finished(&mut self, task: TaskId) -> bool {
        let slot = match task {
            TaskId::Map(i) => self.maps.get_mut(i),
            TaskId::Reduce(r) => self.reduces.get_mut(r),
        };
        match slot {
            Some(t) if !t.done => {
                t.done = true;
                t.running.clear();
                true
            }
            _ => false,
        }
    }

    /// Whether every task is done.
    pub fn done(&self) -> bool {
        self.maps.iter().chain(&self.reduces).all(|t| t.done)
    }

    /// (done, all) of the map phase and of the reduce phase.
    pub fn progress(&self) -> ((usize, usize), (usize, usize)) {
        let count = |tasks: &[Task]| (tasks.iter().filter(|t| t.done).count(), tasks.len());
        (count(&self.maps), count(&self.reduces))
    }

    /// The table as a restarted coordinator takes it up: what was done stays done, what was
    /// running is idle again (its workers may have gone with the old coordinator).
    pub fn restarted(mut self) -> Self {
        for task in self.maps.iter_mut().chain(self.reduces.iter_mut()) {
            task.running.clear();
        }
        self
    }
}

fn hand_out(task: &mut Task, id: TaskId, attempt: Attempt) -> Assignment {
    task.running.push(attempt);
    task.handed_out += 1;
    Assignment::Run {
        task: id,
        attempt: task.handed_out,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    fn run(task: TaskId, attempt: u32) -> Assignment {
        Assignment::Run { task, attempt }
    }

    #[test]
    fn maps_come_first_and_reduces_only_once_every_map_is_done() {
        let mut t = TaskTable::new(2, 1, 10 * S);
        assert_eq!(t.request(1, 0), run(TaskId::Map(0), 1));
        assert_eq!(t.request(2, 0), run(TaskId::Map(1), 1));
        assert!(t.finished(TaskId::Map(0)));
        // Map 1 still runs, on its own worker: no reduce yet, and no backup for its worker.
        assert_eq!(t.request(2, S), Assignment::Wait);
        assert!(t.finished(TaskId::Map(1)));
        assert_eq!(t.request(1, S), run(TaskId::Reduce(0), 1));
        assert!(t.finished(TaskId::Reduce(0)));
        assert!(t.done());
        assert_eq!(t.request(1, S), Assignment::Exit);
    }

    #[test]
    fn a_task_that_runs_too_long_is_handed_out_again_and_counts_once() {
        let mut t = TaskTable::new(20, 1, 10 * S);
        for w in 0..20 {
            assert!(matches!(t.request(w, 0), Assignment::Run { .. }));
        }
        // Far from the end of the phase: no backups, only waiting.
        assert_eq!(t.request(99, 5 * S), Assignment::Wait);
        assert_eq!(t.request(99, 10 * S), run(TaskId::Map(0), 2));
        assert!(t.finished(TaskId::Map(0)));
        assert!(
            !t.finished(TaskId::Map(0)),
            "the late first attempt changes nothing"
        );
        assert_eq!(t.progress().0, (1, 20));
    }

    #[test]
    fn near_the_end_of_a_phase_a_running_task_gets_a_backup_on_another_worker() {
        let mut t = TaskTable::new(3, 1, 10 * S);
        for w in 0..3 {
            t.request(w, w * S);
        }
        assert!(t.finished(TaskId::Map(1)));
        assert!(t.finished(TaskId::Map(2)));
        // One map left (the straggler on worker 0): a backup goes to another worker, once.
        assert_eq!(t.request(0, 3 * S), Assignment::Wait);
        assert_eq!(t.request(5, 3 * S), run(TaskId::Map(0), 2));
        assert_eq!(t.request(6, 3 * S), Assignment::Wait);
        assert!(t.finished(TaskId::Map(0)));
        assert_eq!(t.request(6, 3 * S), run(TaskId::Reduce(0), 1));
    }

    #[test]
    fn a_restarted_table_keeps_what_was_done_and_hands_out_the_rest_again() {
        let mut t = TaskTable::new(2, 2, 10 * S);
        t.request(1, 0);
        t.request(2, 0);
        t.finished(TaskId::Map(0));
        let saved = serde_json::to_string(&t).expect("serializes");
        let back: TaskTable = serde_json::from_str(&saved).expect("parses");
        let mut again = back.restarted();
        assert_eq!(again.progress().0, (1, 2));
        assert_eq!(again.request(3, S), run(TaskId::Map(1), 2));
        assert_eq!(again.request(4, S), run(TaskId::Map(1), 3));
    }
}
