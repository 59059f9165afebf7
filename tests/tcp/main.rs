//! TcpNet on loopback: nodes on real sockets (ports chosen by the OS) call each other through
//! the same API as in simulation; a peer with the wrong secret is refused and delivers nothing;
//! garbage on the peer port closes that connection and nothing else. No test sleeps to wait: each
//! polls with a deadline.

mod bad_input;
mod tls;

/// A one-node cluster configuration `cluster` with `secret`, its data under `dir`, serving on
/// the given peer and client addresses.
pub fn one_node_config(
    cluster: &str,
    secret: &[u8],
    dir: &std::path::Path,
    peer_addr: SocketAddr,
    client_addr: SocketAddr,
) -> troupe::config::ClusterConfig {
    troupe::config::ClusterConfig {
        cluster: cluster.into(),
        system: "raft-kv".into(),
        secret: Some(troupe::config::encode_hex(secret)),
        secret_file: None,
        data_dir: "data".into(),
        timeouts: troupe::config::Timeouts::default(),
        max_raft_state_bytes: 1 << 20,
        tls: None,
        chain: None,
        gfs: None,
        nodes: vec![troupe::config::NodeEntry {
            id: "n1".into(),
            peer_addr,
            client_addr,
            zk_addr: None,
            roles: Vec::new(),
        }],
        base: dir.to_path_buf(),
    }
}

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use troupe_actors::ping::{Pinger, NAME as PINGER};
use troupe_messages::ping::{GetCounts, Ping, Tick};
use troupe_runtime::tcp::handshake::Credentials;
use troupe_runtime::tcp::net::{start_node, TcpConfig};
use troupe_runtime::{ActorPath, MemPersister, Node, NodeConfig, NodeId};

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
        // A pinger with no peers of its own: it answers pings and counts ticks.
        Pinger::start(&n2, [], Duration::from_secs(1)).expect("name free");
        let pinger = ActorPath::new(NodeId(2), PINGER);

        // The intruder sends first; none of it may arrive.
        for i in 0..20 {
            intruder.send(&pinger, Tick(i)).expect("queued");
        }
        // A call across real TCP, through the same API as in simulation.
        let answer = eventually("a ping over TCP", || {
            let (n1, pinger) = (n1.clone(), pinger.clone());
            async move {
                n1.call(&pinger, Ping(42), Duration::from_millis(200))
                    .await
                    .ok()
            }
        })
        .await;
        assert_eq!(answer, 42);

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
        // n1's tick arrives (the node still serves); the intruder's twenty never do.
        n1.send(&pinger, Tick(1000)).expect("queued");
        let seen = eventually("n1's tick", || {
            let (n1, pinger) = (n1.clone(), pinger.clone());
            async move {
                match n1
                    .call(&pinger, GetCounts, Duration::from_millis(200))
                    .await
                {
                    Ok(c) if c.ticks >= 1 => Some(c.ticks),
                    _ => None,
                }
            }
        })
        .await;
        assert_eq!(seen, 1, "only n1's tick may be delivered");
        assert_eq!(
            n1.call(&pinger, Ping(7), Duration::from_secs(1)).await,
            Ok(7)
        );
    });
}
