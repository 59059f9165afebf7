//! `troupe mr`: MapReduce jobs on real files. So far the sequential reference run:
//!
//! ```text
//! troupe mr sequential --app wc --out /tmp/wc tests/data/gutenberg/pg-*.txt
//! ```
//!
//! writes `/tmp/wc/mr-out-0`, a line `key value` per key in key order, like the 6.824 lab's
//! `mrsequential`.

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use std::path::PathBuf;
use troupe_actors::mapreduce::{self, MapReduceError};

/// `troupe mr` subcommands.
#[derive(Subcommand)]
pub enum MrCommand {
    /// Run a job in this one process (the reference a distributed run must match).
    Sequential(SequentialArgs),
}

/// The flags of `troupe mr sequential`.
#[derive(Args)]
pub struct SequentialArgs {
    /// The application: wc (word count) or indexer (word → the documents that hold it).
    #[arg(long)]
    app: String,
    /// The directory to write `mr-out-0` into (created if missing).
    #[arg(long)]
    out: PathBuf,
    /// The input files.
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

/// Runs a `troupe mr` command.
pub fn run(command: MrCommand) -> Result<()> {
    match command {
        MrCommand::Sequential(args) => {
            let app = mapreduce::app(&args.app)
                .ok_or_else(|| MapReduceError::NoSuchApp(args.app.clone()))?;
            let out = mapreduce::sequential::run_files(app.as_ref(), &args.files, &args.out)
                .context("the sequential run failed")?;
            println!("{}", out.display());
            Ok(())
        }
    }
}
