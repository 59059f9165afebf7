//! The `troupe` command line: run a topology in virtual time, or measure the runtime.
//!
//! ```text
//! troupe sim ping --nodes 5 --seed 1 --duration 60s --nemesis all --json
//! troupe bench messaging
//! troupe check history.jsonl
//! troupe cluster init --nodes 3 --dir /tmp/c && troupe cluster up --config /tmp/c/cluster.toml
//! troupe kv --config /tmp/c/cluster.toml put k v
//! troupe gfs --config /tmp/g/cluster.toml put ./notes.txt /docs/notes.txt
//! troupe status --config /tmp/c/cluster.toml --json
//! troupe mr sequential --app wc --out /tmp/wc tests/data/gutenberg/pg-*.txt
//! ```

// The simulator and the benchmarks need the `simulation` feature (on by default); a build
// without it runs real nodes and their clients only.
#[cfg(feature = "simulation")]
mod bench;
mod check;
mod cluster;
mod mr;
mod parse;
#[cfg(feature = "simulation")]
mod sim;

use anyhow::Result;
use clap::{Parser, Subcommand};
use std::process::ExitCode;
use tracing_subscriber::EnvFilter;

/// troupe: the classic distributed systems as supervised actors, on a simulated or real network.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a topology on the simulated network, in virtual time, and print a report.
    #[cfg(feature = "simulation")]
    Sim(sim::SimArgs),
    /// Run a benchmark and print its conditions, baselines and results.
    #[cfg(feature = "simulation")]
    Bench(bench::BenchArgs),
    /// Check a history (key-value, or --model register) for linearizability: exit 0 if it is, 1
    /// if not, 3 if undecided.
    Check(check::CheckArgs),
    /// Set up a real cluster of processes.
    #[command(subcommand)]
    Cluster(cluster::ClusterCommand),
    /// Run one node of a real cluster (until the process is stopped).
    Node(cluster::NodeArgs),
    /// A key-value client of a real cluster: get, put or append.
    Kv(cluster::KvArgs),
    /// A file client of a real GFS cluster: put, get, cat, ls, rm, append, records.
    Gfs(cluster::GfsArgs),
    /// MapReduce jobs on real files: `run` (coordinator and worker processes), `coordinator`,
    /// `worker`, and `sequential`, the reference.
    #[command(subcommand)]
    Mr(mr::MrCommand),
    /// Every node's role, term, commit index and reachability; exit 1 if no node can serve
    /// (no leader, no chain node in a chain, no VM primary, or no GFS master serving).
    Status(cluster::StatusArgs),
}

/// The time on a log line: virtual time since the start inside a simulation (`v12.345678s`),
/// the wall clock elsewhere.
struct LogClock;

impl tracing_subscriber::fmt::time::FormatTime for LogClock {
    fn format_time(&self, w: &mut tracing_subscriber::fmt::format::Writer<'_>) -> std::fmt::Result {
        #[cfg(feature = "simulation")]
        if let Some(elapsed) = troupe_runtime::sim::virtual_elapsed() {
            return write!(w, "v{:.6}s", elapsed.as_secs_f64());
        }
        tracing_subscriber::fmt::time::SystemTime.format_time(w)
    }
}

/// For a flag `troupe sim <system>` refused because it belongs to another system, a line that
/// says which system has it.
#[cfg(not(feature = "simulation"))]
fn foreign_flag_tip(_: &clap::Error) -> Option<String> {
    None
}

/// For a flag `troupe sim <system>` refused because it belongs to another system, a line that
/// says which system has it.
#[cfg(feature = "simulation")]
fn foreign_flag_tip(error: &clap::Error) -> Option<String> {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    use clap::CommandFactory;
    if error.kind() != ErrorKind::UnknownArgument {
        return None;
    }
    let Some(ContextValue::String(given)) = error.get(ContextKind::InvalidArg) else {
        return None;
    };
    let long = given.strip_prefix("--")?.split('=').next()?;
    let cli = Cli::command();
    let owners = sim::systems_with_flag(cli.find_subcommand("sim")?, long);
    if owners.is_empty() {
        return None;
    }
    let owners: Vec<String> = owners.iter().map(|s| format!("`troupe sim {s}`")).collect();
    Some(format!(
        "note: --{long} is a flag of {} only",
        owners.join(", ")
    ))
}

/// Exit codes: 0 success, 1 a negative verdict (`check`: not linearizable; `sim`: the run's own
/// check failed; `kv`, `gfs`: the operation failed; `status`: no node can serve), 2 an error, 3 no
/// verdict (`check`: the search budget ran out).
fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("troupe: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<ExitCode> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")),
        )
        .with_timer(LogClock)
        .with_writer(std::io::stderr)
        .init();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // Help and version print and exit 0 here; usage errors exit 2.
            let Some(tip) = foreign_flag_tip(&e) else {
                e.exit()
            };
            let _ = e.print();
            eprintln!("{tip}");
            return Ok(ExitCode::from(2));
        }
    };
    match cli.command {
        #[cfg(feature = "simulation")]
        Command::Sim(args) => {
            if !sim::run(args)? {
                return Ok(ExitCode::FAILURE);
            }
        }
        #[cfg(feature = "simulation")]
        Command::Bench(args) => bench::run(args)?,
        Command::Cluster(command) => cluster::run(command)?,
        Command::Node(args) => cluster::node(args)?,
        Command::Kv(args) => return cluster::kv(args),
        Command::Gfs(args) => return cluster::gfs(args),
        Command::Mr(command) => mr::run(command)?,
        Command::Status(args) => return cluster::status(args),
        Command::Check(args) => return check::run(args),
    }
    Ok(ExitCode::SUCCESS)
}
