//! The sequential reference run (the lab's `mrsequential`): one process maps every input
//! file, sorts all the pairs by key, reduces each key, and writes `mr-out-0` with a line
//! `key value` per key, in key order. A distributed run's output, its lines sorted, must equal
//! this one's.

use super::functions::reduce_groups;
use super::task_files::{io_error, output, write_atomically};
use super::{App, Functions, KeyValue, MapReduceError};
use std::path::{Path, PathBuf};

/// The output lines of `app` over `inputs` (each a name and its contents), in key order.
pub fn run_in_memory<'a>(
    app: &dyn App,
    inputs: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Vec<String> {
    let pairs: Vec<KeyValue> = inputs
        .into_iter()
        .flat_map(|(name, contents)| app.map(name, contents))
        .collect();
    reduce_sorted(app, pairs)
}

/// `pairs` sorted by key and reduced by `app`: a `key value` line per key, in key order.
pub fn reduce_sorted(app: &dyn App, mut pairs: Vec<KeyValue>) -> Vec<String> {
    pairs.sort_by(|a, b| a.key.cmp(&b.key));
    let mut lines = Vec::new();
    let collect = &mut |line: &str| {
        lines.push(line.to_string());
        Ok(())
    };
    // Collecting lines cannot fail.
    let _ = reduce_groups(app, &pairs, collect);
    lines
}

/// Runs `functions` over the files `inputs` and writes `out/mr-out-0` (through a temporary
/// file and a rename). The path of the output.
pub fn run_files(
    functions: &Functions,
    inputs: &[PathBuf],
    out: &Path,
) -> Result<PathBuf, MapReduceError> {
    let mut pairs = Vec::new();
    for input in inputs {
        pairs.extend(functions.map(input)?);
    }
    pairs.sort_by(|a, b| a.key.cmp(&b.key));
    let mut text = String::new();
    functions.reduce(&pairs, &mut |line| {
        text.push_str(line);
        text.push('\n');
        Ok(())
    })?;
    std::fs::create_dir_all(out).map_err(io_error(out))?;
    let final_path = output(out, 0);
    write_atomically(&final_path, text.as_bytes(), "sequential")?;
    Ok(final_path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapreduce::app;

    #[test]
    fn word_count_gives_a_line_per_word_in_key_order() {
        let wc = app("wc").expect("wc");
        let lines = run_in_memory(wc.as_ref(), [("a", "the cat, the hat"), ("b", "The cat")]);
        assert_eq!(lines, ["The 1", "cat 2", "hat 1", "the 2"]);
    }

    #[test]
    fn the_indexer_names_every_document_of_a_word() {
        let ix = app("indexer").expect("indexer");
        let lines = run_in_memory(ix.as_ref(), [("b", "x y"), ("a", "x")]);
        assert_eq!(lines, ["x 2 a,b", "y 1 b"]);
    }
}
