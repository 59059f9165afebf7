//! The ZooKeeper client port: ZooKeeper's own protocol (jute in 4-byte length-prefixed frames)
//! over TCP, so that kazoo, zkCli and any other ZooKeeper client talk to a troupe server
//! unchanged. Each connection is a task that hands its frames to the server actor and writes
//! what the server sends back, in order. A frame over the limit, or one the server cannot
//! decode, closes that connection and nothing else.

use super::actor::{ConnClosed, ConnFrame, ConnOpened, ConnOut, ServerCell, ZkServer};
use actix::Addr;
use futures_util::{SinkExt as _, StreamExt};
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::codec::{Framed, LengthDelimitedCodec};

/// The largest frame a client may send: jute's 1 MB buffer limit and room for the record
/// around it.
pub const MAX_FRAME: usize = (1 << 20) + 1024;

/// Connection ids, unique in the process.
static NEXT_CONN: AtomicU64 = AtomicU64::new(1);

/// Serves ZooKeeper clients on `listener` for the server in `cell` until the listener fails.
/// A connection made while no server runs (it is restarting) is closed at once.
pub async fn serve(listener: TcpListener, cell: ServerCell) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let Some(server) = cell.get() else {
                    continue;
                };
                let conn = NEXT_CONN.fetch_add(1, Ordering::Relaxed);
                actix::spawn(connection(stream, conn, server));
            }
            Err(e) => {
                tracing::warn!("the ZooKeeper client port stops: {e}");
                return;
            }
        }
    }
}

async fn connection(stream: TcpStream, conn: u64, server: Addr<ZkServer>) {
    let _ = stream.set_nodelay(true);
    let codec = LengthDelimitedCodec::builder()
        .max_frame_length(MAX_FRAME)
        .new_codec();
    let (mut sink, mut frames) =
        StreamExt::split::<tokio_util::bytes::Bytes>(Framed::new(stream, codec));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    server.do_send(ConnOpened { conn, sink: tx });
    loop {
        tokio::select! {
            frame = frames.next() => match frame {
                Some(Ok(bytes)) => server.do_send(ConnFrame { conn, bytes: bytes.to_vec() }),
                Some(Err(e)) => {
                    tracing::debug!(conn, "a ZooKeeper connection closes: {e}");
                    break;
                }
                None => break,
            },
            out = rx.recv() => match out {
                Some(ConnOut::Frame(frame)) => {
                    if sink.send(tokio_util::bytes::Bytes::from(frame)).await.is_err() {
                        break;
                    }
                }
                Some(ConnOut::Close) | None => break,
            },
        }
    }
    let _ = sink.close().await;
    server.do_send(ConnClosed { conn });
}
