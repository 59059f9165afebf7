//! The simulated network: every node of a topology in one process, on one actix System, in
//! paused tokio time, with faults set and cleared at any virtual instant and one seed behind
//! every random choice.
//!
//! Each cross-node message is encoded to a frame with rmp-serde when it is sent and decoded when
//! it is delivered, so that nothing can cheat by sharing memory. The network decides each
//! message's fate when it is sent (lost, delayed by how much, duplicated) from its own seeded
//! random stream, and queues it by (delivery instant, sequence number): one driver task delivers
//! the queue in that order, which makes delivery order a pure function of the seed.
//!
//! Nodes may be given network cards and put on switches joined by an uplink
//! ([`SimNet::set_nic`], [`SimNet::set_uplink`]; the `bandwidth` module): a message they limit
//! is queued again at each stage it crosses, due when it may cross it. Without them, nothing
//! changes.

mod bandwidth;
mod faults;
mod run;
mod service;

pub use bandwidth::{Nic, Traffic};
pub use faults::{LinkFaults, DEFAULT_LATENCY};
pub use run::{block_on, virtual_elapsed};

use crate::envelope::Envelope;
use crate::events::{Event, EventLog};
use crate::node::{Node, NodeConfig, NodeParts, Transport};
use crate::persist::{MemPersister, Persister};
use bandwidth::Bandwidth;
use faults::Faults;
use rand::Rng;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use service::{Admit, ServiceTimes};
use std::cell::{Cell, RefCell};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;
use troupe_messages::{NodeId, TraceId};

/// Builds a node's actors; called at the node's first start and again at every restart.
pub type NodeFactory = Rc<dyn Fn(&Node)>;

/// Makes a node's durable storage at each of its starts, in place of the [`MemPersister`] the
/// network keeps: e.g. a [`crate::FilePersister`] reopened on a [`crate::PowerLossFs`], so that
/// a test can make a crash a power loss (crash, `power_loss()`, restart).
pub type StorageFactory = Rc<dyn Fn(NodeId) -> Arc<dyn Persister>>;

/// Counters of what the network did with the messages it was given.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NetStats {
    /// Messages handed to the network.
    pub sent: u64,
    /// Bytes of the frames handed to the network (envelopes included).
    pub bytes_sent: u64,
    /// Messages handed to a live node.
    pub delivered: u64,
    /// Messages lost to the link's drop probability.
    pub dropped_loss: u64,
    /// Messages stopped by a partition (when sent or when due).
    pub dropped_partition: u64,
    /// Messages that arrived at a crashed node.
    pub dropped_node_down: u64,
    /// Extra copies made by duplication.
    pub duplicated: u64,
}

impl NetStats {
    /// Every message that was lost, for whatever reason.
    pub fn dropped(&self) -> u64 {
        self.dropped_loss + self.dropped_partition + self.dropped_node_down
    }
}

/// The simulated network and the nodes on it. Cheap to clone.
#[derive(Clone)]
pub struct SimNet {
    inner: Rc<SimInner>,
}

struct SimInner {
    seed: u64,
    log: EventLog,
    config: NodeConfig,
    rng: RefCell<ChaCha8Rng>,
    faults: RefCell<Faults>,
    /// What [`SimNet::clear_faults`] returns the links to.
    baseline: RefCell<LinkFaults>,
    slots: RefCell<BTreeMap<NodeId, Slot>>,
    queue: RefCell<BinaryHeap<Reverse<InFlight>>>,
    next_seq: Cell<u64>,
    wake: Notify,
    stats: Cell<NetStats>,
    driving: Cell<bool>,
    /// The service times of nodes that have one ([`SimNet::set_service_time`]).
    service: RefCell<ServiceTimes<InFlight>>,
    /// The nodes' cards and the switches' uplinks ([`SimNet::set_nic`], [`SimNet::set_uplink`]),
    /// and the bytes each node sent and received.
    bandwidth: RefCell<Bandwidth>,
}

struct Slot {
    persister: Arc<MemPersister>,
    factory: NodeFactory,
    node: Option<Node>,
    incarnation: u64,
    /// Storage made at each start instead of `persister`, if set.
    storage: Option<StorageFactory>,
}

struct InFlight {
    at: Instant,
    seq: u64,
    from: NodeId,
    to: NodeId,
    actor: String,
    kind: String,
    trace: TraceId,
    frame: Vec<u8>,
    /// It has arrived and been served at a node with a service time: deliver it as it is due.
    served: bool,
    /// Where it is due next; `at` is when its first byte gets there.
    hop: Hop,
    /// When its last byte gets there (`at` unless cards or an uplink limit it).
    last: Instant,
    /// The latency drawn for it when it was sent, travelled after the uplink.
    latency: Duration,
}

/// Where a message in flight is due next (see the `bandwidth` module).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hop {
    /// The uplink between its sender's switch and its receiver's.
    Uplink,
    /// Its receiver's card, if it has one.
    Ingress,
    /// Its receiver: dropped if the link is cut or the node down, served if the node has a
    /// service time, delivered otherwise.
    Receiver,
}

impl PartialEq for InFlight {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for InFlight {}
impl PartialOrd for InFlight {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for InFlight {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

pub use crate::seed::derive_seed;

const NETWORK_STREAM: u64 = u64::MAX;

impl SimNet {
    /// An empty network whose randomness all comes from `seed`, its links at the
    /// [`DEFAULT_LATENCY`] until [`SimNet::set_baseline`] says otherwise. Must be created inside
    /// a simulation ([`block_on`]).
    pub fn new(seed: u64, config: NodeConfig, log: EventLog) -> Self {
        SimNet {
            inner: Rc::new(SimInner {
                seed,
                log,
                config,
                rng: RefCell::new(ChaCha8Rng::seed_from_u64(derive_seed(seed, NETWORK_STREAM))),
                faults: RefCell::new(Faults::with_default(LinkFaults::realistic())),
                baseline: RefCell::new(LinkFaults::realistic()),
                slots: RefCell::new(BTreeMap::new()),
                queue: RefCell::new(BinaryHeap::new()),
                next_seq: Cell::new(0),
                wake: Notify::new(),
                stats: Cell::new(NetStats::default()),
                driving: Cell::new(false),
                service: RefCell::new(ServiceTimes::default()),
                bandwidth: RefCell::new(Bandwidth::default()),
            }),
        }
    }

    /// The seed behind every random choice of this network and its nodes.
    pub fn seed(&self) -> u64 {
        self.inner.seed
    }

    /// The event log every node writes to.
    pub fn log(&self) -> &EventLog {
        &self.inner.log
    }

    /// What the network has done so far.
    pub fn stats(&self) -> NetStats {
        self.inner.stats.get()
    }

    /// Adds node `id` and starts it: `factory` builds its actors, now and after each restart.
    pub fn add_node(&self, id: NodeId, factory: NodeFactory) -> Node {
        self.add(id, factory, None)
    }

    /// Adds node `id` like [`SimNet::add_node`], with durable storage made by `storage` at
    /// each of its starts.
    pub fn add_node_with_storage(
        &self,
        id: NodeId,
        factory: NodeFactory,
        storage: StorageFactory,
    ) -> Node {
        self.add(id, factory, Some(storage))
    }

    fn add(&self, id: NodeId, factory: NodeFactory, storage: Option<StorageFactory>) -> Node {
        self.inner.slots.borrow_mut().insert(
            id,
            Slot {
                persister: Arc::new(MemPersister::new()),
                factory,
                node: None,
                incarnation: 0,
                storage,
            },
        );
        self.start(id, "start")
    }

    /// The ids of every node, up or down.
    pub fn node_ids(&self) -> Vec<NodeId> {
        self.inner.slots.borrow().keys().copied().collect()
    }

    /// The running incarnation of `id`, or `None` while it is crashed (or unknown).
    pub fn node(&self, id: NodeId) -> Option<Node> {
        self.inner
            .slots
            .borrow()
            .get(&id)
            .and_then(|s| s.node.clone())
    }

    /// The in-memory persister of `id`, which outlives its crashes (unused by a node added
    /// with its own storage).
    pub fn persister(&self, id: NodeId) -> Option<Arc<MemPersister>> {
        self.inner
            .slots
            .borrow()
            .get(&id)
            .map(|s| Arc::clone(&s.persister))
    }

    /// Crashes `id`: all its actors and tasks stop at once and its volatile state is gone.
    /// Messages already in flight to it are dropped when they arrive.
    pub fn crash(&self, id: NodeId) {
        let node = self
            .inner
            .slots
            .borrow_mut()
            .get_mut(&id)
            .and_then(|s| s.node.take());
        let lost = self.inner.service.borrow_mut().crash(id, Instant::now());
        for m in lost {
            let who = (&m.from, &m.to, m.actor.as_str(), m.kind.as_str(), m.trace);
            self.inner.bump(|s| s.dropped_node_down += 1);
            self.inner.record("drop", who, Some("node down"));
        }
        if let Some(node) = node {
            node.crash();
            self.inner.log.record(Event {
                ev: "crash",
                from: Some(id),
                ..Event::default()
            });
            tracing::info!(node = %id, "node crashed");
        }
    }

    /// Gives node `id` a service time: it handles one message per `per_message`, in batches,
    /// as a busy server does (see the `service` module); `None` takes it away. A model of a
    /// server's CPU for benchmarks in virtual time, where handling is otherwise free.
    pub fn set_service_time(&self, id: NodeId, per_message: Option<Duration>) {
        self.inner
            .service
            .borrow_mut()
            .set(id, per_message, Instant::now());
    }

    /// Gives node `id` a network card ([`Nic`], see the `bandwidth` module): what it sends
    /// leaves one message after another at its egress rate, and what it receives comes in one
    /// message after another at its ingress rate. `None` (the default) takes it away: unlimited.
    ///
    /// # Panics
    /// If either rate is 0.
    pub fn set_nic(&self, id: NodeId, nic: Option<Nic>) {
        self.inner.bandwidth.borrow_mut().set_nic(id, nic);
    }

    /// Node `id`'s network card, if it has one.
    pub fn nic(&self, id: NodeId) -> Option<Nic> {
        self.inner.bandwidth.borrow().nic(id)
    }

    /// Puts each group of nodes on a switch of its own, the switches joined by an uplink of
    /// `bps` bits per second in each direction: messages between nodes of different groups
    /// cross it one after another (see the `bandwidth` module); messages inside a group, and
    /// to or from a node in no group, do not. Replaces any earlier switches.
    ///
    /// # Panics
    /// If `bps` is 0.
    pub fn set_uplink(&self, groups: Vec<Vec<NodeId>>, bps: u64) {
        self.inner.bandwidth.borrow_mut().set_uplink(groups, bps);
    }

    /// Takes the switches of [`SimNet::set_uplink`] away.
    pub fn clear_uplink(&self) {
        self.inner.bandwidth.borrow_mut().clear_uplink();
    }

    /// The bytes node `id` has sent and received so far.
    pub fn traffic(&self, id: NodeId) -> Traffic {
        self.inner.bandwidth.borrow().traffic(id)
    }

    /// Restarts a crashed node: a new incarnation, built by its factory from its persister.
    /// Does nothing if the node is up.
    pub fn restart(&self, id: NodeId) -> Option<Node> {
        let down = self
            .inner
            .slots
            .borrow()
            .get(&id)
            .is_some_and(|s| s.node.is_none());
        if !down {
            return self.node(id);
        }
        Some(self.start(id, "restart"))
    }

    fn start(&self, id: NodeId, ev: &'static str) -> Node {
        // Made outside the borrow of the slots: the factory is the caller's code.
        let storage = self
            .inner
            .slots
            .borrow()
            .get(&id)
            .and_then(|s| s.storage.clone());
        let made = storage.map(|make| make(id));
        let (node, factory) = {
            let mut slots = self.inner.slots.borrow_mut();
            let slot = slots
                .get_mut(&id)
                .expect("start is only called for known nodes");
            if ev == "restart" {
                slot.incarnation += 1;
            }
            let node = Node::new(NodeParts {
                id,
                incarnation: slot.incarnation,
                transport: Rc::new(SimTransport {
                    net: Rc::downgrade(&self.inner),
                }),
                persister: made.unwrap_or_else(|| slot.persister.clone() as Arc<dyn Persister>),
                log: self.inner.log.clone(),
                rng_seed: derive_seed(self.inner.seed, (u64::from(id.0) << 20) | slot.incarnation),
                config: self.inner.config,
            });
            slot.node = Some(node.clone());
            (node, slot.factory.clone())
        };
        self.inner.log.record(Event {
            ev,
            from: Some(id),
            ..Event::default()
        });
        tracing::info!(node = %id, incarnation = node.incarnation(), "node {ev}");
        factory(&node);
        node
    }

    /// Sets the links' healthy state, which [`SimNet::clear_faults`] returns to (for instance
    /// [`LinkFaults::reliable`] for zero latency), and applies it to every link now.
    pub fn set_baseline(&self, faults: LinkFaults) {
        *self.inner.baseline.borrow_mut() = faults;
        self.clear_faults();
    }

    /// The links' healthy state (see [`SimNet::set_baseline`]).
    pub fn baseline(&self) -> LinkFaults {
        self.inner.baseline.borrow().clone()
    }

    /// Sets the faults of every link that has no faults of its own.
    pub fn set_default_faults(&self, faults: LinkFaults) {
        self.inner.faults.borrow_mut().default = faults;
    }

    /// Sets the faults of the directed link `from -> to`.
    pub fn set_link_faults(&self, from: NodeId, to: NodeId, faults: LinkFaults) {
        self.inner
            .faults
            .borrow_mut()
            .links
            .insert((from, to), faults);
    }

    /// Gives the directed link `from -> to` back to the faults every link has (undoes
    /// [`SimNet::set_link_faults`]).
    pub fn clear_link_faults(&self, from: NodeId, to: NodeId) {
        self.inner.faults.borrow_mut().links.remove(&(from, to));
    }

    /// Returns every link to the baseline (no loss, its usual latency): partitions are left as
    /// they are; see [`SimNet::heal`].
    pub fn clear_faults(&self) {
        let mut faults = self.inner.faults.borrow_mut();
        faults.default = self.inner.baseline.borrow().clone();
        faults.links.clear();
    }

    /// Blocks the direction `from -> to` only: `to` still reaches `from`.
    pub fn block(&self, from: NodeId, to: NodeId) {
        self.inner.faults.borrow_mut().blocked.insert((from, to));
    }

    /// Unblocks the direction `from -> to`.
    pub fn unblock(&self, from: NodeId, to: NodeId) {
        self.inner.faults.borrow_mut().blocked.remove(&(from, to));
    }

    /// Whether the direction `from -> to` is blocked now (by a partition or a block).
    pub fn is_blocked(&self, from: NodeId, to: NodeId) -> bool {
        self.inner.faults.borrow().is_blocked(from, to)
    }

    /// Splits the network into groups that cannot reach each other (both ways). Nodes left out
    /// of every group are cut off from all. Replaces any earlier partition.
    pub fn partition(&self, groups: &[&[NodeId]]) {
        let ids = self.node_ids();
        let group_of = |n: NodeId| groups.iter().position(|g| g.contains(&n));
        let mut faults = self.inner.faults.borrow_mut();
        faults.blocked.clear();
        for &a in &ids {
            for &b in &ids {
                let same = matches!((group_of(a), group_of(b)), (Some(x), Some(y)) if x == y);
                if a != b && !same {
                    faults.blocked.insert((a, b));
                }
            }
        }
    }

    /// Cuts `id` off from every other node, both ways.
    pub fn isolate(&self, id: NodeId) {
        let mut faults = self.inner.faults.borrow_mut();
        for other in self.inner.slots.borrow().keys().copied() {
            if other != id {
                faults.blocked.insert((id, other));
                faults.blocked.insert((other, id));
            }
        }
    }

    /// Removes every partition and blocked direction.
    pub fn heal(&self) {
        self.inner.faults.borrow_mut().blocked.clear();
    }

    /// Hands a raw frame to node `to` as if `from` had sent it, through the network's faults.
    /// For tests of bad input: the frame need not be a valid envelope.
    pub fn inject_frame(&self, from: NodeId, to: NodeId, frame: Vec<u8>) {
        self.inner.enqueue(
            from,
            to,
            String::new(),
            "raw".into(),
            TraceId::default(),
            frame,
        );
    }
}

impl SimInner {
    fn bump(&self, f: impl FnOnce(&mut NetStats)) {
        let mut stats = self.stats.get();
        f(&mut stats);
        self.stats.set(stats);
    }

    fn record(&self, ev: &str, m: (&NodeId, &NodeId, &str, &str, TraceId), detail: Option<&str>) {
        self.log.record(Event {
            ev,
            from: Some(*m.0),
            to: Some(*m.1),
            actor: Some(m.2),
            kind: Some(m.3),
            trace: Some(m.4),
            detail,
            ..Event::default()
        });
    }

    fn transmit(self: &Rc<Self>, envelope: Envelope) {
        let frame = match envelope.to_frame() {
            Ok(frame) => frame,
            Err(e) => {
                tracing::error!(kind = %envelope.kind, "message does not encode, not sent: {e}");
                return;
            }
        };
        self.enqueue(
            envelope.from,
            envelope.to,
            envelope.to_name,
            envelope.kind,
            envelope.trace,
            frame,
        );
    }

    /// Decides a message's fate and queues what survives.
    fn enqueue(
        self: &Rc<Self>,
        from: NodeId,
        to: NodeId,
        actor: String,
        kind: String,
        trace: TraceId,
        frame: Vec<u8>,
    ) {
        self.bump(|s| {
            s.sent += 1;
            s.bytes_sent += frame.len() as u64;
        });
        self.bandwidth.borrow_mut().count_sent(from, frame.len());
        let who = (&from, &to, actor.as_str(), kind.as_str(), trace);
        self.record("send", who, None);
        let faults = self.faults.borrow();
        if faults.is_blocked(from, to) {
            self.bump(|s| s.dropped_partition += 1);
            self.record("drop", who, Some("partition"));
            return;
        }
        let link = faults.link(from, to).clone();
        drop(faults);
        let mut rng = self.rng.borrow_mut();
        if link.drop > 0.0 && rng.gen_bool(link.drop) {
            self.bump(|s| s.dropped_loss += 1);
            self.record("drop", who, Some("loss"));
            return;
        }
        let now = Instant::now();
        let copies = if link.duplicate > 0.0 && rng.gen_bool(link.duplicate) {
            2
        } else {
            1
        };
        let delays: Vec<_> = (0..copies).map(|_| link.sample_delay(&mut rng)).collect();
        drop(rng);
        if copies == 2 {
            self.bump(|s| s.duplicated += 1);
            self.record("dup", who, None);
        }
        // Without cards or switches, the message leaves whole at `now` and crosses no uplink:
        // each copy is due at its receiver's (absent) card after its latency, as if there were
        // no model.
        let ((first, last), crosses) = {
            let mut bandwidth = self.bandwidth.borrow_mut();
            let left = bandwidth.egress(from, to, now, frame.len());
            (left, bandwidth.crosses(from, to))
        };
        let frames = if copies == 2 {
            vec![frame.clone(), frame]
        } else {
            vec![frame]
        };
        let mut queue = self.queue.borrow_mut();
        for (frame, delay) in frames.into_iter().zip(delays) {
            let seq = self.next_seq.get();
            self.next_seq.set(seq + 1);
            let (at, last, hop) = if crosses {
                (first, last, Hop::Uplink)
            } else {
                (first + delay, last + delay, Hop::Ingress)
            };
            queue.push(Reverse(InFlight {
                at,
                seq,
                from,
                to,
                actor: actor.clone(),
                kind: kind.clone(),
                trace,
                frame,
                served: false,
                hop,
                last,
                latency: delay,
            }));
        }
        drop(queue);
        self.wake.notify_one();
        if !self.driving.replace(true) {
            actix_rt::spawn(drive(Rc::clone(self)));
        }
    }

    /// A due message arrives: at the uplink or its receiver's card, which it crosses first if
    /// they limit it; then it is dropped if its link is cut, served first if its target has a
    /// service time, and otherwise delivered.
    fn arrive(&self, mut m: InFlight) {
        match m.hop {
            Hop::Uplink => {
                let across =
                    self.bandwidth
                        .borrow_mut()
                        .uplink((m.from, m.to), m.at, m.last, m.frame.len());
                m.hop = Hop::Ingress;
                m.at += m.latency;
                m.last = across + m.latency;
                return self.requeue(m);
            }
            Hop::Ingress => {
                m.hop = Hop::Receiver;
                let done = self.bandwidth.borrow_mut().ingress(
                    (m.from, m.to),
                    m.at,
                    m.last,
                    m.frame.len(),
                );
                if done > m.at {
                    m.at = done;
                    m.last = done;
                    return self.requeue(m);
                }
            }
            Hop::Receiver => {}
        }
        if m.served {
            let (to, done) = (m.to, m.at);
            self.deliver(m);
            let next = self.service.borrow_mut().next_batch(to, done);
            if let Some((done, batch)) = next {
                for m in batch {
                    self.requeue_served(m, done);
                }
            }
            return;
        }
        if self.faults.borrow().is_blocked(m.from, m.to) {
            let who = (&m.from, &m.to, m.actor.as_str(), m.kind.as_str(), m.trace);
            self.bump(|s| s.dropped_partition += 1);
            self.record("drop", who, Some("partition"));
            return;
        }
        let down = self
            .slots
            .borrow()
            .get(&m.to)
            .is_none_or(|s| s.node.is_none());
        if down {
            return self.deliver(m); // dropped: nobody serves it
        }
        let admitted = self.service.borrow_mut().arrive(m.to, m.at, m);
        match admitted {
            Admit::Now(m) => self.deliver(m),
            Admit::At(done, m) => self.requeue_served(m, done),
            Admit::Waiting => {}
        }
    }

    /// Queues `m`, served, for delivery at `done`.
    fn requeue_served(&self, mut m: InFlight, done: Instant) {
        m.served = true;
        m.at = done;
        self.requeue(m);
    }

    /// Queues `m` again, due at `m.at` after everything queued before it for that instant.
    fn requeue(&self, mut m: InFlight) {
        m.seq = self.next_seq.get();
        self.next_seq.set(m.seq + 1);
        self.queue.borrow_mut().push(Reverse(m));
    }

    /// Delivers one message to its target, or drops it if the target is down.
    fn deliver(&self, m: InFlight) {
        let who = (&m.from, &m.to, m.actor.as_str(), m.kind.as_str(), m.trace);
        let node = self.slots.borrow().get(&m.to).and_then(|s| s.node.clone());
        match node {
            None => {
                self.bump(|s| s.dropped_node_down += 1);
                self.record("drop", who, Some("node down"));
            }
            Some(node) => {
                self.bump(|s| s.delivered += 1);
                self.bandwidth
                    .borrow_mut()
                    .count_received(m.to, m.frame.len());
                self.record("deliver", who, None);
                node.receive_frame(&m.frame);
            }
        }
    }
}

/// The delivery loop: sleeps until the earliest message is due, delivers everything due in
/// (instant, sequence) order, repeats.
async fn drive(net: Rc<SimInner>) {
    loop {
        let next = net.queue.borrow().peek().map(|m| m.0.at);
        match next {
            Some(at) if at <= Instant::now() => {
                let due = net.queue.borrow_mut().pop();
                if let Some(Reverse(m)) = due {
                    net.arrive(m);
                }
            }
            Some(at) => {
                tokio::select! {
                    biased;
                    _ = net.wake.notified() => {}
                    _ = tokio::time::sleep_until(at) => {}
                }
            }
            None => net.wake.notified().await,
        }
    }
}

struct SimTransport {
    net: Weak<SimInner>,
}

impl Transport for SimTransport {
    fn send(&self, envelope: Envelope) {
        if let Some(net) = self.net.upgrade() {
            net.transmit(envelope);
        }
    }

    fn knows(&self, node: NodeId) -> bool {
        self.net
            .upgrade()
            .is_some_and(|net| net.slots.borrow().contains_key(&node))
    }
}

impl std::fmt::Debug for SimNet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SimNet(seed {}, {:?})", self.inner.seed, self.stats())
    }
}
