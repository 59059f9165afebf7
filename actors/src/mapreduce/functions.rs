//! A job's map and reduce functions, whichever way they are given: an application compiled
//! into troupe ([`super::app`]), or Hadoop Streaming commands run by `sh -c`.
//!
//! A streaming mapper reads one input file on stdin and writes `key<TAB>value` lines (a line
//! without a tab is a key with an empty value). A streaming reducer reads its whole bucket as
//! `key<TAB>value` lines sorted by key, and every line it writes is an output line. So any
//! executable can be a mapper or a reducer, and a job needs no recompiling.

use super::{app, App, KeyValue, MapReduceError};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use troupe_messages::mapreduce::AppSpec;

/// The map and reduce functions of a job.
pub enum Functions {
    /// An application compiled into troupe.
    Compiled(Box<dyn App>),
    /// Commands run by `sh -c`.
    Streaming {
        /// The mapper.
        map: String,
        /// The reducer.
        reduce: String,
    },
}

impl Functions {
    /// The functions `spec` names.
    pub fn of(spec: &AppSpec) -> Result<Functions, MapReduceError> {
        match spec {
            AppSpec::Named(name) => app(name)
                .map(Functions::Compiled)
                .ok_or_else(|| MapReduceError::NoSuchApp(name.clone())),
            AppSpec::Streaming { map, reduce } => Ok(Functions::Streaming {
                map: map.clone(),
                reduce: reduce.clone(),
            }),
        }
    }

    /// The pairs of the input file `input`.
    pub fn map(&self, input: &Path) -> Result<Vec<KeyValue>, MapReduceError> {
        self.map_with(input, false)
    }

    /// The pairs of the input file `input`, through the application's combiner when it has
    /// one (what a map task writes; the sequential reference run uses [`Functions::map`]).
    pub fn map_combined(&self, input: &Path) -> Result<Vec<KeyValue>, MapReduceError> {
        self.map_with(input, true)
    }

    fn map_with(&self, input: &Path, combine: bool) -> Result<Vec<KeyValue>, MapReduceError> {
        match self {
            Functions::Compiled(app) => {
                let bytes = std::fs::read(input).map_err(super::task_files::io_error(input))?;
                let contents = String::from_utf8_lossy(&bytes);
                let name = input.display().to_string();
                let combined = combine
                    .then(|| app.map_combined(&name, &contents))
                    .flatten();
                Ok(combined.unwrap_or_else(|| app.map(&name, &contents)))
            }
            Functions::Streaming { map, .. } => {
                let file =
                    std::fs::File::open(input).map_err(super::task_files::io_error(input))?;
                let mut pairs = Vec::new();
                run_command(map, Stdio::from(file), None, &mut |line| {
                    pairs.push(split_pair(line));
                    Ok(())
                })?;
                Ok(pairs)
            }
        }
    }

    /// Reduces `sorted` (one bucket's pairs, sorted by key, values of a key in the order they
    /// came), handing each output line to `emit` as it is made.
    pub fn reduce(
        &self,
        sorted: &[KeyValue],
        emit: &mut dyn FnMut(&str) -> Result<(), MapReduceError>,
    ) -> Result<(), MapReduceError> {
        match self {
            Functions::Compiled(app) => reduce_groups(app.as_ref(), sorted, emit),
            Functions::Streaming { reduce, .. } => {
                let mut input = Vec::new();
                for kv in sorted {
                    input.extend_from_slice(kv.key.as_bytes());
                    input.push(b'\t');
                    input.extend_from_slice(kv.value.as_bytes());
                    input.push(b'\n');
                }
                run_command(reduce, Stdio::piped(), Some(input), emit)
            }
        }
    }
}

/// Reduces `sorted` with `app`, one `key value` line per key, handed to `emit` in key order.
pub fn reduce_groups(
    app: &dyn App,
    sorted: &[KeyValue],
    emit: &mut dyn FnMut(&str) -> Result<(), MapReduceError>,
) -> Result<(), MapReduceError> {
    let mut rest = sorted;
    while let Some(first) = rest.first() {
        let same = rest.iter().take_while(|kv| kv.key == first.key).count();
        let values: Vec<String> = rest[..same].iter().map(|kv| kv.value.clone()).collect();
        emit(&format!(
            "{} {}",
            first.key,
            app.reduce(&first.key, &values)
        ))?;
        rest = &rest[same..];
    }
    Ok(())
}

/// A streaming line as a pair: the key up to the first tab, the value after it.
fn split_pair(line: &str) -> KeyValue {
    let (key, value) = line.split_once('\t').unwrap_or((line, ""));
    KeyValue {
        key: key.to_string(),
        value: value.to_string(),
    }
}

/// Runs `command` with `sh -c`, its stdin from `stdin` (fed `input` from a thread of its own
/// when given, so that a command writing before it has read everything cannot block), and
/// hands each line of its stdout to `line`. Fails if the command exits unsuccessfully.
fn run_command(
    command: &str,
    stdin: Stdio,
    input: Option<Vec<u8>>,
    line: &mut dyn FnMut(&str) -> Result<(), MapReduceError>,
) -> Result<(), MapReduceError> {
    let failed = |reason: String| MapReduceError::Command {
        command: command.to_string(),
        reason,
    };
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(command)
        .stdin(stdin)
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| failed(e.to_string()))?;
    let feeder = match (input, child.stdin.take()) {
        (Some(bytes), Some(mut pipe)) => Some(std::thread::spawn(move || {
            // A reducer may exit without reading everything: a broken pipe is its business.
            let _ = pipe.write_all(&bytes);
        })),
        _ => None,
    };
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| failed("no stdout".into()))?;
    let mut result = Ok(());
    for read in BufReader::new(stdout).lines() {
        match read {
            Ok(text) => {
                if let Err(e) = line(&text) {
                    result = Err(e);
                    break;
                }
            }
            Err(e) => {
                result = Err(failed(format!("reading its output: {e}")));
                break;
            }
        }
    }
    if result.is_err() {
        let _ = child.kill();
    }
    let status = child.wait().map_err(|e| failed(e.to_string()))?;
    if let Some(feeder) = feeder {
        let _ = feeder.join();
    }
    result?;
    if !status.success() {
        return Err(failed(format!("it exited with {status}")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_streaming_job_maps_with_one_command_and_reduces_with_another() {
        let dir = std::env::temp_dir().join(format!("troupe-mr-streaming-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a directory");
        let input = dir.join("in.txt");
        std::fs::write(&input, "b a b\n").expect("written");
        let functions = Functions::of(&AppSpec::Streaming {
            map: r"tr -s ' ' '\n' | grep . | sed 's/$/\t1/'".into(),
            reduce: "cut -f1 | uniq -c | awk '{print $2, $1}'".into(),
        })
        .expect("streaming");
        let mut pairs = functions.map(&input).expect("mapped");
        assert_eq!(pairs.len(), 3);
        assert_eq!(pairs[0], split_pair("b\t1"));
        pairs.sort();
        let mut lines = Vec::new();
        functions
            .reduce(&pairs, &mut |l| {
                lines.push(l.to_string());
                Ok(())
            })
            .expect("reduced");
        assert_eq!(lines, ["a 1", "b 2"]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_failing_command_is_an_error_that_names_it() {
        let functions = Functions::Streaming {
            map: "cat".into(),
            reduce: "exit 3".into(),
        };
        let error = functions
            .reduce(&[split_pair("k\tv")], &mut |_| Ok(()))
            .expect_err("it exits with 3");
        assert!(error.to_string().contains("exit 3"), "{error}");
    }
}
