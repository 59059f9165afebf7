//! `troupe check [--model M] [--budget-states N] [--budget-time T] FILE`: is a history
//! linearizable? Exits 0 if it is, 1 if it is not, 3 if the search budget ran out first (2,
//! from `main`, if the file cannot be read or the arguments are wrong).

use anyhow::{Context as _, Result};
use clap::{Args, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};
use troupe_runtime::history;
use troupe_runtime::linearizability::{check_with, Budget, Verdict};

/// The exit code of an inconclusive check.
const INCONCLUSIVE: u8 = 3;

/// The models a history can be checked against.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Model {
    /// A key-value store: get, put and append, a missing key reading as "".
    Kv,
}

/// Options of `troupe check`.
#[derive(Args, Debug)]
pub struct CheckArgs {
    /// The model of the object the history was taken from.
    #[arg(long, value_enum, default_value_t = Model::Kv)]
    model: Model,
    /// Give up, inconclusive, after visiting this many search states.
    #[arg(long, value_name = "N", default_value_t = Budget::DEFAULT_STATES)]
    budget_states: u64,
    /// Give up, inconclusive, after this much time (e.g. 30s); no limit by default.
    #[arg(long, value_name = "TIME", value_parser = humantime::parse_duration)]
    budget_time: Option<Duration>,
    /// A history file: one JSON operation per line.
    file: PathBuf,
}

/// Checks the file and prints the verdict; the exit code says it too.
pub fn run(args: CheckArgs) -> Result<ExitCode> {
    let file = std::fs::File::open(&args.file)
        .with_context(|| format!("cannot open {}", args.file.display()))?;
    let ops = history::read(std::io::BufReader::new(file))
        .with_context(|| format!("{} is not a history", args.file.display()))?;
    let budget = Budget {
        max_states: Some(args.budget_states),
        max_time: args.budget_time,
    };
    let started = Instant::now();
    let verdict = match args.model {
        Model::Kv => check_with(&ops, budget),
    };
    let took = started.elapsed();
    let unknown = ops.iter().filter(|o| o.ret.is_none()).count();
    let code = match &verdict {
        Verdict::Linearizable => {
            println!(
                "linearizable: {} operations ({unknown} with unknown outcome), checked in {took:.2?}",
                ops.len()
            );
            ExitCode::SUCCESS
        }
        Verdict::NotLinearizable { key } => {
            println!(
                "NOT linearizable: the operations on key {key:?} admit no linearization \
                 ({} operations, checked in {took:.2?})",
                ops.len()
            );
            ExitCode::FAILURE
        }
        Verdict::Inconclusive {
            limit,
            states,
            undecided,
        } => {
            const SHOWN: usize = 5;
            let mut keys: Vec<String> = undecided
                .iter()
                .take(SHOWN)
                .map(|k| format!("{k:?}"))
                .collect();
            if undecided.len() > SHOWN {
                keys.push(format!("and {} more", undecided.len() - SHOWN));
            }
            println!(
                "INCONCLUSIVE: the {limit} ran out after {states} states and {took:.2?}, \
                 with no verdict on key(s) {} ({} operations); raise --budget-states or \
                 --budget-time",
                keys.join(", "),
                ops.len()
            );
            ExitCode::from(INCONCLUSIVE)
        }
    };
    Ok(code)
}
