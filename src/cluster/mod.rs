//! `troupe cluster init` and `troupe node`: a real cluster of processes from one config file.

pub mod config;

use anyhow::{Context as _, Result};
use clap::{Args, Subcommand};
use config::{encode_hex, ClusterConfig, NodeEntry, Timeouts};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use troupe_actors::kv::server::KvOptions;
use troupe_actors::raft::RaftConfig;
use troupe_runtime::tcp::handshake::Credentials;
use troupe_runtime::tcp::net::{start_node, TcpConfig};
use troupe_runtime::{FilePersister, NodeConfig};
use troupe_supervisors::failover::raft::kv_replica;
use troupe_supervisors::Supervisor;

/// `troupe cluster ...`.
#[derive(Subcommand, Debug)]
pub enum ClusterCommand {
    /// Write DIR/cluster.toml for a local cluster: nodes n1..nN on free loopback ports, a
    /// fresh secret.
    Init {
        /// Number of nodes.
        #[arg(long, default_value_t = 3)]
        nodes: u32,
        /// Where to write cluster.toml (and keep the nodes' data).
        #[arg(long)]
        dir: PathBuf,
    },
}

/// `troupe node --config FILE --id n1`.
#[derive(Args, Debug)]
pub struct NodeArgs {
    /// The cluster configuration.
    #[arg(long)]
    config: PathBuf,
    /// Which node of it this process is.
    #[arg(long)]
    id: String,
}

pub fn run(command: ClusterCommand) -> Result<()> {
    match command {
        ClusterCommand::Init { nodes, dir } => init(nodes, dir),
    }
}

fn free_loopback_port() -> Result<std::net::SocketAddr> {
    let listener =
        std::net::TcpListener::bind("127.0.0.1:0").context("cannot bind a loopback port")?;
    Ok(listener.local_addr()?)
}

fn init(nodes: u32, dir: PathBuf) -> Result<()> {
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut secret = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut secret);
    let config = ClusterConfig {
        cluster: "troupe-local".into(),
        system: "raft-kv".into(),
        secret: Some(encode_hex(&secret)),
        secret_file: None,
        data_dir: "data".into(),
        timeouts: Timeouts::default(),
        nodes: (1..=nodes)
            .map(|i| {
                Ok(NodeEntry {
                    id: format!("n{i}"),
                    peer_addr: free_loopback_port()?,
                    client_addr: free_loopback_port()?,
                })
            })
            .collect::<Result<_>>()?,
        base: PathBuf::new(),
    };
    let path = dir.join("cluster.toml");
    std::fs::write(&path, toml::to_string_pretty(&config)?)
        .with_context(|| format!("cannot write {}", path.display()))?;
    println!("{}", path.display());
    Ok(())
}

/// Runs one node until the process is stopped.
pub fn node(args: NodeArgs) -> Result<()> {
    let config = ClusterConfig::load(&args.config)?;
    let (id, entry) = config.node(&args.id)?;
    let peers = config.peers()?;
    let data = config.data_dir_of(id);
    let persister = FilePersister::open(&data)
        .with_context(|| format!("node {id} cannot start on {}", data.display()))?;
    if persister.recovery().truncated_bytes > 0 {
        eprintln!(
            "troupe: {id}: truncated a torn tail of {} bytes: {}",
            persister.recovery().truncated_bytes,
            persister.recovery().reason.as_deref().unwrap_or("")
        );
    }
    let credentials = Credentials {
        cluster: config.cluster.clone(),
        node: id,
        secret: config.secret_bytes()?,
    };
    let t = &config.timeouts;
    let ticks = |ms: u64| u32::try_from((ms / t.tick_ms.max(1)).max(1)).unwrap_or(u32::MAX);
    let mut options = KvOptions::new(peers.keys().copied().collect());
    options.raft.tick = Duration::from_millis(t.tick_ms.max(1));
    options.raft.config = RaftConfig {
        election_ticks_min: ticks(t.election_ms[0]),
        election_ticks_max: ticks(t.election_ms[1]),
        heartbeat_ticks: ticks(t.heartbeat_ms),
        ..RaftConfig::default()
    };
    options.max_raft_state = Some(1 << 20);
    let peer_addr = entry.peer_addr;
    actix_rt::System::new().block_on(async move {
        let listener = tokio::net::TcpListener::bind(peer_addr)
            .await
            .with_context(|| format!("cannot listen on {peer_addr}"))?;
        let node = start_node(
            listener,
            TcpConfig::new(credentials, peers),
            Arc::new(persister),
            NodeConfig::default(),
        )?;
        Supervisor::start(&node, kv_replica(options)).context("the replica did not start")?;
        eprintln!("troupe: node {id} serving peers on {peer_addr}");
        std::future::pending::<()>().await;
        Ok(())
    })
}
