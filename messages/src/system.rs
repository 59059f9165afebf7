//! The runtime's own protocol: why actors stop, monitor notifications, refusals, and the
//! node-to-node messages behind remote monitors.

use crate::ids::{ActorPath, NodeId};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Why an actor stopped.
///
/// `Normal` and `Shutdown` are *normal* exits (a transient child is not restarted after them);
/// everything else is abnormal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExitReason {
    /// The actor stopped itself with nothing wrong.
    Normal,
    /// Its supervisor (or the program) stopped it on purpose.
    Shutdown,
    /// It was killed from outside without a reason being given.
    Killed,
    /// Its node crashed.
    NodeCrash,
    /// A handler panicked; the panic message.
    Panic(String),
    /// The actor gave up with an error.
    Failed(String),
    /// A supervisor exceeded its restart intensity and gave up on its children.
    Escalated {
        /// The supervisor that gave up.
        supervisor: String,
        /// The child whose restarts used up the intensity.
        child: String,
    },
}

impl ExitReason {
    /// True for `Normal` and `Shutdown`, the exits after which a transient child stays down.
    pub fn is_normal(&self) -> bool {
        matches!(self, ExitReason::Normal | ExitReason::Shutdown)
    }
}

impl fmt::Display for ExitReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExitReason::Normal => write!(f, "normal"),
            ExitReason::Shutdown => write!(f, "shutdown"),
            ExitReason::Killed => write!(f, "killed"),
            ExitReason::NodeCrash => write!(f, "node crash"),
            ExitReason::Panic(msg) => write!(f, "panic: {msg}"),
            ExitReason::Failed(msg) => write!(f, "failed: {msg}"),
            ExitReason::Escalated { supervisor, child } => write!(
                f,
                "supervisor {supervisor} escalated: restart intensity exceeded by {child}"
            ),
        }
    }
}

/// Why a monitor fired.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum DownReason {
    /// The watched actor stopped.
    Terminated(ExitReason),
    /// No actor had that name when the monitor was set.
    NoSuchActor,
    /// The watched actor's node stopped answering (crashed, restarted, or cut off).
    NodeDown,
}

/// A monitor's identity, returned when it is set and carried by its [`Down`] message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct MonitorRef(pub u64);

/// Delivered to a watcher when the actor it monitors is gone, as Erlang's `'DOWN'` message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, actix::Message)]
#[rtype(result = "()")]
pub struct Down {
    /// The monitor that fired.
    pub monitor: MonitorRef,
    /// The actor that was watched.
    pub target: ActorPath,
    /// What happened to it.
    pub reason: DownReason,
}

/// Why a node refused a message addressed to it. Sent back to the caller of a `call`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Rejection {
    /// No actor is registered under the target name.
    NoSuchActor,
    /// The target actor does not accept this message kind.
    UnknownKind,
    /// The body could not be decoded as the message kind's type.
    Undecodable(String),
    /// The actor stopped before it answered.
    ActorStopped,
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::NoSuchActor => write!(f, "no actor with that name"),
            Rejection::UnknownKind => write!(f, "message kind not accepted"),
            Rejection::Undecodable(e) => write!(f, "undecodable body: {e}"),
            Rejection::ActorStopped => write!(f, "actor stopped before replying"),
        }
    }
}

/// Node to node: "tell me when your actor `name` stops".
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WatchRequest {
    /// The monitor on the watcher's node.
    pub monitor: MonitorRef,
    /// The watched actor's registered name.
    pub name: String,
}

/// Node to node: the watched actor stopped (or was never there).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WatchFired {
    /// The monitor on the watcher's node.
    pub monitor: MonitorRef,
    /// What happened.
    pub reason: DownReason,
}

/// Node to node heartbeat answer: who is answering.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alive {
    /// The answering node.
    pub node: NodeId,
    /// How many times it has started; a change means everything on it was lost.
    pub incarnation: u64,
}
