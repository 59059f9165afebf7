//! `troupe cluster up`: every node of a config as a child process of this one, for trying
//! troupe out on one machine. It starts no node unless every node's ports are free (a cluster
//! already up on the config is refused at once). Ctrl-C (or SIGTERM) stops them all cleanly; a
//! node that dies by itself is reported and the others keep running; once none is left, `up`
//! exits with an error.

use anyhow::{bail, Context as _, Result};
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};
use troupe::config::ClusterConfig;

/// Binds each node's peer and client address (and lets them go) before any node starts: an
/// address in use, or not of this machine, is an error naming the node and the address.
fn check_ports_free(config: &ClusterConfig) -> Result<()> {
    let mut held = Vec::new();
    for node in &config.nodes {
        for (what, addr) in [("peers", node.peer_addr), ("clients", node.client_addr)] {
            match std::net::TcpListener::bind(addr) {
                Ok(listener) => held.push(listener),
                Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => bail!(
                    "node {} cannot listen for {what} on {addr}: it is in use (is this cluster \
                     up already?); no node was started",
                    node.id
                ),
                Err(e) => bail!(
                    "node {} cannot listen for {what} on {addr}: {e}; no node was started",
                    node.id
                ),
            }
        }
    }
    Ok(())
}

/// Waits for Ctrl-C or SIGTERM.
pub async fn until_stopped() -> Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("cannot listen for SIGTERM")?;
    tokio::select! {
        biased;
        interrupted = tokio::signal::ctrl_c() => interrupted.context("cannot listen for Ctrl-C")?,
        _ = term.recv() => {}
    }
    Ok(())
}

/// Runs every node of `config_path` until Ctrl-C.
pub fn run(config_path: &Path) -> Result<()> {
    let config = ClusterConfig::load(config_path)?;
    check_ports_free(&config)?;
    let exe = std::env::current_exe().context("cannot find the troupe executable")?;
    let mut children: Vec<(String, Child)> = Vec::new();
    for node in &config.nodes {
        let child = Command::new(&exe)
            .args(["node", "--id", &node.id, "--config"])
            .arg(config_path)
            .spawn()
            .with_context(|| format!("cannot start node {}", node.id))?;
        println!(
            "{}: pid {}, peers {}, clients {}",
            node.id,
            child.id(),
            node.peer_addr,
            node.client_addr
        );
        children.push((node.id.clone(), child));
    }
    println!(
        "try: troupe status --config {0}  |  troupe kv --config {0} put k v  (Ctrl-C stops the cluster)",
        config_path.display()
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let mut exited = vec![false; children.len()];
        let mut poll = tokio::time::interval(Duration::from_millis(200));
        let stop = until_stopped();
        tokio::pin!(stop);
        loop {
            tokio::select! {
                biased;
                stopped = &mut stop => return stopped,
                _ = poll.tick() => {
                    for (i, (id, child)) in children.iter_mut().enumerate() {
                        if !exited[i] {
                            if let Ok(Some(status)) = child.try_wait() {
                                exited[i] = true;
                                eprintln!("troupe: node {id} exited ({status})");
                            }
                        }
                    }
                    if exited.iter().all(|&e| e) {
                        bail!("every node has exited (see their errors above); the cluster is down");
                    }
                }
            }
        }
    })?;
    println!("stopping {} nodes", children.len());
    for (_, child) in &children {
        // SIGTERM: each node stops cleanly (its state is already durable).
        let pid = i32::try_from(child.id()).unwrap_or(i32::MAX);
        // SAFETY: kill(2) with a child's pid and a valid signal has no memory effects.
        unsafe { libc::kill(pid, libc::SIGTERM) };
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    for (id, child) in &mut children {
        loop {
            match child.try_wait() {
                Ok(Some(_)) => break,
                _ if Instant::now() >= deadline => {
                    eprintln!("troupe: node {id} did not stop within 5 s; killing it");
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                _ => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }
    Ok(())
}
