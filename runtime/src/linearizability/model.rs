//! What the checker checks against: a sequential model of the object a history was taken from,
//! in the manner of Porcupine's `Model`.
//!
//! A model is an initial state and a step function: from a state, an operation's input and
//! output lead to a new state, or are refused because that output is impossible there. A
//! history is linearizable if its operations can be given instants within their intervals at
//! which the model, stepping through them in that order, refuses none.
//!
//! A model may also split a history into independent parts (the keys of a key-value store),
//! each checked on its own (P-compositionality), describe an operation for error messages, say
//! which input and output cannot belong together (a malformed line, not a failed check), and
//! prune the search with its own knowledge ([`Model::viable`]).

pub use super::search::PendingEvents;
use crate::history::Entry;
use rustc_hash::FxHashMap;
use std::borrow::Cow;
use std::hash::Hash;

/// A part of a history that can be checked on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part<'h> {
    /// Its name in verdicts (for a key-value store, the key), usually borrowed from the
    /// history.
    pub name: Cow<'h, str>,
    /// The indices of its operations in the history, in any order.
    pub ops: Vec<usize>,
}

/// One part per key, in key order: `keys` gives each operation's key in history order, `None`
/// for one left out. The partition of models whose keys are independent objects.
pub fn partition_by_key<'h>(keys: impl Iterator<Item = Option<&'h str>>) -> Vec<Part<'h>> {
    let mut parts: Vec<Part<'h>> = Vec::new();
    let mut part_of: FxHashMap<&str, usize> = FxHashMap::default();
    for (i, key) in keys.enumerate() {
        let Some(key) = key else {
            continue;
        };
        let part = *part_of.entry(key).or_insert_with(|| {
            parts.push(Part {
                name: Cow::Borrowed(key),
                ops: Vec::new(),
            });
            parts.len() - 1
        });
        parts[part].ops.push(i);
    }
    parts.sort_unstable_by(|a, b| a.name.cmp(&b.name));
    parts
}

/// An event still to be linearized, as [`Model::viable`] sees it: the search's pending calls
/// and returns, in the order they happened.
#[derive(Debug)]
pub enum Pending<'a, I, O> {
    /// The call of an operation not linearized yet.
    Call(&'a I),
    /// The return of an operation not linearized yet, with its output (`None`: it never
    /// returned; such returns come after every other event).
    Return(&'a I, Option<&'a O>),
}

/// A sequential specification: what a correct object does, one operation at a time.
///
/// The state must be cheap to compare and hash: the search remembers the (set of linearized
/// operations, state) pairs it has explored. Each distinct state is stored once and each
/// (state, operation) step computed once, so a large state costs memory, not time per step.
pub trait Model {
    /// What the object holds between operations.
    type State: Clone + Eq + Hash;
    /// What a client asks for.
    type Input;
    /// What the object answers.
    type Output;

    /// The state before the first operation.
    fn init(&self) -> Self::State;

    /// The state after an operation with this input and output, or `None` if that output is
    /// impossible from `state`. `Cow::Borrowed(state)` says the operation changed nothing (a
    /// read), which spares the search a copy and a hash.
    ///
    /// `output` is `None` when the outcome is unknown (the operation never returned): it may
    /// have taken effect at any instant after its call, or never. The step then says what it
    /// did if it took effect from `state`, and should refuse nothing; "never" is the search's
    /// business (once every answered operation is placed, the unanswered rest may be dropped).
    fn step<'s>(
        &self,
        state: &'s Self::State,
        input: &Self::Input,
        output: Option<&Self::Output>,
    ) -> Option<Cow<'s, Self::State>>;

    /// Splits a history into parts that can be checked independently, each from
    /// [`Model::init`]: the history is linearizable if and only if every part is. Operations
    /// that can neither change the state nor be refused (a read that never returned) may be
    /// left out of every part. The default is one part, named "", with every operation.
    fn partition<'h>(&self, history: &'h [Entry<Self::Input, Self::Output>]) -> Vec<Part<'h>> {
        vec![Part {
            name: Cow::Borrowed(""),
            ops: (0..history.len()).collect(),
        }]
    }

    /// An operation as error messages show it, e.g. `get("k") -> "ab"` (`output` as in
    /// [`Model::step`]).
    fn describe_operation(&self, input: &Self::Input, output: Option<&Self::Output>) -> String;

    /// Why an operation is malformed, if it is: an output that cannot answer this input at all
    /// (a read that answered a boolean). A history with such a line is unreadable, not
    /// non-linearizable. `output` is as in [`Model::step`]; by default everything is well
    /// formed.
    fn validate(&self, input: &Self::Input, output: Option<&Self::Output>) -> Result<(), String> {
        let _ = (input, output);
        Ok(())
    }

    /// A prune: whether the search can still succeed from `state` with these events pending
    /// (every call and return not yet linearized, in order). The search asks after each
    /// operation it linearizes and takes it back at once on `false`, so `false` must only be
    /// said when no order of the pending operations can succeed. The default knows nothing and
    /// says `true`.
    fn viable(
        &self,
        state: &Self::State,
        pending: PendingEvents<'_, Self::Input, Self::Output>,
    ) -> bool {
        let _ = (state, pending);
        true
    }
}
