//! Bad input on both ports of a real node (peer port and client port): random bytes, a
//! truncated frame, a 4 GiB length prefix, a wrong secret, and a well-formed frame of an unknown
//! kind after a good handshake. Each connection is closed by the node (the handshake ones with a
//! refusal that says why), and after each the node still serves a normal put and get.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::bytes::Bytes;
use troupe_actors::client::Outcome;
use troupe_actors::kv::remote::RemoteClerk;
use troupe_messages::kv::KvOp;
use troupe_runtime::tcp::frames::{framed, MAX_FRAME};
use troupe_runtime::tcp::handshake::{dial, Credentials};
use troupe_runtime::{encode, Envelope, Flow, NodeId, TraceId};

const SECRET: &[u8] = b"the cluster secret";

fn credentials(node: u32, secret: &[u8]) -> Credentials {
    Credentials {
        cluster: "bad-input".into(),
        node: NodeId(node),
        secret: secret.to_vec(),
    }
}

#[derive(Debug, Clone, Copy)]
enum Attack {
    RandomBytes,
    TruncatedFrame,
    HugeLength,
    WrongSecret,
    UnknownKind,
}

/// Runs one attack on `addr`; returns what the node said before closing (if anything).
/// Panics if the node does not close the connection within 10 s.
async fn attack(addr: SocketAddr, attack: Attack, peer_port: bool) -> String {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    match attack {
        Attack::RandomBytes => {
            // Noise from the test's seed (TROUPE_SEED replays it), different on each port.
            let seed = troupe_runtime::testkit::seed_or(1) + u64::from(peer_port);
            let mut junk = [0u8; 64];
            rand::RngCore::fill_bytes(
                &mut <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(seed),
                &mut junk,
            );
            junk[..4].copy_from_slice(&[0, 0, 0, 60]); // a plausible length, then noise
            stream.write_all(&junk).await.expect("write");
        }
        Attack::TruncatedFrame => {
            stream
                .write_all(&[0, 0, 0, 100, 1, 2, 3])
                .await
                .expect("write");
            stream.shutdown().await.expect("shutdown");
        }
        Attack::HugeLength => {
            stream
                .write_all(&[0xff, 0xff, 0xff, 0xff, 1, 2])
                .await
                .expect("write");
        }
        Attack::WrongSecret => {
            let mut framed = framed(stream, MAX_FRAME);
            let err = dial(
                &mut framed,
                &credentials(7, b"a guess"),
                Duration::from_secs(5),
            )
            .await
            .expect_err("a wrong secret must be refused");
            return err.to_string();
        }
        Attack::UnknownKind => {
            let mut framed = framed(stream, MAX_FRAME);
            dial(&mut framed, &credentials(7, SECRET), Duration::from_secs(5))
                .await
                .expect("the right secret is welcome");
            let frame = if peer_port {
                Envelope {
                    from: NodeId(7),
                    to: NodeId(1),
                    to_name: "kv".into(),
                    kind: "no.such.kind".into(),
                    trace: TraceId::from_u128(1),
                    flow: Flow::OneWay,
                    body: vec![1, 2, 3],
                }
                .to_frame()
                .expect("encodes")
            } else {
                encode(&(1u64, "no such request")).expect("encodes")
            };
            futures_util::SinkExt::send(&mut framed, Bytes::from(frame))
                .await
                .expect("send");
            stream = framed.into_inner();
        }
    }
    // The node must close the connection; collect whatever it said first.
    let mut said = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => said.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "{attack:?}: the node did not close the connection"
    );
    String::from_utf8_lossy(&said).into_owned()
}

/// A put and a get of a fresh key succeed.
async fn serves(clerk: &mut RemoteClerk, label: &str) {
    let key = format!("after-{label}");
    let put = KvOp::Put {
        key: key.clone(),
        value: label.into(),
    };
    assert_eq!(
        clerk.run(put, Duration::from_secs(10)).await,
        Outcome::Done(None),
        "{label}: the node stopped serving"
    );
    let get = KvOp::Get { key };
    assert_eq!(
        clerk.run(get, Duration::from_secs(10)).await,
        Outcome::Done(Some(label.into())),
        "{label}"
    );
}

#[test]
fn bad_input_on_either_port_closes_that_connection_and_nothing_else() {
    let dir: PathBuf =
        std::env::temp_dir().join(format!("troupe-bad-input-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    actix_rt::System::new().block_on(async {
        let peers = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let clients = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let (peer_addr, client_addr) = (peers.local_addr().unwrap(), clients.local_addr().unwrap());
        let config = crate::one_node_config("bad-input", SECRET, &dir, peer_addr, client_addr);
        let running = troupe::deploy::start(&config, NodeId(1), peers, clients).expect("starts");
        let mut clerk = RemoteClerk::new(vec![(NodeId(1), client_addr)], credentials(0, SECRET), 1);
        serves(&mut clerk, "start").await;

        let attacks = [
            Attack::RandomBytes,
            Attack::TruncatedFrame,
            Attack::HugeLength,
            Attack::WrongSecret,
            Attack::UnknownKind,
        ];
        for (port, addr) in [("peer", peer_addr), ("client", client_addr)] {
            for attack in attacks {
                let said = self::attack(addr, attack, port == "peer").await;
                match attack {
                    Attack::WrongSecret => assert!(
                        said.contains("secret") || said.contains("refused us"),
                        "{port} port, {attack:?}: {said}"
                    ),
                    // Before a handshake, the node says why it refuses.
                    Attack::RandomBytes | Attack::TruncatedFrame | Attack::HugeLength => {
                        assert!(
                            said.contains("handshake") || said.contains("frame"),
                            "{port} port, {attack:?}: the refusal names no reason: {said:?} \
                             (TROUPE_SEED={})",
                            troupe_runtime::testkit::seed_or(1)
                        )
                    }
                    Attack::UnknownKind => {}
                }
                serves(&mut clerk, &format!("{port}-{attack:?}")).await;
            }
        }
        // The peer port counted the unknown kind it refused.
        assert_eq!(running.node.stats().rejected_unknown_kind, 1);
    });
    let _ = std::fs::remove_dir_all(&dir);
}
