//! TLS on a real node's ports: a client that trusts the cluster's CA works, and what crosses
//! the wire is not readable (a recording proxy finds neither the key nor the value in it); a
//! client without TLS, or trusting another CA, is refused, and the node keeps serving.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use troupe::config::ClusterConfig;
use troupe_actors::client::Outcome;
use troupe_messages::kv::KvOp;
use troupe_runtime::NodeId;

fn config(
    dir: &Path,
    peer_addr: std::net::SocketAddr,
    client_addr: std::net::SocketAddr,
) -> ClusterConfig {
    let mut config =
        crate::one_node_config("tls-test", b"tls test secret", dir, peer_addr, client_addr);
    config.generate_tls(dir).expect("certificates");
    config
}

/// Forwards one connection from `listener` to `target`, recording what the client sent.
async fn recording_proxy(
    listener: TcpListener,
    target: std::net::SocketAddr,
    seen: Arc<Mutex<Vec<u8>>>,
) {
    loop {
        let Ok((mut client, _)) = listener.accept().await else {
            return;
        };
        let Ok(mut server) = TcpStream::connect(target).await else {
            return;
        };
        let seen = seen.clone();
        actix_rt::spawn(async move {
            let (mut cr, mut cw) = client.split();
            let (mut sr, mut sw) = server.split();
            let upstream = async {
                let mut buf = [0u8; 4096];
                while let Ok(n) = cr.read(&mut buf).await {
                    if n == 0 || sw.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                    seen.lock().expect("lock").extend_from_slice(&buf[..n]);
                }
                let _ = sw.shutdown().await;
            };
            let downstream = tokio::io::copy(&mut sr, &mut cw);
            let _ = tokio::join!(upstream, downstream);
        });
    }
}

fn put(key: &str, value: &str) -> KvOp {
    KvOp::Put {
        key: key.into(),
        value: value.into(),
    }
}

#[test]
fn tls_clients_are_served_and_others_refused() {
    let dir: PathBuf = std::env::temp_dir().join(format!("troupe-tls-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    actix_rt::System::new().block_on(async {
        let peers = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let clients = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let client_addr = clients.local_addr().expect("addr");
        let config = config(&dir, peers.local_addr().expect("addr"), client_addr);
        let _node = troupe::deploy::start(&config, NodeId(1), peers, clients).expect("starts");

        // Through a recording proxy: served, and nothing readable on the wire.
        let proxy = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let proxy_addr = proxy.local_addr().expect("addr");
        let seen = Arc::new(Mutex::new(Vec::new()));
        actix_rt::spawn(recording_proxy(proxy, client_addr, seen.clone()));
        let mut through_proxy = config.clone();
        through_proxy.nodes[0].client_addr = proxy_addr;
        let mut clerk = troupe::deploy::clerk(&through_proxy, 1).expect("clerk");
        let outcome = clerk
            .run(
                put("the-secret-key", "the-secret-value"),
                Duration::from_secs(10),
            )
            .await;
        assert_eq!(outcome, Outcome::Done(None));
        let wire = seen.lock().expect("lock").clone();
        assert!(wire.len() > 100, "the proxy saw the traffic");
        for needle in [&b"the-secret-key"[..], b"the-secret-value", b"tls-test"] {
            assert!(
                !wire.windows(needle.len()).any(|w| w == needle),
                "{} is readable on the wire",
                String::from_utf8_lossy(needle)
            );
        }

        // No TLS: refused.
        let mut plain = config.clone();
        plain.tls = None;
        let mut plain = troupe::deploy::clerk(&plain, 2).expect("clerk");
        plain.attempt_timeout = Duration::from_millis(500);
        let outcome = plain.run(put("k", "plain"), Duration::from_secs(1)).await;
        assert_ne!(
            outcome,
            Outcome::Done(None),
            "a client without TLS was served"
        );

        // TLS, but trusting another cluster's CA: refused.
        let other_dir = dir.join("other");
        let other = self::config(&other_dir, client_addr, client_addr);
        let mut stranger = config.clone();
        stranger.tls = other.tls.clone();
        stranger.base = other_dir.clone();
        let mut stranger = troupe::deploy::clerk(&stranger, 3).expect("clerk");
        stranger.attempt_timeout = Duration::from_millis(500);
        let outcome = stranger
            .run(put("k", "stranger"), Duration::from_secs(1))
            .await;
        assert_ne!(
            outcome,
            Outcome::Done(None),
            "a client trusting another CA was served"
        );

        // The node still serves its own clients.
        let mut direct = troupe::deploy::clerk(&config, 4).expect("clerk");
        let read = KvOp::Get {
            key: "the-secret-key".into(),
        };
        assert_eq!(
            direct.run(read, Duration::from_secs(10)).await,
            Outcome::Done(Some("the-secret-value".into()))
        );
    });
    let _ = std::fs::remove_dir_all(&dir);
}
