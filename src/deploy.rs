//! A real node, assembled: the TCP peer network with the cluster's credentials, the file
//! persister in the node's data directory, the roles the cluster file gives the node (through
//! its system's assembly in [`crate::systems`]), and the client port with its system's gateway:
//! a key-value replica forwards operations to the leader; a chain node runs them on the chain;
//! a VM-FT node runs them on the VM's key-value guest, wherever its primary is; a GFS node runs
//! each file operation with a GFS client of its own.
//! `troupe node` runs one per process; tests start them in-process on ports the OS chose.

use crate::config::ClusterConfig;
use crate::systems::chain::Chain;
use crate::systems::gfs::{ChunkPlace, Gfs};
use crate::systems::raft_kv::RaftKv;
use crate::systems::vmft::Vmft;
use crate::systems::zk::Zk;
use crate::systems::Assembly;
use anyhow::{Context as _, Result};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use troupe_actors::chain::gateway::ChainGateway;
use troupe_actors::gfs::chunk::ChunkConfig;
use troupe_actors::gfs::gateway::GfsGateway;
use troupe_actors::gfs::master::server::MasterOptions;
use troupe_actors::gfs::{GfsPlan, GfsTiming};
use troupe_actors::kv::gateway;
use troupe_actors::kv::remote::RemoteClerk;
use troupe_actors::kv::server::KvOptions;
use troupe_actors::raft::RaftConfig;
use troupe_actors::vmft::gateway::VmftGateway;
use troupe_actors::vmft::VmftPlan;
use troupe_messages::client::{ClientRequest, ClientResponse};
use troupe_messages::ClientId;
use troupe_runtime::tcp::clients::{serve_clients, ClientPortConfig};
use troupe_runtime::tcp::frames::MAX_FRAME;
use troupe_runtime::tcp::handshake::Credentials;
use troupe_runtime::tcp::net::{start_node, TcpConfig};
use troupe_runtime::{FilePersister, Node, NodeConfig, NodeId, Recovery};

/// How long the gateway waits for the actor it asks (the key-value server waits up to 1 s for
/// a commit; forwarding adds a hop).
const GATEWAY_TIMEOUT: Duration = Duration::from_secs(2);

/// How long a GFS node's gateway works on one file operation: a put of 12 MB moves twelve
/// 1 MB pieces along three replicas, and an append whose primary died waits for its lease to
/// run out (5 s by default) before another replica may take it.
pub const GFS_GATEWAY_TIMEOUT: Duration = Duration::from_secs(20);

/// How long a GFS cluster's master waits for a clone (re-replication) before it may try
/// another.
pub const GFS_REPLICATION_TIMEOUT: Duration = Duration::from_secs(15);

/// Where a GFS cluster's chunkservers keep their chunks, inside its data directory: node nX's
/// under `<data_dir>/chunks/nX/`, beside the nodes' own directories.
pub const GFS_CHUNKS_DIR: &str = "chunks";

/// A node that is up.
pub struct RunningNode {
    /// The node.
    pub node: Node,
    /// What opening its data directory found at the end of its log.
    pub recovery: Recovery,
}

/// The key-value replica's options for `config`'s timing, with the Raft group `members`.
pub fn kv_options(config: &ClusterConfig, members: Vec<NodeId>) -> KvOptions {
    let t = &config.timeouts;
    let ticks = |ms: u64| u32::try_from((ms / t.tick_ms.max(1)).max(1)).unwrap_or(u32::MAX);
    let mut options = KvOptions::new(members);
    options.raft.tick = Duration::from_millis(t.tick_ms.max(1));
    options.raft.config = RaftConfig {
        election_ticks_min: ticks(t.election_ms[0]),
        election_ticks_max: ticks(t.election_ms[1]),
        heartbeat_ticks: ticks(t.heartbeat_ms),
        ..RaftConfig::default()
    };
    options.max_raft_state = Some(config.max_raft_state_bytes);
    options
}

/// ZooKeeper as `config` describes it (`system = "zk"`): a server on every node with the
/// `server` role, with the file's Raft timing; entry times count from `epoch_ms`.
pub fn zk(config: &ClusterConfig, epoch_ms: i64) -> Result<Zk> {
    let servers = config.nodes_with_role("server")?;
    let mut system = Zk::on(servers.clone(), epoch_ms);
    system.options.raft = kv_options(config, servers).raft;
    system.options.max_raft_state = Some(config.max_raft_state_bytes);
    Ok(system)
}

/// The key-value service `config` describes (`system = "raft-kv"`).
pub fn raft_kv(config: &ClusterConfig) -> Result<RaftKv> {
    let replicas = config.nodes_with_role("replica")?;
    Ok(RaftKv::with_options(kv_options(config, replicas)))
}

/// The chains `config` describes (`system = "chain"`): its manager, servers and supervisors
/// on the nodes with those roles, and chains of every server.
pub fn chain(config: &ClusterConfig) -> Result<Chain> {
    let settings = config.chain.clone().unwrap_or_default();
    let manager = config.nodes_with_role("manager")?;
    let mut chain = Chain::colocated(0, settings.chains.max(1), settings.craq);
    chain.manager_options = Some(kv_options(config, manager.clone()));
    chain.manager = manager;
    chain.servers = config.nodes_with_role("chain")?;
    chain.length = chain.servers.len();
    chain.supervisors = config.nodes_with_role("supervisor")?;
    Ok(chain)
}

/// The fault-tolerant VM `config` describes (`system = "vmft"`): its shared storage (with the
/// file's Raft timing), VM hosts and failover supervisors on the nodes with those roles.
pub fn vmft(config: &ClusterConfig) -> Result<Vmft> {
    let storage = config.nodes_with_role("storage")?;
    let hosts = config.nodes_with_role("host")?;
    if storage.is_empty() || hosts.is_empty() {
        anyhow::bail!("a vmft cluster needs at least one node with `storage` and one with `host`");
    }
    Ok(Vmft {
        plan: VmftPlan::new(storage.clone(), hosts),
        supervisors: config.nodes_with_role("supervisor")?,
        storage_options: Some(kv_options(config, storage)),
    })
}

/// The GFS deployment `config` describes (`system = "gfs"`): master replicas (on Raft, with
/// the file's Raft timing) and chunkservers on the nodes with those roles, chunks as files in
/// the data directory, the paper's timing with the `[gfs]` table's lease and failure detection.
pub fn gfs(config: &ClusterConfig) -> Result<Gfs> {
    let masters = config.nodes_with_role("master")?;
    let chunkservers = config.nodes_with_role("chunkserver")?;
    if masters.is_empty() || chunkservers.is_empty() {
        anyhow::bail!(
            "a gfs cluster needs at least one node with `master` and one with `chunkserver`"
        );
    }
    let settings = config.gfs.clone().unwrap_or_default();
    settings.check()?;
    let timing = GfsTiming {
        lease: Duration::from_millis(settings.lease_ms),
        dead_after: Duration::from_millis(settings.dead_after_ms),
        // A chunk being cloned takes no new lease (and so no append) until the clone is done
        // or this has passed: the paper's minute is long for a local cluster, where a clone of
        // a whole 64 MB chunk over loopback takes a second or two.
        replication_timeout: GFS_REPLICATION_TIMEOUT,
        ..GfsTiming::paper()
    };
    let plan = GfsPlan {
        replicas: settings.replicas.min(chunkservers.len()),
        masters: masters.clone(),
        chunkservers,
        timing,
        chunk: ChunkConfig::new(settings.chunk_mb << 20),
    };
    let mut master_options = MasterOptions::new(plan.clone());
    master_options.raft = kv_options(config, masters).raft;
    Ok(Gfs {
        plan,
        place: ChunkPlace::Dir(config.base.join(&config.data_dir).join(GFS_CHUNKS_DIR)),
        master_options: Some(master_options),
    })
}

/// A clerk for `config`'s cluster with client id `client`, over TLS if the cluster uses it.
pub fn clerk(config: &ClusterConfig, client: impl Into<ClientId>) -> Result<RemoteClerk> {
    let nodes = config
        .nodes
        .iter()
        .map(|n| Ok((n.id.parse::<NodeId>()?, n.client_addr)))
        .collect::<Result<Vec<_>>>()?;
    let credentials = credentials(config, NodeId(0))?;
    Ok(RemoteClerk::new(nodes, credentials, client).with_tls(config.tls()?))
}

/// The cluster's credentials as node `id` presents them.
pub fn credentials(config: &ClusterConfig, id: NodeId) -> Result<Credentials> {
    Ok(Credentials {
        cluster: config.cluster.clone(),
        node: id,
        secret: config.secret_bytes()?,
    })
}

/// Starts node `id` of `config`, serving peers on `peers` and clients on `clients`. Must run
/// inside an actix System (a real-time one); the node lives as long as that System.
pub fn start(
    config: &ClusterConfig,
    id: NodeId,
    peers: TcpListener,
    clients: TcpListener,
) -> Result<RunningNode> {
    let data = config.data_dir_of(id);
    let persister = FilePersister::open(&data)
        .with_context(|| format!("node {id} cannot start on {}", data.display()))?;
    // The persister has logged a truncated tail already; the caller decides how to tell.
    let recovery = persister.recovery().clone();
    let credentials = credentials(config, id)?;
    let tls = config.tls()?;
    let node = start_node(
        peers,
        TcpConfig {
            tls: tls.clone(),
            ..TcpConfig::new(credentials.clone(), config.peers()?)
        },
        Arc::new(persister),
        NodeConfig::default(),
    )?;
    let port = ClientPortConfig {
        credentials,
        max_frame: MAX_FRAME,
        handshake_timeout: Duration::from_secs(5),
        tls,
    };
    match config.system.as_str() {
        "chain" => {
            let system = chain(config)?;
            system.start(&node)?;
            let gateway = ChainGateway::new(
                node.clone(),
                system.manager.clone(),
                system.chains,
                system.craq,
            );
            actix_rt::spawn(serve_clients(clients, port, move |request| {
                let gateway = gateway.clone();
                async move { gateway.answer(request, GATEWAY_TIMEOUT).await }
            }));
        }
        "vmft" => {
            let system = vmft(config)?;
            system.start(&node)?;
            let gateway = VmftGateway::new(
                node.clone(),
                system.plan.hosts.clone(),
                system.plan.storage.clone(),
            );
            actix_rt::spawn(serve_clients(clients, port, move |request| {
                let gateway = gateway.clone();
                async move { gateway.answer(request, GATEWAY_TIMEOUT).await }
            }));
        }
        "gfs" => {
            let system = gfs(config)?;
            system.start(&node)?;
            // The gateway's clients name their data after this id: a fresh one per start, so
            // that no chunkserver mistakes data pushed before a restart for data pushed after.
            let mut base = [0u8; 16];
            rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut base);
            let gateway = GfsGateway::new(
                node.clone(),
                system.plan.clone(),
                ClientId::from_random_bytes(base),
            );
            actix_rt::spawn(serve_clients(clients, port, move |request| {
                let gateway = gateway.clone();
                async move { gateway.answer(request, GFS_GATEWAY_TIMEOUT).await }
            }));
        }
        "zk" => {
            // Entry times: the wall clock, counted from this node's time zero.
            let wall_ms = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64);
            let epoch_ms = wall_ms - (node.now_ns() / 1_000_000) as i64;
            let system = zk(config, epoch_ms)?;
            system.start(&node)?;
            let entry = config.nodes.iter().find(|n| n.id == id.to_string());
            if let Some(addr) = entry.and_then(|n| n.zk_addr) {
                let listener = std::net::TcpListener::bind(addr).with_context(|| {
                    format!("node {id} cannot serve ZooKeeper clients on {addr}")
                })?;
                listener.set_nonblocking(true)?;
                let listener = tokio::net::TcpListener::from_std(listener)?;
                actix_rt::spawn(troupe_actors::zk::server::tcp::serve(
                    listener,
                    system.cell.clone(),
                ));
            }
            let gateway_node = node.clone();
            actix_rt::spawn(serve_clients(clients, port, move |request| {
                let node = gateway_node.clone();
                async move { troupe_actors::zk::gateway::answer(node, request, GATEWAY_TIMEOUT).await }
            }));
        }
        _ => {
            raft_kv(config)?.start(&node)?;
            let gateway_node = node.clone();
            actix_rt::spawn(serve_clients(
                clients,
                port,
                move |request: ClientRequest| {
                    let node = gateway_node.clone();
                    async move {
                        let answer: ClientResponse =
                            gateway::answer(node, request, GATEWAY_TIMEOUT).await;
                        answer
                    }
                },
            ));
        }
    }
    Ok(RunningNode { node, recovery })
}
