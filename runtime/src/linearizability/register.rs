//! The compare-and-set register model: one register per key, holding a string or empty
//! (`null`) until first written, with read, write and compare-and-set. It is the shape of a
//! versioned store's conditional update (a znode's set with an expected value) and of Jepsen's
//! cas-register.
//!
//! Its history lines are [`Entry`]s with these inputs and outputs:
//!
//! ```text
//! {"client":1,"op":"write","key":"r","value":"a","output":null,"call":1,"return":4}
//! {"client":2,"op":"cas","key":"r","expect":"a","value":"b","output":true,"call":2,"return":6}
//! {"client":3,"op":"read","key":"r","output":"b","call":7,"return":9}
//! ```
//!
//! A read answers the value (`null` for an empty register), a write answers `null`, a
//! compare-and-set answers whether it swapped; `"expect": null` swaps only into an empty
//! register.

use super::model::{partition_by_key, Model, Part};
use crate::history::Entry;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;

/// A register operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum RegisterInput {
    /// Read the register.
    Read {
        /// Which register.
        key: String,
    },
    /// Replace its value.
    Write {
        /// Which register.
        key: String,
        /// The new value.
        value: String,
    },
    /// Replace its value if it holds `expect`.
    Cas {
        /// Which register.
        key: String,
        /// The value it must hold to swap (`None`: it must be empty).
        #[serde(default)]
        expect: Option<String>,
        /// The new value.
        value: String,
    },
}

impl RegisterInput {
    /// The register it is about.
    pub fn key(&self) -> &str {
        match self {
            RegisterInput::Read { key }
            | RegisterInput::Write { key, .. }
            | RegisterInput::Cas { key, .. } => key,
        }
    }
}

/// A register's answer; a write's, or a read of an empty register, is `None` (`null`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RegisterOutput {
    /// Whether a compare-and-set swapped.
    Swapped(bool),
    /// What a read saw.
    Value(String),
}

/// A register operation in a history.
pub type RegisterEntry = Entry<RegisterInput, Option<RegisterOutput>>;

/// The register model: a key's state is its value, `None` while empty.
#[derive(Debug, Clone, Copy, Default)]
pub struct Register;

/// What a read's output says it saw, if it is a read's output at all.
fn seen(output: &Option<RegisterOutput>) -> Option<Option<&str>> {
    match output {
        None => Some(None),
        Some(RegisterOutput::Value(value)) => Some(Some(value)),
        Some(RegisterOutput::Swapped(_)) => None,
    }
}

impl Model for Register {
    type State = Option<String>;
    type Input = RegisterInput;
    type Output = Option<RegisterOutput>;

    fn init(&self) -> Option<String> {
        None
    }

    fn step<'s>(
        &self,
        state: &'s Option<String>,
        input: &RegisterInput,
        output: Option<&Option<RegisterOutput>>,
    ) -> Option<Cow<'s, Option<String>>> {
        match input {
            RegisterInput::Read { .. } => match output {
                None => Some(Cow::Borrowed(state)),
                Some(output) => (seen(output)? == state.as_deref()).then_some(Cow::Borrowed(state)),
            },
            RegisterInput::Write { value, .. } => Some(Cow::Owned(Some(value.clone()))),
            RegisterInput::Cas { expect, value, .. } => {
                let swaps = state.as_deref() == expect.as_deref();
                match output {
                    None => {}
                    Some(Some(RegisterOutput::Swapped(swapped))) if *swapped == swaps => {}
                    Some(_) => return None,
                }
                Some(if swaps {
                    Cow::Owned(Some(value.clone()))
                } else {
                    Cow::Borrowed(state)
                })
            }
        }
    }

    /// One part per key; a read that never answered is left out.
    fn partition<'h>(&self, history: &'h [RegisterEntry]) -> Vec<Part<'h>> {
        let keys = history.iter().map(|op| {
            let unanswered_read =
                matches!(op.input, RegisterInput::Read { .. }) && op.ret.is_none();
            (!unanswered_read).then(|| op.input.key())
        });
        partition_by_key(keys)
    }

    fn describe_operation(
        &self,
        input: &RegisterInput,
        output: Option<&Option<RegisterOutput>>,
    ) -> String {
        let call = match input {
            RegisterInput::Read { key } => format!("read({key:?})"),
            RegisterInput::Write { key, value } => format!("write({key:?}, {value:?})"),
            RegisterInput::Cas { key, expect, value } => match expect {
                Some(expect) => format!("cas({key:?}, {expect:?} -> {value:?})"),
                None => format!("cas({key:?}, null -> {value:?})"),
            },
        };
        match (input, output) {
            (_, None) => format!("{call} with no answer"),
            (RegisterInput::Write { .. }, _) => call,
            (_, Some(None)) => format!("{call} -> null"),
            (_, Some(Some(RegisterOutput::Value(value)))) => format!("{call} -> {value:?}"),
            (_, Some(Some(RegisterOutput::Swapped(swapped)))) => format!("{call} -> {swapped}"),
        }
    }

    /// A read answers a value or `null`, a write `null`, a compare-and-set `true` or `false`.
    fn validate(
        &self,
        input: &RegisterInput,
        output: Option<&Option<RegisterOutput>>,
    ) -> Result<(), String> {
        let Some(output) = output else {
            return Ok(());
        };
        match (input, output) {
            (RegisterInput::Read { .. }, Some(RegisterOutput::Swapped(_))) => {
                Err("a read answered a boolean, not a value".into())
            }
            (RegisterInput::Write { .. }, Some(_)) => Err("a write answered something".into()),
            (RegisterInput::Cas { .. }, None | Some(RegisterOutput::Value(_))) => {
                Err("a compare-and-set answered no boolean".into())
            }
            _ => Ok(()),
        }
    }
}
