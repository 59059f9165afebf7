//! The ZooKeeper server actor: a thin shell around [`ZkCore`]. It feeds the core the frames
//! of its client connections (from a transport: TCP in a real node), the entries its Raft peer
//! applies, and the time; it carries out the core's effects (frames out, connections closed)
//! and its proposals: into its own Raft log when it leads, else to the leader's server in
//! batches, one batch in flight at a time so that a client's writes keep their order.

use super::core::{ConnId, CoreOptions, Effect, ZkCore};
use super::net_port::{conn_id, is_net, xid_of, Expect, NetConns};
use crate::raft::peer::{Applied, PeerOptions, RaftPeer};
use crate::raft::Apply;
use crate::zk::jute::connect::ConnectRequest;
use crate::zk::state::{ZkEntry, ZkState};
use actix::{
    Actor, ActorFutureExt, Addr, AsyncContext, Context, Handler, Message, ResponseActFuture,
    WrapFuture,
};
use rand::Rng as _;
use serde_bytes::ByteBuf;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;
use tokio::time::Instant;
use troupe_messages::raft::{GetStatus, Start};
use troupe_messages::zk::{
    GetZkStatus, ZkNetFrame, ZkNetFrames, ZkPropose, ZkProposed, ZkServerStatus, ZkTouch,
};
use troupe_messages::NodeId;
use troupe_runtime::{decode, encode, ActorHandle, Node};

/// The name a ZooKeeper server registers under.
pub const NAME: &str = "zk";

/// How a server runs.
#[derive(Debug, Clone)]
pub struct ZkOptions {
    /// The Raft group (the servers) and its timing.
    pub raft: PeerOptions,
    /// ZooKeeper's tick (2 s): session timeouts are clamped to 2 to 20 of them.
    pub tick: Duration,
    /// How long a write may take to be applied before its connection is closed.
    pub commit_timeout: Duration,
    /// How long a follower waits for the leader to take a batch of proposals; if it does not,
    /// their connections close at once (the leader may be dead).
    pub forward_timeout: Duration,
    /// How often the server looks at its Raft peer and the clock.
    pub poll: Duration,
    /// How often a follower passes its clients' session touches to the leader: often, so
    /// that a follower's crash loses the leader few of them (a client's last ping before it
    /// would otherwise be lost, and its session expire before the client reaches another
    /// server).
    pub touch_every: Duration,
    /// The wall clock, in ms since the epoch, at the run's time zero: an entry's time is this
    /// plus the run's clock (so a simulated run stays deterministic).
    pub epoch_ms: i64,
    /// Snapshot the replica once about half this many bytes of entries were applied since
    /// the last snapshot, so that Raft can drop its log up to there (None: never).
    pub max_raft_state: Option<usize>,
}

impl ZkOptions {
    /// Servers `members` with ZooKeeper's 2 s tick, Raft's default timing, writes given 5 s,
    /// a look every 20 ms and touches passed on every 20 ms.
    pub fn new(members: Vec<NodeId>, epoch_ms: i64) -> ZkOptions {
        ZkOptions {
            raft: PeerOptions {
                members,
                config: crate::raft::RaftConfig::default(),
                tick: Duration::from_millis(10),
            },
            tick: Duration::from_secs(2),
            commit_timeout: Duration::from_secs(5),
            forward_timeout: Duration::from_secs(1),
            poll: Duration::from_millis(20),
            touch_every: Duration::from_millis(20),
            epoch_ms,
            max_raft_state: None,
        }
    }
}

/// What a connection's writer is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnOut {
    /// Send this frame.
    Frame(Vec<u8>),
    /// Close the connection.
    Close,
}

/// A transport opened connection `conn`; what the server sends on it goes to `sink`.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ConnOpened {
    /// The connection.
    pub conn: ConnId,
    /// Where its outgoing frames go.
    pub sink: UnboundedSender<ConnOut>,
}

/// A frame arrived on `conn` (the first is its handshake).
#[derive(Message)]
#[rtype(result = "()")]
pub struct ConnFrame {
    /// The connection.
    pub conn: ConnId,
    /// The frame, without its length prefix.
    pub bytes: Vec<u8>,
}

/// `conn` closed.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ConnClosed {
    /// The connection.
    pub conn: ConnId,
}

#[derive(Message)]
#[rtype(result = "()")]
struct SetRaft(Addr<RaftPeer>);

/// Where a node's client port finds its ZooKeeper server: set by every start of the server,
/// so that connections made after a restart by its supervisor reach the new one.
#[derive(Clone, Default)]
pub struct ServerCell(std::sync::Arc<std::sync::Mutex<Option<Addr<ZkServer>>>>);

impl ServerCell {
    /// The server now running, if one is.
    pub fn get(&self) -> Option<Addr<ZkServer>> {
        self.0
            .lock()
            .ok()
            .and_then(|a| a.clone())
            .filter(|a| a.connected())
    }

    fn set(&self, addr: Addr<ZkServer>) {
        if let Ok(mut slot) = self.0.lock() {
            *slot = Some(addr);
        }
    }
}

impl std::fmt::Debug for ServerCell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerCell")
    }
}

/// The server actor.
pub struct ZkServer {
    node: Node,
    raft: Option<Addr<RaftPeer>>,
    core: ZkCore,
    options: ZkOptions,
    sinks: BTreeMap<ConnId, UnboundedSender<ConnOut>>,
    handshaken: BTreeSet<ConnId>,
    leader: Option<NodeId>,
    /// Encoded entries waiting for the next batch to the leader, and their proposal numbers.
    queued: Vec<ByteBuf>,
    queued_proposals: Vec<u64>,
    in_flight: bool,
    bytes_since_snapshot: usize,
    last_touch: Instant,
    /// Connections of clients on other nodes, over troupe's network.
    net: NetConns,
}

impl ZkServer {
    /// Starts a server and its Raft peer on `node`; the server registers as [`NAME`] (and in
    /// `cell`, for a client port). The two are linked: if either stops, so does the other.
    pub fn spawn(
        node: &Node,
        options: ZkOptions,
        cell: Option<&ServerCell>,
    ) -> troupe_runtime::Result<ActorHandle> {
        let core_options = CoreOptions {
            server: node.id().0,
            tick: options.tick,
            commit_timeout: options.commit_timeout,
        };
        let first_proposal = node.with_rng(|rng| rng.gen::<u64>() >> 1);
        let now_ms = now_ms(node, &options);
        let server = ZkServer {
            node: node.clone(),
            raft: None,
            core: ZkCore::new(
                core_options,
                u64::try_from(now_ms).unwrap_or(0),
                first_proposal,
            ),
            options: options.clone(),
            sinks: BTreeMap::new(),
            handshaken: BTreeSet::new(),
            leader: None,
            queued: Vec::new(),
            queued_proposals: Vec::new(),
            in_flight: false,
            bytes_since_snapshot: 0,
            net: NetConns::default(),
            last_touch: Instant::now(),
        };
        let server = node
            .spawn_named(NAME, server)?
            .accept::<ZkPropose>()
            .accept::<ZkTouch>()
            .accept::<GetZkStatus>()
            .accept::<ZkNetFrame>();
        let peer = RaftPeer::spawn_linked(node, options.raft, &server)?;
        server.addr().do_send(SetRaft(peer));
        if let Some(cell) = cell {
            cell.set(server.addr().clone());
        }
        Ok(server.handle().clone())
    }

    fn now_ms(&self) -> i64 {
        now_ms(&self.node, &self.options)
    }

    /// Carries out the core's effects, then sends what it proposed.
    fn flush(&mut self, ctx: &mut Context<Self>) {
        for effect in self.core.take_effects() {
            match effect {
                Effect::Send { conn, frame } if is_net(conn) => self.net.sent(conn, frame),
                Effect::Send { conn, frame } => {
                    if let Some(sink) = self.sinks.get(&conn) {
                        let _ = sink.send(ConnOut::Frame(frame));
                    }
                }
                Effect::Close { conn } => {
                    if is_net(conn) {
                        self.net.closed(conn);
                    }
                    if let Some(sink) = self.sinks.remove(&conn) {
                        let _ = sink.send(ConnOut::Close);
                    }
                    self.handshaken.remove(&conn);
                }
            }
        }
        for entry in self.core.take_outbox() {
            match encode(&entry) {
                Ok(bytes) => {
                    self.queued.push(ByteBuf::from(bytes));
                    if let Some(origin) = entry.origin {
                        self.queued_proposals.push(origin.proposal);
                    }
                }
                Err(e) => tracing::error!("a ZooKeeper entry does not encode: {e}"),
            }
        }
        if self.queued.is_empty() || self.in_flight {
            return;
        }
        if self.core.is_leader() {
            if let Some(raft) = &self.raft {
                for entry in self.queued.drain(..) {
                    raft.do_send(Start {
                        command: entry.into_vec(),
                    });
                }
                self.queued_proposals.clear();
            }
            return;
        }
        let Some(leader) = self.leader else {
            // No leader known: the proposals wait, and time out if none appears.
            return;
        };
        self.in_flight = true;
        let batch = ZkPropose {
            entries: std::mem::take(&mut self.queued),
        };
        let proposals = std::mem::take(&mut self.queued_proposals);
        let node = self.node.clone();
        let to = troupe_messages::ActorPath::new(leader, NAME);
        let timeout = self.options.forward_timeout;
        let call = async move { node.call(&to, batch, timeout).await };
        ctx.spawn(call.into_actor(self).map(move |answer, act, ctx| {
            act.in_flight = false;
            if !matches!(answer, Ok(ZkProposed { accepted: true, .. })) {
                // Not taken, or not known to be: their connections close now.
                tracing::debug!(node = %act.node.id(), "a batch of proposals was not taken: {answer:?}");
                act.core.lost(&proposals);
                if let Ok(ZkProposed { leader, .. }) = answer {
                    act.leader = leader;
                }
            }
            act.flush(ctx);
        }));
    }

    /// Looks at the Raft peer and the clock.
    fn poll(&mut self, ctx: &mut Context<Self>) {
        let Some(raft) = self.raft.clone() else {
            return;
        };
        let status = async move { raft.send(GetStatus).await };
        ctx.spawn(status.into_actor(self).map(|status, act, ctx| {
            let now = Instant::now();
            if let Ok(status) = status {
                act.leader = status.leader;
                act.core
                    .set_leadership(status.is_leader, status.leader.is_some(), now);
            }
            let now_ms = act.now_ms();
            act.core.tick(now, now_ms);
            if now >= act.last_touch + act.options.touch_every {
                act.last_touch = now;
                let sessions = act.core.take_touches();
                if let (false, Some(leader)) = (act.core.is_leader(), act.leader) {
                    if !sessions.is_empty() {
                        let to = troupe_messages::ActorPath::new(leader, NAME);
                        let _ = act.node.send(&to, ZkTouch { sessions });
                    }
                }
            }
            act.flush(ctx);
        }));
    }
}

impl ZkServer {
    /// Hands Raft a snapshot of the replica at `index` once enough was applied since the last.
    fn maybe_snapshot(&mut self, index: u64) {
        let (Some(max), Some(raft)) = (self.options.max_raft_state, &self.raft) else {
            return;
        };
        if self.bytes_since_snapshot < max / 2 {
            return;
        }
        match encode(self.core.state()) {
            Ok(data) => {
                raft.do_send(crate::raft::peer::Snapshot { index, data });
                self.bytes_since_snapshot = 0;
            }
            Err(e) => tracing::error!("a ZooKeeper snapshot does not encode: {e}"),
        }
    }
}

fn now_ms(node: &Node, options: &ZkOptions) -> i64 {
    options.epoch_ms + i64::try_from(node.now_ns() / 1_000_000).unwrap_or(0)
}

impl Actor for ZkServer {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(self.options.poll, |act, ctx| act.poll(ctx));
    }
}

impl Handler<SetRaft> for ZkServer {
    type Result = ();
    fn handle(&mut self, msg: SetRaft, _: &mut Context<Self>) {
        self.raft = Some(msg.0);
    }
}

impl Handler<Applied> for ZkServer {
    type Result = ();

    fn handle(&mut self, msg: Applied, ctx: &mut Context<Self>) {
        let now = Instant::now();
        match msg.0 {
            Apply::Command { index, command, .. } => {
                match decode::<ZkEntry>(&command) {
                    Ok(entry) => self.core.apply(index, &entry, now),
                    Err(e) => {
                        tracing::error!(node = %self.node.id(), index, "undecodable entry skipped: {e}")
                    }
                }
                self.bytes_since_snapshot += command.len() + 16;
                self.maybe_snapshot(index);
            }
            Apply::Snapshot { data, .. } => match decode::<ZkState>(&data) {
                Ok(state) => {
                    self.core.install(state, now);
                    self.bytes_since_snapshot = 0;
                }
                Err(e) => tracing::error!(node = %self.node.id(), "undecodable snapshot: {e}"),
            },
        }
        self.flush(ctx);
    }
}

impl Handler<ZkPropose> for ZkServer {
    type Result = ResponseActFuture<Self, ZkProposed>;

    /// Starts the batch in this server's Raft log if its peer leads (asked of the peer
    /// itself: this server's own view may lag by a poll). The first entry tells; the rest
    /// follow it through the peer's mailbox, in order.
    fn handle(&mut self, msg: ZkPropose, _: &mut Context<Self>) -> Self::Result {
        let rejected = ZkProposed {
            accepted: false,
            leader: self.leader,
        };
        let Some(raft) = self.raft.clone() else {
            return Box::pin(actix::fut::ready(rejected));
        };
        let me = self.node.id();
        let mut entries = msg.entries.into_iter();
        let Some(first) = entries.next() else {
            return Box::pin(actix::fut::ready(ZkProposed {
                accepted: true,
                leader: Some(me),
            }));
        };
        let start = async move {
            let started = raft
                .send(Start {
                    command: first.into_vec(),
                })
                .await;
            match started {
                Ok(s) if s.is_leader => {
                    for entry in entries {
                        raft.do_send(Start {
                            command: entry.into_vec(),
                        });
                    }
                    ZkProposed {
                        accepted: true,
                        leader: Some(me),
                    }
                }
                Ok(s) => ZkProposed {
                    accepted: false,
                    leader: s.leader,
                },
                Err(_) => rejected,
            }
        };
        Box::pin(start.into_actor(self))
    }
}

impl Handler<GetZkStatus> for ZkServer {
    type Result = ZkServerStatus;

    fn handle(&mut self, _: GetZkStatus, _: &mut Context<Self>) -> ZkServerStatus {
        let state = self.core.state();
        ZkServerStatus {
            last_zxid: state.last_zxid(),
            sessions: state.sessions().count() as u64,
            connections: self.core.connections() as u64,
            znodes: state.tree().len() as u64,
        }
    }
}

impl Handler<ZkTouch> for ZkServer {
    type Result = ();

    fn handle(&mut self, msg: ZkTouch, _: &mut Context<Self>) {
        self.core.touched_elsewhere(&msg.sessions, Instant::now());
    }
}

impl Handler<ConnOpened> for ZkServer {
    type Result = ();

    fn handle(&mut self, msg: ConnOpened, _: &mut Context<Self>) {
        self.sinks.insert(msg.conn, msg.sink);
    }
}

impl ZkServer {
    /// A frame of `conn`: its handshake first, then its requests. A handshake that does not
    /// decode closes the connection.
    fn take_frame(&mut self, conn: ConnId, bytes: &[u8]) {
        let (now, now_ms) = (Instant::now(), self.now_ms());
        if self.handshaken.contains(&conn) {
            self.core.request(conn, bytes, now, now_ms);
            return;
        }
        match ConnectRequest::decode(bytes) {
            Ok(request) => {
                self.handshaken.insert(conn);
                let password = self.node.with_rng(|rng| rng.gen::<[u8; 16]>());
                self.core.connect(conn, &request, password, now, now_ms);
            }
            Err(e) => {
                tracing::debug!(conn, "a malformed handshake: {e}");
                if let Some(sink) = self.sinks.remove(&conn) {
                    let _ = sink.send(ConnOut::Close);
                }
                if is_net(conn) {
                    self.net.closed(conn);
                }
            }
        }
    }
}

impl Handler<ConnFrame> for ZkServer {
    type Result = ();

    fn handle(&mut self, msg: ConnFrame, ctx: &mut Context<Self>) {
        self.take_frame(msg.conn, &msg.bytes);
        self.flush(ctx);
    }
}

impl Handler<ZkNetFrame> for ZkServer {
    type Result = ResponseActFuture<Self, ZkNetFrames>;

    fn handle(&mut self, msg: ZkNetFrame, ctx: &mut Context<Self>) -> Self::Result {
        let conn = conn_id(msg.client, msg.conn);
        let (answer, answered) = tokio::sync::oneshot::channel();
        let due = self.net.arrive(conn, msg.seq, msg.frame.into_vec(), answer);
        for (frame, answer) in due {
            let expect = if self.handshaken.contains(&conn) {
                xid_of(&frame).map_or(Expect::Handshake, Expect::Xid)
            } else {
                Expect::Handshake
            };
            self.net.expect(conn, expect, answer);
            self.take_frame(conn, &frame);
        }
        self.flush(ctx);
        let closed = ZkNetFrames {
            frames: Vec::new(),
            closed: true,
        };
        Box::pin(async move { answered.await.unwrap_or(closed) }.into_actor(self))
    }
}

impl Handler<ConnClosed> for ZkServer {
    type Result = ();

    fn handle(&mut self, msg: ConnClosed, _: &mut Context<Self>) {
        self.core.closed(msg.conn);
        self.net.forget(msg.conn);
        self.sinks.remove(&msg.conn);
        self.handshaken.remove(&msg.conn);
    }
}
