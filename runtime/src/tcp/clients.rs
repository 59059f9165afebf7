//! The client port of a real node: clients (which are not nodes, and not in the peer table)
//! connect, authenticate with the cluster's secret like a peer does, and then send
//! `(request id, request)` frames; the node answers each with `(request id, response)` on the
//! same connection, in the order the answers are ready. Many requests may be in flight on one
//! connection, so a client pipelines without opening more sockets.
//!
//! [`serve_clients`] is the node's side, generic over the service's request and response
//! types; [`ClientConnection`] is the client's.
//!
//! Bad input closes the connection it came on, with a logged reason, and nothing else: a
//! failed handshake, a frame over the maximum, a frame that is not a request.

use super::frames::framed;
use super::handshake::{accept, dial, Credentials};
use super::net::{accept_next, within};
use super::tls::{accepted, dialed, Tls};
use crate::{decode, encode, ActorPath, Error, Result};
use futures_util::{SinkExt, StreamExt};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio_util::bytes::Bytes;
use troupe_messages::NodeId;

/// The node id a client presents in the handshake: clients are not nodes, and `n0` is never
/// a node of a cluster.
pub const CLIENT_ID: NodeId = NodeId(0);

/// Requests one connection may have in flight at the node; past this, the node reads no more
/// from that connection until answers go out.
const IN_FLIGHT: usize = 1024;

/// How a node serves its client port.
#[derive(Clone)]
pub struct ClientPortConfig {
    /// The cluster's name and secret (clients must know both), and this node's id.
    pub credentials: Credentials,
    /// The largest frame accepted.
    pub max_frame: usize,
    /// How long a client's handshake may take.
    pub handshake_timeout: Duration,
    /// TLS on every client connection.
    pub tls: Option<Tls>,
}

/// Accepts clients on `listener` and answers each request with `handler`, for as long as the
/// task runs; spawn it on the node's actix System (the handler may use the node, which lives
/// on that thread).
pub async fn serve_clients<Req, Resp, F, Fut>(
    listener: TcpListener,
    config: ClientPortConfig,
    handler: F,
) where
    Req: DeserializeOwned + 'static,
    Resp: Serialize + 'static,
    F: Fn(Req) -> Fut + Clone + 'static,
    Fut: Future<Output = Resp> + 'static,
{
    loop {
        let (stream, from) = accept_next(&listener).await;
        let (config, handler) = (config.clone(), handler.clone());
        actix_rt::spawn(async move {
            if let Err(reason) = serve_connection(stream, &config, handler).await {
                tracing::warn!(%from, "client connection closed: {reason}");
            }
        });
    }
}

async fn serve_connection<Req, Resp, F, Fut>(
    stream: TcpStream,
    config: &ClientPortConfig,
    handler: F,
) -> std::result::Result<(), String>
where
    Req: DeserializeOwned + 'static,
    Resp: Serialize + 'static,
    F: Fn(Req) -> Fut + 'static,
    Fut: Future<Output = Resp> + 'static,
{
    stream.set_nodelay(true).ok();
    let stream = within(
        config.handshake_timeout,
        accepted(config.tls.as_ref(), stream),
    )
    .await
    .map_err(|e| e.to_string())?;
    let mut framed = framed(stream, config.max_frame);
    accept(&mut framed, &config.credentials, config.handshake_timeout)
        .await
        .map_err(|e| e.to_string())?;
    let (mut sink, mut frames) = framed.split();
    let (answers, mut outgoing) = mpsc::unbounded_channel::<Vec<u8>>();
    let writer = actix_rt::spawn(async move {
        while let Some(frame) = outgoing.recv().await {
            if sink.send(Bytes::from(frame)).await.is_err() {
                return;
            }
        }
    });
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    let result = loop {
        let frame = match frames.next().await {
            None => break Ok(()),
            // A TLS peer that hangs up without close_notify: an ordinary hang-up.
            Some(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => break Ok(()),
            Some(Err(e)) => break Err(format!("bad frame: {e}")),
            Some(Ok(frame)) => frame,
        };
        let (id, request) = match decode::<(u64, Req)>(&frame) {
            Ok(decoded) => decoded,
            Err(e) => break Err(format!("not a client request: {e}")),
        };
        let Ok(slot) = slots.clone().acquire_owned().await else {
            break Ok(());
        };
        let (answers, answer) = (answers.clone(), handler(request));
        actix_rt::spawn(async move {
            let response = answer.await;
            match encode(&(id, response)) {
                Ok(frame) => {
                    let _ = answers.send(frame);
                }
                Err(e) => tracing::error!("client response does not encode: {e}"),
            }
            drop(slot);
        });
    };
    drop(answers);
    if result.is_err() {
        writer.abort();
    }
    result
}

type Waiting<Resp> = Arc<Mutex<HashMap<u64, oneshot::Sender<Resp>>>>;

/// A client's authenticated connection to one node's client port. Cheap to share: calls from
/// many tasks are pipelined on the one socket.
pub struct ClientConnection<Req, Resp> {
    addr: SocketAddr,
    outgoing: mpsc::UnboundedSender<Vec<u8>>,
    waiting: Waiting<Resp>,
    /// Set once the node's side is gone (the answers stopped): no call waits on it then.
    closed: Arc<AtomicBool>,
    next_id: AtomicU64,
    _request: std::marker::PhantomData<fn(Req)>,
}

impl<Req, Resp> ClientConnection<Req, Resp>
where
    Req: Serialize,
    Resp: DeserializeOwned + Send + 'static,
{
    /// Connects to `addr` (over TLS if `tls` is set) and authenticates with the cluster's name
    /// and secret (the node id in `credentials` is ignored: a client presents [`CLIENT_ID`]).
    pub async fn connect(
        addr: SocketAddr,
        credentials: &Credentials,
        tls: Option<&Tls>,
        max_frame: usize,
        limit: Duration,
    ) -> Result<Self> {
        let unreachable = |reason: String| Error::Unreachable {
            target: ActorPath::new(CLIENT_ID, addr.to_string()),
            reason,
        };
        let stream = tokio::time::timeout(limit, TcpStream::connect(addr))
            .await
            .map_err(|_| unreachable("connecting timed out".into()))?
            .map_err(|e| unreachable(e.to_string()))?;
        stream.set_nodelay(true).ok();
        let stream = within(limit, dialed(tls, stream)).await?;
        let mut framed = framed(stream, max_frame);
        let credentials = Credentials {
            node: CLIENT_ID,
            ..credentials.clone()
        };
        dial(&mut framed, &credentials, limit).await?;
        let (mut sink, mut frames) = framed.split();
        let (outgoing, mut to_send) = mpsc::unbounded_channel::<Vec<u8>>();
        tokio::spawn(async move {
            while let Some(frame) = to_send.recv().await {
                if sink.send(Bytes::from(frame)).await.is_err() {
                    return;
                }
            }
        });
        let waiting: Waiting<Resp> = Arc::default();
        let dispatch = waiting.clone();
        let closed = Arc::new(AtomicBool::new(false));
        let reader_closed = closed.clone();
        tokio::spawn(async move {
            while let Some(Ok(frame)) = frames.next().await {
                let Ok((id, response)) = decode::<(u64, Resp)>(&frame) else {
                    tracing::warn!(%addr, "undecodable answer from the node; closing");
                    break;
                };
                let waiter = dispatch.lock().ok().and_then(|mut w| w.remove(&id));
                if let Some(waiter) = waiter {
                    let _ = waiter.send(response);
                }
            }
            // Whoever still waits learns that the connection is gone, and no later call waits:
            // `closed` is set before the waiters are dropped, and a call checks it after it
            // has put its waiter in.
            reader_closed.store(true, Ordering::SeqCst);
            if let Ok(mut waiting) = dispatch.lock() {
                waiting.clear();
            }
        });
        Ok(ClientConnection {
            addr,
            outgoing,
            waiting,
            closed,
            next_id: AtomicU64::new(1),
            _request: std::marker::PhantomData,
        })
    }

    /// The node's client address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Whether the connection is still open: the node's side has not closed it (a node that
    /// died leaves a socket a write may still go into, but no answer comes back on it).
    pub fn is_open(&self) -> bool {
        !self.outgoing.is_closed() && !self.closed.load(Ordering::SeqCst)
    }

    /// Sends `request` and waits up to `timeout` for its answer.
    pub async fn call(&self, request: &Req, timeout: Duration) -> Result<Resp> {
        let target = || ActorPath::new(CLIENT_ID, self.addr.to_string());
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let frame = encode(&(id, request))?;
        let (tx, rx) = oneshot::channel();
        if let Ok(mut waiting) = self.waiting.lock() {
            waiting.insert(id, tx);
        }
        let forget = || {
            if let Ok(mut waiting) = self.waiting.lock() {
                waiting.remove(&id);
            }
        };
        if self.closed.load(Ordering::SeqCst) || self.outgoing.send(frame).is_err() {
            forget();
            return Err(Error::Unreachable {
                target: target(),
                reason: "the connection is closed".into(),
            });
        }
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(_)) => Err(Error::Unreachable {
                target: target(),
                reason: "the connection closed before the answer came".into(),
            }),
            Err(_) => {
                forget();
                Err(Error::Timeout {
                    target: target(),
                    after: timeout,
                })
            }
        }
    }
}
