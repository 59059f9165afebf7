//! Actor cells: an actix actor run as a task the runtime can kill, and the record of how it
//! ended.
//!
//! actix does not restart or even report an actor whose handler panics, and it cannot stop an
//! actor from outside without letting it drain its mailbox first. troupe therefore runs each
//! actor's context future as its own task: killing the actor aborts the task (nothing more is
//! handled, no stop hook runs: a crash), and a small reaper task awaits it to learn how it ended
//! (a normal stop, a panic, or an abort) and tells everyone who asked through
//! [`ActorHandle::on_exit`].

use std::cell::{Cell, RefCell};
use std::fmt;
use std::rc::Rc;
use tokio::task::AbortHandle;
use troupe_messages::system::ExitReason;
use troupe_messages::NodeId;

type ExitHook = Box<dyn FnOnce(&ExitReason)>;

pub(crate) struct ActorCell {
    id: u64,
    node: NodeId,
    label: String,
    /// The reason to report when the actor stops by itself or is aborted by the runtime.
    pending_reason: RefCell<Option<ExitReason>>,
    abort: RefCell<Option<AbortHandle>>,
    outcome: RefCell<Option<ExitReason>>,
    hooks: RefCell<Vec<ExitHook>>,
    /// Frees the actor's name the moment it is killed, so that a replacement can take the name
    /// before the reaper has run.
    on_kill: RefCell<Option<Box<dyn FnOnce()>>>,
    finished: Cell<bool>,
}

/// A handle on one running (or finished) actor: ask whether it lives, kill it, learn how it ended.
///
/// Handles are cheap to clone and never keep the actor alive.
#[derive(Clone)]
pub struct ActorHandle {
    cell: Rc<ActorCell>,
}

impl ActorHandle {
    pub(crate) fn new(id: u64, node: NodeId, label: String) -> Self {
        ActorHandle {
            cell: Rc::new(ActorCell {
                id,
                node,
                label,
                pending_reason: RefCell::new(None),
                abort: RefCell::new(None),
                outcome: RefCell::new(None),
                hooks: RefCell::new(Vec::new()),
                on_kill: RefCell::new(None),
                finished: Cell::new(false),
            }),
        }
    }

    pub(crate) fn set_abort(&self, abort: AbortHandle) {
        *self.cell.abort.borrow_mut() = Some(abort);
    }

    pub(crate) fn set_on_kill(&self, f: impl FnOnce() + 'static) {
        *self.cell.on_kill.borrow_mut() = Some(Box::new(f));
    }

    /// The actor's id, unique on its node for the node's lifetime.
    pub fn id(&self) -> u64 {
        self.cell.id
    }

    /// The node the actor runs on.
    pub fn node(&self) -> NodeId {
        self.cell.node
    }

    /// The actor's registered name (or `$<id>` for an anonymous actor).
    pub fn label(&self) -> &str {
        &self.cell.label
    }

    /// True until the actor's task has ended.
    pub fn is_alive(&self) -> bool {
        !self.cell.finished.get()
    }

    /// How the actor ended, once it has.
    pub fn exit_reason(&self) -> Option<ExitReason> {
        self.cell.outcome.borrow().clone()
    }

    /// Sets the reason the actor will report when it next stops. Call it just before
    /// `ctx.stop()` to stop with an abnormal reason (for example `ExitReason::Failed`), which a
    /// supervisor treats as a crash.
    pub fn stop_with(&self, reason: ExitReason) {
        *self.cell.pending_reason.borrow_mut() = Some(reason);
    }

    /// Kills the actor now: it handles nothing more and its stop hooks do not run.
    pub fn kill(&self, reason: ExitReason) {
        if !self.is_alive() {
            return;
        }
        self.stop_with(reason);
        if let Some(abort) = self.cell.abort.borrow().as_ref() {
            abort.abort();
        }
        let on_kill = self.cell.on_kill.borrow_mut().take();
        if let Some(f) = on_kill {
            f();
        }
    }

    /// Runs `hook` once the actor has ended (at once if it already has).
    pub fn on_exit(&self, hook: impl FnOnce(&ExitReason) + 'static) {
        let done = self.cell.outcome.borrow().clone();
        match done {
            Some(reason) => hook(&reason),
            None => self.cell.hooks.borrow_mut().push(Box::new(hook)),
        }
    }

    /// Records how the task ended and runs the exit hooks, in the order they were added.
    pub(crate) fn finish(&self, task_result: Result<(), tokio::task::JoinError>) {
        if self.cell.finished.replace(true) {
            return;
        }
        let pending = self.cell.pending_reason.borrow_mut().take();
        let reason = match task_result {
            Ok(()) => pending.unwrap_or(ExitReason::Normal),
            Err(e) if e.is_panic() => ExitReason::Panic(panic_message(e.into_panic())),
            Err(_) => pending.unwrap_or(ExitReason::Killed),
        };
        *self.cell.outcome.borrow_mut() = Some(reason.clone());
        self.cell.on_kill.borrow_mut().take();
        let hooks = std::mem::take(&mut *self.cell.hooks.borrow_mut());
        for hook in hooks {
            hook(&reason);
        }
    }

    /// Marks a handle whose actor never ran (spawned on a crashed node).
    pub(crate) fn never_started(&self, reason: ExitReason) {
        self.stop_with(reason);
        self.finish(Ok(()));
    }
}

impl fmt::Debug for ActorHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ActorHandle({}/{} #{}, alive: {})",
            self.cell.node,
            self.cell.label,
            self.cell.id,
            self.is_alive()
        )
    }
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_string()
    }
}
