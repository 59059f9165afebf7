//! `troupe sim <system>`: one topology on the simulated network in virtual time, a nemesis,
//! and a JSON report as the last line of output. Each system is a subcommand with its own
//! flags ([`SimSystem`]), listed once in [`systems!`]; the flags they share are [`Common`].

mod chain;
mod gfs;
mod latency;
mod mapreduce;
mod narrate;
mod ping;
mod plant;
mod raft_kv;
mod register;
mod report;
pub mod rules;
mod vmft;
mod zk;

use anyhow::{bail, Context as _, Result};
use clap::{Args, Subcommand};
use std::path::PathBuf;
use std::time::Duration;
use troupe_runtime::nemesis::NemesisKind;
use troupe_runtime::sim::LinkFaults;

pub use latency::Latency;

/// A system `troupe sim` can run: its own flags (a clap `Args`), the name of its subcommand,
/// and how it runs.
pub trait SimSystem: Args {
    /// The subcommand's name, e.g. `raft-kv`.
    const NAME: &'static str;

    /// Whether the system runs clients (then `--clients` must be at least 1).
    const NEEDS_CLIENTS: bool = true;

    /// Runs the system with the common flags; `Ok(false)` when the run failed its checks.
    fn run(self, common: &Common) -> Result<bool>;

    /// This system's own flags as given, for the replay command (e.g. ` --craq --chains 2`).
    fn flags(&self) -> String {
        String::new()
    }

    /// The rules a run must pass (the common ones unless the system says otherwise).
    fn rules() -> rules::PassRules {
        rules::PassRules::default()
    }
}

/// Lists the systems: one line each makes the subcommand and its dispatch.
macro_rules! systems {
    ($($(#[$doc:meta])* $variant:ident($args:ty),)*) => {
        /// The systems `troupe sim` can run.
        #[derive(Subcommand, Debug)]
        pub enum System {
            $($(#[$doc])* #[command(name = <$args as SimSystem>::NAME)] $variant($args),)*
        }

        impl System {
            fn run(self, common: &Common) -> Result<bool> {
                match self {
                    $(System::$variant(args) => args.run(common),)*
                }
            }

            fn needs_clients(&self) -> bool {
                match self {
                    $(System::$variant(_) => <$args as SimSystem>::NEEDS_CLIENTS,)*
                }
            }
        }
    };
}

systems! {
    /// A linearizable key-value service on Raft, with clients recording a history that is
    /// checked for linearizability at the end.
    RaftKv(raft_kv::RaftKvArgs),
    /// Chain replication (or CRAQ, with `--craq`) with its configuration manager on Raft and
    /// its failover supervisor; the clients' history is checked for linearizability.
    Chain(chain::ChainArgs),
    /// GFS: a master replicated on Raft, chunkservers, leases and versions, clients that
    /// record-append to four files and read them back; judged by the record-append checks
    /// (no acknowledged record lost or missed by a later read, no lease overlap, every chunk
    /// at its replica count after healing).
    Gfs(gfs::GfsArgs),
    /// MapReduce: a coordinator that persists its task table and worker pools on real files,
    /// one node's disk slow; judged by the output against a sequential run and by an observer
    /// that must never read an incomplete output.
    Mapreduce(mapreduce::MapReduceArgs),
    /// Every node pings every other node every 100 ms: the runtime's own smoke topology.
    Ping(ping::PingArgs),
    /// One durable, supervised register server (not replicated) whose crashes lose no
    /// acknowledged put; the clients' history is checked for linearizability.
    Register(register::RegisterArgs),
    /// A fault-tolerant virtual machine (VM-FT): a deterministic VM running a key-value guest,
    /// replicated as primary and backup by log replay, with the output rule, go-live by
    /// test-and-set on a Raft-replicated storage, and a new backup after every failover; the
    /// clients' history is checked for linearizability.
    Vmft(vmft::VmftArgs),
    /// ZooKeeper on Raft: clients speaking ZooKeeper's protocol over the simulated network,
    /// with watches, ephemeral and sequential nodes, sessions closed, abandoned and stalled
    /// past their timeout; the history is judged by a znode-tree model (linearizable writes,
    /// reads at their zxid, FIFO client order, watch order, no node outliving its session).
    Zk(zk::ZkArgs),
}

/// Options of `troupe sim`: the system to run, with its own flags, and the flags every system
/// shares (given before or after the system's name).
#[derive(Args, Debug)]
pub struct SimArgs {
    /// Which system to run.
    #[command(subcommand)]
    pub system: System,
    #[command(flatten)]
    pub common: Common,
}

/// The flags every system shares.
#[derive(Args, Debug, Clone)]
pub struct Common {
    /// The seed behind every random choice; the same seed replays the same run.
    #[arg(long, global = true, default_value_t = 1)]
    pub seed: u64,
    /// Number of server nodes (chain: the chain's servers; its manager and supervisor run on
    /// nodes of their own).
    #[arg(long, global = true, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    pub nodes: u32,
    /// Number of clients, each on a node of its own: at least 1 (systems without clients
    /// ignore it).
    #[arg(long, global = true, default_value_t = 8)]
    pub clients: u32,
    /// Virtual time the workload and the nemesis run for, more than zero (e.g. 60s, 500ms, 2m).
    #[arg(long, global = true, default_value = "60s", value_parser = crate::parse::positive_duration)]
    pub duration: Duration,
    /// Faults to inject: none, crash, partition, unreliable or all.
    #[arg(long, global = true, default_value = "none")]
    pub nemesis: NemesisKind,
    /// One-way latency of every healthy link, drawn per message from MIN..MAX in whole
    /// milliseconds (e.g. 1ms..5ms); `0ms..0ms` for zero latency.
    #[arg(long, global = true, default_value = "1ms..5ms")]
    pub latency: Latency,
    /// Inject a known bug (`--plant list` names them); needs a build with the cargo feature
    /// `planted-bugs`. The run's checks must catch it.
    #[arg(long, global = true, value_name = "BUG")]
    pub plant: Option<String>,
    /// Write the client history here, one JSON operation per line.
    #[arg(long, global = true)]
    pub history: Option<PathBuf>,
    /// Also write the event log here as JSON lines.
    #[arg(long, global = true)]
    pub events: Option<PathBuf>,
    /// Print only the JSON report.
    #[arg(long, global = true)]
    pub json: bool,
    /// Tell the run's story (its timeline, its throughput, its verdict explained) even with
    /// `--json`; without `--json` it is always told.
    #[arg(long, global = true)]
    pub narrate: bool,
}

impl Common {
    /// Whether to tell the run's story.
    pub fn narrates(&self) -> bool {
        self.narrate || !self.json
    }

    /// The links' healthy state, from `--latency`.
    pub fn links(&self) -> LinkFaults {
        self.latency.links()
    }

    /// The flags that replay this run (the files it wrote are left out).
    fn flags(&self) -> String {
        let mut flags = format!(
            " --seed {} --nodes {} --clients {} --duration {} --nemesis {} --latency {}",
            self.seed,
            self.nodes,
            self.clients,
            // One shell word: `1m30s`, not humantime's `1m 30s`.
            humantime::format_duration(self.duration)
                .to_string()
                .replace(' ', ""),
            self.nemesis,
            self.latency,
        );
        if let Some(bug) = &self.plant {
            flags.push_str(&format!(" --plant {bug}"));
        }
        flags
    }

    /// Opens the event-log file, if one was asked for.
    fn events_file(&self) -> Result<Option<std::fs::File>> {
        self.events
            .as_ref()
            .map(|path| {
                std::fs::File::create(path)
                    .with_context(|| format!("cannot create the event log {}", path.display()))
            })
            .transpose()
    }
}

/// Sends every event of `cluster`'s network to `file` (the `--events` log), if there is one.
pub fn log_events(cluster: &troupe_runtime::testkit::Cluster, file: Option<std::fs::File>) {
    if let Some(file) = file {
        let log = cluster.net().log();
        log.write_to(Box::new(std::io::BufWriter::new(file)));
    }
}

/// The systems (subcommands of `sim`, found in `sim_command`) that have the flag `--long`:
/// what to tell someone who gave it to another system.
pub fn systems_with_flag(sim_command: &clap::Command, long: &str) -> Vec<String> {
    sim_command
        .get_subcommands()
        .filter(|system| system.get_arguments().any(|a| a.get_long() == Some(long)))
        .map(|system| system.get_name().to_string())
        .collect()
}

/// The command that replays a run of `system` with `common` flags.
pub fn replay_command<S: SimSystem>(system: &S, common: &Common) -> String {
    format!("troupe sim {}{}{}", S::NAME, system.flags(), common.flags())
}

/// Runs the topology; `Ok(false)` when the run's own check failed.
pub fn run(args: SimArgs) -> Result<bool> {
    let SimArgs { system, common } = args;
    if common.nodes == 0 {
        bail!("--nodes must be at least 1");
    }
    if common.clients == 0 && system.needs_clients() {
        bail!("--clients must be at least 1: this system's run is judged by its clients' history");
    }
    if let Some(bug) = &common.plant {
        if plant::arm(bug)? {
            return Ok(true); // `--plant list` printed the bugs
        }
    }
    system.run(&common)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser, Debug)]
    struct Cli {
        #[command(subcommand)]
        command: Command,
    }

    #[derive(Subcommand, Debug)]
    enum Command {
        Sim(SimArgs),
    }

    fn parse(line: &str) -> Result<SimArgs, clap::Error> {
        let words = line.split_whitespace();
        Cli::try_parse_from(words).map(|cli| match cli.command {
            Command::Sim(args) => args,
        })
    }

    #[test]
    fn the_replay_command_parses_back_to_the_same_run() {
        let given = "troupe sim --seed 7 chain --craq --chains 2 --colocated --nodes 3 \
                     --nemesis all --duration 90s --latency 2ms..9ms";
        let args = parse(given).expect("parses");
        let System::Chain(chain) = &args.system else {
            panic!("not chain: {args:?}");
        };
        let replay = replay_command(chain, &args.common);
        assert_eq!(
            replay,
            "troupe sim chain --craq --chains 2 --colocated --seed 7 --nodes 3 --clients 8 \
             --duration 1m30s --nemesis all --latency 2ms..9ms"
        );
        let again = parse(&replay).expect("the replay parses");
        assert_eq!(format!("{again:?}"), format!("{args:?}"));
    }

    #[test]
    fn a_refused_flag_is_traced_to_the_system_that_has_it() {
        use clap::CommandFactory;
        let cli = Cli::command();
        let sim = cli.find_subcommand("sim").expect("sim");
        assert_eq!(systems_with_flag(sim, "craq"), vec!["chain".to_string()]);
        assert_eq!(systems_with_flag(sim, "chains"), vec!["chain".to_string()]);
        assert!(systems_with_flag(sim, "no-such-flag").is_empty());
    }

    #[test]
    fn a_flag_of_another_system_is_refused() {
        let error = parse("troupe sim raft-kv --craq").expect_err("refused");
        assert!(error.to_string().contains("--craq"), "{error}");
        assert!(parse("troupe sim ping --chains 2").is_err());
        assert!(parse("troupe sim chain --craq --chains 0").is_err());
    }
}
