//! `troupe check [--model M] [--budget-states N] [--budget-time T] FILE`: is a history
//! linearizable? Exits 0 if it is, 1 if it is not, 3 if the search budget ran out first (2,
//! from `main`, if the file cannot be read or the arguments are wrong).
//!
//! The model says how the file's lines read and what a correct object answers: `kv` (the
//! default) for key-value histories, `register` for compare-and-set registers.

use anyhow::{Context as _, Result};
use clap::{Args, ValueEnum};
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};
use troupe_runtime::history::{self, Entry};
use troupe_runtime::linearizability::{
    check_model, check_with, explain, Budget, Kv, KvEntry, Model as SequentialModel, Register,
    Verdict, DEFAULT_SHRINK_TIME,
};

/// The exit code of an inconclusive check.
const INCONCLUSIVE: u8 = 3;

/// The most characters of an operation a refutation shows (a key's value can be long).
const SHOWN_CHARS: usize = 200;

/// The models a history can be checked against.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Model {
    /// A key-value store: get, put and append, a missing key reading as "".
    Kv,
    /// Compare-and-set registers, one per key: read, write and cas, empty until written.
    Register,
}

/// Options of `troupe check`.
#[derive(Args, Debug)]
pub struct CheckArgs {
    /// The model of the object the history was taken from.
    #[arg(long, value_enum, default_value_t = Model::Kv)]
    model: Model,
    /// Give up, inconclusive, after visiting this many search states (at least 1).
    #[arg(long, value_name = "N", default_value_t = Budget::DEFAULT_STATES, value_parser = clap::value_parser!(u64).range(1..))]
    budget_states: u64,
    /// Give up, inconclusive, after this much time, more than zero (e.g. 30s); no limit by
    /// default.
    #[arg(long, value_name = "TIME", value_parser = crate::parse::positive_duration)]
    budget_time: Option<Duration>,
    /// A history file: one JSON operation per line.
    file: PathBuf,
}

/// A checked history: the verdict, how many operations it has and how many of them never
/// returned, how long the check took (not counting the reading), and for a failure, the lines
/// that explain it.
struct Checked {
    verdict: Verdict,
    ops: usize,
    unknown: usize,
    took: Duration,
    why: Vec<String>,
}

impl Checked {
    /// Checks `history` with `check`, timing it.
    fn new<T>(
        history: &[T],
        ret: impl Fn(&T) -> Option<u64>,
        check: impl Fn(&[T]) -> Verdict,
    ) -> Self {
        let started = Instant::now();
        let verdict = check(history);
        Checked {
            verdict,
            took: started.elapsed(),
            ops: history.len(),
            unknown: history.iter().filter(|o| ret(o).is_none()).count(),
            why: Vec::new(),
        }
    }
}

/// Why `history` is not linearizable under `model`, as lines: the conflicting operations as a
/// small timeline, and the longest linearizable prefix with the operation after it.
fn explanation<M: SequentialModel>(
    model: &M,
    history: &[Entry<M::Input, M::Output>],
    budget: Budget,
) -> Vec<String>
where
    Entry<M::Input, M::Output>: Clone,
{
    let Some(why) = explain(model, history, budget, DEFAULT_SHRINK_TIME) else {
        return Vec::new();
    };
    let describe =
        |e: &Entry<M::Input, M::Output>| shorten(&model.describe_operation(&e.input, e.answer()));
    let ret = |e: &Entry<M::Input, M::Output>| e.ret.map_or("-".to_string(), |r| r.to_string());
    let count = match why.conflict.len() {
        1 => "1 operation".to_string(),
        n => format!("{n} operations"),
    };
    let mut lines = vec![format!(
        "{count} of {:?} that no order explains{} (times as in the file; return -: never \
         returned):",
        why.part,
        if why.minimal {
            ""
        } else {
            " (shrinking ran out of time: maybe not the fewest)"
        },
    )];
    lines.push(format!(
        "  {:>8}  {:>14}  {:>14}  operation",
        "client", "call", "return"
    ));
    for e in &why.conflict {
        lines.push(format!(
            "  {:>8}  {:>14}  {:>14}  {}",
            e.client,
            e.call,
            ret(e),
            describe(e)
        ));
    }
    let next = why
        .ops
        .get(why.prefix)
        .map(|e| {
            format!(
                ": it breaks at client {}'s {} (called at {})",
                e.client,
                describe(e),
                e.call
            )
        })
        .unwrap_or_default();
    lines.push(format!(
        "the longest linearizable prefix: the first {} of the {} operations of {:?} in call \
         order{next}",
        why.prefix,
        why.ops.len(),
        why.part
    ));
    lines
}

/// Opens a history file.
fn open(path: &Path) -> Result<BufReader<std::fs::File>> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    Ok(BufReader::new(file))
}

/// Reads the file as `model`'s history and checks it.
fn check_file(model: Model, path: &Path, budget: Budget) -> Result<Checked> {
    let not_a_history = || format!("{} is not a history", path.display());
    Ok(match model {
        Model::Kv => {
            let ops = history::read(open(path)?).with_context(not_a_history)?;
            let mut checked = Checked::new(&ops, |o| o.ret, |ops| check_with(ops, budget));
            if matches!(checked.verdict, Verdict::NotLinearizable { .. }) {
                let entries: Vec<KvEntry<'_>> = ops.iter().map(KvEntry::from).collect();
                checked.why = explanation(&Kv::new(), &entries, budget);
            }
            checked
        }
        Model::Register => {
            let validate = |e: &Entry<_, _>| Register.validate(&e.input, e.answer());
            let ops = history::read_entries(open(path)?, validate).with_context(not_a_history)?;
            let mut checked =
                Checked::new(&ops, |o| o.ret, |ops| check_model(&Register, ops, budget));
            if matches!(checked.verdict, Verdict::NotLinearizable { .. }) {
                checked.why = explanation(&Register, &ops, budget);
            }
            checked
        }
    })
}

/// `text`, cut to `SHOWN_CHARS` characters.
fn shorten(text: &str) -> String {
    match text.char_indices().nth(SHOWN_CHARS) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.to_string(),
    }
}

/// Checks the file and prints the verdict; the exit code says it too.
pub fn run(args: CheckArgs) -> Result<ExitCode> {
    let budget = Budget {
        max_states: Some(args.budget_states),
        max_time: args.budget_time,
    };
    let Checked {
        verdict,
        ops,
        unknown,
        took,
        why,
    } = check_file(args.model, &args.file, budget)?;
    let code = match &verdict {
        Verdict::Linearizable => {
            println!(
                "linearizable: {ops} operations ({unknown} with unknown outcome), checked in {took:.2?}"
            );
            ExitCode::SUCCESS
        }
        Verdict::NotLinearizable { part, stuck_at } => {
            println!(
                "NOT linearizable: the operations on key {part:?} admit no linearization; the \
                 longest partial linearization found could not place {} ({ops} operations, \
                 checked in {took:.2?})",
                shorten(stuck_at)
            );
            for line in why {
                println!("{line}");
            }
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
                 with no verdict on key(s) {} ({ops} operations); raise --budget-states or \
                 --budget-time",
                keys.join(", ")
            );
            ExitCode::from(INCONCLUSIVE)
        }
    };
    Ok(code)
}
