//! The key-value model: get, put and append on string values, a missing key reading as "",
//! each key independent of the others.
//!
//! Its histories are [`Operation`] lines; [`KvEntry`] views one as the checker's [`Entry`]
//! without copying a string. Besides its step, the model knows one prune ([`Kv::viable`]):
//! values only grow between puts, so a read whose value extends neither the current value nor
//! a pending put's can never be explained.

use super::model::{partition_by_key, Model, Part, Pending, PendingEvents};
use crate::history::{Entry, OpKind, Operation};
use std::borrow::Cow;
use std::marker::PhantomData;

/// The input of a key-value operation, borrowed from its history line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KvInput<'h> {
    /// Get, put or append.
    pub op: OpKind,
    /// The key.
    pub key: &'h str,
    /// The argument of a put or append ("" for a get).
    pub value: &'h str,
}

/// A key-value operation as the checker sees it: its output is what a get returned (`None`
/// for a put or an append).
pub type KvEntry<'h> = Entry<KvInput<'h>, Option<&'h str>>;

impl<'h> From<&'h Operation> for KvEntry<'h> {
    fn from(op: &'h Operation) -> Self {
        Entry {
            client: op.client,
            input: KvInput {
                op: op.op,
                key: &op.key,
                value: op.value.as_deref().unwrap_or(""),
            },
            output: op.output.as_deref(),
            call: op.call,
            ret: op.ret,
        }
    }
}

/// The key-value model, over histories borrowed for `'h`. A key's state is its value.
#[derive(Debug, Clone, Copy, Default)]
pub struct Kv<'h>(PhantomData<&'h str>);

impl Kv<'_> {
    /// The model.
    pub fn new() -> Self {
        Kv(PhantomData)
    }
}

impl<'h> Model for Kv<'h> {
    type State = String;
    type Input = KvInput<'h>;
    type Output = Option<&'h str>;

    fn init(&self) -> String {
        String::new()
    }

    fn step<'s>(
        &self,
        state: &'s String,
        input: &KvInput<'h>,
        output: Option<&Option<&'h str>>,
    ) -> Option<Cow<'s, String>> {
        match input.op {
            OpKind::Get => match output {
                // Unanswered: it saw something, and changed nothing.
                None => Some(Cow::Borrowed(state)),
                Some(seen) => (*seen == Some(state.as_str())).then_some(Cow::Borrowed(state)),
            },
            OpKind::Put => Some(Cow::Owned(input.value.to_string())),
            OpKind::Append => {
                let mut next = String::with_capacity(state.len() + input.value.len());
                next.push_str(state);
                next.push_str(input.value);
                Some(Cow::Owned(next))
            }
        }
    }

    /// One part per key; a get that never answered observed nothing and changed nothing, and
    /// is left out.
    fn partition<'p>(&self, history: &'p [KvEntry<'h>]) -> Vec<Part<'p>> {
        let keys = history.iter().map(|op| {
            let unanswered_get = op.input.op == OpKind::Get && op.ret.is_none();
            (!unanswered_get).then_some(op.input.key)
        });
        partition_by_key(keys)
    }

    fn describe_operation(&self, input: &KvInput<'h>, output: Option<&Option<&'h str>>) -> String {
        let KvInput { op, key, value } = input;
        let call = match op {
            OpKind::Get => format!("get({key:?})"),
            OpKind::Put => format!("put({key:?}, {value:?})"),
            OpKind::Append => format!("append({key:?}, {value:?})"),
        };
        match (op, output) {
            (_, None) => format!("{call} with no answer"),
            (OpKind::Get, Some(Some(seen))) => format!("{call} -> {seen:?}"),
            (OpKind::Get, Some(None)) => format!("{call} -> null"),
            _ => call,
        }
    }

    /// Whether the earliest-returning get still to be linearized can still see its value.
    /// Everything placed before it either appends or is a put called before it returns, so its
    /// value must extend the current value or one of those puts' values. (Without this, every
    /// order of a burst of concurrent appends is tried before a later read refutes it.)
    fn viable(
        &self,
        state: &String,
        pending: PendingEvents<'_, KvInput<'h>, Option<&'h str>>,
    ) -> bool {
        let mut puts: Vec<&str> = Vec::new();
        for event in pending {
            match event {
                Pending::Call(input) if input.op == OpKind::Put => puts.push(input.value),
                Pending::Return(input, answer) if input.op == OpKind::Get => {
                    let Some(Some(seen)) = answer else {
                        return true;
                    };
                    return seen.starts_with(state.as_str())
                        || puts.iter().any(|p| seen.starts_with(p));
                }
                _ => {}
            }
        }
        true
    }
}
