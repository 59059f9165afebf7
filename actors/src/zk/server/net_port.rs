//! ZooKeeper connections over troupe's own network, for clients on other nodes of a simulated
//! cluster (which has messages, not byte streams). Each frame a client sends is a call
//! ([`ZkNetFrame`](troupe_messages::zk::ZkNetFrame)) numbered on its connection; the server
//! takes a connection's frames in that order, whatever order the network delivers them in,
//! and answers each call with every frame it sent on the connection up to and including that
//! frame's reply (the handshake's answer, or the reply with the same xid). Notifications sent
//! between two replies ride on the later one, or on the next ping's, so the client sees the
//! server's frames in exactly the order a TCP connection would give them.

use super::core::ConnId;
use std::collections::{BTreeMap, VecDeque};
use tokio::sync::oneshot;
use troupe_messages::zk::ZkNetFrames;
use troupe_messages::NodeId;

/// The server-side id of connection `conn` of node `client`: the top bit set, apart from the
/// ids of TCP connections.
pub fn conn_id(client: NodeId, conn: u32) -> ConnId {
    (1 << 63) | (u64::from(client.0) << 32) | u64::from(conn)
}

/// Whether `conn` is a connection over troupe's network.
pub fn is_net(conn: ConnId) -> bool {
    conn >> 63 == 1
}

/// What answers a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// The handshake: the first frame the server sends.
    Handshake,
    /// A request: the reply with its xid.
    Xid(i32),
}

type Answer = oneshot::Sender<ZkNetFrames>;

#[derive(Default)]
struct NetConn {
    next_seq: u64,
    held: BTreeMap<u64, (Vec<u8>, Answer)>,
    outbox: Vec<Vec<u8>>,
    waiting: VecDeque<(Expect, Answer)>,
    closed: bool,
    /// Calls that were copies of frames already taken (the network delivered them twice):
    /// never answered while the connection lives, so that the original call's answer, with
    /// its frames, is the one the client gets.
    copies: Vec<Answer>,
}

/// The connections over troupe's network on one server.
#[derive(Default)]
pub struct NetConns {
    conns: BTreeMap<ConnId, NetConn>,
}

impl NetConns {
    /// Frame `seq` of `conn` arrived; `answer` is its call's answer. Returns the frames now
    /// due, in order, each with its answer (for the server to take, after
    /// [`NetConns::expect`]). A closed connection answers at once that it is closed.
    pub fn arrive(
        &mut self,
        conn: ConnId,
        seq: u64,
        frame: Vec<u8>,
        answer: Answer,
    ) -> Vec<(Vec<u8>, Answer)> {
        let c = self.conns.entry(conn).or_default();
        if c.closed {
            let _ = answer.send(ZkNetFrames {
                frames: Vec::new(),
                closed: true,
            });
            return Vec::new();
        }
        if seq < c.next_seq || c.held.contains_key(&seq) {
            c.copies.push(answer);
            return Vec::new();
        }
        c.held.insert(seq, (frame, answer));
        let mut due = Vec::new();
        while let Some(next) = c.held.remove(&c.next_seq) {
            c.next_seq += 1;
            due.push(next);
        }
        due
    }

    /// `answer` waits for what answers `expect` on `conn`.
    pub fn expect(&mut self, conn: ConnId, expect: Expect, answer: Answer) {
        self.conns
            .entry(conn)
            .or_default()
            .waiting
            .push_back((expect, answer));
    }

    /// The server sent `frame` on `conn`.
    pub fn sent(&mut self, conn: ConnId, frame: Vec<u8>) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.outbox.push(frame);
            settle(c);
        }
    }

    /// The server closed `conn`: every call waiting on it is answered, and later ones too.
    pub fn closed(&mut self, conn: ConnId) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        c.closed = true;
        let mut frames: Vec<serde_bytes::ByteBuf> =
            c.outbox.drain(..).map(serde_bytes::ByteBuf::from).collect();
        for (_, answer) in c.waiting.drain(..) {
            let _ = answer.send(ZkNetFrames {
                frames: std::mem::take(&mut frames),
                closed: true,
            });
        }
        let copies = std::mem::take(&mut c.copies).into_iter();
        for answer in std::mem::take(&mut c.held)
            .into_values()
            .map(|(_, answer)| answer)
            .chain(copies)
        {
            let _ = answer.send(ZkNetFrames {
                frames: Vec::new(),
                closed: true,
            });
        }
    }

    /// Forgets `conn` (its client is gone).
    pub fn forget(&mut self, conn: ConnId) {
        self.conns.remove(&conn);
    }
}

/// Answers the calls whose answer is in the outbox, in order.
fn settle(c: &mut NetConn) {
    while let Some((expect, _)) = c.waiting.front() {
        let found = match expect {
            Expect::Handshake => (!c.outbox.is_empty()).then_some(0),
            Expect::Xid(xid) => c.outbox.iter().position(|f| xid_of(f) == Some(*xid)),
        };
        let Some(at) = found else {
            return;
        };
        let frames = c
            .outbox
            .drain(..=at)
            .map(serde_bytes::ByteBuf::from)
            .collect();
        if let Some((_, answer)) = c.waiting.pop_front() {
            let _ = answer.send(ZkNetFrames {
                frames,
                closed: false,
            });
        }
    }
}

/// A reply's xid (its first field).
pub fn xid_of(frame: &[u8]) -> Option<i32> {
    let bytes: [u8; 4] = frame.get(..4)?.try_into().ok()?;
    Some(i32::from_be_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(xid: i32) -> Vec<u8> {
        let mut f = xid.to_be_bytes().to_vec();
        f.extend([0; 12]);
        f
    }

    #[test]
    fn a_copy_of_a_frame_is_not_taken_again_nor_answered_in_place_of_the_original() {
        let mut net = NetConns::default();
        let conn = conn_id(NodeId(4), 1);
        let (a0, mut r0) = oneshot::channel();
        let due = net.arrive(conn, 0, b"hello".to_vec(), a0);
        assert_eq!(due.len(), 1);
        let (copy, mut copy_answer) = oneshot::channel();
        assert!(net.arrive(conn, 0, b"hello".to_vec(), copy).is_empty());
        net.expect(
            conn,
            Expect::Handshake,
            due.into_iter().next().expect("due").1,
        );
        net.sent(conn, b"welcome".to_vec());
        assert_eq!(r0.try_recv().expect("answered").frames.len(), 1);
        assert!(copy_answer.try_recv().is_err(), "the copy was answered");
        net.closed(conn);
        assert!(copy_answer.try_recv().expect("answered at close").closed);
    }

    #[test]
    fn frames_are_taken_in_order_and_answers_carry_what_came_before() {
        let mut net = NetConns::default();
        let conn = conn_id(NodeId(4), 1);
        assert!(is_net(conn));
        let (a1, mut r1) = oneshot::channel();
        let (a0, mut r0) = oneshot::channel();
        // Frame 1 overtakes frame 0 on the network: held back.
        assert!(net.arrive(conn, 1, reply(1), a1).is_empty());
        let due = net.arrive(conn, 0, b"hello".to_vec(), a0);
        assert_eq!(due.len(), 2);
        let mut due = due.into_iter();
        let (_, a0) = due.next().expect("the handshake");
        net.expect(conn, Expect::Handshake, a0);
        let (_, a1) = due.next().expect("the request");
        net.expect(conn, Expect::Xid(1), a1);
        net.sent(conn, b"welcome".to_vec());
        assert_eq!(r0.try_recv().expect("answered").frames.len(), 1);
        // A notification, then the reply: both ride on the reply's answer.
        net.sent(conn, reply(-1));
        assert!(r1.try_recv().is_err(), "answered before its reply");
        net.sent(conn, reply(1));
        let answer = r1.try_recv().expect("answered");
        let xids: Vec<_> = answer.frames.iter().map(|f| xid_of(f)).collect();
        assert_eq!(xids, [Some(-1), Some(1)]);
    }

    #[test]
    fn a_closed_connection_answers_everyone() {
        let mut net = NetConns::default();
        let conn = conn_id(NodeId(4), 2);
        let (a0, mut r0) = oneshot::channel();
        for (_, a) in net.arrive(conn, 0, vec![], a0) {
            net.expect(conn, Expect::Xid(5), a);
        }
        net.sent(conn, reply(-1));
        net.closed(conn);
        let answer = r0.try_recv().expect("answered");
        assert!(answer.closed);
        assert_eq!(answer.frames.len(), 1);
        let (a1, mut r1) = oneshot::channel();
        assert!(net.arrive(conn, 1, vec![], a1).is_empty());
        assert!(r1.try_recv().expect("answered").closed);
    }
}
