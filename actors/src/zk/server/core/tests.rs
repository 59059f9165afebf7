//! One server's decisions, driven by hand: entries it proposes are applied straight back, as
//! a group of one would commit them, and the frames it sends are decoded as a client would.

use super::*;
use crate::zk::jute::reply::{self, Incoming, ReplyHeader};
use crate::zk::jute::request::JuteOp;
use troupe_messages::zk::EventType;

const MS: Duration = Duration::from_millis(1);

struct One {
    core: ZkCore,
    index: u64,
    now: Instant,
    sent: Vec<Effect>,
}

impl One {
    fn new() -> One {
        let options = CoreOptions {
            server: 1,
            tick: 2_000 * MS,
            commit_timeout: 1_000 * MS,
        };
        let mut core = ZkCore::new(options, 1_700_000_000_000, 100);
        let now = Instant::now();
        core.set_leadership(true, true, now);
        One {
            core,
            index: 0,
            now,
            sent: Vec::new(),
        }
    }

    /// Commits and applies everything proposed so far.
    fn commit(&mut self) {
        for entry in self.core.take_outbox() {
            self.apply(&entry);
        }
    }

    /// Applies `entry` at the next index, as the log would.
    fn apply(&mut self, entry: &ZkEntry) {
        self.index += 1;
        self.core.apply(self.index, entry, self.now);
        self.sent.extend(self.core.take_effects());
    }

    fn connect(&mut self, conn: ConnId, last_zxid_seen: i64) -> ConnectResponse {
        let req = ConnectRequest {
            timeout_ms: 4_000,
            last_zxid_seen,
            password: vec![0; 16],
            ..ConnectRequest::default()
        };
        self.core.connect(conn, &req, [9; 16], self.now, 0);
        self.commit();
        let frames = self.frames(conn);
        ConnectResponse::decode(frames.first().expect("a handshake answer")).expect("decodes")
    }

    fn send(&mut self, conn: ConnId, xid: i32, request: &Request) {
        self.core
            .request(conn, &request::encode(xid, request), self.now, 0);
        self.sent.extend(self.core.take_effects());
    }

    /// The frames sent on `conn` since the last look.
    fn frames(&mut self, conn: ConnId) -> Vec<Vec<u8>> {
        let mut mine = Vec::new();
        self.sent.retain(|e| match e {
            Effect::Send { conn: c, frame } if *c == conn => {
                mine.push(frame.clone());
                false
            }
            _ => true,
        });
        mine
    }

    fn closed(&self, conn: ConnId) -> bool {
        self.sent.contains(&Effect::Close { conn })
    }
}

fn create(path: &str, flags: i32) -> Request {
    Request::Write(JuteOp::Create {
        path: path.into(),
        data: b"v".to_vec(),
        flags,
        with_stat: false,
    })
}

fn get(path: &str, watch: bool) -> Request {
    Request::GetData {
        path: path.into(),
        watch,
    }
}

fn decoded(frame: &[u8], asked: &Request) -> (ReplyHeader, Response) {
    match reply::decode(frame, Some(asked)).expect("decodes") {
        Incoming::Reply(h, r) => (h, r),
        other => panic!("not a reply: {other:?}"),
    }
}

#[test]
fn a_new_session_is_answered_once_its_entry_is_applied() {
    let mut one = One::new();
    let req = ConnectRequest {
        timeout_ms: 100_000,
        password: vec![0; 16],
        ..ConnectRequest::default()
    };
    one.core.connect(1, &req, [9; 16], one.now, 0);
    assert!(
        one.core.take_effects().is_empty(),
        "answered before the log had it"
    );
    one.commit();
    let response = ConnectResponse::decode(&one.frames(1)[0]).expect("decodes");
    assert_eq!(response.timeout_ms, 40_000, "clamped to 20 ticks");
    assert_eq!(response.password, [9; 16]);
    assert_eq!(
        response.session_id >> 56,
        1,
        "the server's id in the top byte"
    );
    assert!(one.core.state().session(response.session_id).is_some());
}

#[test]
fn a_read_behind_a_write_of_its_connection_sees_it_and_replies_keep_order() {
    let mut one = One::new();
    one.connect(1, 0);
    let (write, read) = (create("/a", 0), get("/a", false));
    one.send(1, 1, &write);
    one.send(1, 2, &read);
    one.send(1, 3, &Request::Ping);
    assert!(one.frames(1).is_empty(), "the read went ahead of the write");
    one.commit();
    let frames = one.frames(1);
    assert_eq!(frames.len(), 3);
    let (h1, r1) = decoded(&frames[0], &write);
    assert_eq!((h1.xid, h1.err), (1, 0));
    assert_eq!(r1, Response::Path("/a".into()));
    let (h2, r2) = decoded(&frames[1], &read);
    assert_eq!(h2.xid, 2);
    assert!(matches!(r2, Response::Data(ref d, s) if d == b"v" && s.czxid == h1.zxid));
    assert_eq!(decoded(&frames[2], &Request::Ping).0.xid, xid::PING);
}

#[test]
fn writes_behind_a_waiting_read_are_proposed_at_once_and_the_read_sees_only_what_came_before() {
    let mut one = One::new();
    one.connect(1, 0);
    let set = |data: &[u8]| {
        Request::Write(JuteOp::SetData {
            path: "/a".into(),
            data: data.to_vec(),
            version: -1,
        })
    };
    one.send(1, 1, &create("/a", 0));
    one.commit();
    one.frames(1);
    let (first, read, second) = (set(b"first"), get("/a", false), set(b"second"));
    one.send(1, 2, &first);
    one.send(1, 3, &read);
    one.send(1, 4, &second);
    // Both writes are in the log before either applies: the read does not hold back the write
    // behind it (the pipeline a session keeps full).
    let entries = one.core.take_outbox();
    assert_eq!(entries.len(), 2, "the write behind the read waited");
    assert!(one.frames(1).is_empty(), "the read went ahead of the write");
    // The first applies: its reply, then the read's, which sees it and not the second.
    one.apply(&entries[0]);
    let frames = one.frames(1);
    assert_eq!(frames.len(), 2);
    let (h1, _) = decoded(&frames[0], &first);
    assert_eq!((h1.xid, h1.err), (2, 0));
    let (h2, r2) = decoded(&frames[1], &read);
    assert_eq!((h2.xid, h2.zxid), (3, h1.zxid));
    assert!(matches!(r2, Response::Data(ref d, s) if d == b"first" && s.mzxid == h1.zxid));
    // Then the second.
    one.apply(&entries[1]);
    let frames = one.frames(1);
    assert_eq!(frames.len(), 1);
    let (h3, _) = decoded(&frames[0], &second);
    assert_eq!((h3.xid, h3.err), (4, 0));
    assert!(h3.zxid > h1.zxid);
}

#[test]
fn a_watch_fires_before_the_writers_reply_and_only_once() {
    let mut one = One::new();
    one.connect(1, 0);
    one.connect(2, 0);
    one.send(1, 1, &create("/a", 0));
    one.commit();
    one.frames(1);
    one.send(1, 2, &get("/a", true));
    one.send(1, 3, &get("/a", true)); // a second watch on the same path: still one event
    one.frames(1);
    let set = Request::Write(JuteOp::SetData {
        path: "/a".into(),
        data: b"w".to_vec(),
        version: -1,
    });
    one.send(2, 1, &set);
    one.commit();
    let positions: Vec<(ConnId, bool)> = one
        .sent
        .iter()
        .filter_map(|e| match e {
            Effect::Send { conn, frame } => Some((*conn, frame[..4] == (-1i32).to_be_bytes())),
            _ => None,
        })
        .collect();
    assert_eq!(
        positions,
        [(1, true), (2, false)],
        "the event, then the reply"
    );
    let event = reply::decode(&one.frames(1)[0], None).expect("decodes");
    assert_eq!(
        event,
        Incoming::Notification {
            kind: EventType::NodeDataChanged.code(),
            state: reply::SYNC_CONNECTED,
            path: "/a".into()
        }
    );
    one.send(2, 2, &set);
    one.commit();
    assert!(one.frames(1).is_empty(), "a watch fires once");
}

#[test]
fn a_client_that_saw_more_than_this_replica_is_sent_elsewhere() {
    let mut one = One::new();
    let req = ConnectRequest {
        last_zxid_seen: 50,
        password: vec![0; 16],
        ..ConnectRequest::default()
    };
    one.core.connect(1, &req, [0; 16], one.now, 0);
    assert_eq!(one.core.take_effects(), [Effect::Close { conn: 1 }]);
}

#[test]
fn a_resumed_session_needs_its_password_and_a_gone_one_is_told_expired() {
    let mut one = One::new();
    let first = one.connect(1, 0);
    let resume = |password: Vec<u8>| ConnectRequest {
        session_id: first.session_id,
        password,
        last_zxid_seen: 1,
        ..ConnectRequest::default()
    };
    one.core
        .connect(2, &resume(first.password.clone()), [0; 16], one.now, 0);
    one.sent.extend(one.core.take_effects());
    let again = ConnectResponse::decode(&one.frames(2)[0]).expect("decodes");
    assert_eq!(again.session_id, first.session_id);
    one.core
        .connect(3, &resume(vec![1; 16]), [0; 16], one.now, 0);
    one.sent.extend(one.core.take_effects());
    let refused = ConnectResponse::decode(&one.frames(3)[0]).expect("decodes");
    assert_eq!((refused.session_id, refused.timeout_ms), (0, 0));
    assert!(one.closed(3));
}

#[test]
fn the_leader_expires_a_silent_session_and_its_ephemeral_nodes_go() {
    let mut one = One::new();
    let session = one.connect(1, 0).session_id;
    one.connect(2, 0);
    one.send(1, 1, &create("/lock", 1));
    one.commit();
    let exists = Request::Exists {
        path: "/lock".into(),
        watch: true,
    };
    one.send(2, 1, &exists);
    one.sent.clear();
    // Connection 2 keeps pinging; connection 1's session is not heard for its timeout.
    for _ in 0..5 {
        one.now += 1_000 * MS;
        one.send(2, 2, &Request::Ping);
        one.core.tick(one.now, 0);
        one.commit();
    }
    assert!(one.core.state().session(session).is_none(), "not expired");
    assert!(one.core.state().tree().exists("/lock").is_none());
    assert!(one.closed(1), "the expired session's connection stays open");
    assert!(!one.closed(2));
    let events: Vec<Incoming> = one
        .frames(2)
        .iter()
        .filter_map(|f| reply::decode(f, None).ok())
        .filter(|i| matches!(i, Incoming::Notification { .. }))
        .collect();
    assert_eq!(events.len(), 1, "{events:?}");
}

#[test]
fn a_malformed_frame_closes_its_connection_and_nothing_else() {
    let mut one = One::new();
    one.connect(1, 0);
    one.connect(2, 0);
    one.core
        .request(1, &[0, 0, 0, 1, 0, 0, 0, 4, 0xff, 0xff], one.now, 0);
    one.sent.extend(one.core.take_effects());
    assert!(one.closed(1));
    assert!(!one.closed(2));
    assert_eq!(one.core.connections(), 1);
}

#[test]
fn a_write_not_applied_in_time_closes_its_connection() {
    let mut one = One::new();
    one.connect(1, 0);
    one.send(1, 1, &create("/a", 0));
    let _lost = one.core.take_outbox();
    one.now += 1_001 * MS;
    one.core.tick(one.now, 0);
    one.sent.extend(one.core.take_effects());
    assert!(one.closed(1));
}

#[test]
fn close_session_answers_then_closes() {
    let mut one = One::new();
    let session = one.connect(1, 0).session_id;
    one.send(1, 1, &create("/e", 1));
    one.send(1, 2, &Request::Close);
    one.commit();
    assert_eq!(one.frames(1).len(), 2);
    assert!(one.closed(1));
    assert!(one.core.state().session(session).is_none());
    assert!(one.core.state().tree().exists("/e").is_none());
}

#[test]
fn unknown_opcodes_and_unsupported_modes_are_unimplemented() {
    let mut one = One::new();
    one.connect(1, 0);
    let ttl = create("/t", 5);
    one.send(1, 1, &ttl);
    one.send(1, 2, &Request::Unknown(21));
    let frames = one.frames(1);
    assert_eq!(
        decoded(&frames[0], &ttl).0.err,
        ZkError::Unimplemented.code()
    );
    assert_eq!(
        decoded(&frames[1], &ttl).0.err,
        ZkError::Unimplemented.code()
    );
    assert!(!one.closed(1));
}

/// The planted bugs of a ZooKeeper server, each failing the test of what it breaks.
#[cfg(feature = "planted-bugs")]
#[test]
fn the_planted_server_bugs_are_caught() {
    use troupe_runtime::plant::{fails_with, Bug};
    assert!(
        fails_with(
            Bug::ZkReadBehindClient,
            a_client_that_saw_more_than_this_replica_is_sent_elsewhere
        ),
        "a client was taken by a replica behind it and the test did not notice"
    );
    assert!(
        fails_with(
            Bug::ZkWatchAfterReply,
            a_watch_fires_before_the_writers_reply_and_only_once
        ),
        "a watch fired after the reply and the test did not notice"
    );
    assert!(
        fails_with(
            Bug::ZkReadAfterLaterWrite,
            writes_behind_a_waiting_read_are_proposed_at_once_and_the_read_sees_only_what_came_before
        ),
        "a read answered after a later write and the test did not notice"
    );
}
