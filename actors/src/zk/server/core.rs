//! One ZooKeeper server's decisions, as a plain struct: it takes frames from its client
//! connections and entries from the Raft log, and returns effects (frames to send, connections
//! to close) and proposals (entries for the log). The actor around it only moves bytes and
//! messages.
//!
//! - **Order per connection.** A connection's requests are answered in the order they came.
//!   Consecutive writes are proposed at once (pipelined); a read waits behind any earlier write
//!   of its connection until that write is applied here, and writes behind such a read wait
//!   for it, so a client never reads past or short of its own writes.
//! - **Writes** become log entries tagged with this server's origin; when this replica applies
//!   an entry with its own origin, it answers the connection that asked.
//! - **Reads** are answered from this replica. A client that saw a later zxid than this
//!   replica has applied is refused at connection time, so it never reads back in time.
//! - **Watches** fire as an entry is applied, before any reply that could show its effect.
//! - **Sessions**: a new one is an entry (answered with the handshake once applied); a
//!   resumed one is checked against the replica; touches go to the leader, which proposes the
//!   expiry of sessions it has not heard within their timeout.
//! - A proposal not applied within the commit timeout closes its connection (ZooKeeper's
//!   connection loss: the client reconnects and learns what happened by reading). A server
//!   that loses its leader closes every connection rather than serve without a quorum.

use super::answers::{frame, read, written};
use crate::zk::jute::connect::{ConnectRequest, ConnectResponse};
use crate::zk::jute::reply::{notification, Response};
use crate::zk::jute::request::{self, Request};
use crate::zk::jute::xid;
use crate::zk::sessions::{negotiate, SessionIds, SessionTracker};
use crate::zk::state::{Origin, Outcome, ZkCommand, ZkEntry, ZkState};
use crate::zk::watches::Watches;
use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;
use tokio::time::Instant;
use troupe_messages::zk::{WatchEvent, ZkError};

/// A client connection on this server.
pub type ConnId = u64;

/// What the server must do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Send `frame` (jute, without its length prefix) on `conn`.
    Send {
        /// The connection.
        conn: ConnId,
        /// The frame.
        frame: Vec<u8>,
    },
    /// Close `conn`, after the frames sent on it before.
    Close {
        /// The connection.
        conn: ConnId,
    },
}

/// How a server runs.
#[derive(Debug, Clone, Copy)]
pub struct CoreOptions {
    /// This server's node id.
    pub server: u32,
    /// ZooKeeper's tick: session timeouts are clamped to 2 to 20 of them.
    pub tick: Duration,
    /// How long a proposal may take to be applied before its connection is closed.
    pub commit_timeout: Duration,
}

#[derive(Debug)]
enum Step {
    /// Not handled yet.
    Waiting,
    /// Its entry is proposed.
    Proposed(u64),
    /// Answered: the reply to send once everything before it was sent.
    Answered(Vec<u8>),
    /// Answered, and the connection closes after the reply (closeSession).
    Closing(Vec<u8>),
}

#[derive(Debug)]
struct Queued {
    xid: i32,
    request: Request,
    step: Step,
}

#[derive(Debug, Default)]
struct Conn {
    /// Its session, once the handshake is answered (0 before).
    session: i64,
    /// The proposal creating its session, while the handshake waits for it.
    connecting: Option<u64>,
    queue: VecDeque<Queued>,
}

#[derive(Debug, Clone, Copy)]
struct Proposal {
    conn: ConnId,
    since: Instant,
}

/// One server's state and decisions.
#[derive(Debug)]
pub struct ZkCore {
    options: CoreOptions,
    state: ZkState,
    watches: Watches<ConnId>,
    conns: BTreeMap<ConnId, Conn>,
    next_proposal: u64,
    proposals: BTreeMap<u64, Proposal>,
    outbox: Vec<ZkEntry>,
    session_ids: SessionIds,
    tracker: SessionTracker,
    /// Sessions whose expiry this leader proposed, and when.
    expiring: BTreeMap<i64, Instant>,
    touched: Vec<i64>,
    is_leader: bool,
    has_leader: bool,
    effects: Vec<Effect>,
}

impl ZkCore {
    /// A server with an empty replica; `now_ms` seeds session ids and `first_proposal` the
    /// proposal numbers (random, so a restarted server's numbers differ from its last life's).
    pub fn new(options: CoreOptions, now_ms: u64, first_proposal: u64) -> ZkCore {
        ZkCore {
            options,
            state: ZkState::default(),
            watches: Watches::default(),
            conns: BTreeMap::new(),
            next_proposal: first_proposal,
            proposals: BTreeMap::new(),
            outbox: Vec::new(),
            session_ids: SessionIds::new(options.server, now_ms),
            tracker: SessionTracker::default(),
            expiring: BTreeMap::new(),
            touched: Vec::new(),
            is_leader: false,
            has_leader: false,
            effects: Vec::new(),
        }
    }

    /// The replica.
    pub fn state(&self) -> &ZkState {
        &self.state
    }

    /// Whether this server leads.
    pub fn is_leader(&self) -> bool {
        self.is_leader
    }

    /// How many client connections are open.
    pub fn connections(&self) -> usize {
        self.conns.len()
    }

    /// The effects gathered since the last call.
    pub fn take_effects(&mut self) -> Vec<Effect> {
        std::mem::take(&mut self.effects)
    }

    /// The entries to propose, in order, gathered since the last call.
    pub fn take_outbox(&mut self) -> Vec<ZkEntry> {
        std::mem::take(&mut self.outbox)
    }

    /// The sessions this server's clients touched since the last call (for the leader).
    pub fn take_touches(&mut self) -> Vec<i64> {
        let mut touched = std::mem::take(&mut self.touched);
        touched.sort_unstable();
        touched.dedup();
        touched
    }

    /// The handshake of a new connection `conn`. `password` is fresh randomness for a new
    /// session's password.
    pub fn connect(
        &mut self,
        conn: ConnId,
        req: &ConnectRequest,
        password: [u8; 16],
        now: Instant,
        now_ms: i64,
    ) {
        let behind = req.last_zxid_seen > self.state.last_zxid()
            && !troupe_runtime::plant::armed(troupe_runtime::plant::Bug::ZkReadBehindClient);
        if !self.has_leader || behind {
            // No quorum, or this replica is behind what the client saw: it must go elsewhere.
            self.effects.push(Effect::Close { conn });
            return;
        }
        if req.session_id != 0 {
            tracing::debug!(
                server = self.options.server,
                session = req.session_id,
                known = self.state.session(req.session_id).is_some(),
                zxid = self.state.last_zxid(),
                "a session resumes"
            );
            let resumed = self
                .state
                .session(req.session_id)
                .filter(|s| s.password == req.password)
                .map(|s| s.timeout_ms);
            let response = match resumed {
                Some(timeout_ms) => ConnectResponse {
                    protocol_version: 0,
                    timeout_ms,
                    session_id: req.session_id,
                    password: req.password.clone(),
                    read_only: false,
                },
                None => ConnectResponse::expired(),
            };
            self.send(conn, response.encode());
            if resumed.is_some() {
                let session = req.session_id;
                self.conns.insert(
                    conn,
                    Conn {
                        session,
                        ..Conn::default()
                    },
                );
                self.touch(session, now);
            } else {
                self.effects.push(Effect::Close { conn });
            }
            return;
        }
        let session = self.session_ids.next_id();
        let command = ZkCommand::CreateSession {
            session,
            timeout_ms: negotiate(req.timeout_ms, self.options.tick),
            password: password.to_vec(),
        };
        let proposal = self.propose(conn, command, now, now_ms);
        self.conns.insert(
            conn,
            Conn {
                connecting: Some(proposal),
                ..Conn::default()
            },
        );
    }

    /// A frame from `conn` after its handshake. A frame that does not decode closes that
    /// connection, and nothing else.
    pub fn request(&mut self, conn: ConnId, bytes: &[u8], now: Instant, now_ms: i64) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let (xid, request) = match request::decode(bytes) {
            Ok(decoded) => decoded,
            Err(e) => {
                tracing::debug!(conn, "a malformed frame closes its connection: {e}");
                self.drop_conn(conn);
                return;
            }
        };
        c.queue.push_back(Queued {
            xid,
            request,
            step: Step::Waiting,
        });
        let session = c.session;
        if session != 0 {
            self.touch(session, now);
        }
        self.drive(conn, now, now_ms);
    }

    /// `conn` was closed by its client or its transport.
    pub fn closed(&mut self, conn: ConnId) {
        self.conns.remove(&conn);
        self.watches.forget(conn);
    }

    /// This server's view of the Raft group changed (polled from its peer).
    pub fn set_leadership(&mut self, is_leader: bool, has_leader: bool, now: Instant) {
        if is_leader && !self.is_leader {
            // A new leader gives every session a whole timeout from now.
            self.tracker.take_over(self.state.sessions(), now);
            self.expiring.clear();
        }
        if self.has_leader && !has_leader {
            let conns: Vec<ConnId> = self.conns.keys().copied().collect();
            for conn in conns {
                self.drop_conn(conn);
            }
        }
        self.is_leader = is_leader;
        self.has_leader = has_leader;
    }

    /// Proposals that did not reach a leader (the call failed): their connections close now,
    /// as ZooKeeper's do when a follower loses its leader, rather than at the commit timeout.
    pub fn lost(&mut self, proposals: &[u64]) {
        for proposal in proposals {
            if let Some(p) = self.proposals.remove(proposal) {
                self.drop_conn(p.conn);
            }
        }
    }

    /// Sessions other servers heard from (the leader keeps them alive).
    pub fn touched_elsewhere(&mut self, sessions: &[i64], now: Instant) {
        for session in sessions {
            self.tracker.touch(*session, now);
        }
    }

    /// Time passes: proposals too old close their connections; a leader proposes the expiry
    /// of sessions it has not heard from within their timeout.
    pub fn tick(&mut self, now: Instant, now_ms: i64) {
        let timeout = self.options.commit_timeout;
        let stale: Vec<u64> = self
            .proposals
            .iter()
            .filter(|(_, p)| p.since + timeout <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in stale {
            if let Some(p) = self.proposals.remove(&id) {
                self.drop_conn(p.conn);
            }
        }
        if !self.is_leader {
            return;
        }
        for session in self.tracker.expired(now) {
            let proposed = self.expiring.get(&session);
            if proposed.is_some_and(|at| *at + timeout > now) {
                continue;
            }
            tracing::debug!(server = self.options.server, session, "session expires");
            self.expiring.insert(session, now);
            self.outbox.push(ZkEntry {
                time: now_ms,
                command: ZkCommand::CloseSession { session },
                origin: None,
            });
        }
    }

    /// Applies the log entry at `index` (its zxid): fires its watches, then answers the
    /// request it carried if this server proposed it.
    pub fn apply(&mut self, index: u64, entry: &ZkEntry, now: Instant) {
        let zxid = i64::try_from(index).unwrap_or(i64::MAX);
        let Some((outcome, events)) = self.state.apply(zxid, entry) else {
            return;
        };
        let late = troupe_runtime::plant::armed(troupe_runtime::plant::Bug::ZkWatchAfterReply);
        if !late {
            self.fire(&events);
        }
        match &entry.command {
            ZkCommand::CreateSession {
                session,
                timeout_ms,
                ..
            } => self.tracker.open(*session, *timeout_ms, now),
            ZkCommand::CloseSession { session } => {
                tracing::debug!(
                    server = self.options.server,
                    session,
                    zxid,
                    "session closed"
                );
                self.tracker.close(*session);
                self.expiring.remove(session);
            }
            _ => {}
        }
        let mine = entry
            .origin
            .filter(|o| o.server == self.options.server)
            .and_then(|o| {
                self.proposals
                    .remove(&o.proposal)
                    .map(|p| (o.proposal, p.conn))
            });
        if let Some((proposal, conn)) = mine {
            self.answer(conn, proposal, entry, &outcome, now);
        }
        if late {
            self.fire(&events);
        }
        if let ZkCommand::CloseSession { session } = &entry.command {
            // The session's other connections (if any) close with it.
            let of_session: Vec<ConnId> = self
                .conns
                .iter()
                .filter(|(_, c)| c.session == *session)
                .map(|(id, _)| *id)
                .collect();
            for conn in of_session {
                self.drop_conn(conn);
            }
        }
    }

    /// Replaces the replica with a snapshot taken at `index`. Proposals it may have covered
    /// can no longer be answered: their connections close.
    pub fn install(&mut self, state: ZkState, now: Instant) {
        self.state = state;
        self.tracker.take_over(self.state.sessions(), now);
        let waiting: Vec<ConnId> = self.proposals.values().map(|p| p.conn).collect();
        self.proposals.clear();
        for conn in waiting {
            self.drop_conn(conn);
        }
    }

    fn answer(
        &mut self,
        conn: ConnId,
        proposal: u64,
        entry: &ZkEntry,
        outcome: &Outcome,
        now: Instant,
    ) {
        let zxid = self.state.last_zxid();
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if c.connecting == Some(proposal) {
            c.connecting = None;
            if let ZkCommand::CreateSession {
                session,
                timeout_ms,
                password,
            } = &entry.command
            {
                c.session = *session;
                let response = ConnectResponse {
                    protocol_version: 0,
                    timeout_ms: *timeout_ms,
                    session_id: *session,
                    password: password.clone(),
                    read_only: false,
                };
                let session = *session;
                self.send(conn, response.encode());
                self.touch(session, now);
                self.drive(conn, now, 0);
            }
            return;
        }
        let Some(q) = c
            .queue
            .iter_mut()
            .find(|q| matches!(q.step, Step::Proposed(p) if p == proposal))
        else {
            return;
        };
        let reply = frame(q.xid, zxid, written(&q.request, outcome));
        q.step = if matches!(q.request, Request::Close) {
            Step::Closing(reply)
        } else {
            Step::Answered(reply)
        };
        self.drive(conn, now, 0);
    }

    /// Handles `conn`'s queue as far as order allows, and sends what is answered at its front.
    fn drive(&mut self, conn: ConnId, now: Instant, now_ms: i64) {
        let mut i = 0;
        loop {
            let Some(c) = self.conns.get(&conn) else {
                return;
            };
            if c.session == 0 {
                return;
            }
            let Some(q) = c.queue.get(i) else {
                break;
            };
            let waits_for = if troupe_runtime::plant::armed(
                troupe_runtime::plant::Bug::ZkReadAfterLaterWrite,
            ) {
                c.queue.len()
            } else {
                i
            };
            let earlier_write_pending = c
                .queue
                .iter()
                .take(waits_for)
                .any(|q| matches!(q.step, Step::Proposed(_)));
            if matches!(q.step, Step::Waiting) {
                let session = c.session;
                match command_for(session, &q.request) {
                    Some(Ok(command)) => {
                        let proposal = self.propose(conn, command, now, now_ms);
                        self.set_step(conn, i, Step::Proposed(proposal));
                    }
                    Some(Err(e)) => {
                        let reply = frame(q.xid, self.state.last_zxid(), Err(e));
                        self.set_step(conn, i, Step::Answered(reply));
                    }
                    // A read waits for the session's earlier writes, but the writes after it
                    // are proposed now (pipelined, as ZooKeeper's followers forward them): the
                    // read is answered when the write before it applies, before anything
                    // later does, so it sees neither less nor more than FIFO order allows.
                    None if earlier_write_pending => {}
                    None => {
                        let (xid, request) = (q.xid, q.request.clone());
                        let reply = self.answer_now(conn, xid, &request);
                        self.set_step(conn, i, Step::Answered(reply));
                    }
                }
            }
            i += 1;
        }
        self.flush(conn);
    }

    fn set_step(&mut self, conn: ConnId, i: usize, step: Step) {
        if let Some(q) = self.conns.get_mut(&conn).and_then(|c| c.queue.get_mut(i)) {
            q.step = step;
        }
    }

    /// Sends the answered requests at the front of `conn`'s queue.
    fn flush(&mut self, conn: ConnId) {
        loop {
            let Some(c) = self.conns.get_mut(&conn) else {
                return;
            };
            let front = match c.queue.front().map(|q| &q.step) {
                Some(Step::Answered(_) | Step::Closing(_)) => c.queue.pop_front(),
                _ => return,
            };
            match front.map(|q| q.step) {
                Some(Step::Answered(reply)) => self.send(conn, reply),
                Some(Step::Closing(reply)) => {
                    self.send(conn, reply);
                    self.drop_conn(conn);
                    return;
                }
                _ => return,
            }
        }
    }

    /// The answer to a request that needs no log entry: a read, a ping, auth, setWatches.
    fn answer_now(&mut self, conn: ConnId, xid: i32, request: &Request) -> Vec<u8> {
        let zxid = self.state.last_zxid();
        match request {
            Request::Ping => frame(xid::PING, zxid, Ok(Response::Empty)),
            Request::Auth { .. } => frame(xid::AUTH, zxid, Ok(Response::Empty)),
            Request::SetWatches(rewatch) => {
                let tree = self.state.tree();
                let fired = self.watches.rewatch(conn, rewatch, |p| tree.exists(p));
                for event in fired {
                    self.send(conn, notification(&event));
                }
                frame(xid::SET_WATCHES, zxid, Ok(Response::Empty))
            }
            Request::Unknown(_) => frame(xid, zxid, Err(ZkError::Unimplemented)),
            read_request => {
                let answer = read(self.state.tree(), read_request);
                match read_request {
                    Request::Exists { path, watch: true } => self.watches.watch_data(path, conn),
                    Request::GetData { path, watch: true } if answer.is_ok() => {
                        self.watches.watch_data(path, conn)
                    }
                    Request::GetChildren {
                        path, watch: true, ..
                    } if answer.is_ok() => self.watches.watch_children(path, conn),
                    _ => {}
                }
                frame(xid, zxid, answer)
            }
        }
    }

    fn propose(&mut self, conn: ConnId, command: ZkCommand, now: Instant, now_ms: i64) -> u64 {
        let proposal = self.next_proposal;
        self.next_proposal = self.next_proposal.wrapping_add(1);
        self.outbox.push(ZkEntry {
            time: now_ms,
            command,
            origin: Some(Origin {
                server: self.options.server,
                proposal,
            }),
        });
        self.proposals
            .insert(proposal, Proposal { conn, since: now });
        proposal
    }

    fn fire(&mut self, events: &[WatchEvent]) {
        for event in events {
            for conn in self.watches.fire(event) {
                self.send(conn, notification(event));
            }
        }
    }

    fn touch(&mut self, session: i64, now: Instant) {
        self.touched.push(session);
        if self.is_leader {
            self.tracker.touch(session, now);
        }
    }

    fn send(&mut self, conn: ConnId, frame: Vec<u8>) {
        self.effects.push(Effect::Send { conn, frame });
    }

    fn drop_conn(&mut self, conn: ConnId) {
        if self.conns.contains_key(&conn) {
            self.closed(conn);
        }
        self.effects.push(Effect::Close { conn });
    }
}

/// The log command of a request that writes (Some: Ok, or the error that refuses it), or
/// None for a request answered without the log.
fn command_for(session: i64, request: &Request) -> Option<Result<ZkCommand, ZkError>> {
    Some(match request {
        Request::Write(op) => op.to_op().map(|op| ZkCommand::Write { session, op }),
        Request::Multi(ops) => ops
            .iter()
            .map(|op| op.to_op())
            .collect::<Result<Vec<_>, _>>()
            .map(|ops| ZkCommand::Multi { session, ops }),
        Request::Sync { .. } => Ok(ZkCommand::Sync),
        Request::Close => Ok(ZkCommand::CloseSession { session }),
        _ => return None,
    })
}

#[cfg(test)]
mod tests;
