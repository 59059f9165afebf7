//! How a supervision tree is described: child specs, strategies, restart policies, restart
//! intensity and backoff.

use crate::supervisor::Supervisor;
use std::rc::Rc;
use std::time::Duration;
use troupe_runtime::{ActorHandle, Node};

/// Which children restart when one of them stops and must be restarted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// Only the child that stopped.
    OneForOne,
    /// Every child: the others are stopped, then all start again in order.
    OneForAll,
    /// The child that stopped and every child started after it.
    RestForOne,
}

/// Whether a child comes back after it stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restart {
    /// Always restarted.
    Permanent,
    /// Restarted only after an abnormal exit (not after `Normal` or `Shutdown`).
    Transient,
    /// Never restarted.
    Temporary,
}

/// At most `max_restarts` restarts within any `within` window; one more and the supervisor
/// stops its children and escalates to its parent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Intensity {
    /// Restarts allowed in the window.
    pub max_restarts: u32,
    /// The sliding window.
    pub within: Duration,
}

impl Default for Intensity {
    /// Three restarts in five seconds.
    fn default() -> Self {
        Intensity {
            max_restarts: 3,
            within: Duration::from_secs(5),
        }
    }
}

/// Exponential backoff between restarts: the k-th restart within the intensity window waits
/// `initial * 2^(k-1)`, capped at `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Delay before the first restart.
    pub initial: Duration,
    /// The longest delay.
    pub max: Duration,
}

impl Backoff {
    /// The delay before the `k`-th recent restart (1-based).
    pub fn delay(&self, k: u32) -> Duration {
        let doublings = k.saturating_sub(1).min(31);
        self.initial.saturating_mul(1u32 << doublings).min(self.max)
    }
}

/// Starts one child on a node and returns its handle.
pub type StartFn = Rc<dyn Fn(&Node) -> troupe_runtime::Result<ActorHandle>>;

/// One child of a supervisor: an id, a factory, and a restart policy.
#[derive(Clone)]
pub struct ChildSpec {
    pub(crate) id: String,
    pub(crate) start: StartFn,
    pub(crate) restart: Restart,
}

impl ChildSpec {
    /// A permanent child started by `start`, which spawns the actor and returns its handle,
    /// typically `Ok(node.spawn_named("worker", Worker::new())?.accept::<Job>().into_handle())`.
    /// See `examples/supervision.rs`.
    pub fn new(
        id: impl Into<String>,
        start: impl Fn(&Node) -> troupe_runtime::Result<ActorHandle> + 'static,
    ) -> Self {
        ChildSpec {
            id: id.into(),
            start: Rc::new(start),
            restart: Restart::Permanent,
        }
    }

    /// A child that is itself a supervisor: its escalation reaches this supervisor as a crash.
    pub fn supervisor(spec: SupervisorSpec) -> Self {
        let id = spec.name.clone();
        ChildSpec::new(id, move |node| {
            Supervisor::start(node, spec.clone())
                .map(|s| s.into_handle())
                .map_err(|e| troupe_runtime::Error::Unreachable {
                    target: node.path(&spec.name),
                    reason: e.to_string(),
                })
        })
    }

    /// Sets the restart policy.
    pub fn restart(mut self, restart: Restart) -> Self {
        self.restart = restart;
        self
    }

    /// The child's id.
    pub fn id(&self) -> &str {
        &self.id
    }
}

/// A supervisor: its registered name, strategy, intensity, optional backoff, and children in
/// start order.
#[derive(Clone)]
pub struct SupervisorSpec {
    pub(crate) name: String,
    pub(crate) strategy: Strategy,
    pub(crate) intensity: Intensity,
    pub(crate) backoff: Option<Backoff>,
    pub(crate) children: Vec<ChildSpec>,
}

impl SupervisorSpec {
    /// A one-for-one supervisor registered as `name`, default intensity, no backoff, no
    /// children yet.
    pub fn new(name: impl Into<String>) -> Self {
        SupervisorSpec {
            name: name.into(),
            strategy: Strategy::OneForOne,
            intensity: Intensity::default(),
            backoff: None,
            children: Vec::new(),
        }
    }

    /// Sets the strategy.
    pub fn strategy(mut self, strategy: Strategy) -> Self {
        self.strategy = strategy;
        self
    }

    /// Sets the restart intensity: `max_restarts` within `within`.
    pub fn intensity(mut self, max_restarts: u32, within: Duration) -> Self {
        self.intensity = Intensity {
            max_restarts,
            within,
        };
        self
    }

    /// Spaces restarts out with exponential backoff.
    pub fn backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.backoff = Some(Backoff { initial, max });
        self
    }

    /// Adds a child, started after the ones added before it.
    pub fn child(mut self, child: ChildSpec) -> Self {
        self.children.push(child);
        self
    }

    /// The supervisor's registered name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let b = Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_millis(500),
        };
        let delays: Vec<_> = (1..=5).map(|k| b.delay(k).as_millis()).collect();
        assert_eq!(delays, [100, 200, 400, 500, 500]);
        assert_eq!(b.delay(1000), Duration::from_millis(500));
    }
}
