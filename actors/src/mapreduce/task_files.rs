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
use super::sequential::reduce_sorted;
use super::{App, KeyValue, MapReduceError};
use std::io::Write;
use std::path::{Path, PathBuf};

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
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("out");
    let temp = path.with_file_name(format!(".{name}.{tag}.tmp"));
    let mut file = std::fs::File::create(&temp).map_err(io_error(&temp))?;
    file.write_all(bytes).map_err(io_error(&temp))?;
    file.sync_all().map_err(io_error(&temp))?;
    std::fs::rename(&temp, path).map_err(io_error(path))
}

/// Map task `map`: `input` mapped by `app` into `n_reduce` intermediate files in `dir`.
pub fn run_map(
    app: &dyn App,
    map: usize,
    input: &Path,
    n_reduce: usize,
    dir: &Path,
    tag: &str,
) -> Result<(), MapReduceError> {
    let bytes = std::fs::read(input).map_err(io_error(input))?;
    let contents = String::from_utf8_lossy(&bytes);
    let name = input.display().to_string();
    let mut buckets = vec![String::new(); n_reduce.max(1)];
    for kv in app.map(&name, &contents) {
        let line = serde_json::to_string(&(&kv.key, &kv.value)).unwrap_or_default();
        let text = &mut buckets[bucket(&kv.key, n_reduce)];
        text.push_str(&line);
        text.push('\n');
    }
    for (reduce, text) in buckets.iter().enumerate() {
        write_atomically(&intermediate(dir, map, reduce), text.as_bytes(), tag)?;
    }
    Ok(())
}

/// Reduce task `reduce`: the bucket's pairs from all `n_map` map tasks in `dir`, reduced by
/// `app` into `mr-out-reduce`.
pub fn run_reduce(
    app: &dyn App,
    reduce: usize,
    n_map: usize,
    dir: &Path,
    tag: &str,
) -> Result<(), MapReduceError> {
    let mut pairs = Vec::new();
    for map in 0..n_map {
        let path = intermediate(dir, map, reduce);
        let text = std::fs::read_to_string(&path).map_err(io_error(&path))?;
        for line in text.lines() {
            let (key, value): (String, String) =
                serde_json::from_str(line).map_err(|e| MapReduceError::Io {
                    path: path.display().to_string(),
                    source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
                })?;
            pairs.push(KeyValue { key, value });
        }
    }
    let mut text = String::new();
    for line in reduce_sorted(app, pairs) {
        text.push_str(&line);
        text.push('\n');
    }
    write_atomically(&output(dir, reduce), text.as_bytes(), tag)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapreduce::{app, sequential::run_in_memory};

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
        let wc = app("wc").expect("wc");
        let n_reduce = 3;
        for (m, input) in inputs.iter().enumerate() {
            run_map(wc.as_ref(), m, input, n_reduce, &dir, "w1").expect("map");
        }
        // A map task run again (a backup) changes nothing.
        run_map(wc.as_ref(), 1, &inputs[1], n_reduce, &dir, "w2").expect("map again");
        let mut lines = Vec::new();
        for r in 0..n_reduce {
            run_reduce(wc.as_ref(), r, inputs.len(), &dir, "w1").expect("reduce");
            let text = std::fs::read_to_string(output(&dir, r)).expect("output");
            lines.extend(text.lines().map(str::to_string));
        }
        lines.sort();
        let names: Vec<String> = inputs.iter().map(|p| p.display().to_string()).collect();
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
