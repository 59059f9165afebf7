//! ZooKeeper's own client, kazoo, unchanged, against a troupe ZooKeeper of three `troupe node`
//! processes (`troupe cluster init --system zk`): create, get, set, delete, exists and
//! children, ephemeral and sequential nodes, a transaction, data and child watches, kazoo's
//! Lock, Counter and Election recipes, and a session that survives the SIGKILL of the server
//! it is connected to. The checks are in tests/cluster/zk/kazoo_client.py; kazoo is installed
//! from PyPI into a virtual environment under the target directory, once.

use super::support::Processes;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// What the script reports, in order.
const STEPS: [&str; 7] = [
    "crud",
    "ephemeral-sequential",
    "transaction",
    "watches",
    "lock-counter",
    "election",
    "failover",
];

/// A Python with kazoo: a virtual environment made (and kazoo installed into it) on first use.
fn kazoo_python() -> PathBuf {
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("kazoo-venv");
    let python = venv.join("bin/python");
    let has_kazoo = |python: &Path| {
        Command::new(python)
            .args(["-c", "import kazoo"])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if has_kazoo(&python) {
        return python;
    }
    let made = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .output()
        .expect("python3 runs (needed to install kazoo)");
    assert!(made.status.success(), "python3 -m venv: {made:?}");
    let installed = Command::new(venv.join("bin/pip"))
        .args(["install", "-q", "kazoo>=2.9,<3"])
        .output()
        .expect("pip runs");
    assert!(
        installed.status.success() && has_kazoo(&python),
        "pip install kazoo: {installed:?}"
    );
    python
}

#[test]
fn kazoo_drives_a_troupe_zookeeper_of_three_processes() {
    let python = kazoo_python();
    let mut cluster = Processes::init_with("zk-kazoo", 3, &["--system", "zk"]);
    for id in cluster.ids() {
        cluster.start(id);
    }
    let addrs: Vec<(troupe_messages::NodeId, String)> = cluster
        .config
        .nodes
        .iter()
        .map(|n| {
            let id = n.id.parse().expect("a node id");
            (id, n.zk_addr.expect("a zk_addr per node").to_string())
        })
        .collect();
    let hosts: Vec<&str> = addrs.iter().map(|(_, a)| a.as_str()).collect();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cluster/zk/kazoo_client.py");
    let mut child = Command::new(&python)
        .arg(&script)
        .arg(hosts.join(","))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the kazoo script starts");
    let (lines, seen) = mpsc::channel();
    super::support::forward_lines(child.stdout.take().expect("stdout"), lines);
    let deadline = Instant::now() + Duration::from_secs(180);
    let mut done = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match seen.recv_timeout(left) {
            Ok(line) => {
                if let Some(step) = line.strip_prefix("OK ") {
                    done.push(step.to_string());
                } else if let Some(addr) = line.strip_prefix("KILL ") {
                    let (victim, _) = addrs
                        .iter()
                        .find(|(_, a)| a == addr)
                        .unwrap_or_else(|| panic!("no server at {addr}"));
                    cluster.kill(*victim);
                    let stdin = child.stdin.as_mut().expect("stdin");
                    writeln!(stdin, "killed").expect("the script reads");
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let _ = child.kill();
                panic!("the kazoo script took over 180 s; done: {done:?}");
            }
        }
    }
    let out = child.wait_with_output().expect("the script ends");
    assert!(
        out.status.success() && done == STEPS,
        "kazoo: {} after {done:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Starts every node of `cluster`; their ZooKeeper addresses, in node order.
pub(super) fn start_all(cluster: &mut Processes) -> Vec<std::net::SocketAddr> {
    for id in cluster.ids() {
        cluster.start(id);
    }
    cluster
        .config
        .nodes
        .iter()
        .map(|n| n.zk_addr.expect("a zk_addr per node"))
        .collect()
}

/// Polls `addr` with ZooKeeper handshakes until one is answered with a session (the servers
/// have a leader), or panics after `within`.
pub(super) fn serves_sessions_within(addr: std::net::SocketAddr, within: Duration) {
    use std::io::Read as _;
    use troupe_actors::zk::jute::connect::{ConnectRequest, ConnectResponse};
    let handshake = ConnectRequest {
        timeout_ms: 4_000,
        password: vec![0; 16],
        ..ConnectRequest::default()
    }
    .encode();
    let deadline = Instant::now() + within;
    loop {
        let answered = std::net::TcpStream::connect(addr).ok().and_then(|mut s| {
            s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
            s.write_all(&(handshake.len() as u32).to_be_bytes()).ok()?;
            s.write_all(&handshake).ok()?;
            let mut len = [0u8; 4];
            s.read_exact(&mut len).ok()?;
            let mut frame = vec![0; u32::from_be_bytes(len) as usize];
            s.read_exact(&mut frame).ok()?;
            ConnectResponse::decode(&frame).ok()
        });
        if answered.is_some_and(|r| r.session_id != 0) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{addr} gave no session within {within:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_rust_client_pipelines_watches_and_keeps_its_session_through_a_server_kill() {
    use troupe_actors::zk::client::ZkClient;
    use troupe_messages::zk::CreateMode;
    let mut cluster = Processes::init_with("zk-rust-client", 3, &["--system", "zk"]);
    let hosts = start_all(&mut cluster);
    let first = cluster.ids()[0];
    let runtime = super::support::runtime();
    runtime.block_on(async {
        let secs = Duration::from_secs;
        let (zk, mut events) = ZkClient::connect(hosts.clone(), secs(6), secs(60))
            .await
            .expect("a session");
        let (other, _) = ZkClient::connect(hosts[1..].to_vec(), secs(6), secs(60))
            .await
            .expect("a second session");
        // Pipelined: both sent before either answer is read; answered in order.
        let (a, b) = tokio::join!(
            zk.create("/r", b"1", CreateMode::PERSISTENT),
            zk.create("/r/e-", b"", CreateMode::EPHEMERAL_SEQUENTIAL)
        );
        assert_eq!(a.as_deref(), Ok("/r"));
        let ephemeral = b.expect("an ephemeral sequential node");
        assert_eq!(ephemeral, "/r/e-0000000000");
        let (data, stat) = zk.get_data("/r", true).await.expect("/r");
        assert_eq!((data.as_slice(), stat.version), (&b"1"[..], 0));
        other.sync("/").await.expect("sync");
        other.set_data("/r", b"2", 0).await.expect("set");
        let event = tokio::time::timeout(secs(10), events.recv())
            .await
            .expect("a notification in time")
            .expect("the channel is open");
        assert_eq!((event.kind, event.path.as_str()), (3, "/r"));
        assert_eq!(
            other.set_data("/r", b"3", 0).await,
            Err(troupe_messages::zk::ZkError::BadVersion)
        );
        // The session outlives the server it is connected to (the first host).
        let session = zk.session_id();
        cluster.kill(first);
        let deadline = Instant::now() + secs(30);
        let stat = loop {
            match zk.exists(&ephemeral, false).await {
                Ok(stat) => break stat,
                Err(_) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await
                }
                Err(e) => panic!("no answer after the failover: {e}"),
            }
        };
        assert_eq!(zk.session_id(), session);
        assert_eq!(stat.map(|s| s.ephemeral_owner), Some(session));
        // A write right after the failover may meet a server that still names the dead
        // leader: it fails with connection loss, as ZooKeeper's would, and a retry goes
        // through (a close is idempotent).
        let deadline = Instant::now() + secs(30);
        loop {
            match zk.close().await {
                Ok(()) | Err(troupe_messages::zk::ZkError::SessionExpired) => break,
                Err(e) => assert!(Instant::now() < deadline, "close: {e}"),
            }
        }
        let deadline = Instant::now() + secs(30);
        while let Err(e) = other.sync("/").await {
            assert!(Instant::now() < deadline, "sync: {e}");
        }
        assert_eq!(other.exists(&ephemeral, false).await, Ok(None));
    });
}

#[test]
fn a_server_restarted_from_a_snapshot_has_every_node() {
    use troupe_actors::zk::client::ZkClient;
    use troupe_messages::zk::CreateMode;
    let mut cluster = Processes::init_with("zk-snapshot", 3, &["--system", "zk"]);
    // Snapshots every 2 KB of entries: a few hundred creates make several.
    let toml = std::fs::read_to_string(&cluster.config_path).expect("cluster.toml");
    let toml = toml
        .lines()
        .map(|l| {
            if l.starts_with("max_raft_state_bytes") {
                "max_raft_state_bytes = 4096"
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(&cluster.config_path, toml).expect("cluster.toml written");
    cluster.reload();
    let hosts = start_all(&mut cluster);
    let last = *cluster.ids().last().expect("a node");
    let runtime = super::support::runtime();
    let secs = Duration::from_secs;
    runtime.block_on(async {
        let (zk, _) = ZkClient::connect(hosts[..2].to_vec(), secs(6), secs(60))
            .await
            .expect("a session");
        zk.create("/s", b"", CreateMode::PERSISTENT)
            .await
            .expect("/s");
        let creates = (0..300).map(|i| {
            let zk = zk.clone();
            async move {
                let path = format!("/s/node-{i:03}");
                zk.create(&path, &[7; 32], CreateMode::PERSISTENT).await
            }
        });
        for created in futures_util::future::join_all(creates).await {
            created.expect("a create");
        }
    });
    // Every server snapshots its own replica once it has applied enough; a follower applies
    // what it learns is committed with the leader's next append or heartbeat, so the last
    // server's snapshot comes a little after the creates' answers. Poll for it, before its kill.
    let deadline = Instant::now() + secs(30);
    loop {
        let status = cluster.status_json();
        if status["nodes"][2]["snapshot_index"].as_u64().unwrap_or(0) > 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no snapshot within 30 s: {status}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    cluster.kill(last);
    cluster.start(last);
    runtime.block_on(async {
        // Only the restarted server: it must have every node, from its snapshot and log.
        let (zk, _) = ZkClient::connect(vec![hosts[2]], secs(6), secs(60))
            .await
            .expect("a session on the restarted server");
        let deadline = Instant::now() + secs(30);
        while let Err(e) = zk.sync("/").await {
            assert!(Instant::now() < deadline, "sync: {e}");
        }
        let children = zk.get_children("/s", false).await.expect("/s");
        assert_eq!(children.len(), 300);
        let (data, _) = zk.get_data("/s/node-299", false).await.expect("a node");
        assert_eq!(data, [7; 32]);
    });
}

/// Over real TCP: a frame longer than the server takes, and a frame that is not jute, each
/// close their own connection and nothing else: a session on another connection to the same
/// server goes on, before and after.
#[test]
fn an_oversized_or_malformed_frame_closes_only_its_own_connection() {
    use std::io::Read as _;
    use troupe_actors::zk::client::ZkClient;
    use troupe_messages::zk::CreateMode;
    let mut cluster = Processes::init_with("zk-bad-frames", 3, &["--system", "zk"]);
    let hosts = start_all(&mut cluster);
    let server = hosts[0];
    serves_sessions_within(server, Duration::from_secs(60));
    let runtime = super::support::runtime();
    runtime.block_on(async {
        let secs = Duration::from_secs;
        let (zk, _) = ZkClient::connect(vec![server], secs(6), secs(60))
            .await
            .expect("a session");
        zk.create("/fine", b"1", CreateMode::PERSISTENT)
            .await
            .expect("created");
        // A length prefix past the server's limit (1 MiB and a little), then a frame of
        // garbage of an acceptable length.
        let oversized = (troupe_actors::zk::server::tcp::MAX_FRAME as u32 + 1).to_be_bytes();
        let mut garbage = 7u32.to_be_bytes().to_vec();
        garbage.extend([0xff; 7]);
        for bad in [oversized.to_vec(), garbage] {
            let mut stream = std::net::TcpStream::connect(server).expect("a connection");
            stream
                .set_read_timeout(Some(secs(10)))
                .expect("a read timeout");
            stream.write_all(&bad).expect("sent");
            let mut rest = Vec::new();
            // The server closes the connection: end of stream (or a reset), not a timeout.
            match stream.read_to_end(&mut rest) {
                Ok(_) => assert!(rest.is_empty(), "the server answered: {rest:?}"),
                Err(e) => assert!(
                    !matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ),
                    "the connection stayed open: {e}"
                ),
            }
            let (data, _) = zk.get_data("/fine", false).await.expect("still served");
            assert_eq!(data, b"1");
        }
        zk.set_data("/fine", b"2", -1).await.expect("writes too");
    });
}
