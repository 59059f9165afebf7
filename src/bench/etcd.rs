//! The etcd side of `troupe bench raft-kv --real`: a 3-member etcd cluster on loopback started
//! from the `etcd` binary (Debian's etcd-server package), and a client that puts through etcd's
//! v3 JSON gateway over HTTP/1.1 with one kept-alive connection per client.

use anyhow::{bail, Context as _, Result};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::Request;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use troupe::config::free_loopback_port;

/// A running 3-member etcd cluster; dropped, it kills its members.
pub struct Etcd {
    /// Each member's client address.
    pub clients: Vec<SocketAddr>,
    members: Vec<Child>,
    dir: PathBuf,
}

impl Drop for Etcd {
    fn drop(&mut self) {
        for m in &mut self.members {
            let _ = m.kill();
            let _ = m.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `etcd --version`'s first line.
pub fn version(etcd: &Path) -> Result<String> {
    let out = Command::new(etcd)
        .arg("--version")
        .output()
        .with_context(|| format!("cannot run {}", etcd.display()))?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .unwrap_or("")
        .to_string())
}

impl Etcd {
    /// Starts 3 members with data (and fsync, etcd's default) in `dir`, and waits until each
    /// answers its health check.
    pub async fn start(etcd: &Path, dir: &Path) -> Result<Etcd> {
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir)?;
        let peers: Vec<SocketAddr> = (0..3)
            .map(|_| free_loopback_port())
            .collect::<Result<_>>()?;
        let clients: Vec<SocketAddr> = (0..3)
            .map(|_| free_loopback_port())
            .collect::<Result<_>>()?;
        let initial: Vec<String> = peers
            .iter()
            .enumerate()
            .map(|(i, p)| format!("m{i}=http://{p}"))
            .collect();
        let mut members = Vec::new();
        for i in 0..3 {
            let child = Command::new(etcd)
                .args(["--name", &format!("m{i}"), "--data-dir"])
                .arg(dir.join(format!("m{i}")))
                .args([
                    "--listen-client-urls",
                    &format!("http://{}", clients[i]),
                    "--advertise-client-urls",
                    &format!("http://{}", clients[i]),
                    "--listen-peer-urls",
                    &format!("http://{}", peers[i]),
                    "--initial-advertise-peer-urls",
                    &format!("http://{}", peers[i]),
                    "--initial-cluster",
                    &initial.join(","),
                    "--initial-cluster-token",
                    "troupe-bench",
                    "--initial-cluster-state",
                    "new",
                    "--log-level",
                    "error",
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .with_context(|| format!("cannot start {}", etcd.display()))?;
            members.push(child);
        }
        let cluster = Etcd {
            clients,
            members,
            dir: dir.to_path_buf(),
        };
        let start = Instant::now();
        for &addr in &cluster.clients {
            loop {
                if let Ok(mut c) = EtcdClient::connect(addr).await {
                    if c.post("/v3/kv/range", br#"{"key":"aGVhbHRo"}"#.to_vec())
                        .await
                        .is_ok()
                    {
                        break;
                    }
                }
                if start.elapsed() > Duration::from_secs(30) {
                    bail!("etcd member {addr} not serving within 30 s");
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        Ok(cluster)
    }

    /// The client address of the member that leads.
    pub async fn leader(&self) -> Result<SocketAddr> {
        for &addr in &self.clients {
            let mut c = EtcdClient::connect(addr).await?;
            let body = c.post("/v3/maintenance/status", b"{}".to_vec()).await?;
            let status: serde_json::Value = serde_json::from_slice(&body)?;
            if status["leader"] == status["header"]["member_id"] {
                return Ok(addr);
            }
        }
        bail!("no etcd member says it leads")
    }
}

/// One kept-alive HTTP/1.1 connection to an etcd member.
pub struct EtcdClient {
    sender: SendRequest<Full<Bytes>>,
    host: String,
}

impl EtcdClient {
    /// Connects to the member at `addr`.
    pub async fn connect(addr: SocketAddr) -> Result<EtcdClient> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true).ok();
        let (sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(EtcdClient {
            sender,
            host: addr.to_string(),
        })
    }

    /// POSTs `body` to `path`; the response body if the status is 200.
    pub async fn post(&mut self, path: &str, body: Vec<u8>) -> Result<Bytes> {
        let request = Request::post(path)
            .header(hyper::header::HOST, &self.host)
            .body(Full::new(Bytes::from(body)))?;
        let response = self.sender.send_request(request).await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        if !status.is_success() {
            bail!("etcd answered {status}: {}", String::from_utf8_lossy(&body));
        }
        Ok(body)
    }

    /// Puts `value` under `key` (both base64-encoded for the JSON gateway).
    pub async fn put(&mut self, key: &str, value_b64: &str) -> Result<()> {
        let body = format!(r#"{{"key":"{}","value":"{}"}}"#, B64.encode(key), value_b64);
        self.post("/v3/kv/put", body.into_bytes()).await.map(|_| ())
    }
}

/// The base64 form of a value, computed once per run.
pub fn encode_value(value: &str) -> String {
    B64.encode(value)
}
