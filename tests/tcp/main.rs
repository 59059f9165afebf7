//! TcpNet on loopback: nodes on real sockets (ports chosen by the OS) call each other through
//! the same API as in simulation; a peer with the wrong secret is refused and delivers nothing;
//! garbage on the peer port closes that connection and nothing else. No test sleeps to wait: each
//! polls with a deadline.

use actix::{Actor, Context, Handler};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use troupe_messages::echo::{Echo, Note, NotesSeen};
use troupe_runtime::tcp::handshake::Credentials;
use troupe_runtime::tcp::net::{start_node, TcpConfig};
use troupe_runtime::{ActorPath, MemPersister, Node, NodeConfig, NodeId};

struct EchoActor {
    notes: u64,
}

impl Actor for EchoActor {
    type Context = Context<Self>;
}

impl Handler<Echo> for EchoActor {
    type Result = String;
    fn handle(&mut self, msg: Echo, _: &mut Context<Self>) -> String {
        msg.0
    }
}

impl Handler<Note> for EchoActor {
    type Result = ();
    fn handle(&mut self, _: Note, _: &mut Context<Self>) {
        self.notes += 1;
    }
}

impl Handler<NotesSeen> for EchoActor {
    type Result = u64;
    fn handle(&mut self, _: NotesSeen, _: &mut Context<Self>) -> u64 {
        self.notes
    }
}

fn node(
    id: u32,
    secret: &[u8],
    listener: TcpListener,
    peers: &BTreeMap<NodeId, SocketAddr>,
) -> Node {
    let credentials = Credentials {
        cluster: "loop".into(),
        node: NodeId(id),
        secret: secret.to_vec(),
    };
    let config = TcpConfig::new(credentials, peers.clone());
    start_node(
        listener,
        config,
        Arc::new(MemPersister::new()),
        NodeConfig::default(),
    )
    .expect("node starts")
}

/// Retries `call` until it returns `Some` or 10 s pass.
async fn eventually<T, F: std::future::Future<Output = Option<T>>>(
    what: &str,
    mut call: impl FnMut() -> F,
) -> T {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        if let Some(v) = call().await {
            return v;
        }
    }
    panic!("{what}: not within 10 s");
}

#[test]
fn nodes_talk_over_tcp_and_intruders_are_refused() {
    actix_rt::System::new().block_on(async {
        let mut listeners = Vec::new();
        let mut peers = BTreeMap::new();
        for id in 1..=3u32 {
            let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            peers.insert(NodeId(id), l.local_addr().expect("addr"));
            listeners.push(l);
        }
        let mut listeners = listeners.into_iter();
        let n1 = node(1, b"right", listeners.next().unwrap(), &peers);
        let n2 = node(2, b"right", listeners.next().unwrap(), &peers);
        let intruder = node(3, b"wrong", listeners.next().unwrap(), &peers);
        n2.spawn_named("echo", EchoActor { notes: 0 })
            .expect("name free")
            .accept::<Echo>()
            .accept::<Note>()
            .accept::<NotesSeen>();
        let echo = ActorPath::new(NodeId(2), "echo");

        // The intruder sends first; none of it may arrive.
        for i in 0..20 {
            intruder
                .send(&echo, Note(format!("intruder {i}")))
                .expect("queued");
        }
        // A call across real TCP, through the same API as in simulation.
        let answer = eventually("an echo over TCP", || {
            let (n1, echo) = (n1.clone(), echo.clone());
            async move {
                n1.call(&echo, Echo("over tcp".into()), Duration::from_millis(200))
                    .await
                    .ok()
            }
        })
        .await;
        assert_eq!(answer, "over tcp");

        // Garbage on the peer port: random bytes, and a 4 GiB length prefix.
        for junk in [
            vec![0x13u8, 0x37, 0xde, 0xad, 0xbe, 0xef, 0, 1, 2],
            vec![0xff, 0xff, 0xff, 0xff, 1],
        ] {
            let mut raw = TcpStream::connect(peers[&NodeId(2)])
                .await
                .expect("connect");
            raw.write_all(&junk).await.expect("write");
        }
        // n1's note arrives (the node still serves); the intruder's twenty never do.
        n1.send(&echo, Note("from n1".into())).expect("queued");
        let seen = eventually("n1's note", || {
            let (n1, echo) = (n1.clone(), echo.clone());
            async move {
                match n1.call(&echo, NotesSeen, Duration::from_millis(200)).await {
                    Ok(n) if n >= 1 => Some(n),
                    _ => None,
                }
            }
        })
        .await;
        assert_eq!(seen, 1, "only n1's note may be delivered");
        assert_eq!(
            n1.call(&echo, Echo("still here".into()), Duration::from_secs(1))
                .await
                .as_deref(),
            Ok("still here")
        );
    });
}
