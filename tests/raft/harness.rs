//! The Raft test harness, after the 6.824 tester: a cluster of Raft peers, each with a
//! recording service that checks every applied entry against every other peer's, and the
//! tester's helpers (one leader, agreement on one command, connect and disconnect, crash and
//! restart) in virtual time.

use actix::{Actor, Addr, Context, Handler, Message};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use troupe_actors::raft::peer::{Applied, PeerOptions, RaftPeer, Snapshot, NAME};
use troupe_actors::raft::storage::RaftStorage;
use troupe_actors::raft::{Apply, RaftConfig};
use troupe_messages::raft::{GetStatus, Index, RaftStatus, Start, Term};
use troupe_runtime::sim::{derive_seed, LinkFaults, StorageFactory};
use troupe_runtime::testkit::Cluster;
use troupe_runtime::{decode, encode, ActorPath, Node, NodeId, Persister};

/// A command: a number, as 8 bytes.
pub fn command(n: u64) -> Vec<u8> {
    n.to_be_bytes().to_vec()
}

/// What every peer applied, over all its incarnations, and any inconsistency seen.
#[derive(Default)]
pub struct Logs {
    applied: BTreeMap<NodeId, BTreeMap<Index, Vec<u8>>>,
    errors: Vec<String>,
    /// What each peer's running incarnation has applied, its snapshot included.
    current: BTreeMap<NodeId, BTreeMap<Index, Vec<u8>>>,
}

impl Logs {
    fn record(&mut self, node: NodeId, index: Index, cmd: &[u8]) {
        for (other, log) in &self.applied {
            if let Some(theirs) = log.get(&index) {
                if theirs.as_slice() != cmd {
                    self.errors.push(format!(
                        "commit index {index}: {node} applied {cmd:?} but {other} applied {theirs:?}"
                    ));
                }
            }
        }
        self.applied
            .entry(node)
            .or_default()
            .insert(index, cmd.to_vec());
    }
}

/// The recording service of one peer (one incarnation).
struct Recorder {
    node: NodeId,
    logs: Rc<RefCell<Logs>>,
    last_applied: Index,
    snapshot_every: Option<u64>,
    raft: Option<Addr<RaftPeer>>,
    /// This incarnation's view of the applied commands, which its snapshots contain.
    state: BTreeMap<Index, Vec<u8>>,
}

#[derive(Message)]
#[rtype(result = "()")]
struct SetRaft(Addr<RaftPeer>);

impl Actor for Recorder {
    type Context = Context<Self>;
}

impl Handler<SetRaft> for Recorder {
    type Result = ();
    fn handle(&mut self, msg: SetRaft, _: &mut Context<Self>) {
        self.raft = Some(msg.0);
    }
}

impl Handler<Applied> for Recorder {
    type Result = ();
    fn handle(&mut self, msg: Applied, _: &mut Context<Self>) {
        let mut logs = self.logs.borrow_mut();
        match msg.0 {
            Apply::Command { index, command, .. } => {
                if index <= self.last_applied {
                    logs.errors.push(format!(
                        "{} applied index {index} after {} (out of order)",
                        self.node, self.last_applied
                    ));
                }
                self.last_applied = index;
                logs.record(self.node, index, &command);
                logs.current
                    .entry(self.node)
                    .or_default()
                    .insert(index, command.clone());
                self.state.insert(index, command);
                if let (Some(every), Some(raft)) = (self.snapshot_every, &self.raft) {
                    if index % every == 0 {
                        match encode(&self.state) {
                            Ok(data) => raft.do_send(Snapshot { index, data }),
                            Err(e) => logs.errors.push(format!("snapshot encode: {e}")),
                        }
                    }
                }
            }
            Apply::Snapshot { index, data, .. } => {
                match decode::<BTreeMap<Index, Vec<u8>>>(&data) {
                    Ok(state) => {
                        for (i, cmd) in &state {
                            logs.record(self.node, *i, cmd);
                        }
                        logs.current.insert(self.node, state.clone());
                        self.state = state;
                        self.last_applied = index;
                    }
                    Err(e) => logs
                        .errors
                        .push(format!("{}: bad snapshot: {e}", self.node)),
                }
            }
        }
    }
}

/// A Raft cluster under test.
pub struct Harness {
    pub cluster: Cluster,
    pub logs: Rc<RefCell<Logs>>,
    pub n: u32,
    disconnected: RefCell<BTreeSet<u32>>,
    rng: RefCell<ChaCha8Rng>,
}

/// Milliseconds of virtual time.
pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

impl Harness {
    /// `n` peers with 10 ms ticks and the default Raft timing; snapshots every
    /// `snapshot_every` applied entries if set.
    pub fn new(seed: u64, n: u32, reliable: bool, snapshot_every: Option<u64>) -> Harness {
        Self::build(seed, n, reliable, snapshot_every, None)
    }

    /// Like [`Harness::new`] on a reliable network, with each peer's durable storage made by
    /// `storage` at each of its starts.
    pub fn with_storage(
        seed: u64,
        n: u32,
        snapshot_every: Option<u64>,
        storage: impl Fn(NodeId) -> Arc<dyn Persister> + 'static,
    ) -> Harness {
        Self::build(seed, n, true, snapshot_every, Some(Rc::new(storage)))
    }

    fn build(
        seed: u64,
        n: u32,
        reliable: bool,
        snapshot_every: Option<u64>,
        storage: Option<StorageFactory>,
    ) -> Harness {
        let logs = Rc::new(RefCell::new(Logs::default()));
        let members: Vec<NodeId> = (1..=n).map(NodeId).collect();
        let shared = logs.clone();
        let builder = Cluster::builder(seed)
            .nodes(n)
            .faults(if reliable {
                LinkFaults::realistic()
            } else {
                LinkFaults::unreliable()
            })
            .topology(move |node: &Node| {
                shared.borrow_mut().current.remove(&node.id());
                let recorder = Recorder {
                    node: node.id(),
                    logs: shared.clone(),
                    last_applied: 0,
                    snapshot_every,
                    raft: None,
                    state: BTreeMap::new(),
                };
                let recorder = node.spawn(recorder).into_addr();
                let options = PeerOptions {
                    members: members.clone(),
                    config: RaftConfig::default(),
                    tick: ms(10),
                };
                match RaftPeer::spawn(node, options, recorder.clone().recipient()) {
                    Ok(peer) => recorder.do_send(SetRaft(peer.into_addr())),
                    Err(e) => shared
                        .borrow_mut()
                        .errors
                        .push(format!("{}: {e}", node.id())),
                }
            });
        let cluster = match storage {
            Some(storage) => builder.storage(move |id| storage(id)).build(),
            None => builder.build(),
        };
        Harness {
            cluster,
            logs,
            n,
            disconnected: RefCell::new(BTreeSet::new()),
            rng: RefCell::new(ChaCha8Rng::seed_from_u64(derive_seed(seed, 7))),
        }
    }

    /// Panics with every consistency error the services recorded.
    pub fn check_errors(&self) {
        let logs = self.logs.borrow();
        assert!(logs.errors.is_empty(), "apply errors: {:#?}", logs.errors);
    }

    /// Every consistency error the services recorded so far.
    pub fn errors(&self) -> Vec<String> {
        self.logs.borrow().errors.clone()
    }

    /// What peer `i`'s running incarnation has applied, its snapshot included.
    pub fn current(&self, i: u32) -> BTreeMap<Index, Vec<u8>> {
        self.logs
            .borrow()
            .current
            .get(&NodeId(i))
            .cloned()
            .unwrap_or_default()
    }

    /// Whether any peer, in any incarnation, applied `cmd` at `index`: then it was committed.
    pub fn applied(&self, index: Index, cmd: &[u8]) -> bool {
        let logs = self.logs.borrow();
        logs.applied
            .values()
            .any(|log| log.get(&index).is_some_and(|c| c.as_slice() == cmd))
    }

    /// A random command number.
    pub fn random(&self) -> u64 {
        self.rng.borrow_mut().gen()
    }

    fn path(i: u32) -> ActorPath {
        ActorPath::new(NodeId(i), NAME)
    }

    /// Node `i` is up and not disconnected.
    pub fn connected(&self, i: u32) -> bool {
        self.cluster.node(i).is_some() && !self.disconnected.borrow().contains(&i)
    }

    pub async fn status(&self, i: u32) -> Option<RaftStatus> {
        let node = self.cluster.node(i)?;
        node.call(&Self::path(i), GetStatus, Duration::from_secs(1))
            .await
            .ok()
    }

    /// Asks peer `i` to start agreement on `cmd`.
    pub async fn start(&self, i: u32, cmd: u64) -> Option<troupe_messages::raft::Started> {
        self.start_bytes(i, command(cmd)).await
    }

    /// Asks peer `i` to start agreement on a command of any bytes.
    pub async fn start_bytes(
        &self,
        i: u32,
        cmd: Vec<u8>,
    ) -> Option<troupe_messages::raft::Started> {
        let node = self.cluster.node(i)?;
        node.call(
            &Self::path(i),
            Start { command: cmd },
            Duration::from_secs(1),
        )
        .await
        .ok()
    }

    /// Cuts peer `i` off from every other peer.
    pub fn disconnect(&self, i: u32) {
        self.disconnected.borrow_mut().insert(i);
        self.rewire();
    }

    /// Reconnects peer `i` (to every peer that is not itself disconnected).
    pub fn connect(&self, i: u32) {
        self.disconnected.borrow_mut().remove(&i);
        self.rewire();
    }

    fn rewire(&self) {
        self.cluster.heal();
        for &i in self.disconnected.borrow().iter() {
            self.cluster.net().isolate(NodeId(i));
        }
    }

    /// Crashes peer `i` (it keeps what it persisted).
    pub fn crash(&self, i: u32) {
        self.cluster.crash(i);
    }

    /// Restarts a crashed peer `i` from its persister.
    pub fn restart(&self, i: u32) {
        self.cluster.restart(i);
    }

    /// Turns message loss and delay on or off.
    pub fn set_unreliable(&self, unreliable: bool) {
        if unreliable {
            self.cluster.set_faults(LinkFaults::unreliable());
        } else {
            self.cluster.reliable();
        }
    }

    /// Waits for exactly one leader among the connected peers; fails on two in one term.
    pub async fn check_one_leader(&self) -> u32 {
        for _ in 0..10 {
            let pause = self.rng.borrow_mut().gen_range(450..550);
            tokio::time::sleep(ms(pause)).await;
            let mut leaders: BTreeMap<Term, Vec<u32>> = BTreeMap::new();
            for i in 1..=self.n {
                if !self.connected(i) {
                    continue;
                }
                if let Some(s) = self.status(i).await {
                    if s.is_leader {
                        leaders.entry(s.term).or_default().push(i);
                    }
                }
            }
            for (term, ls) in &leaders {
                assert!(
                    ls.len() <= 1,
                    "term {term} has {} leaders: {ls:?}",
                    ls.len()
                );
            }
            if let Some((_, ls)) = leaders.iter().next_back() {
                return ls[0];
            }
        }
        panic!("expected one leader, got none");
    }

    /// Every connected peer agrees on the term.
    pub async fn check_terms(&self) -> Term {
        let mut term = None;
        for i in 1..=self.n {
            if !self.connected(i) {
                continue;
            }
            if let Some(s) = self.status(i).await {
                match term {
                    None => term = Some(s.term),
                    Some(t) => assert_eq!(t, s.term, "peers disagree on the term"),
                }
            }
        }
        term.expect("some peer is connected")
    }

    /// No connected peer believes it leads.
    pub async fn check_no_leader(&self) {
        for i in 1..=self.n {
            if self.connected(i) {
                let s = self.status(i).await.expect("a connected peer answers");
                assert!(
                    !s.is_leader,
                    "peer {i} leads, but there should be no leader"
                );
            }
        }
    }

    /// How many peers have applied `index`, and the command there.
    pub fn n_committed(&self, index: Index) -> (usize, Option<Vec<u8>>) {
        self.check_errors();
        let logs = self.logs.borrow();
        let mut count = 0;
        let mut cmd = None;
        for log in logs.applied.values() {
            if let Some(c) = log.get(&index) {
                count += 1;
                cmd = Some(c.clone());
            }
        }
        (count, cmd)
    }

    /// Gets `cmd` committed on at least `expected` peers, as 6.824's `one`: offers it to peers
    /// in turn until a leader takes it, then waits 2 s for agreement; with `retry`, offers it
    /// again if agreement fails, for 10 s in all.
    pub async fn one(&self, cmd: u64, expected: usize, retry: bool) -> Index {
        self.one_bytes(command(cmd), expected, retry).await
    }

    /// [`Harness::one`] for a command of any bytes.
    pub async fn one_bytes(&self, cmd: Vec<u8>, expected: usize, retry: bool) -> Index {
        let start = Instant::now();
        let mut next = 0;
        while start.elapsed() < Duration::from_secs(10) {
            let mut index = None;
            for _ in 0..self.n {
                next = next % self.n + 1;
                if self.connected(next) {
                    if let Some(s) = self.start_bytes(next, cmd.clone()).await {
                        if s.is_leader {
                            index = Some(s.index);
                            break;
                        }
                    }
                }
            }
            match index {
                Some(index) => {
                    let t1 = Instant::now();
                    while t1.elapsed() < Duration::from_secs(2) {
                        let (nd, got) = self.n_committed(index);
                        if nd >= expected && got.as_ref() == Some(&cmd) {
                            return index;
                        }
                        tokio::time::sleep(ms(20)).await;
                    }
                    assert!(retry, "one({cmd:?}) failed to reach agreement");
                }
                None => tokio::time::sleep(ms(50)).await,
            }
        }
        panic!("one({cmd:?}) failed to reach agreement in 10 s");
    }

    /// Waits for `n` peers to apply `index`; gives up early if the term moves past
    /// `start_term`.
    pub async fn wait(&self, index: Index, n: usize, start_term: Option<Term>) -> Option<Vec<u8>> {
        let mut pause = ms(10);
        for _ in 0..30 {
            let (nd, _) = self.n_committed(index);
            if nd >= n {
                break;
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(1));
            if let Some(term) = start_term {
                for i in 1..=self.n {
                    if let Some(s) = self.status(i).await {
                        if s.term > term {
                            return None;
                        }
                    }
                }
            }
        }
        let (nd, cmd) = self.n_committed(index);
        assert!(nd >= n, "only {nd} peers applied index {index}, wanted {n}");
        cmd
    }

    /// The largest persisted Raft state (term, vote and log, without the snapshot) of any peer.
    pub fn max_state_size(&self) -> usize {
        (1..=self.n)
            .filter_map(|i| self.cluster.net().persister(NodeId(i)))
            .map(|p| RaftStorage::state_size(p.as_ref()).unwrap_or(0))
            .max()
            .unwrap_or(0)
    }

    /// Crashes peer `i` and starts it again at once from its persister.
    pub fn crash_and_restart(&self, i: u32) {
        self.crash(i);
        self.restart(i);
    }

    /// Messages and bytes the network has carried so far.
    pub fn traffic(&self) -> (u64, u64) {
        let s = self.cluster.stats();
        (s.sent, s.bytes_sent)
    }
}
