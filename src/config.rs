//! The cluster configuration file (TOML): the system to run, the cluster's name and secret,
//! where data lives, the timeouts, and a `[[nodes]]` table per node with the roles it runs.
//!
//! Systems and their roles (a node without `roles` runs every role of its system):
//! - `raft-kv`: `replica` (a key-value server on Raft);
//! - `chain`: `manager` (a replica of the configuration manager, troupe's Raft key-value
//!   service), `chain` (a chain server of every chain) and `supervisor` (a failover supervisor
//!   of every chain). A `[chain]` table sets `craq` and `chains`;
//! - `vmft`: `storage` (a replica of the shared storage that keeps the VM's record and disk,
//!   troupe's Raft key-value service), `host` (a VM host: the VM's primary, its backup or a
//!   spare) and `supervisor` (a VM-FT failover supervisor);
//! - `gfs`: `master` (a replica of the GFS master, its operation log on Raft) and
//!   `chunkserver` (chunks as files under `<data_dir>/<node>/chunks`). `cluster init` makes
//!   every node a chunkserver and the first three also master replicas. A `[gfs]` table sets
//!   the chunk size, replicas per chunk, the lease and when a silent chunkserver is dead;
//! - `zk`: `server` (a ZooKeeper server on Raft); each node's `zk_addr` is where ZooKeeper's
//!   own clients (kazoo, zkCli) connect.
//!
//! ```toml
//! cluster = "troupe-local"
//! system = "raft-kv"
//! secret = "4f1c..."            # or secret_file = "secret.txt"
//! data_dir = "data"             # relative paths are relative to this file
//! max_raft_state_bytes = 67108864  # snapshot after about half this many bytes of commands
//! [timeouts]
//! tick_ms = 10
//! election_ms = [150, 300]
//! heartbeat_ms = 50
//! [tls]                         # optional: `troupe cluster init --tls` makes these
//! ca = "tls/ca.crt"
//! cert = "tls/node.crt"
//! key = "tls/node.key"
//! [[nodes]]
//! id = "n1"
//! peer_addr = "127.0.0.1:40001"
//! client_addr = "127.0.0.1:40002"
//! roles = ["replica"]
//! ```

use anyhow::{bail, Context as _, Result};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use troupe_runtime::tcp::tls::{Tls, SERVER_NAME};
use troupe_runtime::NodeId;

/// One node's entry.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeEntry {
    /// Its id, `n1` and so on.
    pub id: String,
    /// Where its peers reach it.
    pub peer_addr: SocketAddr,
    /// Where clients reach it.
    pub client_addr: SocketAddr,
    /// Where ZooKeeper clients (kazoo, zkCli) reach it: `system = "zk"` only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zk_addr: Option<SocketAddr>,
    /// The roles of its system it runs (empty: every one).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
}

/// The name of the configuration file `troupe cluster init` writes in its directory.
pub const CONFIG_FILE: &str = "cluster.toml";

/// The systems a cluster file may name, and each one's roles.
pub const SYSTEMS: [(&str, &[&str]); 5] = [
    ("raft-kv", &["replica"]),
    ("chain", &["manager", "chain", "supervisor"]),
    ("vmft", &["storage", "host", "supervisor"]),
    ("gfs", &["master", "chunkserver"]),
    ("zk", &["server"]),
];

/// How many nodes of a GFS cluster `cluster init` makes master replicas (the first ones).
pub const GFS_MASTERS: usize = 3;

/// A chain cluster's settings (the `[chain]` table).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ChainSettings {
    /// CRAQ: every node of a chain serves reads (otherwise only the tail).
    #[serde(default)]
    pub craq: bool,
    /// How many chains share the chain servers, with the keys sharded across them.
    #[serde(default = "one")]
    pub chains: u32,
}

fn one() -> u32 {
    1
}

/// A GFS cluster's settings (the `[gfs]` table). The rest of its timing is the paper's
/// ([`GfsTiming::paper`](troupe_actors::gfs::GfsTiming::paper): a heartbeat a second, 3 days
/// before a deleted file's chunks are reclaimed) but for clones, given 15 s rather than a
/// minute; the master's Raft timing is the file's `[timeouts]`. A newly elected master grants
/// no lease for one lease length, so the first write after a cluster starts waits that long.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GfsSettings {
    /// The chunk size in MB (64 in the paper).
    #[serde(default = "gfs_chunk_mb")]
    pub chunk_mb: u64,
    /// How many replicas each chunk gets (3 in the paper; fewer if there are fewer nodes).
    #[serde(default = "gfs_replicas")]
    pub replicas: usize,
    /// A lease's length in milliseconds: 60 s in the paper; 5 s here, so that a dead primary's
    /// chunk takes new appends within seconds on a local cluster.
    #[serde(default = "gfs_lease_ms")]
    pub lease_ms: u64,
    /// A chunkserver silent this long (ms) is dead to the master, and one whose heartbeats go
    /// unanswered this long serves no read: 3 s, three missed heartbeats.
    #[serde(default = "gfs_dead_after_ms")]
    pub dead_after_ms: u64,
}

impl Default for GfsSettings {
    fn default() -> Self {
        GfsSettings {
            chunk_mb: gfs_chunk_mb(),
            replicas: gfs_replicas(),
            lease_ms: gfs_lease_ms(),
            dead_after_ms: gfs_dead_after_ms(),
        }
    }
}

fn gfs_chunk_mb() -> u64 {
    64
}

fn gfs_replicas() -> usize {
    3
}

fn gfs_lease_ms() -> u64 {
    5_000
}

fn gfs_dead_after_ms() -> u64 {
    3_000
}

impl GfsSettings {
    /// Refuses settings no cluster can run with.
    pub fn check(&self) -> Result<()> {
        if self.chunk_mb == 0 || self.chunk_mb > 1024 {
            bail!("chunk_mb must be 1 to 1024, not {}", self.chunk_mb);
        }
        if self.replicas == 0 {
            bail!("replicas must be at least 1");
        }
        if self.lease_ms == 0 || self.dead_after_ms == 0 {
            bail!("lease_ms and dead_after_ms must be more than 0");
        }
        Ok(())
    }
}

/// TLS files (PEM), relative to the configuration file: the cluster's CA, and the certificate
/// and key every node shows.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TlsFiles {
    /// The CA certificate every node and client trusts.
    pub ca: PathBuf,
    /// The nodes' certificate (for the name `troupe-cluster`, signed by the CA).
    pub cert: PathBuf,
    /// Its private key.
    pub key: PathBuf,
}

/// Raft timing.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Timeouts {
    /// One tick, in milliseconds.
    pub tick_ms: u64,
    /// Shortest and longest election timeout, in milliseconds.
    pub election_ms: [u64; 2],
    /// Heartbeat interval, in milliseconds.
    pub heartbeat_ms: u64,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            tick_ms: 10,
            election_ms: [150, 300],
            heartbeat_ms: 50,
        }
    }
}

/// The whole file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClusterConfig {
    /// The cluster's name; nodes of another cluster are refused.
    pub cluster: String,
    /// The system every node runs.
    pub system: String,
    /// The shared secret, in hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// Or a file holding it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_file: Option<PathBuf>,
    /// Where each node keeps its data (a directory per node inside).
    pub data_dir: PathBuf,
    /// Raft timing.
    #[serde(default)]
    pub timeouts: Timeouts,
    /// A node snapshots its key-value state (and drops the Raft log before it) once about half
    /// this many bytes of commands were applied since the last snapshot, as 6.824's
    /// `maxraftstate`. Larger: fewer, longer snapshot writes; smaller: faster restarts.
    #[serde(default = "default_max_raft_state")]
    pub max_raft_state_bytes: usize,
    /// TLS on peer links and client ports (absent: plain TCP, still authenticated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsFiles>,
    /// The chain settings, for `system = "chain"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain: Option<ChainSettings>,
    /// The GFS settings, for `system = "gfs"` (absent: the defaults).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gfs: Option<GfsSettings>,
    /// The nodes.
    pub nodes: Vec<NodeEntry>,
    /// The file's own directory, for relative paths.
    #[serde(skip)]
    pub base: PathBuf,
}

impl ClusterConfig {
    /// Reads and checks a configuration file.
    pub fn load(path: &Path) -> Result<ClusterConfig> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let mut config: ClusterConfig = toml::from_str(&text)
            .with_context(|| format!("{} is not a valid cluster configuration", path.display()))?;
        config.base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let Some(roles) = roles_of(&config.system) else {
            bail!(
                "{}: unknown system {:?} (this version runs {})",
                path.display(),
                config.system,
                system_names()
            );
        };
        if config.nodes.is_empty() {
            bail!("{}: no [[nodes]]", path.display());
        }
        let mut seen = std::collections::BTreeSet::new();
        let mut addresses = std::collections::BTreeMap::new();
        for node in &config.nodes {
            for addr in [node.peer_addr, node.client_addr] {
                match addresses.insert(addr, &node.id) {
                    Some(other) if *other == node.id => bail!(
                        "{}: node {other} uses {addr} for both its peers and its clients",
                        path.display()
                    ),
                    Some(other) => bail!(
                        "{}: nodes {other} and {} both use the address {addr}",
                        path.display(),
                        node.id
                    ),
                    None => {}
                }
            }
            let id: NodeId = node
                .id
                .parse()
                .with_context(|| format!("{}: bad node id", path.display()))?;
            if !seen.insert(id) {
                bail!("{}: node {} appears twice", path.display(), node.id);
            }
            if let Some(role) = node.roles.iter().find(|r| !roles.contains(&r.as_str())) {
                bail!(
                    "{}: node {} has the role {role:?}, which {} does not have (its roles: {})",
                    path.display(),
                    node.id,
                    config.system,
                    roles.join(", ")
                );
            }
        }
        if config.system == "chain" && config.chain.as_ref().is_some_and(|c| c.chains == 0) {
            bail!("{}: [chain] chains must be at least 1", path.display());
        }
        if let Some(gfs) = &config.gfs {
            gfs.check()
                .with_context(|| format!("{}: bad [gfs] table", path.display()))?;
        }
        config.secret_bytes()?;
        Ok(config)
    }

    /// A cluster of `nodes` nodes (n1..nN) of `system`, each running every role of it (for
    /// GFS: every node a chunkserver, the first three also master replicas), on free loopback
    /// ports, with a fresh random secret and data in `data/` next to the file.
    pub fn local(system: &str, nodes: u32) -> Result<ClusterConfig> {
        let Some(roles) = roles_of(system) else {
            bail!(
                "unknown system {system:?} (this version runs {})",
                system_names()
            );
        };
        let mut secret = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut secret);
        // Every port stays bound until all are chosen, so that no two nodes get the same one.
        let mut held = Vec::new();
        let mut port = || -> Result<SocketAddr> {
            let listener = std::net::TcpListener::bind("127.0.0.1:0")
                .context("cannot bind a loopback port")?;
            let addr = listener.local_addr()?;
            held.push(listener);
            Ok(addr)
        };
        let nodes = (1..=nodes)
            .map(|i| {
                let roles = roles
                    .iter()
                    .filter(|r| system != "gfs" || **r != "master" || i as usize <= GFS_MASTERS);
                Ok(NodeEntry {
                    id: format!("n{i}"),
                    peer_addr: port()?,
                    client_addr: port()?,
                    zk_addr: if system == "zk" { Some(port()?) } else { None },
                    roles: roles.map(|r| r.to_string()).collect(),
                })
            })
            .collect::<Result<_>>()?;
        Ok(ClusterConfig {
            cluster: "troupe-local".into(),
            system: system.into(),
            secret: Some(encode_hex(&secret)),
            secret_file: None,
            data_dir: "data".into(),
            timeouts: Timeouts::default(),
            max_raft_state_bytes: default_max_raft_state(),
            tls: None,
            chain: (system == "chain").then_some(ChainSettings {
                craq: false,
                chains: 1,
            }),
            gfs: (system == "gfs").then(GfsSettings::default),
            nodes,
            base: PathBuf::new(),
        })
    }

    /// Writes the configuration to a new file `dir/cluster.toml` (creating `dir`), readable by
    /// its owner only, since it holds the secret; returns the path. An existing file is not
    /// overwritten: remove it first to replace it.
    pub fn write_to(&self, dir: &Path) -> Result<PathBuf> {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let path = dir.join(CONFIG_FILE);
        write_private(&path, toml::to_string_pretty(self)?.as_bytes())?;
        Ok(path)
    }

    /// The shared secret's bytes.
    pub fn secret_bytes(&self) -> Result<Vec<u8>> {
        let hex = match (&self.secret, &self.secret_file) {
            (Some(s), _) => s.clone(),
            (None, Some(file)) => {
                let file = self.base.join(file);
                std::fs::read_to_string(&file)
                    .with_context(|| format!("cannot read the secret file {}", file.display()))?
            }
            (None, None) => bail!("the configuration needs `secret` or `secret_file`"),
        };
        decode_hex(hex.trim()).context("the secret must be hex")
    }

    /// The TLS setup, if the configuration asks for TLS.
    pub fn tls(&self) -> Result<Option<Tls>> {
        let Some(files) = &self.tls else {
            return Ok(None);
        };
        let read = |path: &PathBuf| {
            let path = self.base.join(path);
            std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))
        };
        let tls = Tls::from_pem(&read(&files.ca)?, &read(&files.cert)?, &read(&files.key)?)
            .context("the TLS files do not make a TLS setup")?;
        Ok(Some(tls))
    }

    /// Makes a CA and a node certificate signed by it into `dir/tls/` and points the
    /// configuration at them (paths relative to `dir`, where the file will be written).
    pub fn generate_tls(&mut self, dir: &Path) -> Result<()> {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
        let ca_key = KeyPair::generate()?;
        let mut ca = CertificateParams::new(Vec::<String>::new())?;
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(rcgen::DnType::CommonName, format!("{} CA", self.cluster));
        let ca = ca.self_signed(&ca_key)?;
        let node_key = KeyPair::generate()?;
        let node = CertificateParams::new(vec![SERVER_NAME.to_string()])?
            .signed_by(&node_key, &ca, &ca_key)?;
        let tls_dir = dir.join("tls");
        std::fs::create_dir_all(&tls_dir)
            .with_context(|| format!("cannot create {}", tls_dir.display()))?;
        for (name, pem) in [("ca.crt", ca.pem()), ("node.crt", node.pem())] {
            let path = tls_dir.join(name);
            std::fs::write(&path, pem)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        write_private(
            &tls_dir.join("node.key"),
            node_key.serialize_pem().as_bytes(),
        )?;
        self.tls = Some(TlsFiles {
            ca: "tls/ca.crt".into(),
            cert: "tls/node.crt".into(),
            key: "tls/node.key".into(),
        });
        Ok(())
    }

    /// The node entry for `id`.
    pub fn node(&self, id: &str) -> Result<(NodeId, &NodeEntry)> {
        let wanted: NodeId = id.parse().with_context(|| format!("bad node id {id:?}"))?;
        self.nodes
            .iter()
            .find(|n| n.id.parse::<NodeId>().ok() == Some(wanted))
            .map(|n| (wanted, n))
            .with_context(|| format!("no node {id} in the configuration"))
    }

    /// Every node's id and peer address.
    pub fn peers(&self) -> Result<std::collections::BTreeMap<NodeId, SocketAddr>> {
        self.nodes
            .iter()
            .map(|n| Ok((n.id.parse::<NodeId>()?, n.peer_addr)))
            .collect()
    }

    /// The nodes that run `role` (a node without roles runs every one).
    pub fn nodes_with_role(&self, role: &str) -> Result<Vec<NodeId>> {
        self.nodes
            .iter()
            .filter(|n| n.roles.is_empty() || n.roles.iter().any(|r| r == role))
            .map(|n| Ok(n.id.parse::<NodeId>()?))
            .collect()
    }

    /// A node's data directory.
    pub fn data_dir_of(&self, id: NodeId) -> PathBuf {
        self.base.join(&self.data_dir).join(id.to_string())
    }
}

/// The roles of `system`, if it is one this version runs.
pub fn roles_of(system: &str) -> Option<&'static [&'static str]> {
    SYSTEMS
        .iter()
        .find(|(name, _)| *name == system)
        .map(|(_, roles)| *roles)
}

fn system_names() -> String {
    SYSTEMS.map(|(name, _)| name).join(", ")
}

fn default_max_raft_state() -> usize {
    64 << 20
}

/// Writes `bytes` to a new file at `path`, created with mode 0600 (owner only) so that no
/// other user can ever read it, not even between its creation and a later chmod.
fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))
}

/// A loopback address with a port the OS says is free now.
pub fn free_loopback_port() -> Result<SocketAddr> {
    let listener =
        std::net::TcpListener::bind("127.0.0.1:0").context("cannot bind a loopback port")?;
    Ok(listener.local_addr()?)
}

/// Lower-case hex.
pub fn encode_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn decode_hex(s: &str) -> Result<Vec<u8>> {
    if s.len() % 2 != 0 || s.is_empty() {
        bail!("expected an even number of hex digits");
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).with_context(|| format!("bad hex at {i}")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_local_gfs_cluster_has_a_chunkserver_on_every_node_and_three_masters() {
        let config = ClusterConfig::local("gfs", 5).unwrap();
        let masters = config.nodes_with_role("master").unwrap();
        let servers = config.nodes_with_role("chunkserver").unwrap();
        assert_eq!(masters, vec![NodeId(1), NodeId(2), NodeId(3)]);
        assert_eq!(servers.len(), 5);
        assert!(config.gfs.is_some());
        let small = ClusterConfig::local("gfs", 2).unwrap();
        assert_eq!(small.nodes_with_role("master").unwrap().len(), 2);
    }

    #[test]
    fn the_gfs_table_takes_defaults_and_refuses_what_cannot_run() {
        let settings: GfsSettings = toml::from_str("replicas = 2").unwrap();
        assert_eq!(settings.replicas, 2);
        assert_eq!(settings.chunk_mb, 64);
        assert_eq!(settings.lease_ms, 5_000);
        assert!(settings.check().is_ok());
        for bad in [
            "chunk_mb = 0",
            "replicas = 0",
            "lease_ms = 0",
            "chunk_mb = 4096",
        ] {
            let settings: GfsSettings = toml::from_str(bad).unwrap();
            assert!(settings.check().is_err(), "{bad}");
        }
    }
}
