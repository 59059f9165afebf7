//! The etcd side of `troupe bench raft-kv --real`: a 3-member etcd cluster on loopback started
//! from the `etcd` binary (Debian's etcd-server package), driven through its gRPC API
//! ([`EtcdClient`]) with one HTTP/2 connection per client. Built with the `etcd-grpc` feature.

use super::etcd_grpc::EtcdClient;
use anyhow::{bail, Context as _, Result};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
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
    /// answers its status over gRPC.
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
                    if c.status().await.is_ok() {
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

    /// The client address of the member that leads and its term, polled for up to `within`.
    pub async fn leader_and_term(&self, within: Duration) -> Result<(SocketAddr, u64)> {
        let start = Instant::now();
        while start.elapsed() < within {
            for &addr in &self.clients {
                if let Ok(mut c) = EtcdClient::connect(addr).await {
                    match c.status().await {
                        Ok(s) if s.is_leader => return Ok((addr, s.term)),
                        _ => {}
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        bail!("no etcd member says it leads within {within:?}")
    }
}
