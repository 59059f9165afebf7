//! `troupe sim <system>`: one topology on the simulated network in virtual time, a nemesis,
//! and a JSON report as the last line of output.

mod chain;
mod latency;
mod ping;
mod plant;
mod raft_kv;
mod report;
pub mod rules;

use anyhow::{bail, Context as _, Result};
use clap::{Args, ValueEnum};
use std::path::PathBuf;
use std::time::Duration;
use troupe_runtime::nemesis::NemesisKind;
use troupe_runtime::sim::LinkFaults;

pub use latency::Latency;

/// The systems `troupe sim` can run.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum System {
    /// A linearizable key-value service on Raft, with clients recording a history that is
    /// checked for linearizability at the end.
    RaftKv,
    /// Chain replication (or CRAQ, with `--craq`) with its configuration manager on Raft and
    /// its failover supervisor; the clients' history is checked for linearizability.
    Chain,
    /// Every node pings every other node every 100 ms: the runtime's own smoke topology.
    Ping,
}

/// Options of `troupe sim`.
#[derive(Args, Debug)]
pub struct SimArgs {
    /// Which system to run.
    #[arg(value_enum)]
    pub system: System,
    /// The seed behind every random choice; the same seed replays the same run.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Number of server nodes (chain: the chain's servers; its manager and supervisor run on
    /// nodes of their own).
    #[arg(long, default_value_t = 5)]
    pub nodes: u32,
    /// Number of clients (raft-kv, chain), each on a node of its own.
    #[arg(long, default_value_t = 8)]
    pub clients: u32,
    /// Virtual time the workload and the nemesis run for (e.g. 60s, 500ms, 2m).
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// Faults to inject: none, crash, partition, unreliable or all.
    #[arg(long, default_value = "none")]
    pub nemesis: NemesisKind,
    /// One-way latency of every healthy link, drawn per message from MIN..MAX in whole
    /// milliseconds (e.g. 1ms..5ms); `0ms..0ms` for zero latency.
    #[arg(long, default_value = "1ms..5ms")]
    pub latency: Latency,
    /// Inject a known bug (`--plant list` names them); needs a build with the cargo feature
    /// `planted-bugs`. The run's checks must catch it.
    #[arg(long, value_name = "BUG")]
    pub plant: Option<String>,
    /// Chain: CRAQ, reads served by every node of the chain (default: at the tail only).
    #[arg(long)]
    pub craq: bool,
    /// Chain: how many chains share the servers, with the keys sharded across them.
    #[arg(long, default_value_t = 1)]
    pub chains: u32,
    /// Write the client history here (raft-kv, chain), one JSON operation per line.
    #[arg(long)]
    pub history: Option<PathBuf>,
    /// Also write the event log here as JSON lines.
    #[arg(long)]
    pub events: Option<PathBuf>,
    /// Print only the JSON report.
    #[arg(long)]
    pub json: bool,
}

impl SimArgs {
    /// The links' healthy state, from `--latency`.
    pub fn links(&self) -> LinkFaults {
        self.latency.links()
    }

    /// ` --plant BUG` if a bug was planted, for the replay command.
    pub fn plant_flag(&self) -> String {
        self.plant
            .as_deref()
            .map(|bug| format!(" --plant {bug}"))
            .unwrap_or_default()
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

/// Runs the topology; `Ok(false)` when the run's own check failed.
pub fn run(args: SimArgs) -> Result<bool> {
    if args.nodes == 0 {
        bail!("--nodes must be at least 1");
    }
    if let Some(bug) = &args.plant {
        if plant::arm(bug)? {
            return Ok(true); // `--plant list` printed the bugs
        }
    }
    match args.system {
        System::Ping => ping::run(args),
        System::RaftKv => raft_kv::run(args),
        System::Chain => chain::run(args),
    }
}
