//! How a client reaches a server: a TCP connection with ZooKeeper's length-prefixed frames
//! (any ZooKeeper server), or, on a simulated cluster, calls over troupe's network to a
//! troupe server's [`net_port`](crate::zk::server::net_port) (numbered frames, answered in
//! order).

use futures_util::{SinkExt, StreamExt};
use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_util::bytes::Bytes;
use tokio_util::codec::{Framed, LengthDelimitedCodec};
use troupe_messages::zk::{ZkNetFrame, ZkNetFrames};
use troupe_messages::{ActorPath, NodeId};
use troupe_runtime::Node;

/// Where a client's servers are: opens a link to one of them.
pub trait Links {
    /// The link to one server.
    type Link: FrameLink;
    /// How many servers there are.
    fn count(&self) -> usize;
    /// A link to server `i` (before its handshake), or None if it cannot be reached.
    fn open(&mut self, i: usize) -> impl std::future::Future<Output = Option<Self::Link>>;
}

/// A connection to one server: frames out, frames in, in order.
pub trait FrameLink {
    /// Sends a frame; false if the link is broken.
    fn send(&mut self, frame: Vec<u8>) -> impl std::future::Future<Output = bool>;
    /// The next frame from the server, or None once the link is broken. Cancel-safe: a frame
    /// is never lost when this future is dropped before it finishes.
    fn next(&mut self) -> impl std::future::Future<Output = Option<Vec<u8>>>;
}

/// TCP connections to servers' ZooKeeper ports.
pub struct TcpLinks(pub Vec<SocketAddr>);

impl Links for TcpLinks {
    type Link = Framed<TcpStream, LengthDelimitedCodec>;

    fn count(&self) -> usize {
        self.0.len()
    }

    async fn open(&mut self, i: usize) -> Option<Self::Link> {
        let stream = TcpStream::connect(*self.0.get(i)?).await.ok()?;
        let _ = stream.set_nodelay(true);
        let codec = LengthDelimitedCodec::builder()
            .max_frame_length(crate::zk::server::tcp::MAX_FRAME)
            .new_codec();
        Some(Framed::new(stream, codec))
    }
}

impl FrameLink for Framed<TcpStream, LengthDelimitedCodec> {
    async fn send(&mut self, frame: Vec<u8>) -> bool {
        SinkExt::send(self, Bytes::from(frame)).await.is_ok()
    }

    async fn next(&mut self) -> Option<Vec<u8>> {
        match StreamExt::next(self).await {
            Some(Ok(frame)) => Some(frame.to_vec()),
            _ => None,
        }
    }
}

/// Connections over troupe's network from `node` to troupe servers on `servers`.
pub struct NetLinks {
    /// The client's node.
    pub node: Node,
    /// The servers' nodes.
    pub servers: Vec<NodeId>,
    /// How long a frame's call may take before the link counts as broken.
    pub call_timeout: Duration,
}

impl Links for NetLinks {
    type Link = NetLink;

    fn count(&self) -> usize {
        self.servers.len()
    }

    async fn open(&mut self, i: usize) -> Option<NetLink> {
        let server = *self.servers.get(i)?;
        let (answers, arrivals) = mpsc::unbounded_channel();
        Some(NetLink {
            node: self.node.clone(),
            server: ActorPath::new(server, crate::zk::server::actor::NAME),
            conn: self.node.with_rng(rand::Rng::gen),
            next_seq: 0,
            answers,
            arrivals,
            arrived: BTreeMap::new(),
            expected: 0,
            ready: VecDeque::new(),
            closed: false,
            call_timeout: self.call_timeout,
        })
    }
}

type Arrival = (u64, Option<ZkNetFrames>);

/// One connection over troupe's network: every frame a call, the answers put back in order.
pub struct NetLink {
    node: Node,
    server: ActorPath,
    conn: u32,
    next_seq: u64,
    answers: mpsc::UnboundedSender<Arrival>,
    arrivals: mpsc::UnboundedReceiver<Arrival>,
    arrived: BTreeMap<u64, Option<ZkNetFrames>>,
    expected: u64,
    ready: VecDeque<Vec<u8>>,
    closed: bool,
    call_timeout: Duration,
}

impl FrameLink for NetLink {
    async fn send(&mut self, frame: Vec<u8>) -> bool {
        if self.closed {
            return false;
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        let call = ZkNetFrame {
            client: self.node.id(),
            conn: self.conn,
            seq,
            frame: frame.into(),
        };
        let (node, to, answers, timeout) = (
            self.node.clone(),
            self.server.clone(),
            self.answers.clone(),
            self.call_timeout,
        );
        actix::spawn(async move {
            let answer = node.call(&to, call, timeout).await.ok();
            let _ = answers.send((seq, answer));
        });
        true
    }

    async fn next(&mut self) -> Option<Vec<u8>> {
        loop {
            if let Some(frame) = self.ready.pop_front() {
                return Some(frame);
            }
            if self.closed {
                return None;
            }
            if let Some(answer) = self.arrived.remove(&self.expected) {
                self.expected += 1;
                match answer {
                    Some(frames) => {
                        self.ready
                            .extend(frames.frames.into_iter().map(|f| f.into_vec()));
                        self.closed = frames.closed;
                    }
                    // No answer in time: the connection counts as broken.
                    None => self.closed = true,
                }
                continue;
            }
            let (seq, answer) = self.arrivals.recv().await?;
            self.arrived.insert(seq, answer);
        }
    }
}
