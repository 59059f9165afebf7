//! The supervisor actor: starts its children, hears when they stop, and carries out the
//! [`Planner`]'s decisions.

use crate::plan::{Decision, Planner};
use crate::spec::{ChildSpec, SupervisorSpec};
use crate::SupervisorError;
use actix::{Actor, ActorContext, Addr, AsyncContext, Context, Handler, Message};
use std::cell::RefCell;
use std::collections::BTreeSet;
use std::rc::Rc;
use tokio::time::Instant;
use troupe_messages::supervision::{ChildInfo, WhichChildren};
use troupe_runtime::{ActorHandle, Event, ExitReason, Node, Spawned};

/// A supervisor: an actor that keeps its children running according to its spec.
pub struct Supervisor {
    node: Node,
    me: ActorHandle,
    spec: SupervisorSpec,
    planner: Planner,
    children: Vec<Child>,
    /// The running children's handles, shared with the exit hook that takes them down with the
    /// supervisor however it stops (even if it is killed and its own hooks never run).
    running: Rc<RefCell<Vec<Option<ActorHandle>>>>,
}

struct Child {
    generation: u64,
    restarts: u64,
    waiting: bool,
}

/// A child's exit, as the supervisor hears of it.
#[derive(Message)]
#[rtype(result = "()")]
struct ChildExited {
    index: usize,
    generation: u64,
    reason: ExitReason,
}

/// Start these children now (the backoff delay has passed).
#[derive(Message)]
#[rtype(result = "()")]
struct StartChildren(Vec<usize>);

impl Supervisor {
    /// Starts a supervisor on `node`, registered under the spec's name, and its children in
    /// order. It returns once every child's factory has run, so the children a factory
    /// registers can be called right away (a child whose factory failed is restarted by the
    /// supervisor as soon as it runs, as after a crash).
    pub fn start(
        node: &Node,
        spec: SupervisorSpec,
    ) -> Result<Spawned<Supervisor>, SupervisorError> {
        let mut ids = BTreeSet::new();
        for child in &spec.children {
            if !ids.insert(child.id.clone()) {
                return Err(SupervisorError::DuplicateChild {
                    supervisor: spec.name.clone(),
                    child: child.id.clone(),
                });
            }
        }
        let name = spec.name.clone();
        let children = spec.children.clone();
        let running = Rc::new(RefCell::new(vec![None::<ActorHandle>; children.len()]));
        let spawned = node
            .spawn_with(Some(&name), |me| {
                let planner = Planner::new(
                    spec.strategy,
                    spec.intensity,
                    spec.backoff,
                    spec.children.iter().map(|c| c.restart).collect(),
                );
                let hooked = Rc::clone(&running);
                me.on_exit(move |_| {
                    for child in hooked.borrow_mut().iter_mut().rev() {
                        if let Some(handle) = child.take() {
                            handle.kill(ExitReason::Shutdown);
                        }
                    }
                });
                Supervisor {
                    node: node.clone(),
                    me: me.clone(),
                    children: spec
                        .children
                        .iter()
                        .map(|_| Child {
                            // The first start happens below, before the supervisor runs.
                            generation: 1,
                            restarts: 0,
                            waiting: false,
                        })
                        .collect(),
                    spec,
                    planner,
                    running: Rc::clone(&running),
                }
            })
            .map_err(|source| SupervisorError::Start {
                name: name.clone(),
                source,
            })?;
        // A supervisor on a crashed node never runs, and neither do its children.
        if spawned.handle().is_alive() {
            for (index, child) in children.iter().enumerate() {
                match launch(node, &name, child, index, 1, spawned.addr()) {
                    Ok(handle) => running.borrow_mut()[index] = Some(handle),
                    Err(exit) => spawned.addr().do_send(exit),
                }
            }
        }
        Ok(spawned.accept::<WhichChildren>())
    }

    fn start_child(&mut self, index: usize, ctx: &mut Context<Self>) {
        let child = &mut self.children[index];
        child.generation += 1;
        child.waiting = false;
        let generation = child.generation;
        let spec = &self.spec.children[index];
        let me = ctx.address();
        match launch(&self.node, &self.spec.name, spec, index, generation, &me) {
            Ok(handle) => self.running.borrow_mut()[index] = Some(handle),
            Err(exit) => ctx.notify(exit),
        }
    }

    fn stop_child(&mut self, index: usize) {
        // A new generation: the exit this kill causes is expected and ignored.
        self.children[index].generation += 1;
        let handle = self.running.borrow_mut()[index].take();
        if let Some(handle) = handle {
            handle.kill(ExitReason::Shutdown);
        }
    }

    fn record(&self, ev: &str, child: &str, detail: &str) {
        self.node.log().record(Event {
            ev,
            from: Some(self.node.id()),
            actor: Some(child),
            kind: Some(&self.spec.name),
            detail: Some(detail),
            ..Event::default()
        });
    }
}

impl Actor for Supervisor {
    type Context = Context<Self>;
}

impl Handler<ChildExited> for Supervisor {
    type Result = ();

    fn handle(&mut self, exit: ChildExited, ctx: &mut Context<Self>) {
        if self.children[exit.index].generation != exit.generation {
            return; // an exit this supervisor caused, or of an older start
        }
        self.running.borrow_mut()[exit.index] = None;
        let id = self.spec.children[exit.index].id.clone();
        let reason = exit.reason.to_string();
        self.record("child_exit", &id, &reason);
        let running: Vec<bool> = self.running.borrow().iter().map(Option::is_some).collect();
        match self
            .planner
            .on_exit(exit.index, &exit.reason, Instant::now(), &running)
        {
            Decision::LeaveDown => {
                tracing::debug!(supervisor = %self.spec.name, child = %id, "child stays down ({reason})");
            }
            Decision::Escalate => {
                tracing::warn!(
                    supervisor = %self.spec.name,
                    child = %id,
                    "restart intensity exceeded ({} in {:?}); stopping all children and escalating",
                    self.spec.intensity.max_restarts,
                    self.spec.intensity.within
                );
                self.record("escalate", &id, &reason);
                for index in (0..self.children.len()).rev() {
                    self.stop_child(index);
                }
                self.me.stop_with(ExitReason::Escalated {
                    supervisor: self.spec.name.clone(),
                    child: id,
                });
                ctx.stop();
            }
            Decision::Restart { stop, start, delay } => {
                tracing::info!(supervisor = %self.spec.name, child = %id, ?delay, "restarting after: {reason}");
                for index in stop {
                    self.stop_child(index);
                }
                for &index in &start {
                    self.children[index].waiting = true;
                }
                if delay.is_zero() {
                    ctx.notify(StartChildren(start));
                } else {
                    ctx.notify_later(StartChildren(start), delay);
                }
            }
        }
    }
}

impl Handler<StartChildren> for Supervisor {
    type Result = ();

    fn handle(&mut self, msg: StartChildren, ctx: &mut Context<Self>) {
        for index in msg.0 {
            if !self.children[index].waiting {
                continue; // superseded by a later decision
            }
            self.children[index].restarts += 1;
            let id = self.spec.children[index].id.clone();
            self.record("restart", &id, "");
            self.start_child(index, ctx);
        }
    }
}

impl Handler<WhichChildren> for Supervisor {
    type Result = Vec<ChildInfo>;

    fn handle(&mut self, _: WhichChildren, _: &mut Context<Self>) -> Vec<ChildInfo> {
        let running = self.running.borrow();
        self.spec
            .children
            .iter()
            .zip(&self.children)
            .zip(running.iter())
            .map(|((spec, child), handle)| ChildInfo {
                id: spec.id.clone(),
                alive: handle.as_ref().is_some_and(ActorHandle::is_alive),
                restarts: child.restarts,
                restarting: child.waiting,
            })
            .collect()
    }
}

/// Starts child `index` of supervisor `me` (named `supervisor`) from its spec and arranges for
/// its exit to reach `me`, tagged with `generation`. A factory that fails returns the exit to
/// deliver to the supervisor, whose restart policy then handles it like a crash.
fn launch(
    node: &Node,
    supervisor: &str,
    child: &ChildSpec,
    index: usize,
    generation: u64,
    me: &Addr<Supervisor>,
) -> Result<ActorHandle, ChildExited> {
    match (child.start)(node) {
        Ok(handle) => {
            let me = me.clone();
            handle.on_exit(move |reason| {
                me.do_send(ChildExited {
                    index,
                    generation,
                    reason: reason.clone(),
                });
            });
            Ok(handle)
        }
        Err(e) => {
            tracing::warn!(supervisor, child = %child.id, "child failed to start: {e}");
            Err(ChildExited {
                index,
                generation,
                reason: ExitReason::Failed(format!("start failed: {e}")),
            })
        }
    }
}
