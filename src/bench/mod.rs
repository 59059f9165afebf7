//! `troupe bench <what>`: benchmarks that print their conditions and a baseline measured in the
//! same run, so that results compare as ratios on a noisy shared machine.

mod messaging;

use anyhow::Result;
use clap::{Args, ValueEnum};

/// What to measure.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Bench {
    /// Local messaging against raw actix, SimNet throughput, and virtual-time speed.
    Messaging,
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
}

pub fn run(args: BenchArgs) -> Result<()> {
    match args.bench {
        Bench::Messaging => messaging::run(args.quick, args.json),
    }
}
