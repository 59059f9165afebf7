//! TcpNet: the network of real nodes, one process each. Every peer connection is TCP with
//! length-delimited frames, authenticated by the handshake before any frame is delivered. Each
//! node dials every peer it sends to (one connection per direction, so frames to one peer stay
//! in order), reconnects with exponential backoff, and accepts its peers' connections.
//!
//! The node built on it is the same [`Node`] the simulation uses: actors cannot tell the
//! difference.

use super::frames::{framed, MAX_FRAME};
use super::handshake::{accept, dial, Credentials};
use super::tls::{accepted, dialed, Tls};
use crate::envelope::Envelope;
use crate::events::EventLog;
use crate::node::{Node, NodeConfig, NodeParts, Transport};
use crate::persist::Persister;
use crate::{Error, Result};
use futures_util::{SinkExt, StreamExt};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use troupe_messages::NodeId;

/// Frames waiting for one peer; past this, new frames to it are dropped (as a full link would).
const OUTBOX: usize = 10_000;

/// How a real node talks to its peers.
#[derive(Clone)]
pub struct TcpConfig {
    /// The cluster's name and secret, and this node's id.
    pub credentials: Credentials,
    /// Every peer's address (this node's own entry, if present, is ignored).
    pub peers: BTreeMap<NodeId, SocketAddr>,
    /// The largest frame accepted.
    pub max_frame: usize,
    /// How long a handshake may take.
    pub handshake_timeout: Duration,
    /// First and longest pause between reconnection attempts.
    pub backoff: (Duration, Duration),
    /// TLS on every peer connection (both ends must agree).
    pub tls: Option<Tls>,
}

impl TcpConfig {
    /// Defaults: 16 MiB frames, 5 s handshakes, reconnect after 50 ms doubling to 2 s, no TLS.
    pub fn new(credentials: Credentials, peers: BTreeMap<NodeId, SocketAddr>) -> Self {
        TcpConfig {
            credentials,
            peers,
            max_frame: MAX_FRAME,
            handshake_timeout: Duration::from_secs(5),
            backoff: (Duration::from_millis(50), Duration::from_secs(2)),
            tls: None,
        }
    }
}

struct TcpTransport {
    me: NodeId,
    peers: BTreeMap<NodeId, SocketAddr>,
    outboxes: BTreeMap<NodeId, mpsc::Sender<Vec<u8>>>,
}

impl Transport for TcpTransport {
    fn send(&self, envelope: Envelope) {
        let Some(outbox) = self.outboxes.get(&envelope.to) else {
            tracing::warn!(from = %self.me, to = %envelope.to, "no such peer");
            return;
        };
        match envelope.to_frame() {
            Ok(frame) => {
                if outbox.try_send(frame).is_err() {
                    tracing::debug!(to = %envelope.to, "outbox full or closed: frame dropped");
                }
            }
            Err(e) => tracing::error!(kind = %envelope.kind, "message does not encode: {e}"),
        }
    }

    fn knows(&self, node: NodeId) -> bool {
        node == self.me || self.peers.contains_key(&node)
    }
}

/// Starts a node on TCP: accepts peers on `listener`, dials peers as it sends to them. Must be
/// called inside an actix System (a real-time one).
pub fn start_node(
    listener: TcpListener,
    config: TcpConfig,
    persister: Arc<dyn Persister>,
    node_config: NodeConfig,
) -> Result<Node> {
    let me = config.credentials.node;
    let mut outboxes = BTreeMap::new();
    let mut dialers = Vec::new();
    for (&peer, &addr) in config.peers.iter().filter(|(&p, _)| p != me) {
        let (tx, rx) = mpsc::channel(OUTBOX);
        outboxes.insert(peer, tx);
        dialers.push((peer, addr, rx));
    }
    let transport = TcpTransport {
        me,
        peers: config.peers.clone(),
        outboxes,
    };
    let seed = rand::RngCore::next_u64(&mut rand::rngs::OsRng);
    let node = Node::new(NodeParts {
        id: me,
        incarnation: 0,
        transport: Rc::new(transport),
        persister,
        log: EventLog::new(),
        rng_seed: seed,
        config: node_config,
    });
    for (peer, addr, rx) in dialers {
        actix_rt::spawn(dial_loop(config.clone(), peer, addr, rx));
    }
    actix_rt::spawn(accept_loop(listener, config, node.downgrade()));
    Ok(node)
}

/// Keeps a connection to `peer` and writes its frames, reconnecting with backoff.
async fn dial_loop(
    config: TcpConfig,
    peer: NodeId,
    addr: SocketAddr,
    mut rx: mpsc::Receiver<Vec<u8>>,
) {
    let mut pause = config.backoff.0;
    loop {
        let connected = async {
            let stream = TcpStream::connect(addr)
                .await
                .map_err(|e| Error::Unreachable {
                    target: crate::ActorPath::new(peer, ""),
                    reason: e.to_string(),
                })?;
            stream.set_nodelay(true).ok();
            let stream = within(
                config.handshake_timeout,
                dialed(config.tls.as_ref(), stream),
            )
            .await?;
            let mut framed = framed(stream, config.max_frame);
            let who = dial(&mut framed, &config.credentials, config.handshake_timeout).await?;
            if who != peer {
                return Err(Error::Handshake(format!(
                    "{addr} is {who}, expected {peer}"
                )));
            }
            Ok(framed)
        }
        .await;
        match connected {
            Ok(mut framed) => {
                pause = config.backoff.0;
                tracing::info!(%peer, %addr, "connected");
                while let Some(frame) = rx.recv().await {
                    if let Err(e) = framed.send(tokio_util::bytes::Bytes::from(frame)).await {
                        tracing::info!(%peer, "connection lost: {e}");
                        break;
                    }
                }
                if rx.is_closed() {
                    return; // the node is gone
                }
            }
            Err(e) => {
                tracing::debug!(%peer, %addr, "cannot connect: {e}");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(config.backoff.1);
            }
        }
    }
}

/// Accepts peers; each connection is authenticated, then its frames go to the node.
async fn accept_loop(listener: TcpListener, config: TcpConfig, node: Weak<crate::node::NodeInner>) {
    loop {
        let (stream, from) = accept_next(&listener).await;
        let (config, node) = (config.clone(), node.clone());
        actix_rt::spawn(async move {
            stream.set_nodelay(true).ok();
            let stream = match within(
                config.handshake_timeout,
                accepted(config.tls.as_ref(), stream),
            )
            .await
            {
                Ok(stream) => stream,
                Err(e) => {
                    tracing::warn!(%from, "connection refused: {e}");
                    return;
                }
            };
            let mut framed = framed(stream, config.max_frame);
            let peer =
                match accept(&mut framed, &config.credentials, config.handshake_timeout).await {
                    Ok(peer) => peer,
                    Err(e) => {
                        tracing::warn!(%from, "connection refused: {e}");
                        return;
                    }
                };
            while let Some(frame) = framed.next().await {
                let Some(node) = Node::from_weak(&node) else {
                    return;
                };
                match frame {
                    Ok(frame) => {
                        let before = protocol_violations(&node);
                        node.receive_frame(&frame);
                        if protocol_violations(&node) > before {
                            tracing::warn!(%peer, %from, "closing a connection that sent a malformed frame or an unknown message kind");
                            return;
                        }
                    }
                    // A TLS peer that hangs up without close_notify (a restart, say).
                    Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                        tracing::info!(%peer, %from, "connection ended: {e}");
                        return;
                    }
                    Err(e) => {
                        tracing::warn!(%peer, %from, "closing a connection: {e}");
                        return;
                    }
                }
            }
        });
    }
}

/// Frames a peer should never send: not an envelope, a kind nobody accepts, a body that does
/// not decode. (A message for an actor that is not there is routine during restarts.)
fn protocol_violations(node: &Node) -> u64 {
    let stats = node.stats();
    stats.bad_frames + stats.rejected_unknown_kind + stats.rejected_undecodable
}

/// `future`, or a TLS error once `limit` has passed.
pub(crate) async fn within<T>(
    limit: Duration,
    future: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    tokio::time::timeout(limit, future)
        .await
        .map_err(|_| Error::Tls {
            context: format!("the TLS handshake took longer than {limit:?}"),
            cause: None,
        })?
}

/// The next connection on `listener`. A failed accept (out of file descriptors, say) is logged
/// and retried after a pause, so that the listener never spins or stops.
pub(crate) async fn accept_next(listener: &TcpListener) -> (TcpStream, SocketAddr) {
    loop {
        match listener.accept().await {
            Ok(accepted) => return accepted,
            Err(e) => {
                tracing::warn!(addr = ?listener.local_addr().ok(), "accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}
