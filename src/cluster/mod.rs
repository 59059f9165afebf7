//! A real cluster of processes from one config file: `troupe cluster init` writes the file,
//! `troupe node` runs one node, `troupe cluster up` runs them all as child processes, `troupe
//! kv` and `troupe status` are clients.

mod client;
mod up;

pub use client::{kv, status, KvArgs, StatusArgs};

use anyhow::{Context as _, Result};
use clap::{Args, Subcommand};
use std::path::PathBuf;
use troupe::config::ClusterConfig;

/// `troupe cluster ...`.
#[derive(Subcommand, Debug)]
pub enum ClusterCommand {
    /// Write DIR/cluster.toml for a local cluster: nodes n1..nN on free loopback ports, a
    /// fresh secret, each node running every role of the system.
    Init {
        /// The system: raft-kv (a key-value service on Raft) or chain (chain replication, with
        /// its configuration manager and failover supervisor on every node).
        #[arg(long, default_value = "raft-kv", value_parser = ["raft-kv", "chain"])]
        system: String,
        /// Number of nodes.
        #[arg(long, default_value_t = 3)]
        nodes: u32,
        /// For --system chain: CRAQ, every node of a chain serves reads.
        #[arg(long)]
        craq: bool,
        /// For --system chain: how many chains share the nodes, keys sharded across them.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
        chains: u32,
        /// Where to write cluster.toml (and keep the nodes' data).
        #[arg(long)]
        dir: PathBuf,
        /// Also make a CA and a node certificate (in DIR/tls) and use TLS on every link.
        #[arg(long)]
        tls: bool,
    },
    /// Start every node of a config on this machine as child processes; Ctrl-C stops them.
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

pub fn run(command: ClusterCommand) -> Result<()> {
    match command {
        ClusterCommand::Init {
            system,
            nodes,
            craq,
            chains,
            dir,
            tls,
        } => init(&system, nodes, craq, chains, dir, tls),
        ClusterCommand::Up { config } => up::run(&config),
    }
}

fn init(system: &str, nodes: u32, craq: bool, chains: u32, dir: PathBuf, tls: bool) -> Result<()> {
    let mut config = ClusterConfig::local(system, nodes)?;
    match config.chain.as_mut() {
        Some(settings) => {
            settings.craq = craq;
            settings.chains = chains;
        }
        None if craq => anyhow::bail!("--craq is for --system chain"),
        None if chains != 1 => anyhow::bail!("--chains is for --system chain"),
        None => {}
    }
    if tls {
        config.generate_tls(&dir)?;
    }
    let path = config.write_to(&dir)?;
    println!("{}", path.display());
    Ok(())
}

/// Runs one node until the process is stopped (SIGTERM or Ctrl-C end it cleanly; SIGKILL is a
/// crash it recovers from).
pub fn node(args: NodeArgs) -> Result<()> {
    let config = ClusterConfig::load(&args.config)?;
    let (id, entry) = config.node(&args.id)?;
    let (peer_addr, client_addr) = (entry.peer_addr, entry.client_addr);
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
        eprintln!("troupe: node {id} serving peers on {peer_addr}, clients on {client_addr}");
        up::until_stopped().await?;
        eprintln!("troupe: node {id} stopped");
        Ok(())
    })
}
