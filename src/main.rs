//! The `troupe` command line: run a topology in virtual time, or measure the runtime.
//!
//! ```text
//! troupe sim ping --nodes 5 --seed 1 --duration 60s --nemesis all --json
//! troupe bench messaging
//! ```

mod bench;
mod sim;

use anyhow::Result;
use clap::{Parser, Subcommand};
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
    Sim(sim::SimArgs),
    /// Run a benchmark and print its conditions, baselines and results.
    Bench(bench::BenchArgs),
}

fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Sim(args) => sim::run(args),
        Command::Bench(args) => bench::run(args),
    }
}
