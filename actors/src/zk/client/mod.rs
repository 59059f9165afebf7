//! A ZooKeeper client in Rust, over ZooKeeper's own protocol, for troupe's examples, load
//! generator and tests. It talks to any ZooKeeper server (troupe's or Apache's) the way kazoo
//! does:
//!
//! - one session, on a connection to one server at a time; requests are pipelined (each gets
//!   an xid and its reply is matched by it) and answered in order;
//! - a ping every third of the session timeout keeps the session alive;
//! - if the connection breaks, the requests in flight fail with `ConnectionLoss` (their fate
//!   is unknown), and the client reconnects to the next server with its session id, password
//!   and the last zxid it saw, and sets its watches again; if the session is gone, every
//!   later request fails with `SessionExpired`;
//! - watch notifications arrive on the channel [`ZkClient::connect`] returns, in the order
//!   the server sent them, before any reply sent after them;
//! - [`ZkClient::submit`] also tells a reply's zxid and its place among the frames the session
//!   received, as each [`Notification`] does: a checker can then see which came first.
//!
//! The connection is a task that owns the link; a [`ZkClient`] handle sends it requests. Over
//! TCP ([`ZkClient::connect`]) it is spawned with `tokio::spawn`; over troupe's network from a
//! simulated node ([`ZkClient::connect_net`]), on the node's actix system.

pub mod links;

use super::jute::codec::Reader;
use super::jute::connect::{ConnectRequest, ConnectResponse};
use super::jute::reply::{self, Incoming, ReplyHeader, Response};
use super::jute::request::{self, JuteOp, Request};
use super::jute::xid;
use super::watches::Rewatch;
use links::{FrameLink, Links, NetLinks, TcpLinks};
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use troupe_messages::zk::{CreateMode, Stat, ZkError};
use troupe_messages::NodeId;
use troupe_runtime::Node;

/// A watch notification: ZooKeeper's event type number and the path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// 1 created, 2 deleted, 3 data changed, 4 children changed.
    pub kind: i32,
    /// The path.
    pub path: String,
    /// Its place among the frames this session received (counted from 1, over every
    /// connection of the session): the order a checker compares with [`Answer::order`].
    pub order: u64,
}

type Reply = Result<Response, ZkError>;

/// A request's answer with what its reply's header said.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// The response, or the error the server (or a lost connection) gave.
    pub result: Reply,
    /// The zxid in the reply's header: a write's own zxid; for a read, the last zxid of the
    /// replica that answered. None when no reply came (a lost connection, an expired session).
    pub zxid: Option<i64>,
    /// The reply's place among the frames this session received (see
    /// [`Notification::order`]); None when no reply came.
    pub order: Option<u64>,
}

impl Answer {
    fn lost(error: ZkError) -> Answer {
        Answer {
            result: Err(error),
            zxid: None,
            order: None,
        }
    }
}

struct Call {
    request: Request,
    reply: oneshot::Sender<Answer>,
}

/// A handle on a session. Cloning it shares the session.
#[derive(Clone)]
pub struct ZkClient {
    calls: mpsc::UnboundedSender<Call>,
    session: SessionId,
    hop: std::sync::Arc<tokio::sync::Notify>,
}

type SessionId = std::sync::Arc<std::sync::atomic::AtomicI64>;

/// How long a connection attempt (TCP and handshake) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

impl ZkClient {
    /// Connects over TCP to one of `hosts` (tried in order, round and round) with a session
    /// of `timeout`; returns once the session exists, or fails with `ConnectionLoss` if no
    /// server gives one within `within`. The notifications come on the returned channel.
    pub async fn connect(
        hosts: Vec<SocketAddr>,
        timeout: Duration,
        within: Duration,
    ) -> Result<(ZkClient, mpsc::UnboundedReceiver<Notification>), ZkError> {
        let (conn, link, inbox, events) =
            Connection::open(TcpLinks(hosts), timeout, within).await?;
        let client = conn.client();
        tokio::spawn(conn.run(link, inbox));
        Ok((client, events))
    }

    /// The same from `node` of a simulated cluster to the troupe servers on `servers`, over
    /// troupe's network; must run on the node's actix system.
    pub async fn connect_net(
        node: Node,
        servers: Vec<NodeId>,
        timeout: Duration,
        within: Duration,
    ) -> Result<(ZkClient, mpsc::UnboundedReceiver<Notification>), ZkError> {
        let links = NetLinks {
            node,
            servers,
            call_timeout: timeout,
        };
        let (conn, link, inbox, events) = Connection::open(links, timeout, within).await?;
        let client = conn.client();
        actix::spawn(conn.run(link, inbox));
        Ok((client, events))
    }

    /// The session's id.
    pub fn session_id(&self) -> i64 {
        self.session.load(std::sync::atomic::Ordering::Relaxed)
    }

    async fn call(&self, request: Request) -> Reply {
        self.submit(request).await.result
    }

    /// Sends any request and waits for its answer, with its reply's zxid and order.
    pub async fn submit(&self, request: Request) -> Answer {
        let (reply, answer) = oneshot::channel();
        if self.calls.send(Call { request, reply }).is_err() {
            return Answer::lost(ZkError::SessionExpired);
        }
        answer
            .await
            .unwrap_or_else(|_| Answer::lost(ZkError::ConnectionLoss))
    }

    /// Creates `path` with `data`; the path created (a sequential node's full name).
    pub async fn create(
        &self,
        path: &str,
        data: &[u8],
        mode: CreateMode,
    ) -> Result<String, ZkError> {
        let request = Request::Write(JuteOp::Create {
            path: path.into(),
            data: data.to_vec(),
            flags: mode.flags(),
            with_stat: false,
        });
        match self.call(request).await? {
            Response::Path(path) => Ok(path),
            _ => Err(ZkError::RuntimeInconsistency),
        }
    }

    /// `path`'s data and stat; with `watch`, a data watch.
    pub async fn get_data(&self, path: &str, watch: bool) -> Result<(Vec<u8>, Stat), ZkError> {
        match self
            .call(Request::GetData {
                path: path.into(),
                watch,
            })
            .await?
        {
            Response::Data(data, stat) => Ok((data, stat)),
            _ => Err(ZkError::RuntimeInconsistency),
        }
    }

    /// Sets `path`'s data if its version is `version` (-1: any); the new stat.
    pub async fn set_data(&self, path: &str, data: &[u8], version: i32) -> Result<Stat, ZkError> {
        let request = Request::Write(JuteOp::SetData {
            path: path.into(),
            data: data.to_vec(),
            version,
        });
        match self.call(request).await? {
            Response::Stat(stat) => Ok(stat),
            _ => Err(ZkError::RuntimeInconsistency),
        }
    }

    /// Deletes `path` if its version is `version` (-1: any).
    pub async fn delete(&self, path: &str, version: i32) -> Result<(), ZkError> {
        let request = Request::Write(JuteOp::Delete {
            path: path.into(),
            version,
        });
        self.call(request).await.map(|_| ())
    }

    /// `path`'s stat, or None; with `watch`, a watch on its creation, change or deletion.
    pub async fn exists(&self, path: &str, watch: bool) -> Result<Option<Stat>, ZkError> {
        match self
            .call(Request::Exists {
                path: path.into(),
                watch,
            })
            .await
        {
            Ok(Response::Stat(stat)) => Ok(Some(stat)),
            Ok(_) => Err(ZkError::RuntimeInconsistency),
            Err(ZkError::NoNode) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The names of `path`'s children, sorted; with `watch`, a child watch.
    pub async fn get_children(&self, path: &str, watch: bool) -> Result<Vec<String>, ZkError> {
        let request = Request::GetChildren {
            path: path.into(),
            watch,
            with_stat: false,
        };
        match self.call(request).await? {
            Response::Children(mut children) => {
                children.sort();
                Ok(children)
            }
            _ => Err(ZkError::RuntimeInconsistency),
        }
    }

    /// Waits until the server this session is connected to has applied every write committed
    /// before now.
    pub async fn sync(&self, path: &str) -> Result<(), ZkError> {
        self.call(Request::Sync { path: path.into() })
            .await
            .map(|_| ())
    }

    /// Drops the connection and moves the session to the next server, as ZooKeeper's client
    /// does when its server list changes: the requests in flight fail with
    /// `ConnectionLoss`, later ones wait for the new connection. The next server must not
    /// take the session while its replica is behind the last zxid this client saw.
    pub fn move_to_next_server(&self) {
        self.hop.notify_one();
    }

    /// Ends the session (its ephemeral nodes go).
    pub async fn close(&self) -> Result<(), ZkError> {
        self.call(Request::Close).await.map(|_| ())
    }
}

#[derive(Debug, Clone)]
struct Session {
    id: i64,
    password: Vec<u8>,
    timeout_ms: i32,
    last_zxid: i64,
}

/// The watches this client set and that have not fired: set again after a reconnection.
#[derive(Debug, Default)]
struct Watched {
    data: BTreeSet<String>,
    exist: BTreeSet<String>,
    child: BTreeSet<String>,
}

struct Connection<L: Links> {
    links: L,
    next_host: usize,
    expired: bool,
    session: Session,
    session_id: SessionId,
    hop: std::sync::Arc<tokio::sync::Notify>,
    calls: mpsc::UnboundedSender<Call>,
    watches: Watched,
    events: mpsc::UnboundedSender<Notification>,
    /// Frames received over the session's life.
    frames: u64,
}

/// Why a connection ended.
enum Ended {
    /// Every handle is gone, or the session was closed: the task ends.
    Done,
    /// The link broke: reconnect.
    Broken,
}

type Opened<L> = (
    Connection<L>,
    <L as Links>::Link,
    mpsc::UnboundedReceiver<Call>,
    mpsc::UnboundedReceiver<Notification>,
);

impl<L: Links> Connection<L> {
    /// A session through `links`, within `within`.
    async fn open(links: L, timeout: Duration, within: Duration) -> Result<Opened<L>, ZkError> {
        let (calls, inbox) = mpsc::unbounded_channel();
        let (events, notifications) = mpsc::unbounded_channel();
        let mut conn = Connection {
            links,
            next_host: 0,
            expired: false,
            session: Session {
                id: 0,
                password: vec![0; 16],
                timeout_ms: i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX),
                last_zxid: 0,
            },
            session_id: SessionId::default(),
            hop: Default::default(),
            calls,
            watches: Watched::default(),
            events,
            frames: 0,
        };
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(link) = conn.reconnect().await {
                return Ok((conn, link, inbox, notifications));
            }
            if tokio::time::Instant::now() >= deadline || conn.expired {
                return Err(ZkError::ConnectionLoss);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn client(&self) -> ZkClient {
        ZkClient {
            calls: self.calls.clone(),
            session: self.session_id.clone(),
            hop: self.hop.clone(),
        }
    }

    /// One attempt at the next server: a link with the session (a new one if there is none
    /// yet), or None.
    async fn reconnect(&mut self) -> Option<L::Link> {
        let count = self.links.count().max(1);
        let host = self.next_host % count;
        self.next_host += 1;
        let handshake = ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: self.session.last_zxid,
            timeout_ms: self.session.timeout_ms,
            session_id: self.session.id,
            password: self.session.password.clone(),
            read_only: false,
        };
        let links = &mut self.links;
        let attempt = async move {
            let mut link = links.open(host).await?;
            if !link.send(handshake.encode()).await {
                return None;
            }
            let frame = link.next().await?;
            let answer = ConnectResponse::decode(&frame).ok()?;
            Some((link, answer))
        };
        let (link, answer) = tokio::time::timeout(CONNECT_TIMEOUT, attempt)
            .await
            .ok()??;
        if answer.session_id == 0 {
            // The session expired: nothing more can be done with it.
            tracing::debug!(session = self.session.id, host, "the session expired");
            self.expired = true;
            return None;
        }
        self.session.id = answer.session_id;
        self.session.password = answer.password;
        self.session.timeout_ms = answer.timeout_ms;
        self.session_id
            .store(self.session.id, std::sync::atomic::Ordering::Relaxed);
        Some(link)
    }

    async fn run(mut self, mut link: L::Link, mut inbox: mpsc::UnboundedReceiver<Call>) {
        // The handles' sender: dropped here, so that the inbox closes when they are all gone.
        let (dropped, _) = mpsc::unbounded_channel();
        self.calls = dropped;
        loop {
            match self.serve(&mut link, &mut inbox).await {
                Ended::Done => return,
                Ended::Broken => {}
            }
            // Reconnect within the session's timeout, or give up on it.
            let within = Duration::from_millis(u64::try_from(self.session.timeout_ms).unwrap_or(0));
            let deadline = tokio::time::Instant::now() + within;
            let mut relinked = None;
            while relinked.is_none() && !self.expired {
                relinked = self.reconnect().await;
                if relinked.is_none() {
                    if tokio::time::Instant::now() >= deadline {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
            match relinked {
                Some(next) => link = next,
                None => {
                    tracing::debug!(
                        session = self.session.id,
                        expired = self.expired,
                        "no server took the session back"
                    );
                    // The session is gone: refuse every later request.
                    inbox.close();
                    while let Some(call) = inbox.recv().await {
                        let _ = call.reply.send(Answer::lost(ZkError::SessionExpired));
                    }
                    return;
                }
            }
        }
    }

    /// Serves one link until it breaks or the client is done.
    async fn serve(
        &mut self,
        link: &mut L::Link,
        inbox: &mut mpsc::UnboundedReceiver<Call>,
    ) -> Ended {
        let mut pending: BTreeMap<i32, Call> = BTreeMap::new();
        let mut next_xid = 1;
        // Watches set before a reconnection are set again first.
        if !(self.watches.data.is_empty()
            && self.watches.exist.is_empty()
            && self.watches.child.is_empty())
        {
            let rewatch = Request::SetWatches(Rewatch {
                relative_zxid: self.session.last_zxid,
                data: self.watches.data.iter().cloned().collect(),
                exist: self.watches.exist.iter().cloned().collect(),
                child: self.watches.child.iter().cloned().collect(),
            });
            if !link.send(request::encode(xid::SET_WATCHES, &rewatch)).await {
                return Ended::Broken;
            }
        }
        let ping_every = Duration::from_millis(
            u64::try_from(self.session.timeout_ms / 3)
                .unwrap_or(1)
                .max(1),
        );
        let mut ping = tokio::time::interval(ping_every);
        ping.tick().await;
        // As ZooKeeper's client does: a server not heard for two thirds of the session
        // timeout is given up, leaving a third to reach another before the session expires.
        let read_timeout = ping_every * 2;
        let mut last_heard = tokio::time::Instant::now();
        let mut closing = false;
        let ended = loop {
            // Biased (branches tried in order): an unbiased select picks at random, and a
            // simulated run must replay exactly from its seed.
            tokio::select! {
                biased;
                call = inbox.recv() => {
                    let Some(call) = call else { break Ended::Done };
                    let xid = next_xid;
                    next_xid += 1;
                    let frame = request::encode(xid, &call.request);
                    let is_close = matches!(call.request, Request::Close);
                    pending.insert(xid, call);
                    if !link.send(frame).await {
                        break Ended::Broken;
                    }
                    // After a close, the loop goes on (pinging, watching for silence) until
                    // its answer comes: over troupe's network, frames come back only as
                    // answers to the client's own calls.
                    closing |= is_close;
                }
                frame = link.next() => match frame {
                    Some(frame) => {
                        last_heard = tokio::time::Instant::now();
                        if self.dispatch(&frame, &mut pending).is_err() {
                            break Ended::Broken;
                        }
                        if closing && pending.is_empty() {
                            break Ended::Done;
                        }
                    }
                    _ => break Ended::Broken,
                },
                _ = tokio::time::sleep_until(last_heard + read_timeout) => {
                    tracing::debug!(session = self.session.id, "the server went silent");
                    break Ended::Broken;
                }
                _ = ping.tick() => {
                    if !link.send(request::encode(xid::PING, &Request::Ping)).await {
                        break Ended::Broken;
                    }
                }
                _ = self.hop.notified() => {
                    tracing::debug!(session = self.session.id, "moving to the next server");
                    break Ended::Broken;
                }
            }
        };
        for (_, call) in pending {
            let _ = call.reply.send(Answer::lost(ZkError::ConnectionLoss));
        }
        ended
    }

    /// Remembers the watch a read set, as ZooKeeper's client does: getData and
    /// getChildren set one only if the node exists; exists sets a data watch on a node that
    /// exists and an exist watch on one that does not.
    fn note_watch(&mut self, request: &Request, err: i32) {
        let found = err == 0;
        let missing = err == ZkError::NoNode.code();
        match request {
            Request::GetData { path, watch: true } if found => {
                self.watches.data.insert(path.clone());
            }
            Request::Exists { path, watch: true } if found => {
                self.watches.data.insert(path.clone());
            }
            Request::Exists { path, watch: true } if missing => {
                self.watches.exist.insert(path.clone());
            }
            Request::GetChildren {
                path, watch: true, ..
            } if found => {
                self.watches.child.insert(path.clone());
            }
            _ => {}
        }
    }

    /// Hands a frame to whoever waits for it.
    fn dispatch(&mut self, frame: &[u8], pending: &mut BTreeMap<i32, Call>) -> Result<(), ()> {
        let xid = Reader::new(frame).int().map_err(|_| ())?;
        let asked = pending.get(&xid).map(|c| &c.request);
        let incoming = reply::decode(frame, asked).map_err(|_| ())?;
        self.frames += 1;
        let order = self.frames;
        match incoming {
            Incoming::Notification { kind, path, .. } => {
                // A fired watch is gone (data and exist watches fire alike).
                match kind {
                    4 => {
                        self.watches.child.remove(&path);
                    }
                    2 => {
                        self.watches.child.remove(&path);
                        self.watches.data.remove(&path);
                        self.watches.exist.remove(&path);
                    }
                    _ => {
                        self.watches.data.remove(&path);
                        self.watches.exist.remove(&path);
                    }
                }
                let _ = self.events.send(Notification { kind, path, order });
            }
            Incoming::Reply(ReplyHeader { xid, zxid, err }, response) => {
                if zxid > self.session.last_zxid {
                    self.session.last_zxid = zxid;
                }
                if let Some(call) = pending.remove(&xid) {
                    self.note_watch(&call.request, err);
                    let result = if err == 0 {
                        Ok(response)
                    } else {
                        Err(ZkError::from_code(err).unwrap_or(ZkError::RuntimeInconsistency))
                    };
                    let _ = call.reply.send(Answer {
                        result,
                        zxid: Some(zxid),
                        order: Some(order),
                    });
                }
            }
        }
        Ok(())
    }
}
