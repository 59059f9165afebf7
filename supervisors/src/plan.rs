//! The supervisor's decisions, as a plain struct: given that a child stopped, which children
//! to stop, which to start again and after what delay, or whether to give up and escalate.

use crate::spec::{Backoff, Intensity, Restart, Strategy};
use std::collections::VecDeque;
use std::time::Duration;
use tokio::time::Instant;
use troupe_messages::system::ExitReason;

/// What the supervisor must do about a child's exit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Leave the child down (its policy says so).
    LeaveDown,
    /// Stop the running siblings in `stop` (in that order), then after `delay` start the
    /// children in `start` (in that order).
    Restart {
        /// Siblings to stop first, last-started first.
        stop: Vec<usize>,
        /// Children to start again, in start order.
        start: Vec<usize>,
        /// Backoff before starting them.
        delay: Duration,
    },
    /// The restart intensity is exceeded: stop every child and exit with `Escalated`.
    Escalate,
}

/// The restart rules of one supervisor, and the memory of its recent restarts.
#[derive(Debug)]
pub struct Planner {
    strategy: Strategy,
    intensity: Intensity,
    backoff: Option<Backoff>,
    policies: Vec<Restart>,
    recent: VecDeque<Instant>,
}

impl Planner {
    /// A planner for children with the given restart policies, in start order.
    pub fn new(
        strategy: Strategy,
        intensity: Intensity,
        backoff: Option<Backoff>,
        policies: Vec<Restart>,
    ) -> Self {
        Planner {
            strategy,
            intensity,
            backoff,
            policies,
            recent: VecDeque::new(),
        }
    }

    /// Child `index` stopped with `reason` at `now`; `running` says which children are running
    /// now (the stopped one is not).
    pub fn on_exit(
        &mut self,
        index: usize,
        reason: &ExitReason,
        now: Instant,
        running: &[bool],
    ) -> Decision {
        let restart = match self.policies[index] {
            Restart::Permanent => true,
            Restart::Transient => !reason.is_normal(),
            Restart::Temporary => false,
        };
        if !restart {
            return Decision::LeaveDown;
        }
        while self
            .recent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.intensity.within)
        {
            self.recent.pop_front();
        }
        self.recent.push_back(now);
        if self.recent.len() > self.intensity.max_restarts as usize {
            return Decision::Escalate;
        }
        let affected: Vec<usize> = match self.strategy {
            Strategy::OneForOne => vec![index],
            Strategy::OneForAll => (0..self.policies.len()).collect(),
            Strategy::RestForOne => (index..self.policies.len()).collect(),
        };
        // Running siblings go down, last started first. The failed child starts again, and so do
        // the siblings that were stopped for it, except temporary ones (never restarted, as in
        // OTP). Siblings that were already down by their own policy stay down.
        let stop = affected
            .iter()
            .rev()
            .copied()
            .filter(|&i| i != index && running[i])
            .collect();
        let start = affected
            .into_iter()
            .filter(|&i| i == index || (running[i] && self.policies[i] != Restart::Temporary))
            .collect();
        let delay = self
            .backoff
            .map_or(Duration::ZERO, |b| b.delay(self.recent.len() as u32));
        Decision::Restart { stop, start, delay }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn planner(strategy: Strategy, policies: Vec<Restart>) -> Planner {
        Planner::new(
            strategy,
            Intensity {
                max_restarts: 2,
                within: Duration::from_secs(10),
            },
            Some(Backoff {
                initial: Duration::from_millis(100),
                max: Duration::from_secs(1),
            }),
            policies,
        )
    }

    fn crash() -> ExitReason {
        ExitReason::Panic("boom".into())
    }

    #[tokio::test(start_paused = true)]
    async fn strategies_pick_the_affected_children() {
        use Restart::Permanent as P;
        let now = Instant::now();
        let all_up = [true, false, true];
        let mut one = planner(Strategy::OneForOne, vec![P, P, P]);
        assert_eq!(
            one.on_exit(1, &crash(), now, &all_up),
            Decision::Restart {
                stop: vec![],
                start: vec![1],
                delay: Duration::from_millis(100)
            }
        );
        let mut all = planner(Strategy::OneForAll, vec![P, P, P]);
        assert_eq!(
            all.on_exit(1, &crash(), now, &all_up),
            Decision::Restart {
                stop: vec![2, 0],
                start: vec![0, 1, 2],
                delay: Duration::from_millis(100)
            }
        );
        let mut rest = planner(Strategy::RestForOne, vec![P, P, P]);
        assert_eq!(
            rest.on_exit(1, &crash(), now, &all_up),
            Decision::Restart {
                stop: vec![2],
                start: vec![1, 2],
                delay: Duration::from_millis(100)
            }
        );
    }

    #[tokio::test(start_paused = true)]
    async fn policies_decide_whether_a_child_returns() {
        use Restart::*;
        let now = Instant::now();
        let mut p = planner(Strategy::OneForOne, vec![Permanent, Transient, Temporary]);
        let up = [false, false, false];
        assert!(matches!(
            p.on_exit(0, &ExitReason::Normal, now, &up),
            Decision::Restart { .. }
        ));
        assert_eq!(
            p.on_exit(1, &ExitReason::Normal, now, &up),
            Decision::LeaveDown
        );
        assert!(matches!(
            p.on_exit(1, &crash(), now, &up),
            Decision::Restart { .. }
        ));
        assert_eq!(p.on_exit(2, &crash(), now, &up), Decision::LeaveDown);
    }

    #[tokio::test(start_paused = true)]
    async fn intensity_escalates_and_backoff_grows_within_the_window() {
        let mut p = planner(Strategy::OneForOne, vec![Restart::Permanent]);
        let t0 = Instant::now();
        let delay = |d: &Decision| match d {
            Decision::Restart { delay, .. } => *delay,
            other => panic!("expected a restart, got {other:?}"),
        };
        assert_eq!(
            delay(&p.on_exit(0, &crash(), t0, &[false])),
            Duration::from_millis(100)
        );
        assert_eq!(
            delay(&p.on_exit(0, &crash(), t0 + Duration::from_secs(1), &[false])),
            Duration::from_millis(200)
        );
        assert_eq!(
            p.on_exit(0, &crash(), t0 + Duration::from_secs(2), &[false]),
            Decision::Escalate
        );

        // Restarts that fall out of the window no longer count.
        let mut q = planner(Strategy::OneForOne, vec![Restart::Permanent]);
        for i in 0..10u64 {
            let d = q.on_exit(0, &crash(), t0 + Duration::from_secs(6 * i), &[false]);
            assert!(matches!(d, Decision::Restart { .. }), "restart {i}: {d:?}");
        }
    }
}
