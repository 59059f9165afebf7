//! The test kit: build a simulated cluster, break it, and check what survived.
//!
//! ```no_run
//! use std::time::Duration;
//! use troupe_runtime::testkit::{simulate, Cluster};
//!
//! #[test]
//! fn survives_a_crash() {
//!     simulate(42, |seed| async move {
//!         let cluster = Cluster::builder(seed).nodes(3).topology(|_node| { /* spawn actors */ }).build();
//!         cluster.crash(1);
//!         cluster.run_for(Duration::from_secs(5)).await;
//!         cluster.restart(1);
//!     });
//! }
//! ```
//!
//! [`simulate`] runs the test body in virtual time with the seed from `TROUPE_SEED` if set
//! (else the test's default), and if the test fails it prints the seed and the exact command
//! that replays it.

use crate::events::EventLog;
use crate::node::{Node, NodeConfig};
use crate::sim::{self, LinkFaults, NetStats, Nic, NodeFactory, SimNet, StorageFactory};
use crate::{Error, Result};
use std::future::Future;
use std::rc::Rc;
use std::time::Duration;
use troupe_messages::NodeId;

/// The environment variable that overrides a test's seed.
pub const SEED_VAR: &str = "TROUPE_SEED";

/// The seed to use: `TROUPE_SEED` if it is set to a number, else `default`.
pub fn seed_or(default: u64) -> u64 {
    std::env::var(SEED_VAR)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(default)
}

/// Runs a test body in virtual time with `TROUPE_SEED` or `default_seed`; on failure prints the
/// seed and the command that replays the test.
pub fn simulate<F, Fut>(default_seed: u64, body: F) -> Fut::Output
where
    F: FnOnce(u64) -> Fut,
    Fut: Future,
{
    init_test_logging();
    let seed = seed_or(default_seed);
    let _hint = ReplayHint { seed };
    let _planted = plant_from_env();
    sim::block_on(body(seed))
}

/// The environment variable that plants a bug in every simulated test of a build with the
/// `planted-bugs` feature: `TROUPE_PLANT=leader-reads-locally cargo test --features
/// planted-bugs --test kv` shows which tests catch it (they fail).
pub const PLANT_VAR: &str = "TROUPE_PLANT";

/// Arms the bug named by `TROUPE_PLANT`, if any, until the returned guard is dropped.
fn plant_from_env() -> Option<crate::plant::Disarm> {
    let name = std::env::var(PLANT_VAR).ok()?;
    let bug = crate::plant::Bug::named(name.trim()).unwrap_or_else(|e| panic!("{PLANT_VAR}: {e}"));
    crate::plant::arm(bug).unwrap_or_else(|e| panic!("{PLANT_VAR}: {e}"));
    Some(crate::plant::Disarm)
}

/// With `RUST_LOG` set, prints the run's tracing output (events included, at
/// `RUST_LOG=troupe::event=debug`) through the test harness, so it shows for failing tests.
fn init_test_logging() {
    if std::env::var_os("RUST_LOG").is_some() {
        let _already_set = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
    }
}

/// Prints how to replay the current test if it is unwinding from a failure.
struct ReplayHint {
    seed: u64,
}

impl Drop for ReplayHint {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let hint = replay_command(self.seed);
            tracing::error!("{hint}");
            // Test output must reach a person even when no tracing subscriber is installed.
            eprintln!("{hint}");
        }
    }
}

/// The message a failing test prints: its seed and the command that replays it.
pub fn replay_command(seed: u64) -> String {
    let test = std::thread::current()
        .name()
        .unwrap_or("<test name>")
        .to_string();
    let target = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .and_then(|stem| stem.rsplit_once('-').map(|(name, _hash)| name.to_string()))
        .unwrap_or_else(|| "<test target>".into());
    format!(
        "troupe: test failed with seed {seed}; replay it with:\n    \
         {SEED_VAR}={seed} cargo test --test {target} -- {test} --exact"
    )
}

/// Builds a [`Cluster`].
pub struct ClusterBuilder {
    seed: u64,
    nodes: u32,
    config: NodeConfig,
    baseline: LinkFaults,
    faults: Option<LinkFaults>,
    capture: bool,
    topology: NodeFactory,
    storage: Option<StorageFactory>,
    nics: Vec<(u32, Nic)>,
    uplink: Option<(Vec<Vec<u32>>, u64)>,
}

impl ClusterBuilder {
    /// Number of nodes, named n1..nN (default 3).
    pub fn nodes(mut self, n: u32) -> Self {
        self.nodes = n;
        self
    }

    /// What every node runs: called at each node's start and at every restart.
    pub fn topology(mut self, factory: impl Fn(&Node) + 'static) -> Self {
        self.topology = Rc::new(factory);
        self
    }

    /// Durable storage of every node, made at each of its starts (default: the network's
    /// in-memory persister). See [`StorageFactory`].
    pub fn storage(
        mut self,
        storage: impl Fn(NodeId) -> std::sync::Arc<dyn crate::Persister> + 'static,
    ) -> Self {
        self.storage = Some(Rc::new(storage));
        self
    }

    /// The links' healthy state, which [`Cluster::reliable`] and the nemesis's healing return
    /// to (default: [`LinkFaults::realistic`], 1-5 ms with jitter; [`LinkFaults::reliable`] for
    /// zero latency, when a test needs it).
    pub fn baseline(mut self, links: LinkFaults) -> Self {
        self.baseline = links;
        self
    }

    /// The links' state at the start, if it is not the baseline (for instance
    /// [`LinkFaults::unreliable`]); [`Cluster::reliable`] returns to the baseline.
    pub fn faults(mut self, faults: LinkFaults) -> Self {
        self.faults = Some(faults);
        self
    }

    /// Gives node `n` a network card (see [`SimNet::set_nic`]); default: none, unlimited.
    pub fn nic(mut self, n: u32, nic: Nic) -> Self {
        self.nics.push((n, nic));
        self
    }

    /// Puts each group of node numbers on a switch, the switches joined by an uplink of `bps`
    /// bits per second each way (see [`SimNet::set_uplink`]); default: none.
    pub fn uplink(mut self, groups: &[&[u32]], bps: u64) -> Self {
        self.uplink = Some((groups.iter().map(|g| g.to_vec()).collect(), bps));
        self
    }

    /// Failure-detector timing of every node.
    pub fn node_config(mut self, config: NodeConfig) -> Self {
        self.config = config;
        self
    }

    /// Keep the event log in memory as JSON lines (see [`Cluster::events`]).
    pub fn capture_events(mut self) -> Self {
        self.capture = true;
        self
    }

    /// Builds the network and starts every node. Call inside [`simulate`] or [`sim::block_on`].
    pub fn build(self) -> Cluster {
        let log = EventLog::new();
        if self.capture {
            log.capture();
        }
        let net = SimNet::new(self.seed, self.config, log);
        net.set_baseline(self.baseline);
        if let Some(faults) = self.faults {
            net.set_default_faults(faults);
        }
        // Before the nodes start, so that what they send at once is limited too.
        for (n, nic) in self.nics {
            net.set_nic(NodeId(n), Some(nic));
        }
        if let Some((groups, bps)) = self.uplink {
            let groups = groups
                .into_iter()
                .map(|g| g.into_iter().map(NodeId).collect())
                .collect();
            net.set_uplink(groups, bps);
        }
        for i in 1..=self.nodes {
            match &self.storage {
                Some(storage) => {
                    net.add_node_with_storage(NodeId(i), self.topology.clone(), storage.clone())
                }
                None => net.add_node(NodeId(i), self.topology.clone()),
            };
        }
        Cluster { net }
    }
}

/// A simulated cluster under test.
#[derive(Clone, Debug)]
pub struct Cluster {
    net: SimNet,
}

impl Cluster {
    /// Starts describing a cluster whose randomness comes from `seed`.
    pub fn builder(seed: u64) -> ClusterBuilder {
        ClusterBuilder {
            seed,
            nodes: 3,
            config: NodeConfig::default(),
            baseline: LinkFaults::realistic(),
            faults: None,
            capture: false,
            topology: Rc::new(|_| {}),
            storage: None,
            nics: Vec::new(),
            uplink: None,
        }
    }

    /// The network underneath, for finer control.
    pub fn net(&self) -> &SimNet {
        &self.net
    }

    /// The cluster's seed.
    pub fn seed(&self) -> u64 {
        self.net.seed()
    }

    /// The ids of every node.
    pub fn ids(&self) -> Vec<NodeId> {
        self.net.node_ids()
    }

    /// Node `n` (1-based) if it is up.
    pub fn node(&self, n: u32) -> Option<Node> {
        self.net.node(NodeId(n))
    }

    /// Node `n` (1-based); fails the test if it is down.
    pub fn up(&self, n: u32) -> Node {
        self.node(n)
            .unwrap_or_else(|| panic!("node n{n} is not up (seed {})", self.seed()))
    }

    /// Crashes node `n`.
    pub fn crash(&self, n: u32) {
        self.net.crash(NodeId(n));
    }

    /// Restarts node `n` from its persister.
    pub fn restart(&self, n: u32) -> Option<Node> {
        self.net.restart(NodeId(n))
    }

    /// Splits the cluster into groups of node numbers that cannot reach each other.
    pub fn partition(&self, groups: &[&[u32]]) {
        let ids: Vec<Vec<NodeId>> = groups
            .iter()
            .map(|g| g.iter().map(|&n| NodeId(n)).collect())
            .collect();
        let refs: Vec<&[NodeId]> = ids.iter().map(Vec::as_slice).collect();
        self.net.partition(&refs);
    }

    /// Blocks messages from `from` to `to` only.
    pub fn block(&self, from: u32, to: u32) {
        self.net.block(NodeId(from), NodeId(to));
    }

    /// Cuts `node` off from each of `others`, both ways (its other links stay up).
    pub fn cut_off(&self, node: u32, others: &[u32]) {
        for &other in others {
            self.block(node, other);
            self.block(other, node);
        }
    }

    /// Removes every partition.
    pub fn heal(&self) {
        self.net.heal();
    }

    /// Sets the faults of every link.
    pub fn set_faults(&self, faults: LinkFaults) {
        self.net.set_default_faults(faults);
    }

    /// Makes every link reliable again: back to the builder's [`ClusterBuilder::baseline`].
    pub fn reliable(&self) {
        self.net.clear_faults();
    }

    /// Lets `d` of virtual time pass while the cluster runs.
    pub async fn run_for(&self, d: Duration) {
        tokio::time::sleep(d).await;
    }

    /// Waits until `pred` holds, checking every virtual millisecond, for at most `deadline` of
    /// virtual time.
    pub async fn wait_until(
        &self,
        what: &str,
        deadline: Duration,
        mut pred: impl FnMut() -> bool,
    ) -> Result<Duration> {
        self.wait_for(what, deadline, Duration::from_millis(1), || {
            std::future::ready(pred())
        })
        .await
    }

    /// Waits until the asynchronous `check` returns true, trying every `every` for at most
    /// `deadline` of virtual time. Returns how long it took.
    pub async fn wait_for<Fut>(
        &self,
        what: &str,
        deadline: Duration,
        every: Duration,
        mut check: impl FnMut() -> Fut,
    ) -> Result<Duration>
    where
        Fut: Future<Output = bool>,
    {
        let start = tokio::time::Instant::now();
        loop {
            if check().await {
                return Ok(start.elapsed());
            }
            if start.elapsed() >= deadline {
                return Err(Error::WaitTimedOut {
                    what: what.to_string(),
                    after: deadline,
                });
            }
            tokio::time::sleep(every).await;
        }
    }

    /// What the network did so far.
    pub fn stats(&self) -> NetStats {
        self.net.stats()
    }

    /// The event log as JSON lines, if the builder asked for [`ClusterBuilder::capture_events`].
    pub fn events(&self) -> Vec<u8> {
        self.net.log().captured()
    }
}
