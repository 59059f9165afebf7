//! The coordinator's task table, a plain struct: which map and reduce tasks are idle, running
//! (on which workers, since when) or done. Workers ask for work and report what they
//! finished; time comes in as `now` (ns).
//!
//! - Map tasks first, one per input file; reduce tasks only once every map task is done (a
//!   reduce task reads every map task's output).
//! - A task running longer than the timeout is handed out again (the worker may have died).
//! - Near the end of a phase, when no task is idle and at most a tenth of the phase (at least
//!   one task) still runs, a straggler is handed out once more as a backup, to another worker
//!   (the paper's §3.6): whichever attempt finishes first counts. A straggler has run at least
//!   `backup_after` and three times the median time of the phase's finished tasks, so a phase
//!   whose tasks merely differ in length gets no backups.
//! - A task's first reported completion counts; later ones (a backup, or an attempt that timed
//!   out but finished after all) change nothing, so a task run twice is harmless.

use serde::{Deserialize, Serialize};
use troupe_messages::mapreduce::JobProgress;
pub use troupe_messages::mapreduce::TaskId;
use troupe_runtime::plant::{armed, Bug};

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

/// When attempts time out and when stragglers get backups (ns).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskTiming {
    /// How long an attempt may run before its task is handed out again.
    pub timeout: u64,
    /// The least time an attempt runs before it may get a backup.
    pub backup_after: u64,
}

impl TaskTiming {
    /// The lab's 10 s timeout, and backups after at least 1 s.
    pub const DEFAULT: TaskTiming = TaskTiming {
        timeout: 10_000_000_000,
        backup_after: 1_000_000_000,
    };
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
    /// From its latest hand-out before it finished to the first completion (ns).
    took: Option<u64>,
}

/// The tasks of one phase, and how their ids are made.
type Phase<'a> = (&'a mut [Task], fn(usize) -> TaskId);

/// The task table of one job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskTable {
    maps: Vec<Task>,
    reduces: Vec<Task>,
    /// Completions counted per phase: a phase is over when its count reaches its size.
    maps_done: usize,
    reduces_done: usize,
    timing: TaskTiming,
    reissued: u64,
    backups: u64,
    duplicates: u64,
    failed: u64,
}

impl TaskTable {
    /// A job of `n_map` map tasks and `n_reduce` reduce tasks.
    pub fn new(n_map: usize, n_reduce: usize, timing: TaskTiming) -> Self {
        TaskTable {
            maps: vec![Task::default(); n_map],
            reduces: vec![Task::default(); n_reduce],
            maps_done: 0,
            reduces_done: 0,
            timing,
            reissued: 0,
            backups: 0,
            duplicates: 0,
            failed: 0,
        }
    }

    /// The number of map tasks and of reduce tasks.
    pub fn size(&self) -> (usize, usize) {
        (self.maps.len(), self.reduces.len())
    }

    /// The tasks of the phase under way (maps until all are counted done, then reduces),
    /// none once the job is done.
    fn phase(&mut self) -> Option<Phase<'_>> {
        if self.maps_done < self.maps.len() {
            Some((self.maps.as_mut_slice(), TaskId::Map))
        } else if self.reduces_done < self.reduces.len() {
            Some((self.reduces.as_mut_slice(), TaskId::Reduce))
        } else {
            None
        }
    }

    /// Work for `worker` at `now`: an idle or timed-out task, else a backup of a straggler
    /// near the end of the phase, else wait (or exit once the job is done).
    pub fn request(&mut self, worker: u64, now: u64) -> Assignment {
        let timing = self.timing;
        let Some((tasks, id)) = self.phase() else {
            return Assignment::Exit;
        };
        for task in tasks.iter_mut() {
            task.running
                .retain(|a| now.saturating_sub(a.started) < timing.timeout);
        }
        let attempt = Attempt {
            worker,
            started: now,
        };
        if let Some(i) = tasks.iter().position(|t| !t.done && t.running.is_empty()) {
            let again = tasks[i].handed_out > 0;
            let assignment = hand_out(&mut tasks[i], id(i), attempt);
            self.reissued += u64::from(again);
            return assignment;
        }
        let still_running = tasks.iter().filter(|t| !t.done).count();
        if still_running > (tasks.len() / 10).max(1) {
            return Assignment::Wait;
        }
        let straggling = straggler_age(tasks).max(timing.backup_after);
        let backup = tasks
            .iter()
            .enumerate()
            .filter(|(_, t)| !t.done && t.running.len() == 1)
            .filter(|(_, t)| t.running[0].worker != worker)
            .filter(|(_, t)| now.saturating_sub(t.running[0].started) >= straggling)
            .min_by_key(|(_, t)| t.running[0].started)
            .map(|(i, _)| i);
        match backup {
            Some(i) => {
                let assignment = hand_out(&mut tasks[i], id(i), attempt);
                self.reissued += 1;
                self.backups += 1;
                assignment
            }
            None => Assignment::Wait,
        }
    }

    /// `task` finished at `now` (an attempt reported its output in place). True if this is
    /// its first completion; false if it was done already (a backup or a late attempt), or is
    /// no task of this job.
    pub fn finished(&mut self, task: TaskId, now: u64) -> bool {
        let (slot, count) = match task {
            TaskId::Map(i) => (self.maps.get_mut(i), &mut self.maps_done),
            TaskId::Reduce(r) => (self.reduces.get_mut(r), &mut self.reduces_done),
        };
        let Some(t) = slot else {
            return false;
        };
        if t.done {
            self.duplicates += 1;
            if armed(Bug::LateResultCountedTwice) {
                *count += 1;
            }
            return false;
        }
        let started = t.running.iter().map(|a| a.started).max();
        t.took = Some(started.map_or(0, |s| now.saturating_sub(s)));
        t.done = true;
        t.running.clear();
        *count += 1;
        true
    }

    /// `worker`'s attempt at `task` failed: the task is idle again unless another attempt runs
    /// (and it may go back to the same worker).
    pub fn failed(&mut self, worker: u64, task: TaskId) {
        self.failed += 1;
        let slot = match task {
            TaskId::Map(i) => self.maps.get_mut(i),
            TaskId::Reduce(r) => self.reduces.get_mut(r),
        };
        if let Some(t) = slot {
            t.running.retain(|a| a.worker != worker);
        }
    }

    /// Whether every task is counted done.
    pub fn done(&self) -> bool {
        self.maps_done >= self.maps.len() && self.reduces_done >= self.reduces.len()
    }

    /// The job's progress: tasks done per phase, and how many hand-outs were repeats.
    pub fn progress(&self) -> JobProgress {
        let count = |tasks: &[Task]| tasks.iter().filter(|t| t.done).count();
        JobProgress {
            maps_done: count(&self.maps),
            maps: self.maps.len(),
            reduces_done: count(&self.reduces),
            reduces: self.reduces.len(),
            reissued: self.reissued,
            backups: self.backups,
            duplicates: self.duplicates,
            failed: self.failed,
        }
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

/// How long a task must have run to count as a straggler: three times the median time of the
/// phase's finished tasks (0 while none has finished).
fn straggler_age(tasks: &[Task]) -> u64 {
    let mut took: Vec<u64> = tasks.iter().filter_map(|t| t.took).collect();
    if took.is_empty() {
        return 0;
    }
    took.sort_unstable();
    took[took.len() / 2].saturating_mul(3)
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

    fn table(n_map: usize, n_reduce: usize) -> TaskTable {
        let timing = TaskTiming {
            timeout: 10 * S,
            backup_after: S,
        };
        TaskTable::new(n_map, n_reduce, timing)
    }

    fn run(task: TaskId, attempt: u32) -> Assignment {
        Assignment::Run { task, attempt }
    }

    #[test]
    fn maps_come_first_and_reduces_only_once_every_map_is_done() {
        let mut t = table(2, 1);
        assert_eq!(t.request(1, 0), run(TaskId::Map(0), 1));
        assert_eq!(t.request(2, 0), run(TaskId::Map(1), 1));
        assert!(t.finished(TaskId::Map(0), 0));
        // Map 1 still runs, on its own worker: no reduce yet, and no backup for its worker.
        assert_eq!(t.request(2, S), Assignment::Wait);
        assert!(t.finished(TaskId::Map(1), S));
        assert_eq!(t.request(1, S), run(TaskId::Reduce(0), 1));
        assert!(t.finished(TaskId::Reduce(0), S));
        assert!(t.done());
        assert_eq!(t.request(1, S), Assignment::Exit);
    }

    #[test]
    fn a_task_that_runs_too_long_is_handed_out_again_and_counts_once() {
        let mut t = table(20, 1);
        for w in 0..20 {
            assert!(matches!(t.request(w, 0), Assignment::Run { .. }));
        }
        // Far from the end of the phase: no backups, only waiting.
        assert_eq!(t.request(99, 5 * S), Assignment::Wait);
        assert_eq!(t.request(99, 10 * S), run(TaskId::Map(0), 2));
        assert!(t.finished(TaskId::Map(0), 11 * S));
        assert!(
            !t.finished(TaskId::Map(0), 12 * S),
            "the late first attempt changes nothing"
        );
        let progress = t.progress();
        assert_eq!((progress.maps_done, progress.maps), (1, 20));
        assert_eq!((progress.reissued, progress.duplicates), (1, 1));
    }

    #[test]
    fn near_the_end_of_a_phase_a_straggler_gets_a_backup_on_another_worker() {
        let mut t = table(3, 1);
        for w in 0..3 {
            t.request(w, 0);
        }
        assert!(t.finished(TaskId::Map(1), S));
        assert!(t.finished(TaskId::Map(2), S));
        // One map left, on worker 0. It is no straggler until it has run three times the
        // median (1 s) of the others.
        assert_eq!(t.request(5, 2 * S), Assignment::Wait);
        assert_eq!(
            t.request(0, 3 * S),
            Assignment::Wait,
            "not to its own worker"
        );
        assert_eq!(t.request(5, 3 * S), run(TaskId::Map(0), 2));
        assert_eq!(t.request(6, 3 * S), Assignment::Wait, "one backup only");
        assert!(t.finished(TaskId::Map(0), 4 * S));
        assert_eq!(t.request(6, 4 * S), run(TaskId::Reduce(0), 1));
        assert_eq!(t.progress().backups, 1);
    }

    #[test]
    fn tasks_that_merely_differ_in_length_get_no_backup() {
        // 6.824's jobcount: eight maps of 2 to 5 s on four workers must run exactly eight times.
        let mut t = table(8, 1);
        let lengths = [2, 5, 3, 4, 2, 5, 3, 5];
        let mut runs = 0;
        let mut ends: Vec<(u64, u64, TaskId)> = Vec::new();
        let mut now = 0;
        for w in 0..4 {
            if let Assignment::Run {
                task: TaskId::Map(i),
                ..
            } = t.request(w, now)
            {
                ends.push((lengths[i] * S, w, TaskId::Map(i)));
                runs += 1;
            }
        }
        while !ends.is_empty() {
            ends.sort();
            let (end, w, task) = ends.remove(0);
            now = end;
            t.finished(task, now);
            for asker in [w, 10 + w] {
                if let Assignment::Run {
                    task: TaskId::Map(i),
                    ..
                } = t.request(asker, now)
                {
                    ends.push((now + lengths[i] * S, asker, TaskId::Map(i)));
                    runs += 1;
                }
            }
        }
        assert_eq!(runs, 8);
        assert_eq!(t.progress().backups, 0);
    }

    #[test]
    fn a_failed_attempt_makes_its_task_idle_at_once() {
        let mut t = table(2, 1);
        assert_eq!(t.request(1, 0), run(TaskId::Map(0), 1));
        assert_eq!(t.request(2, 0), run(TaskId::Map(1), 1));
        t.failed(1, TaskId::Map(0));
        assert_eq!(
            t.request(3, S),
            run(TaskId::Map(0), 2),
            "long before its timeout"
        );
        assert_eq!(t.progress().failed, 1);
    }

    #[test]
    fn a_restarted_table_keeps_what_was_done_and_hands_out_the_rest_again() {
        let mut t = table(2, 2);
        t.request(1, 0);
        t.request(2, 0);
        t.finished(TaskId::Map(0), S);
        let saved = serde_json::to_string(&t).expect("serializes");
        let back: TaskTable = serde_json::from_str(&saved).expect("parses");
        let mut again = back.restarted();
        assert_eq!(again.progress().maps_done, 1);
        assert_eq!(again.request(3, S), run(TaskId::Map(1), 2));
        assert_eq!(again.request(4, S), Assignment::Wait);
    }
}
