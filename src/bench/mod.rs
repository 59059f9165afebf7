//! `troupe bench <what>`: benchmarks that print their conditions and a baseline measured in the
//! same run, so that results compare as ratios on a noisy shared machine.

mod chain;
mod etcd;
mod messaging;
mod raft;
mod real;

use anyhow::Result;
use clap::{Args, ValueEnum};

/// What to measure.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Bench {
    /// Local messaging against raw actix, SimNet throughput, and virtual-time speed.
    Messaging,
    /// Key-value throughput and latency on Raft, 3 and 5 servers, 1, 8 and 64 clients.
    RaftKv,
    /// Time to elect a new leader after the leader crashes, over 1000 trials.
    Election,
    /// Read throughput against chain length, chain replication against CRAQ.
    Chain,
}

/// Options of `troupe bench`.
#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Which benchmark.
    #[arg(value_enum)]
    bench: Bench,
    /// Fewer messages and rounds: a quick check, not a measurement.
    #[arg(long)]
    quick: bool,
    /// Print the results as one JSON object.
    #[arg(long)]
    json: bool,
    /// raft-kv only: real node processes on loopback (fsync on), with etcd side by side.
    #[arg(long)]
    real: bool,
    /// With --real: the etcd binary to compare with (default: `etcd` on the PATH).
    #[arg(long)]
    etcd: Option<std::path::PathBuf>,
}

pub fn run(args: BenchArgs) -> Result<()> {
    match args.bench {
        Bench::Messaging => messaging::run(args.quick, args.json),
        Bench::RaftKv if args.real => real::run(args.quick, args.json, args.etcd),
        Bench::RaftKv => raft::kv(args.quick, args.json),
        Bench::Election => raft::election(args.quick, args.json),
        Bench::Chain => chain::run(args.quick, args.json),
    }
}
