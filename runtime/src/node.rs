//! A node: the place actors live, with its registry, its link to the network, its persister and
//! its seeded randomness.
//!
//! A [`Node`] handle belongs to one *incarnation* of a node. When the node crashes, every actor
//! and task it started is aborted and the handle goes dead: anything a stale handle tries to send
//! is dropped, as a crashed machine sends nothing. A restart makes a new incarnation with a new
//! handle and the same persister.

use crate::cell::ActorHandle;
use crate::events::{Event, EventLog};
use crate::persist::Persister;
use crate::registry::{Registry, Spawned};
use crate::Result;
use actix::{Actor, AsyncContext, Context};
use rand_chacha::ChaCha8Rng;
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::AbortHandle;
use troupe_messages::system::{ExitReason, Rejection};
use troupe_messages::{ActorPath, NodeId, TraceId};

/// Sends frames from one node to another; the simulated network and TCP implement it.
pub trait Transport {
    /// Hands one envelope to the network. Delivery is not guaranteed: the network may drop,
    /// delay, duplicate or reorder it.
    fn send(&self, envelope: crate::Envelope);
    /// Whether `node` is part of the topology at all.
    fn knows(&self, node: NodeId) -> bool;
}

/// The transport of a node with no network: there is no other node to reach.
struct NoNetwork;

impl Transport for NoNetwork {
    fn send(&self, envelope: crate::Envelope) {
        tracing::warn!(to = %envelope.to, "a node without a network cannot send to another node");
    }

    fn knows(&self, _: NodeId) -> bool {
        false
    }
}

/// Timing of the node's failure detector, which backs remote monitors.
#[derive(Debug, Clone, Copy)]
pub struct NodeConfig {
    /// How often a node checks each node it watches actors on.
    pub heartbeat: Duration,
    /// How long without an answer before a watched node is declared down.
    pub down_after: Duration,
}

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig {
            heartbeat: Duration::from_millis(100),
            down_after: Duration::from_millis(500),
        }
    }
}

/// What a node has refused or thrown away since it started; bad input is counted here.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NodeStats {
    /// Envelopes routed to an actor or to the runtime.
    pub delivered: u64,
    /// Frames that were not a valid envelope at all.
    pub bad_frames: u64,
    /// Envelopes for a name with no actor.
    pub rejected_no_actor: u64,
    /// Envelopes whose kind the target does not accept.
    pub rejected_unknown_kind: u64,
    /// Envelopes whose body did not decode as their kind.
    pub rejected_undecodable: u64,
    /// Envelopes addressed to another node.
    pub misrouted: u64,
}

/// Everything needed to build one incarnation of a node.
pub struct NodeParts {
    /// The node's id.
    pub id: NodeId,
    /// 0 for the first start, one more for each restart.
    pub incarnation: u64,
    /// The network it talks through.
    pub transport: Rc<dyn Transport>,
    /// Its durable storage, which outlives the incarnation.
    pub persister: Arc<dyn Persister>,
    /// Where its events go.
    pub log: EventLog,
    /// The seed of its random stream.
    pub rng_seed: u64,
    /// Failure-detector timing.
    pub config: NodeConfig,
}

pub(crate) type PendingReply = oneshot::Sender<std::result::Result<Vec<u8>, Rejection>>;

pub(crate) struct NodeInner {
    pub(crate) id: NodeId,
    pub(crate) incarnation: u64,
    pub(crate) alive: Cell<bool>,
    pub(crate) transport: Rc<dyn Transport>,
    pub(crate) persister: Arc<dyn Persister>,
    pub(crate) log: EventLog,
    pub(crate) config: NodeConfig,
    pub(crate) rng: RefCell<ChaCha8Rng>,
    /// Trace ids come from a stream of their own, so that drawing them does not move the
    /// node's main random stream (and a run's other choices with it).
    trace_rng: RefCell<ChaCha8Rng>,
    pub(crate) registry: RefCell<Registry>,
    pub(crate) actors: RefCell<BTreeMap<u64, ActorHandle>>,
    pub(crate) tasks: RefCell<BTreeMap<u64, AbortHandle>>,
    pub(crate) pending: RefCell<HashMap<u64, PendingReply>>,
    pub(crate) monitors: RefCell<crate::monitor::Monitors>,
    pub(crate) stats: Cell<NodeStats>,
    pub(crate) deadlines: crate::deadline::Deadlines,
    next_id: Cell<u64>,
}

/// The random stream of trace ids, mixed with a node's seed.
const TRACE_STREAM: u64 = 0x7472_6163_6531; // "trace1"

/// A handle on one incarnation of a node. Cheap to clone; actors keep one to send and call.
#[derive(Clone)]
pub struct Node {
    pub(crate) inner: Rc<NodeInner>,
}

impl Node {
    /// Builds a node; the simulated network and the TCP layer call this.
    pub fn new(parts: NodeParts) -> Node {
        use rand::SeedableRng;
        Node {
            inner: Rc::new(NodeInner {
                id: parts.id,
                incarnation: parts.incarnation,
                alive: Cell::new(true),
                transport: parts.transport,
                persister: parts.persister,
                log: parts.log,
                config: parts.config,
                rng: RefCell::new(ChaCha8Rng::seed_from_u64(parts.rng_seed)),
                trace_rng: RefCell::new(ChaCha8Rng::seed_from_u64(crate::derive_seed(
                    parts.rng_seed,
                    TRACE_STREAM,
                ))),
                registry: RefCell::new(Registry::default()),
                actors: RefCell::new(BTreeMap::new()),
                tasks: RefCell::new(BTreeMap::new()),
                pending: RefCell::new(HashMap::new()),
                monitors: RefCell::new(Default::default()),
                stats: Cell::new(NodeStats::default()),
                deadlines: Default::default(),
                next_id: Cell::new(1),
            }),
        }
    }

    /// A node alone, with no network: for programs and tests that need actors, supervision and
    /// the typed send/call API on one node only. Its persister is in memory.
    pub fn local(id: NodeId) -> Node {
        Node::new(NodeParts {
            id,
            incarnation: 0,
            transport: Rc::new(NoNetwork),
            persister: Arc::new(crate::persist::MemPersister::new()),
            log: EventLog::new(),
            rng_seed: 0,
            config: NodeConfig::default(),
        })
    }

    pub(crate) fn from_weak(weak: &Weak<NodeInner>) -> Option<Node> {
        weak.upgrade().map(|inner| Node { inner })
    }

    pub(crate) fn downgrade(&self) -> Weak<NodeInner> {
        Rc::downgrade(&self.inner)
    }

    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.inner.id
    }

    /// Which start of the node this handle belongs to (0 for the first).
    pub fn incarnation(&self) -> u64 {
        self.inner.incarnation
    }

    /// False once this incarnation has crashed.
    pub fn is_alive(&self) -> bool {
        self.inner.alive.get()
    }

    /// The path of `name` on this node.
    pub fn path(&self, name: &str) -> ActorPath {
        ActorPath::new(self.id(), name)
    }

    /// The node's durable storage; it survives crashes.
    pub fn persister(&self) -> &Arc<dyn Persister> {
        &self.inner.persister
    }

    /// The event log this node writes to.
    pub fn log(&self) -> &EventLog {
        &self.inner.log
    }

    /// Failure-detector timing.
    pub fn config(&self) -> NodeConfig {
        self.inner.config
    }

    /// Counters of what the node delivered and refused.
    pub fn stats(&self) -> NodeStats {
        self.inner.stats.get()
    }

    pub(crate) fn bump(&self, f: impl FnOnce(&mut NodeStats)) {
        let mut stats = self.inner.stats.get();
        f(&mut stats);
        self.inner.stats.set(stats);
    }

    /// Nanoseconds since the run began, on the run's clock (virtual in simulation).
    pub fn now_ns(&self) -> u64 {
        self.inner.log.now_ns()
    }

    /// Runs `f` with the node's seeded random generator. Every random choice an actor makes
    /// must come from here (or another seeded source), so that a seed replays a run exactly.
    pub fn with_rng<T>(&self, f: impl FnOnce(&mut ChaCha8Rng) -> T) -> T {
        f(&mut self.inner.rng.borrow_mut())
    }

    pub(crate) fn next_id(&self) -> u64 {
        let id = self.inner.next_id.get();
        self.inner.next_id.set(id + 1);
        id
    }

    /// A fresh trace id: a UUID from the node's random stream (seeded from the run's seed in
    /// simulation, so deterministic there; from the OS on a real node).
    pub fn new_trace(&self) -> TraceId {
        let bytes = rand::Rng::gen::<[u8; 16]>(&mut *self.inner.trace_rng.borrow_mut());
        TraceId::from_random_bytes(bytes)
    }

    /// Records a timer firing in the event log; used by [`crate::timer`].
    pub fn record_timer(&self, label: &str) {
        self.inner.log.record(Event {
            ev: "timer",
            from: Some(self.id()),
            kind: Some(label),
            ..Event::default()
        });
    }

    /// The handle of the actor registered as `name` on this node, if any (Erlang's `whereis`).
    pub fn handle(&self, name: &str) -> Option<ActorHandle> {
        self.inner
            .registry
            .borrow()
            .get(name)
            .map(|e| e.handle.clone())
    }

    /// Starts an anonymous actor on this node. It is still addressable, as `$<id>`.
    pub fn spawn<A>(&self, actor: A) -> Spawned<A>
    where
        A: Actor<Context = Context<A>>,
    {
        self.spawn_with(None, |_| actor)
            .expect("anonymous names are unique")
    }

    /// Starts an actor registered as `name` on this node.
    pub fn spawn_named<A>(&self, name: &str, actor: A) -> Result<Spawned<A>>
    where
        A: Actor<Context = Context<A>>,
    {
        self.spawn_with(Some(name), |_| actor)
    }

    /// Starts an actor built by `make`, which is given the actor's own handle (to stop with a
    /// reason, for instance).
    pub fn spawn_with<A>(
        &self,
        name: Option<&str>,
        make: impl FnOnce(&ActorHandle) -> A,
    ) -> Result<Spawned<A>>
    where
        A: Actor<Context = Context<A>>,
    {
        let id = self.next_id();
        let label = name.map_or_else(|| format!("${id}"), str::to_string);
        if self.inner.registry.borrow().contains(&label) {
            return Err(crate::Error::NameTaken(label));
        }
        let handle = ActorHandle::new(id, self.id(), label.clone());
        let actor = make(&handle);
        let ctx: Context<A> = Context::new();
        let addr = ctx.address();
        if !self.is_alive() {
            drop(ctx);
            handle.never_started(ExitReason::NodeCrash);
            return Ok(Spawned::new(self.clone(), addr, handle));
        }
        self.inner
            .registry
            .borrow_mut()
            .insert(label, handle.clone());
        let task = actix_rt::spawn(ctx.into_future(actor));
        handle.set_abort(task.abort_handle());
        self.inner.actors.borrow_mut().insert(id, handle.clone());
        let weak = self.downgrade();
        let killed = handle.clone();
        handle.set_on_kill(move || {
            if let Some(node) = Node::from_weak(&weak) {
                node.inner.registry.borrow_mut().remove_if(&killed);
            }
        });
        let weak = self.downgrade();
        let reaped = handle.clone();
        handle.on_exit(move |reason| {
            if let Some(node) = Node::from_weak(&weak) {
                node.forget_actor(&reaped, reason);
            }
        });
        let reaper = handle.clone();
        actix_rt::spawn(async move {
            let result = task.await;
            reaper.finish(result);
        });
        Ok(Spawned::new(self.clone(), addr, handle))
    }

    fn forget_actor(&self, handle: &ActorHandle, reason: &ExitReason) {
        self.inner.actors.borrow_mut().remove(&handle.id());
        self.inner.registry.borrow_mut().remove_if(handle);
        let detail = reason.to_string();
        self.inner.log.record(Event {
            ev: "exit",
            from: Some(self.id()),
            actor: Some(handle.label()),
            detail: Some(&detail),
            ..Event::default()
        });
    }

    /// A deadline `timeout` from now, for one call.
    pub(crate) fn deadline(&self, timeout: Duration) -> crate::deadline::Deadline {
        let at = tokio::time::Instant::now() + timeout;
        self.inner
            .deadlines
            .register(at, |sweep| self.spawn_task(sweep.run()))
    }

    /// Runs a future as a task of this node: it is aborted if the node crashes.
    pub fn spawn_task<F>(&self, fut: F)
    where
        F: Future<Output = ()> + 'static,
    {
        if !self.is_alive() {
            return;
        }
        let id = self.next_id();
        let weak = self.downgrade();
        let task = actix_rt::spawn(async move {
            fut.await;
            if let Some(node) = Node::from_weak(&weak) {
                node.inner.tasks.borrow_mut().remove(&id);
            }
        });
        if !task.is_finished() {
            self.inner
                .tasks
                .borrow_mut()
                .insert(id, task.abort_handle());
        }
    }

    /// Crashes this incarnation: every actor and task is aborted at once (no stop hooks run),
    /// pending calls fail, and the handle goes dead. Durable state stays in the persister.
    pub fn crash(&self) {
        if !self.inner.alive.replace(false) {
            return;
        }
        let actors: Vec<ActorHandle> = self.inner.actors.borrow().values().cloned().collect();
        for actor in actors.iter().rev() {
            actor.kill(ExitReason::NodeCrash);
        }
        let tasks = std::mem::take(&mut *self.inner.tasks.borrow_mut());
        for task in tasks.values() {
            task.abort();
        }
        self.inner.pending.borrow_mut().clear();
        self.inner.monitors.borrow_mut().clear();
    }
}
