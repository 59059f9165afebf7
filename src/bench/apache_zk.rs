//! Apache ZooKeeper, the anchor of `troupe bench zk`: an ensemble of Debian's
//! `zookeeper` package (3.8) on loopback, started from its jar with a configuration of our
//! own in a scratch directory: fsync on every transaction (`forceSync=yes`, ZooKeeper's
//! default), the default 2 s tick, no admin server, no client limit.

use super::nodes::CpuCaps;
use anyhow::{bail, Context as _, Result};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// Where Debian's package puts ZooKeeper's jar (its manifest names the libraries it needs).
const JAR: &str = "/usr/share/java/zookeeper.jar";
/// Debian's configuration directory: its log4j settings.
const CONF: &str = "/etc/zookeeper/conf";

/// A running ensemble; dropped, its processes are killed and its directory removed.
pub struct Ensemble {
    children: Vec<Child>,
    dir: PathBuf,
    /// Each server's client address.
    pub addrs: Vec<SocketAddr>,
}

/// A free loopback port (bound, then released).
fn free_port() -> Result<u16> {
    let listener =
        std::net::TcpListener::bind("127.0.0.1:0").context("cannot bind a loopback port")?;
    Ok(listener.local_addr()?.port())
}

impl Ensemble {
    /// Starts `servers` servers with data in `dir` (emptied first), each in its CPU cgroup if
    /// `caps`.
    pub fn start(dir: &Path, servers: usize, caps: Option<&CpuCaps>) -> Result<Ensemble> {
        if !Path::new(JAR).exists() {
            bail!(
                "Apache ZooKeeper is not installed ({JAR} is missing): apt-get install zookeeper"
            );
        }
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir)?;
        let mut ports = Vec::new();
        for _ in 0..servers {
            ports.push((free_port()?, free_port()?, free_port()?));
        }
        let members: String = ports
            .iter()
            .enumerate()
            .map(|(i, (_, quorum, election))| {
                format!("server.{}=127.0.0.1:{quorum}:{election}\n", i + 1)
            })
            .collect();
        let mut ensemble = Ensemble {
            children: Vec::new(),
            dir: dir.to_path_buf(),
            addrs: Vec::new(),
        };
        for (i, (client, _, _)) in ports.iter().enumerate() {
            let data = dir.join(format!("zk{}", i + 1));
            std::fs::create_dir_all(&data)?;
            std::fs::write(data.join("myid"), format!("{}\n", i + 1))?;
            let config = format!(
                "tickTime=2000\ninitLimit=10\nsyncLimit=5\ndataDir={}\nclientPort={client}\n\
                 clientPortAddress=127.0.0.1\nmaxClientCnxns=0\nforceSync=yes\n\
                 admin.enableServer=false\n{members}",
                data.display()
            );
            let config_path = dir.join(format!("zoo{}.cfg", i + 1));
            std::fs::write(&config_path, config)?;
            let log = std::fs::File::create(dir.join(format!("zk{}.log", i + 1)))?;
            let child = Command::new("java")
                .arg(format!("-Dzookeeper.log.dir={}", dir.display()))
                .arg("-Dzookeeper.root.logger=WARN,CONSOLE")
                .arg("-cp")
                .arg(format!("{CONF}:{JAR}"))
                .arg("org.apache.zookeeper.server.quorum.QuorumPeerMain")
                .arg(&config_path)
                .stdout(Stdio::from(log.try_clone()?))
                .stderr(Stdio::from(log))
                .spawn()
                .context("cannot start java (Debian's zookeeper package needs a JRE)")?;
            if let Some(caps) = caps {
                caps.place(i, child.id())?;
            }
            ensemble.children.push(child);
            ensemble
                .addrs
                .push(SocketAddr::from(([127, 0, 0, 1], *client)));
        }
        Ok(ensemble)
    }
}

impl Drop for Ensemble {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
