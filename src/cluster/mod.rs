//! A real cluster of processes from one config file: `troupe cluster init` writes the file,
//! `troupe node` runs one node, `troupe cluster up` runs them all as child processes, `troupe
//! kv`, `troupe gfs` and `troupe status` are clients.

mod chain_status;
mod client;
mod gfs;
mod gfs_status;
mod init;
mod kv;
mod status;
mod up;
mod vmft_status;
mod zk_status;

pub use gfs::{gfs, GfsArgs};
pub use kv::{kv, KvArgs};
pub use status::{status, StatusArgs};

use anyhow::{Context as _, Result};
use clap::{Args, Subcommand};
use std::path::PathBuf;
use troupe::config::ClusterConfig;

/// `troupe cluster ...`.
#[derive(Subcommand, Debug)]
pub enum ClusterCommand {
    /// Write DIR/cluster.toml for a local cluster: nodes n1..nN on free loopback ports, a
    /// fresh secret, each node running every role of the system. A DIR that holds a cluster
    /// already is refused unless --force is given.
    Init(init::InitArgs),
    /// Start every node of a config on this machine as child processes, once every node's
    /// ports are free; Ctrl-C stops them. Exits non-zero when every node has exited.
    Up {
        /// The cluster configuration.
        #[arg(long)]
        config: PathBuf,
    },
}

/// `troupe node --config FILE --id n1`.
#[derive(Args, Debug)]
pub struct NodeArgs {
    /// The cluster configuration.
    #[arg(long)]
    pub config: PathBuf,
    /// Which node of it this process is.
    #[arg(long)]
    pub id: String,
}

/// Runs a `troupe cluster` command.
pub fn run(command: ClusterCommand) -> Result<()> {
    match command {
        ClusterCommand::Init(args) => init::run(args),
        ClusterCommand::Up { config } => up::run(&config),
    }
}

/// Runs one node until the process is stopped (SIGTERM or Ctrl-C end it cleanly; SIGKILL is a
/// crash it recovers from).
pub fn node(args: NodeArgs) -> Result<()> {
    let config = ClusterConfig::load(&args.config)?;
    let (id, entry) = config.node(&args.id)?;
    let (peer_addr, client_addr) = (entry.peer_addr, entry.client_addr);
    // A ZooKeeper server's own port, for ZooKeeper's clients (kazoo, zkCli).
    let zk_port = entry
        .zk_addr
        .map(|addr| format!(", ZooKeeper clients on {addr}"))
        .unwrap_or_default();
    actix_rt::System::new().block_on(async move {
        let peers = tokio::net::TcpListener::bind(peer_addr)
            .await
            .with_context(|| format!("cannot listen for peers on {peer_addr}"))?;
        let clients = tokio::net::TcpListener::bind(client_addr)
            .await
            .with_context(|| format!("cannot listen for clients on {client_addr}"))?;
        let running = troupe::deploy::start(&config, id, peers, clients)?;
        if running.recovery.truncated_bytes > 0 {
            eprintln!(
                "troupe: {id}: truncated a torn tail of {} bytes: {}",
                running.recovery.truncated_bytes,
                running.recovery.reason.as_deref().unwrap_or("")
            );
        }
        eprintln!(
            "troupe: node {id} serving peers on {peer_addr}, clients on {client_addr}{zk_port}"
        );
        up::until_stopped().await?;
        eprintln!("troupe: node {id} stopped");
        Ok(())
    })
}
