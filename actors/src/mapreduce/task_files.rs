//! What a worker does for one task, on real files in a job directory:
//!
//! - map task `m` reads its input file, maps it, and writes `mr-m-r` for every reduce bucket
//!   `r` (one JSON `[key, value]` per line, so any key or value survives);
//! - reduce task `r` reads `mr-m-r` of every map task, sorts by key, reduces, and writes
//!   `mr-out-r` (`key value` lines in key order).
//!
//! Every file is written to a temporary name, synced and renamed into place, so a reader never
//! sees half a file and a task run twice (a backup, or a timed-out attempt that finishes after
//! all) leaves the same output.

use super::partition::bucket;
use super::{Functions, KeyValue, MapReduceError};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;
use troupe_runtime::plant::{armed, Bug};

/// How much of a reduce output is written at once when the disk is paced.
const PACED_CHUNK: usize = 1024;

/// The intermediate file of map task `map` for reduce bucket `reduce`.
pub fn intermediate(dir: &Path, map: usize, reduce: usize) -> PathBuf {
    dir.join(format!("mr-{map}-{reduce}"))
}

/// The output file of reduce task `reduce`.
pub fn output(dir: &Path, reduce: usize) -> PathBuf {
    dir.join(format!("mr-out-{reduce}"))
}

pub(super) fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> MapReduceError {
    let path = path.display().to_string();
    move |source| MapReduceError::Io { path, source }
}

/// Writes `bytes` to `path` through a temporary file in the same directory, synced, then
/// renamed into place (`tag` keeps concurrent writers of one file apart).
pub fn write_atomically(path: &Path, bytes: &[u8], tag: &str) -> Result<(), MapReduceError> {
    let mut sink = Sink::open(path, tag, false)?;
    sink.write(bytes)?;
    sink.commit()
}

/// A file being written: to a temporary name renamed into place by [`Sink::commit`], or (the
/// planted bug) to its final name from the first byte.
struct Sink {
    file: File,
    writing: PathBuf,
    path: PathBuf,
}

impl Sink {
    fn open(path: &Path, tag: &str, in_place: bool) -> Result<Sink, MapReduceError> {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("out");
        let writing = if in_place {
            path.to_path_buf()
        } else {
            path.with_file_name(format!(".{name}.{tag}.tmp"))
        };
        let file = File::create(&writing).map_err(io_error(&writing))?;
        Ok(Sink {
            file,
            writing,
            path: path.to_path_buf(),
        })
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), MapReduceError> {
        self.file.write_all(bytes).map_err(io_error(&self.writing))
    }

    /// Syncs the file and renames it into place.
    fn commit(self) -> Result<(), MapReduceError> {
        self.file.sync_all().map_err(io_error(&self.writing))?;
        if self.writing != self.path {
            std::fs::rename(&self.writing, &self.path).map_err(io_error(&self.path))?;
        }
        Ok(())
    }
}

/// Where a task runs: the job's directory, the worker's tag for temporary names, and, in a
/// simulation, how fast the worker's disk is (bytes per virtual second), so that a task takes
/// virtual time in proportion to its data and a crash can catch it half done.
#[derive(Debug, Clone)]
pub struct TaskPlace {
    /// The job's directory.
    pub dir: PathBuf,
    /// Unique to the worker (and its attempt): temporary files of concurrent attempts differ.
    pub tag: String,
    /// Bytes per virtual second, or None to run at the machine's speed.
    pub pace: Option<u64>,
}

impl TaskPlace {
    /// Waits as long as moving `bytes` takes at this place's pace.
    async fn spend(&self, bytes: usize) {
        if let Some(rate) = self.pace.filter(|r| *r > 0) {
            let secs = bytes as f64 / rate as f64;
            tokio::time::sleep(Duration::from_secs_f64(secs)).await;
        }
    }
}

/// Map task `map`: `input` mapped by `functions` into `n_reduce` intermediate files.
pub async fn run_map(
    functions: &Functions,
    map: usize,
    input: &Path,
    n_reduce: usize,
    place: &TaskPlace,
) -> Result<(), MapReduceError> {
    let pairs = functions.map_combined(input)?;
    let read = std::fs::metadata(input).map(|m| m.len()).unwrap_or(0);
    place
        .spend(usize::try_from(read).unwrap_or(usize::MAX))
        .await;
    let mut buckets = vec![String::new(); n_reduce.max(1)];
    for kv in pairs {
        let line = serde_json::to_string(&(&kv.key, &kv.value)).unwrap_or_default();
        let text = &mut buckets[bucket(&kv.key, n_reduce)];
        text.push_str(&line);
        text.push('\n');
    }
    for (reduce, text) in buckets.iter().enumerate() {
        write_atomically(
            &intermediate(&place.dir, map, reduce),
            text.as_bytes(),
            &place.tag,
        )?;
    }
    Ok(())
}

/// Bucket `reduce`'s pairs from all `n_map` map tasks, sorted by key (stable: a key's values
/// in map-task order), and the bytes read.
pub fn read_bucket(
    dir: &Path,
    reduce: usize,
    n_map: usize,
) -> Result<(Vec<KeyValue>, usize), MapReduceError> {
    let mut pairs = Vec::new();
    let mut read = 0;
    for map in 0..n_map {
        let path = intermediate(dir, map, reduce);
        let text = std::fs::read_to_string(&path).map_err(io_error(&path))?;
        read += text.len();
        for line in text.lines() {
            let (key, value): (String, String) =
                serde_json::from_str(line).map_err(|e| MapReduceError::Io {
                    path: path.display().to_string(),
                    source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
                })?;
            pairs.push(KeyValue { key, value });
        }
    }
    pairs.sort_by(|a, b| a.key.cmp(&b.key));
    Ok((pairs, read))
}

/// Reduce task `reduce`: the bucket's pairs from all `n_map` map tasks, reduced by
/// `functions` into `mr-out-<reduce>`, written through a temporary file renamed into place.
/// At the machine's speed each line goes to the file as it is made; at a pace, the output is
/// written a chunk at a time, each chunk after its share of virtual time (a map task pays for
/// the input it reads, a reduce task for the output it writes).
pub async fn run_reduce(
    functions: &Functions,
    reduce: usize,
    n_map: usize,
    place: &TaskPlace,
) -> Result<(), MapReduceError> {
    let (pairs, _) = read_bucket(&place.dir, reduce, n_map)?;
    let path = output(&place.dir, reduce);
    let in_place = armed(Bug::ReduceWrittenInPlace);
    let mut sink = Sink::open(&path, &place.tag, in_place)?;
    if place.pace.is_none() {
        functions.reduce(&pairs, &mut |line| {
            sink.write(line.as_bytes())?;
            sink.write(b"\n")
        })?;
        return sink.commit();
    }
    let mut text = Vec::new();
    functions.reduce(&pairs, &mut |line| {
        text.extend_from_slice(line.as_bytes());
        text.push(b'\n');
        Ok(())
    })?;
    for chunk in text.chunks(PACED_CHUNK) {
        place.spend(chunk.len()).await;
        sink.write(chunk)?;
    }
    sink.commit()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapreduce::{app, sequential::run_in_memory};
    use troupe_messages::mapreduce::AppSpec;

    fn run<F: std::future::Future>(task: F) -> F::Output {
        let runtime = tokio::runtime::Builder::new_current_thread().build();
        runtime.expect("a runtime").block_on(task)
    }

    fn job_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("troupe-mr-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        dir
    }

    #[test]
    fn maps_then_reduces_over_buckets_give_the_sequential_output() {
        let dir = job_dir("tasks");
        let texts = ["the cat sat on the mat", "The dog, the cat!", "a b c a"];
        let inputs: Vec<PathBuf> = texts
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let path = dir.join(format!("in-{i}.txt"));
                std::fs::write(&path, t).expect("written");
                path
            })
            .collect();
        let wc = Functions::of(&AppSpec::Named("wc".into())).expect("wc");
        let n_reduce = 3;
        let place = |tag: &str| TaskPlace {
            dir: dir.clone(),
            tag: tag.into(),
            pace: None,
        };
        for (m, input) in inputs.iter().enumerate() {
            run(run_map(&wc, m, input, n_reduce, &place("w1"))).expect("map");
        }
        // A map task run again (a backup) changes nothing.
        run(run_map(&wc, 1, &inputs[1], n_reduce, &place("w2"))).expect("map again");
        let mut lines = Vec::new();
        for r in 0..n_reduce {
            run(run_reduce(&wc, r, inputs.len(), &place("w1"))).expect("reduce");
            let text = std::fs::read_to_string(output(&dir, r)).expect("output");
            lines.extend(text.lines().map(str::to_string));
        }
        lines.sort();
        let names: Vec<String> = inputs.iter().map(|p| p.display().to_string()).collect();
        let wc = app("wc").expect("wc");
        let reference = run_in_memory(wc.as_ref(), names.iter().map(String::as_str).zip(texts));
        assert_eq!(lines, reference);
        let leftovers = std::fs::read_dir(&dir)
            .expect("listed")
            .filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            })
            .count();
        assert_eq!(leftovers, 0, "no temporary file left behind");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
