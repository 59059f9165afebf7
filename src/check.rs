//! `troupe check FILE`: is a key-value history linearizable?

use anyhow::{Context as _, Result};
use clap::Args;
use std::path::PathBuf;
use std::time::Instant;
use troupe_runtime::history;
use troupe_runtime::linearizability::{check, Verdict};

/// Options of `troupe check`.
#[derive(Args, Debug)]
pub struct CheckArgs {
    /// A history file: one JSON operation per line.
    file: PathBuf,
}

/// Checks the file; the process exits 0 only if the history is linearizable.
pub fn run(args: CheckArgs) -> Result<bool> {
    let file = std::fs::File::open(&args.file)
        .with_context(|| format!("cannot open {}", args.file.display()))?;
    let ops = history::read(std::io::BufReader::new(file))
        .with_context(|| format!("{} is not a history", args.file.display()))?;
    let started = Instant::now();
    let verdict = check(&ops);
    let took = started.elapsed();
    let unknown = ops.iter().filter(|o| o.ret.is_none()).count();
    match &verdict {
        Verdict::Linearizable => println!(
            "linearizable: {} operations ({unknown} with unknown outcome), checked in {took:.2?}",
            ops.len()
        ),
        Verdict::NotLinearizable { key } => println!(
            "NOT linearizable: the operations on key {key:?} admit no linearization \
             ({} operations, checked in {took:.2?})",
            ops.len()
        ),
    }
    Ok(verdict.is_linearizable())
}
