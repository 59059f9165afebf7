//! Client histories: one operation per JSON line, the format `troupe sim --history` writes and
//! `troupe check` reads.
//!
//! ```text
//! {"client":3,"op":"append","key":"k1","value":"x","output":null,"call":120000,"return":450000}
//! ```
//!
//! `op` is get, put or append; `output` is what a get returned ("" for a missing key); `call`
//! and `return` are times in nanoseconds of the run's clock; `"return": null` means the outcome
//! is unknown (the client timed out: the operation may or may not have taken effect).
//!
//! That line is [`Operation`], the key-value model's. Histories of other models
//! ([`crate::linearizability::Model`]) keep its shape with their own `op` names and fields: an
//! [`Entry`] holds the client, the model's input (its fields flattened into the line, `op`
//! naming the operation), its output, and the times.
//!
//! ```text
//! {"client":1,"op":"cas","key":"r","expect":"a","value":"b","output":true,"call":5,"return":9}
//! ```

use crate::{Cause, Error, Result};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::io::{BufRead, Write};

/// The kind of a key-value operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OpKind {
    /// Read a key.
    Get,
    /// Replace a key's value.
    Put,
    /// Append to a key's value.
    Append,
}

/// One client operation, from its call to its return.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operation {
    /// The client that issued it.
    pub client: u64,
    /// What it did.
    pub op: OpKind,
    /// The key.
    pub key: String,
    /// The argument of a put or append (`null` for a get).
    pub value: Option<String>,
    /// What a get returned (`null` for put and append, and for a get with no answer).
    pub output: Option<String>,
    /// When the client called it.
    pub call: u64,
    /// When the answer came back; `None` if it never did.
    #[serde(rename = "return")]
    pub ret: Option<u64>,
}

impl Operation {
    fn validate(&self) -> std::result::Result<(), String> {
        if matches!(self.op, OpKind::Put | OpKind::Append) && self.value.is_none() {
            return Err(format!("{:?} without a value", self.op));
        }
        check_times(self.call, self.ret)
    }
}

/// One client operation of a history of any model, from its call to its return: the line of
/// [`Operation`] with the model's own input and output.
///
/// `I` is serialized flattened into the line, so it is a struct or an internally tagged enum
/// (`#[serde(tag = "op")]`); `O` must read `null`, the output of an operation whose outcome is
/// unknown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry<I, O> {
    /// The client that issued it.
    pub client: u64,
    /// What it asked for.
    #[serde(flatten)]
    pub input: I,
    /// What it answered (meaningless when `ret` is `None`).
    pub output: O,
    /// When the client called it.
    pub call: u64,
    /// When the answer came back; `None` if it never did.
    #[serde(rename = "return")]
    pub ret: Option<u64>,
}

impl<I, O> Entry<I, O> {
    /// The output, or `None` if the outcome is unknown (the operation never returned).
    pub fn answer(&self) -> Option<&O> {
        self.ret.map(|_| &self.output)
    }
}

/// Why a line's times are impossible, if they are.
fn check_times(call: u64, ret: Option<u64>) -> std::result::Result<(), String> {
    match ret {
        Some(ret) if ret < call => Err(format!("returns at {ret}, before its call at {call}")),
        _ => Ok(()),
    }
}

/// Reads one JSON value per line, skipping blank lines, each checked by `validate`.
fn read_lines<T: DeserializeOwned>(
    input: impl BufRead,
    validate: impl Fn(&T) -> std::result::Result<(), String>,
) -> Result<Vec<T>> {
    let mut ops = Vec::new();
    for (i, line) in input.lines().enumerate() {
        let line = line.map_err(|e| Error::Io {
            context: format!("reading history line {}", i + 1),
            cause: Cause::new(e),
        })?;
        if line.trim().is_empty() {
            continue;
        }
        let bad = |reason| Error::BadHistory {
            line: i + 1,
            reason,
        };
        let op: T = serde_json::from_str(&line).map_err(|e| bad(e.to_string()))?;
        validate(&op).map_err(bad)?;
        ops.push(op);
    }
    Ok(ops)
}

/// Writes one JSON value per line.
fn write_lines<T: Serialize>(ops: &[T], mut out: impl Write) -> std::io::Result<()> {
    for op in ops {
        serde_json::to_writer(&mut out, op)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// Reads a key-value history: one JSON operation per line; blank lines are skipped.
pub fn read(input: impl BufRead) -> Result<Vec<Operation>> {
    read_lines(input, Operation::validate)
}

/// Writes a key-value history, one JSON operation per line.
pub fn write(ops: &[Operation], out: impl Write) -> std::io::Result<()> {
    write_lines(ops, out)
}

/// Reads a history of any model, one JSON [`Entry`] per line (blank lines skipped). Besides
/// its times, each line is checked by `validate`, the model's word on whether its input and
/// output belong together ([`crate::linearizability::Model::validate`]).
pub fn read_entries<I: DeserializeOwned, O: DeserializeOwned>(
    input: impl BufRead,
    validate: impl Fn(&Entry<I, O>) -> std::result::Result<(), String>,
) -> Result<Vec<Entry<I, O>>> {
    read_lines(input, |entry: &Entry<I, O>| {
        check_times(entry.call, entry.ret)?;
        validate(entry)
    })
}

/// Writes a history of any model, one JSON [`Entry`] per line.
pub fn write_entries<I: Serialize, O: Serialize>(
    ops: &[Entry<I, O>],
    out: impl Write,
) -> std::io::Result<()> {
    write_lines(ops, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_documented_format_and_rejects_bad_lines() {
        let text = r#"{"client":3,"op":"append","key":"k1","value":"x","output":null,"call":120000,"return":450000}

{"client":1,"op":"get","key":"k1","value":null,"output":"x","call":5,"return":null}
"#;
        let ops = read(text.as_bytes()).unwrap();
        assert_eq!(ops.len(), 2);
        assert_eq!(ops[0].op, OpKind::Append);
        assert_eq!(ops[1].ret, None);
        let mut out = Vec::new();
        write(&ops, &mut out).unwrap();
        assert_eq!(read(out.as_slice()).unwrap(), ops);

        let bad = r#"{"client":1,"op":"frobnicate","key":"k","value":null,"output":null,"call":1,"return":2}"#;
        assert!(matches!(
            read(bad.as_bytes()),
            Err(Error::BadHistory { line: 1, .. })
        ));
        let backwards =
            r#"{"client":1,"op":"get","key":"k","value":null,"output":"","call":9,"return":2}"#;
        assert!(matches!(
            read(backwards.as_bytes()),
            Err(Error::BadHistory { .. })
        ));
    }

    /// A model's input as the line's `op` and fields.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(tag = "op", rename_all = "lowercase")]
    enum Counter {
        Add { by: i64 },
        Read,
    }

    #[test]
    fn entries_keep_the_line_shape_with_their_own_fields() {
        let text = r#"{"client":1,"op":"add","by":2,"output":null,"call":1,"return":null}
{"client":2,"op":"read","output":2,"call":3,"return":4}
"#;
        let ops: Vec<Entry<Counter, Option<i64>>> =
            read_entries(text.as_bytes(), |_| Ok(())).unwrap();
        assert_eq!(ops[0].input, Counter::Add { by: 2 });
        assert_eq!((ops[0].answer(), ops[1].answer()), (None, Some(&Some(2))));
        let mut out = Vec::new();
        write_entries(&ops, &mut out).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), text);

        let refuse = |e: &Entry<Counter, Option<i64>>| match e.input {
            Counter::Read if e.output.is_none() => Err("a read without a value".to_string()),
            _ => Ok(()),
        };
        for (bad, line) in [
            (
                r#"{"client":2,"op":"read","output":null,"call":3,"return":4}"#,
                1,
            ),
            (
                "\n{\"client\":2,\"op\":\"read\",\"output\":1,\"call\":5,\"return\":4}",
                2,
            ),
            (
                r#"{"client":2,"op":"sub","by":1,"output":null,"call":3,"return":4}"#,
                1,
            ),
        ] {
            match read_entries(bad.as_bytes(), refuse) {
                Err(Error::BadHistory { line: l, .. }) => assert_eq!(l, line, "{bad}"),
                other => panic!("{bad}: {other:?}"),
            }
        }
    }
}
