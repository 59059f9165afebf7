//! The clients of `troupe sim zk`: each on a node of its own, with a session over troupe's
//! network ([`ZkClient::connect_net`]), doing one operation at a time (or a burst of three in
//! flight together) and recording each (and every watch notification it hears) for the
//! checker.
//!
//! The mix exercises what ZooKeeper promises:
//! - setData (blind and compare-and-set), create and delete of four shared nodes, so that
//!   writes race and their results depend on each other;
//! - getData and exists, often with a watch (one at a time per node), so that the order of
//!   notifications and replies is checked; the clients change the nodes they watch themselves;
//! - persistent sequential children of `/q`, listed with child watches;
//! - ephemeral sequential children of `/e` named after their session, listed;
//! - bursts: a write, a read and a write of one node sent together, so that the server keeps
//!   the session's pipeline full and must still answer the read between the two writes;
//! - a session moved to the next server right after a write (as a client whose server list
//!   changed does), while that server may not have applied the write yet;
//! - sessions ended by a close, or abandoned as a crashed client would (they must expire),
//!   and **stalls**: a client whose messages are all held back for about its session timeout
//!   (a paused process, Jepsen's `pause`), starting with the create of an ephemeral node. The
//!   session usually expires meanwhile, and the held-back create arrives around its expiry:
//!   ZooKeeper must not let it make a node that outlives the session (ZOOKEEPER-1208).

use super::check::ephemeral_prefix;
use super::history::{StatSeen, ZkOpKind, ZkOutput, ZkRecord};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};
use std::time::Duration;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::time::Instant;
use troupe_actors::zk::client::{Answer, Notification, ZkClient};
use troupe_actors::zk::jute::reply::Response;
use troupe_actors::zk::jute::request::{JuteOp, Request};
use troupe_messages::zk::{CreateMode, ZkError};
use troupe_messages::NodeId;
use troupe_runtime::sim::{LinkFaults, SimNet};
use troupe_runtime::Node;

/// The shared nodes the clients write and read.
pub const KEYS: usize = 4;
/// The parent of the persistent sequential nodes.
pub const QUEUE: &str = "/q";
/// The parent of the ephemeral nodes.
pub const EPHEMERALS: &str = "/e";

/// The path of shared node `i`.
pub fn key(i: usize) -> String {
    format!("/w/k{i}")
}

/// What the clients counted.
#[derive(Debug, Default, Clone, Serialize)]
pub struct WorkloadStats {
    /// Sessions opened.
    pub sessions: u64,
    /// Sessions the client found expired (an operation failed with SessionExpired).
    pub sessions_expired: u64,
    /// Sessions closed by their client.
    pub sessions_closed: u64,
    /// Sessions abandoned without a close (they must expire).
    pub sessions_abandoned: u64,
    /// Watches set.
    pub watches_set: u64,
    /// Notifications heard.
    pub notifications: u64,
    /// Stalls (all of a client's messages held back for about its session timeout).
    pub stalls: u64,
    /// Sessions moved to the next server right after a write.
    pub moves: u64,
}

/// What the clients share: the history and the counts.
#[derive(Default)]
pub struct Shared {
    /// Every client's records.
    pub records: RefCell<Vec<ZkRecord>>,
    /// The counts.
    pub stats: RefCell<WorkloadStats>,
}

/// One client's setting.
pub struct Plan {
    /// Its number in the history.
    pub client: u64,
    /// Its node.
    pub node: Node,
    /// The servers.
    pub servers: Vec<NodeId>,
    /// The network (for stalls).
    pub net: SimNet,
    /// Its random choices.
    pub rng: ChaCha8Rng,
    /// When it stops.
    pub until: Instant,
    /// The session timeout it asks for.
    pub timeout: Duration,
}

/// A session and its notifications.
pub struct Session {
    /// The handle.
    pub zk: ZkClient,
    /// Its notifications.
    pub events: UnboundedReceiver<Notification>,
    /// Its id.
    pub id: i64,
    /// Requests sent so far.
    pub sent: u64,
}

impl Session {
    /// The place of the next request among those the session sent.
    fn next_sent(&mut self) -> u64 {
        self.sent += 1;
        self.sent
    }
}

/// Opens a session from `node`, trying for `within`.
pub async fn open(
    node: &Node,
    servers: &[NodeId],
    timeout: Duration,
    within: Duration,
) -> Option<Session> {
    let (zk, events) = ZkClient::connect_net(node.clone(), servers.to_vec(), timeout, within)
        .await
        .ok()?;
    let id = zk.session_id();
    Some(Session {
        zk,
        events,
        id,
        sent: 0,
    })
}

/// Sends `request` in `session`, records it (and the notifications heard meanwhile) as
/// client `client`'s operation `op` on `key`, with `fill` adding the request's own fields.
/// Returns the answer and the paths whose watches fired.
#[allow(clippy::too_many_arguments)]
pub async fn perform(
    shared: &Shared,
    node: &Node,
    client: u64,
    session: &mut Session,
    op: ZkOpKind,
    key: &str,
    request: Request,
    fill: impl FnOnce(&mut ZkRecord),
) -> (Answer, Vec<String>) {
    let mut record = ZkRecord::called(client, session.id, op, key, node.now_ns());
    fill(&mut record);
    record.sent = Some(session.next_sent());
    let answer = session.zk.submit(request).await;
    let ret = node.now_ns();
    answered(&mut record, &answer, ret);
    shared.records.borrow_mut().push(record);
    let fired = heard(shared, client, session, ret);
    (answer, fired)
}

/// Sends `calls` (operation, path, request, value written) in `session` all at once, each in
/// flight before any is answered, and records them as [`perform`] does. Returns the answers in
/// the calls' order and the paths whose watches fired.
pub async fn perform_burst(
    shared: &Shared,
    node: &Node,
    client: u64,
    session: &mut Session,
    calls: Vec<(ZkOpKind, String, Request, Option<String>)>,
) -> (Vec<Answer>, Vec<String>) {
    let call = node.now_ns();
    let mut records = Vec::new();
    let mut requests = Vec::new();
    for (op, key, request, value) in calls {
        let mut record = ZkRecord::called(client, session.id, op, &key, call);
        record.value = value;
        record.sent = Some(session.next_sent());
        records.push(record);
        requests.push(request);
    }
    // join_all polls in order, so the requests leave in the order of the calls.
    let zk = &session.zk;
    let answers = futures_util::future::join_all(requests.into_iter().map(|request| async move {
        let answer = zk.submit(request).await;
        (answer, node.now_ns())
    }))
    .await;
    let last = answers.iter().map(|(_, ret)| *ret).max().unwrap_or(call);
    for (record, (answer, ret)) in records.iter_mut().zip(&answers) {
        answered(record, answer, *ret);
    }
    shared.records.borrow_mut().extend(records);
    let fired = heard(shared, client, session, last);
    (
        answers.into_iter().map(|(answer, _)| answer).collect(),
        fired,
    )
}

/// Fills in `record` from `answer`, received at `ret`, if a server answered.
fn answered(record: &mut ZkRecord, answer: &Answer, ret: u64) {
    let server_said = answer.zxid.is_some() && answer.result != Err(ZkError::ConnectionLoss);
    if server_said {
        record.ret = Some(ret);
        record.zxid = answer.zxid;
        record.order = answer.order;
        record.output = Some(output(&answer.result));
    }
}

/// Records the notifications `session` heard by `ret`; the paths whose watches fired.
fn heard(shared: &Shared, client: u64, session: &mut Session, ret: u64) -> Vec<String> {
    let mut records = shared.records.borrow_mut();
    let mut fired = Vec::new();
    while let Ok(n) = session.events.try_recv() {
        fired.push(n.path.clone());
        let mut heard = ZkRecord::called(client, session.id, ZkOpKind::Notified, &n.path, ret);
        heard.ret = Some(ret);
        heard.order = Some(n.order);
        heard.output = Some(ZkOutput {
            event: Some(n.kind),
            ..ZkOutput::default()
        });
        records.push(heard);
        shared.stats.borrow_mut().notifications += 1;
    }
    fired
}

/// The history's form of a reply.
fn output(result: &Result<Response, ZkError>) -> ZkOutput {
    let response = match result {
        Err(e) => {
            return ZkOutput {
                error: Some(format!("{e:?}")),
                ..ZkOutput::default()
            }
        }
        Ok(response) => response,
    };
    let mut out = ZkOutput::default();
    match response {
        Response::Path(path) => out.path = Some(path.clone()),
        Response::PathStat(path, stat) => {
            out.path = Some(path.clone());
            out.stat = Some(StatSeen::from(stat));
        }
        Response::Stat(stat) => out.stat = Some(StatSeen::from(stat)),
        Response::Data(data, stat) => {
            out.data = Some(String::from_utf8_lossy(data).into_owned());
            out.stat = Some(StatSeen::from(stat));
        }
        Response::Children(names) | Response::Children2(names, _) => {
            let mut names = names.clone();
            names.sort();
            out.children = Some(names);
        }
        _ => {}
    }
    out
}

/// A client's state across its sessions.
struct Client<'s> {
    plan: Plan,
    shared: &'s Shared,
    /// Values written so far (each one unique).
    written: u64,
    /// The version of each shared node the client last saw.
    versions: HashMap<String, i32>,
    /// Nodes with a watch set and not yet fired.
    watching: BTreeSet<String>,
}

/// Runs one client until its plan's end, then closes its session.
pub async fn work(plan: Plan, shared: &Shared) {
    let mut client = Client {
        plan,
        shared,
        written: 0,
        versions: HashMap::new(),
        watching: BTreeSet::new(),
    };
    while Instant::now() < client.plan.until {
        let p = &client.plan;
        let Some(mut session) = open(&p.node, &p.servers, p.timeout, p.timeout * 5).await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        shared.stats.borrow_mut().sessions += 1;
        client.watching.clear();
        client.run_session(&mut session).await;
    }
}

impl Client<'_> {
    /// Runs operations in `session` until it ends (closed, abandoned or expired) or the run
    /// is over (then it is closed).
    async fn run_session(&mut self, session: &mut Session) {
        loop {
            if Instant::now() >= self.plan.until {
                self.close(session).await;
                return;
            }
            let roll = self.plan.rng.gen_range(0..100);
            let answer = match roll {
                0..=1 => {
                    if self.plan.rng.gen_bool(0.6) {
                        self.close(session).await;
                    } else {
                        self.shared.stats.borrow_mut().sessions_abandoned += 1;
                    }
                    return;
                }
                2..=5 => self.stall(session).await,
                _ => self.one_op(session, roll).await,
            };
            if answer.result == Err(ZkError::SessionExpired) {
                self.shared.stats.borrow_mut().sessions_expired += 1;
                return;
            }
        }
    }

    async fn close(&mut self, session: &mut Session) {
        let answer = self
            .perform(session, ZkOpKind::Close, "/", Request::Close, |_| {})
            .await;
        if answer.result.is_ok() {
            self.shared.stats.borrow_mut().sessions_closed += 1;
        }
    }

    fn value(&mut self) -> String {
        self.written += 1;
        format!("c{}-{}", self.plan.client, self.written)
    }

    async fn perform(
        &mut self,
        session: &mut Session,
        op: ZkOpKind,
        key: &str,
        request: Request,
        fill: impl FnOnce(&mut ZkRecord),
    ) -> Answer {
        let (answer, fired) = perform(
            self.shared,
            &self.plan.node,
            self.plan.client,
            session,
            op,
            key,
            request,
            fill,
        )
        .await;
        // Watches that fired may be set again.
        for path in fired {
            self.watching.remove(&path);
        }
        answer
    }

    /// One operation of the mix, chosen by `roll` (6..100).
    async fn one_op(&mut self, session: &mut Session, roll: u32) -> Answer {
        let k = key(self.plan.rng.gen_range(0..KEYS));
        match roll {
            6..=19 => self.set(session, &k).await,
            20..=22 => self.burst(session, &k).await,
            23..=30 => {
                let value = self.value();
                let expected = self.versions.get(&k).copied().unwrap_or(0);
                let request = Request::Write(JuteOp::SetData {
                    path: k.clone(),
                    data: value.clone().into_bytes(),
                    version: expected,
                });
                let answer = self
                    .perform(session, ZkOpKind::Cas, &k, request, |r| {
                        r.value = Some(value);
                        r.version = Some(expected);
                    })
                    .await;
                self.learn_version(&k, &answer);
                answer
            }
            31..=52 => {
                let watch = self.want_watch(&k);
                let request = Request::GetData {
                    path: k.clone(),
                    watch,
                };
                let answer = self
                    .perform(session, ZkOpKind::Get, &k, request, |r| r.watch = watch)
                    .await;
                if watch && answer.result.is_ok() {
                    self.watched(&k);
                }
                self.learn_version(&k, &answer);
                answer
            }
            53..=60 => {
                let watch = self.want_watch(&k);
                let request = Request::Exists {
                    path: k.clone(),
                    watch,
                };
                let answer = self
                    .perform(session, ZkOpKind::Exists, &k, request, |r| r.watch = watch)
                    .await;
                if watch && answer.zxid.is_some() {
                    self.watched(&k);
                }
                self.learn_version(&k, &answer);
                answer
            }
            61..=65 => {
                let request = Request::Write(JuteOp::Delete {
                    path: k.clone(),
                    version: -1,
                });
                self.perform(session, ZkOpKind::Delete, &k, request, |_| {})
                    .await
            }
            66..=71 => {
                let value = self.value();
                let request = create(&k, &value, CreateMode::PERSISTENT);
                self.perform(session, ZkOpKind::Create, &k, request, |r| {
                    r.value = Some(value)
                })
                .await
            }
            72..=79 => {
                let value = self.value();
                let prefix = format!("{QUEUE}/item-");
                let request = create(&prefix, &value, CreateMode::PERSISTENT_SEQUENTIAL);
                self.perform(session, ZkOpKind::Create, &prefix, request, |r| {
                    r.value = Some(value);
                    r.sequential = true;
                })
                .await
            }
            80..=84 => {
                let watch = self.want_watch(QUEUE);
                let request = Request::GetChildren {
                    path: QUEUE.into(),
                    watch,
                    with_stat: false,
                };
                let answer = self
                    .perform(session, ZkOpKind::Children, QUEUE, request, |r| {
                        r.watch = watch
                    })
                    .await;
                if watch && answer.result.is_ok() {
                    self.watched(QUEUE);
                }
                answer
            }
            85..=90 => self.create_ephemeral(session).await,
            91..=95 => {
                // A write, then the session moves to the next server, which may not have
                // applied that write yet: it must not take the session until it has, and the
                // read right after must see the write.
                let answer = self.set(session, &k).await;
                if answer.result.is_err() {
                    return answer;
                }
                session.zk.move_to_next_server();
                self.shared.stats.borrow_mut().moves += 1;
                // Read it back at once: the new server must show the write (or later).
                let request = Request::GetData {
                    path: k.clone(),
                    watch: false,
                };
                let answer = self
                    .perform(session, ZkOpKind::Get, &k, request, |_| {})
                    .await;
                self.learn_version(&k, &answer);
                answer
            }
            _ => {
                let request = Request::GetChildren {
                    path: EPHEMERALS.into(),
                    watch: false,
                    with_stat: false,
                };
                self.perform(session, ZkOpKind::Children, EPHEMERALS, request, |_| {})
                    .await
            }
        }
    }

    /// A blind setData of `key`, a getData of it and another blind setData, all in flight
    /// together: the read must see the first write and not the second. Returns the answer
    /// that tells the session's fate (an expiry if one said so, else the last).
    async fn burst(&mut self, session: &mut Session, key: &str) -> Answer {
        let (first, second) = (self.value(), self.value());
        let set = |value: &str| {
            Request::Write(JuteOp::SetData {
                path: key.to_string(),
                data: value.as_bytes().to_vec(),
                version: -1,
            })
        };
        let get = Request::GetData {
            path: key.to_string(),
            watch: false,
        };
        let calls = vec![
            (
                ZkOpKind::Set,
                key.to_string(),
                set(&first),
                Some(first.clone()),
            ),
            (ZkOpKind::Get, key.to_string(), get, None),
            (
                ZkOpKind::Set,
                key.to_string(),
                set(&second),
                Some(second.clone()),
            ),
        ];
        let (mut answers, fired) = perform_burst(
            self.shared,
            &self.plan.node,
            self.plan.client,
            session,
            calls,
        )
        .await;
        for path in fired {
            self.watching.remove(&path);
        }
        for answer in &answers {
            self.learn_version(key, answer);
        }
        let expired = answers
            .iter()
            .position(|a| a.result == Err(ZkError::SessionExpired));
        answers.swap_remove(expired.unwrap_or(answers.len() - 1))
    }

    /// A blind setData of `key` (any version) with a fresh value.
    async fn set(&mut self, session: &mut Session, key: &str) -> Answer {
        let value = self.value();
        let request = Request::Write(JuteOp::SetData {
            path: key.to_string(),
            data: value.clone().into_bytes(),
            version: -1,
        });
        let answer = self
            .perform(session, ZkOpKind::Set, key, request, |r| {
                r.value = Some(value)
            })
            .await;
        self.learn_version(key, &answer);
        answer
    }

    async fn create_ephemeral(&mut self, session: &mut Session) -> Answer {
        let value = self.value();
        let prefix = format!("{EPHEMERALS}/{}", ephemeral_prefix(session.id));
        let request = create(&prefix, &value, CreateMode::EPHEMERAL_SEQUENTIAL);
        self.perform(session, ZkOpKind::Create, &prefix, request, |r| {
            r.value = Some(value);
            r.sequential = true;
            r.ephemeral = true;
        })
        .await
    }

    /// Holds back every message of this client for 0.9 to 1.1 session timeouts (so that the
    /// held-back create arrives close to the session's expiry), starting with
    /// the create of an ephemeral node; waits out the stall.
    async fn stall(&mut self, session: &mut Session) -> Answer {
        self.shared.stats.borrow_mut().stalls += 1;
        let ms = self.plan.timeout.as_millis() as f64 * self.plan.rng.gen_range(0.9..1.1);
        let held = Duration::from_millis(ms as u64);
        let me = self.plan.node.id();
        for &server in &self.plan.servers {
            self.plan.net.set_link_faults(
                me,
                server,
                LinkFaults::reliable().with_delay(held, held),
            );
        }
        let until = Instant::now() + held;
        let answer = self.create_ephemeral(session).await;
        tokio::time::sleep_until(until).await;
        for &server in &self.plan.servers {
            self.plan.net.clear_link_faults(me, server);
        }
        answer
    }

    /// Whether to set a watch on `path` now (never a second one before the first fired).
    fn want_watch(&mut self, path: &str) -> bool {
        !self.watching.contains(path) && self.plan.rng.gen_bool(0.5)
    }

    fn watched(&mut self, path: &str) {
        self.watching.insert(path.to_string());
        self.shared.stats.borrow_mut().watches_set += 1;
    }

    fn learn_version(&mut self, path: &str, answer: &Answer) {
        let stat = match &answer.result {
            Ok(Response::Stat(stat)) | Ok(Response::Data(_, stat)) => stat,
            _ => return,
        };
        self.versions.insert(path.to_string(), stat.version);
    }
}

/// A create request.
pub fn create(path: &str, value: &str, mode: CreateMode) -> Request {
    Request::Write(JuteOp::Create {
        path: path.to_string(),
        data: value.as_bytes().to_vec(),
        flags: mode.flags(),
        with_stat: false,
    })
}
