//! `troupe bench mapreduce`: word count by troupe's MapReduce (`troupe mr run --app wc`, with
//! 1, 2 and 4 worker processes) against the GNU pipeline `tr -cs 'A-Za-z' '\n' | sort | uniq -c`
//! and against a single-threaded Rust program (read each file, count its words in a hash map,
//! merge, sort, write), which marks the limit of one core. Two corpora: the Gutenberg texts of
//! tests/data/gutenberg, and a generated one of about 1 GB (`--mb`), lines of those texts
//! drawn at random from a fixed seed into 16 files, as a MapReduce input is split.
//!
//! Each run's output is checked against the baseline's counts: a difference fails the
//! benchmark. Runners interleave within a round, so the machine's noise falls on all alike;
//! the table gives median wall seconds and their range, MB/s, and two ratios: the speed over
//! the GNU pipeline's (above 1 is faster) and over the baseline's. The GNU pipeline runs with
//! `LC_ALL=C` (byte comparisons, its fastest sort) and sort's default parallelism.

use super::compare::Spread;
use anyhow::{bail, ensure, Context as _, Result};
use rand::{Rng as _, SeedableRng as _};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::io::{BufWriter, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;
use troupe_actors::mapreduce::apps::count_words;

/// Worker processes of the troupe runs.
const WORKERS: [usize; 3] = [1, 2, 4];
/// Reduce tasks (the lab's 10).
const REDUCES: usize = 10;
/// Files of the generated corpus.
const SPLITS: usize = 16;
/// The generated corpus's seed.
const SEED: u64 = 1;
const MB: f64 = 1e6;

/// One corpus: its files and their total size.
struct Corpus {
    name: String,
    files: Vec<PathBuf>,
    bytes: u64,
    rounds: usize,
}

/// Who counts the words.
#[derive(Clone, Copy, Debug)]
enum Runner {
    Gnu,
    Baseline,
    Troupe(usize),
}

impl Runner {
    fn all() -> Vec<Runner> {
        let mut runners = vec![Runner::Gnu, Runner::Baseline];
        runners.extend(WORKERS.map(Runner::Troupe));
        runners
    }

    fn label(self) -> String {
        match self {
            Runner::Gnu => "GNU tr | sort | uniq -c".into(),
            Runner::Baseline => "Rust, one thread".into(),
            Runner::Troupe(w) => format!("troupe mr, {w} worker{}", if w == 1 { "" } else { "s" }),
        }
    }
}

/// One runner over one corpus: its rounds and ratios.
#[derive(Serialize)]
struct Row {
    corpus: String,
    runner: String,
    seconds: Spread,
    mb_per_s: f64,
    /// GNU's median seconds over this runner's: above 1, faster than the pipeline.
    over_gnu: f64,
    /// The baseline's median seconds over this runner's.
    over_baseline: f64,
}

/// The scratch directory, removed when dropped.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn run(quick: bool, json: bool, mb: Option<u64>, dir: &Path) -> Result<()> {
    let gutenberg = gutenberg_files()?;
    let scratch = Scratch(dir.join(format!("troupe-bench-mapreduce-{}", std::process::id())));
    std::fs::create_dir_all(&scratch.0).with_context(|| format!("{}", scratch.0.display()))?;
    let target = mb.unwrap_or(if quick { 64 } else { 1024 }) << 20;
    let generated = generate(&gutenberg, target, &scratch.0.join("corpus"))?;
    let corpora = [
        Corpus {
            name: "gutenberg".into(),
            bytes: total_bytes(&gutenberg)?,
            files: gutenberg,
            rounds: if quick { 2 } else { 5 },
        },
        Corpus {
            name: "generated".into(),
            bytes: total_bytes(&generated)?,
            files: generated,
            rounds: 1,
        },
    ];
    print_conditions(&corpora);
    let mut rows = Vec::new();
    for corpus in &corpora {
        rows.extend(measure(corpus, &scratch.0)?);
    }
    print_table(&rows);
    if json {
        let report = serde_json::json!({
            "bench": "mapreduce",
            "verified": true,
            "dir": scratch.0,
            "reduces": REDUCES,
            "corpora": corpora.iter().map(|c| serde_json::json!({
                "name": c.name, "bytes": c.bytes, "files": c.files.len(), "rounds": c.rounds,
            })).collect::<Vec<_>>(),
            "rows": rows,
        });
        println!("{report}");
    }
    Ok(())
}

/// Every runner over `corpus`, its rounds interleaved; each output checked.
fn measure(corpus: &Corpus, scratch: &Path) -> Result<Vec<Row>> {
    let runners = Runner::all();
    let mut seconds: Vec<Vec<f64>> = vec![Vec::new(); runners.len()];
    // Counted before any round (which also brings the files into the page cache for all).
    let expected = baseline_counts(&corpus.files)?;
    for _ in 0..corpus.rounds {
        for (i, runner) in runners.iter().enumerate() {
            let out = scratch.join("out");
            let _ = std::fs::remove_dir_all(&out);
            std::fs::create_dir_all(&out)?;
            let started = Instant::now();
            run_one(*runner, &corpus.files, &out)?;
            seconds[i].push(started.elapsed().as_secs_f64());
            let counts = read_counts(*runner, &out)?;
            check(*runner, &corpus.name, &counts, &expected)?;
            let _ = std::fs::remove_dir_all(&out);
        }
    }
    let medians: Vec<f64> = seconds
        .iter()
        .map(|s| Spread::of(s.clone()).map_or(f64::NAN, |s| s.median))
        .collect();
    let rows = runners
        .iter()
        .zip(seconds)
        .zip(&medians)
        .filter_map(|((runner, secs), median)| {
            Some(Row {
                corpus: corpus.name.clone(),
                runner: runner.label(),
                seconds: Spread::of(secs)?,
                mb_per_s: corpus.bytes as f64 / MB / median,
                over_gnu: medians[0] / median,
                over_baseline: medians[1] / median,
            })
        })
        .collect();
    Ok(rows)
}

/// Runs `runner` over `files`, its output in `out`.
fn run_one(runner: Runner, files: &[PathBuf], out: &Path) -> Result<()> {
    match runner {
        Runner::Gnu => {
            let script = "cat \"$@\" | tr -cs 'A-Za-z' '\\n' | sort | uniq -c > \"$OUT\"";
            let status = Command::new("sh")
                .args(["-c", script, "sh"])
                .args(files)
                .env("LC_ALL", "C")
                .env("OUT", out.join("gnu.txt"))
                .status()
                .context("sh runs")?;
            ensure!(status.success(), "the GNU pipeline: {status}");
        }
        Runner::Baseline => baseline(files, &out.join("baseline.txt"))?,
        Runner::Troupe(workers) => {
            let run = Command::new(std::env::current_exe()?)
                .args(["mr", "run", "--app", "wc"])
                .args(["--workers", &workers.to_string()])
                .args(["--reduce", &REDUCES.to_string()])
                .arg("--out")
                .arg(out)
                .args(files)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .output()
                .context("troupe mr run starts")?;
            if !run.status.success() {
                bail!(
                    "troupe mr run: {}: {}",
                    run.status,
                    String::from_utf8_lossy(&run.stderr)
                );
            }
        }
    }
    Ok(())
}

/// The single-threaded baseline: each file's words counted in a hash map and merged, then
/// sorted and written as `word count` lines.
fn baseline(files: &[PathBuf], out: &Path) -> Result<()> {
    let counts = baseline_counts(files)?;
    let mut sorted: Vec<(&String, &u64)> = counts.iter().collect();
    sorted.sort_unstable();
    let mut writer = BufWriter::new(std::fs::File::create(out)?);
    for (word, n) in sorted {
        writeln!(writer, "{word} {n}")?;
    }
    writer.flush()?;
    Ok(())
}

fn baseline_counts(files: &[PathBuf]) -> Result<HashMap<String, u64>> {
    let mut counts: HashMap<String, u64> = HashMap::new();
    for file in files {
        let text = std::fs::read_to_string(file).with_context(|| file.display().to_string())?;
        for (word, n) in count_words(&text) {
            match counts.get_mut(word) {
                Some(total) => *total += n,
                None => {
                    counts.insert(word.to_string(), n);
                }
            }
        }
    }
    Ok(counts)
}

/// The counts a runner wrote: `word count` lines in `mr-out-*` or the baseline's file, or
/// uniq's `count word`.
fn read_counts(runner: Runner, out: &Path) -> Result<BTreeMap<String, u64>> {
    let mut counts = BTreeMap::new();
    for entry in std::fs::read_dir(out)? {
        let path = entry?.path();
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        if matches!(runner, Runner::Troupe(_)) && !name.is_some_and(|n| n.starts_with("mr-out-")) {
            continue; // intermediate files
        }
        let text = std::fs::read_to_string(&path)?;
        for line in text.lines() {
            let pair = match runner {
                Runner::Gnu => line
                    .trim_start()
                    .split_once(' ')
                    .map(|(count, word)| (word, count)),
                _ => line.rsplit_once(' '),
            };
            let Some((word, count)) = pair else {
                bail!("{}: a line that is no count: {line:?}", path.display());
            };
            if word.is_empty() {
                continue; // tr's empty line before a leading non-letter.
            }
            counts.insert(word.to_string(), count.parse::<u64>()?);
        }
    }
    Ok(counts)
}

fn check(
    runner: Runner,
    corpus: &str,
    got: &BTreeMap<String, u64>,
    expected: &HashMap<String, u64>,
) -> Result<()> {
    let wrong = expected
        .iter()
        .filter(|(word, n)| got.get(*word) != Some(n))
        .map(|(word, _)| word)
        .take(3)
        .collect::<Vec<_>>();
    if got.len() != expected.len() || !wrong.is_empty() {
        bail!(
            "{} over {corpus}: {} words where the baseline has {}; counts differ for {wrong:?}",
            runner.label(),
            got.len(),
            expected.len()
        );
    }
    Ok(())
}

/// The Gutenberg texts, in name order.
fn gutenberg_files() -> Result<Vec<PathBuf>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/gutenberg");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .with_context(|| format!("the Gutenberg texts in {}", dir.display()))?
        .filter_map(|e| Some(e.ok()?.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    files.sort();
    ensure!(!files.is_empty(), "no texts in {}", dir.display());
    Ok(files)
}

/// About `bytes` of text in [`SPLITS`] files under `dir`: lines of `sources` drawn at random.
fn generate(sources: &[PathBuf], bytes: u64, dir: &Path) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut lines: Vec<String> = Vec::new();
    for source in sources {
        lines.extend(std::fs::read_to_string(source)?.lines().map(str::to_string));
    }
    ensure!(!lines.is_empty(), "the sources have no lines");
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(SEED);
    let per_file = bytes / SPLITS as u64;
    let mut files = Vec::new();
    for split in 0..SPLITS {
        let path = dir.join(format!("split-{split:02}.txt"));
        let mut writer = BufWriter::new(std::fs::File::create(&path)?);
        let mut written = 0;
        while written < per_file {
            let line = &lines[rng.gen_range(0..lines.len())];
            writer.write_all(line.as_bytes())?;
            writer.write_all(b"\n")?;
            written += line.len() as u64 + 1;
        }
        writer.flush()?;
        files.push(path);
    }
    Ok(files)
}

fn total_bytes(files: &[PathBuf]) -> Result<u64> {
    files.iter().map(|f| Ok(std::fs::metadata(f)?.len())).sum()
}

fn print_conditions(corpora: &[Corpus]) {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let build = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    println!(
        "word count: troupe mr run --app wc --reduce {REDUCES} (workers {WORKERS:?}, separate \
         processes) against the GNU pipeline (LC_ALL=C) and one Rust thread; {cores} cores, load \
         {}, {build} build",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    for c in corpora {
        println!(
            "  {}: {} files, {:.1} MB, {} round{}",
            c.name,
            c.files.len(),
            c.bytes as f64 / MB,
            c.rounds,
            if c.rounds == 1 { "" } else { "s" }
        );
    }
}

fn print_table(rows: &[Row]) {
    println!(
        "{:<10} {:<24} {:>22} {:>8} {:>7} {:>10}",
        "corpus", "runner", "seconds (range)", "MB/s", "/ GNU", "/ baseline"
    );
    for r in rows {
        let secs = format!(
            "{:.2} ({:.2}-{:.2})",
            r.seconds.median, r.seconds.min, r.seconds.max
        );
        println!(
            "{:<10} {:<24} {:>22} {:>8.1} {:>7.2} {:>10.2}",
            r.corpus, r.runner, secs, r.mb_per_s, r.over_gnu, r.over_baseline
        );
    }
}
