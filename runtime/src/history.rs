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

use crate::{Error, Result};
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
        if let Some(ret) = self.ret {
            if ret < self.call {
                return Err(format!(
                    "returns at {ret}, before its call at {}",
                    self.call
                ));
            }
        }
        Ok(())
    }
}

/// Reads a history: one JSON operation per line; blank lines are skipped.
pub fn read(input: impl BufRead) -> Result<Vec<Operation>> {
    let mut ops = Vec::new();
    for (i, line) in input.lines().enumerate() {
        let line = line.map_err(|e| Error::Io(e.to_string()))?;
        if line.trim().is_empty() {
            continue;
        }
        let op: Operation = serde_json::from_str(&line).map_err(|e| Error::BadHistory {
            line: i + 1,
            reason: e.to_string(),
        })?;
        op.validate().map_err(|reason| Error::BadHistory {
            line: i + 1,
            reason,
        })?;
        ops.push(op);
    }
    Ok(ops)
}

/// Writes a history, one JSON operation per line.
pub fn write(ops: &[Operation], mut out: impl Write) -> std::io::Result<()> {
    for op in ops {
        serde_json::to_writer(&mut out, op)?;
        out.write_all(b"\n")?;
    }
    Ok(())
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
}
