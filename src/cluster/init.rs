//! `troupe cluster init`: a fresh local cluster's configuration (and, with `--tls`, its
//! certificates) in a directory. A directory that already holds a cluster (its cluster.toml,
//! its data or its certificates) is refused unless `--force` is given; then those are removed
//! first, so that no value of the old cluster can come back in the new one.

use anyhow::{bail, Context as _, Result};
use clap::Args;
use std::path::{Path, PathBuf};
use troupe::config::{ClusterConfig, CONFIG_FILE};

/// The most nodes `cluster init` lays out: each is a process on this machine with two
/// loopback ports.
pub const MAX_NODES: u32 = 100;

/// `troupe cluster init`.
#[derive(Args, Debug)]
pub struct InitArgs {
    /// The system: raft-kv (a key-value service on Raft), chain (chain replication, with
    /// its configuration manager and failover supervisor on every node), vmft (a
    /// fault-tolerant VM, with a storage replica, a VM host and a failover supervisor on every
    /// node), gfs (the Google File System: a chunkserver on every node, a master replica on
    /// the first three) or zk (ZooKeeper on Raft, with a `zk_addr` per node for ZooKeeper's
    /// own clients).
    #[arg(long, default_value = "raft-kv", value_parser = ["raft-kv", "chain", "vmft", "gfs", "zk"])]
    system: String,
    /// Number of nodes, 1 to 100.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_NODES)))]
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
    /// Replace a cluster DIR already holds: delete its cluster.toml, its certificates and
    /// every node's data (stop its nodes first).
    #[arg(long)]
    force: bool,
}

/// Writes the configuration; prints its path.
pub fn run(args: InitArgs) -> Result<()> {
    let mut config = ClusterConfig::local(&args.system, args.nodes)?;
    match config.chain.as_mut() {
        Some(settings) => {
            settings.craq = args.craq;
            settings.chains = args.chains;
        }
        None if args.craq => bail!("--craq is for --system chain"),
        None if args.chains != 1 => bail!("--chains is for --system chain"),
        None => {}
    }
    clear_old_cluster(&args.dir, &config, args.force)?;
    if args.tls {
        config.generate_tls(&args.dir)?;
    }
    let path = config.write_to(&args.dir)?;
    println!("{}", path.display());
    Ok(())
}

/// What of a cluster `dir` holds: its configuration file, its data directory (as the new
/// `config` will name it) and its certificates.
fn old_cluster(dir: &Path, config: &ClusterConfig) -> Vec<PathBuf> {
    [
        dir.join(CONFIG_FILE),
        dir.join(&config.data_dir),
        dir.join("tls"),
    ]
    .into_iter()
    .filter(|path| path.symlink_metadata().is_ok())
    .collect()
}

/// Refuses a directory that holds a cluster, or with `force` removes that cluster.
fn clear_old_cluster(dir: &Path, config: &ClusterConfig, force: bool) -> Result<()> {
    let old = old_cluster(dir, config);
    if old.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = old.iter().map(|p| p.display().to_string()).collect();
    if !force {
        bail!(
            "{} already holds a cluster ({}); give --force to delete it, data included, and \
             make a new one",
            dir.display(),
            names.join(", ")
        );
    }
    warn_of_data_elsewhere(dir, config);
    for path in &old {
        let is_dir = path.symlink_metadata().is_ok_and(|m| m.is_dir());
        let removed = if is_dir {
            std::fs::remove_dir_all(path)
        } else {
            std::fs::remove_file(path)
        };
        removed.with_context(|| format!("--force: cannot remove {}", path.display()))?;
    }
    eprintln!("troupe: removed the old cluster: {}", names.join(", "));
    Ok(())
}

/// An old configuration may keep its data somewhere else than the new one will: that is left
/// alone (it is not init's to delete), with a warning.
fn warn_of_data_elsewhere(dir: &Path, config: &ClusterConfig) {
    let Ok(old) = ClusterConfig::load(&dir.join(CONFIG_FILE)) else {
        return;
    };
    let old_data = old.base.join(&old.data_dir);
    if old_data != dir.join(&config.data_dir) && old_data.exists() {
        eprintln!(
            "troupe: warning: the old cluster kept its data in {}, which is left in place",
            old_data.display()
        );
    }
}
