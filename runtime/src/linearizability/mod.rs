//! A linearizability checker for histories of any sequential [`Model`], with a budget.
//!
//! A history is linearizable if every operation can be given a single instant between its call
//! and its return such that, stepping the model through the operations in the order of those
//! instants, the model accepts every output. An operation whose return is unknown
//! (`"return": null`) may take effect at any instant after its call, or never.
//!
//! The model splits the history into independent parts (per key, for the key-value model
//! [`Kv`]), each checked on its own (P-compositionality, as Porcupine does) by the search in
//! [`search`]. Deciding linearizability is NP-complete, so a search can take longer than anyone
//! will wait: [`check_model`] stops when its [`Budget`] of search states or of time runs out and
//! answers [`Verdict::Inconclusive`], which is neither a pass nor a failure. The state budget
//! makes the answer the same on every machine; the time budget is for people at a terminal.
//!
//! [`check`] and [`check_with`] check key-value histories ([`Operation`]s); [`Register`] is a
//! second model, of compare-and-set registers.

mod explain;
pub mod kv;
mod memo;
mod model;
pub mod register;
mod search;
mod verdict;

#[cfg(test)]
mod brute;
#[cfg(test)]
mod props;
#[cfg(test)]
mod props_register;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_register;

pub use explain::{explain, Explanation, DEFAULT_SHRINK_TIME};
pub use kv::{Kv, KvEntry, KvInput};
pub use model::{partition_by_key, Model, Part, Pending, PendingEvents};
pub use register::Register;
pub use verdict::{Budget, Limit, Verdict};

use crate::history::{Entry, Operation};
use search::{Outcome, PartSearch};
use std::borrow::Cow;
use std::time::Instant;

/// Checks a key-value history (get, put, append; a missing key reads as "") within the default
/// [`Budget`].
pub fn check(history: &[Operation]) -> Verdict {
    check_with(history, Budget::default())
}

/// Checks a key-value history within `budget`: [`check_model`] with the [`Kv`] model.
pub fn check_with(history: &[Operation], budget: Budget) -> Verdict {
    let entries: Vec<KvEntry<'_>> = history.iter().map(KvEntry::from).collect();
    check_model(&Kv::new(), &entries, budget)
}

/// A part waiting for its turns. Its search starts on its first turn: a refutation of an
/// earlier part may make it unneeded, and a part decided in its first turn is gone before the
/// next one is set up.
struct Turn<'h, M: Model> {
    name: Cow<'h, str>,
    ops: Vec<&'h Entry<M::Input, M::Output>>,
    search: Option<PartSearch<'h, M>>,
}

impl<'h, M: Model> Turn<'h, M> {
    /// The part's search, started if need be.
    fn search(&mut self, model: &'h M) -> &mut PartSearch<'h, M> {
        let ops = &mut self.ops;
        self.search
            .get_or_insert_with(|| PartSearch::new(model, std::mem::take(ops)))
    }
}

/// The steps a search takes between two looks at the clock (about a millisecond).
const SLICE: u64 = 1 << 14;

/// Checks a history of `model` within `budget`.
///
/// The parts are searched side by side, in rounds of a growing number of steps each, and the
/// check stops as soon as one part is refuted: a non-linearizable history is usually refuted
/// quickly on some part even when another part's search space is huge (Porcupine gets the same
/// effect by checking the parts in parallel). A refutation found before the budget runs out is
/// final even if other parts are undecided.
pub fn check_model<M: Model>(
    model: &M,
    history: &[Entry<M::Input, M::Output>],
    budget: Budget,
) -> Verdict {
    let started = Instant::now();
    let deadline = budget.max_time.and_then(|t| started.checked_add(t));
    let mut searches: Vec<Turn<'_, M>> = model
        .partition(history)
        .into_iter()
        .map(|part| Turn {
            name: part.name,
            // Collected in place: the indices' vector becomes the references'.
            ops: part
                .ops
                .into_iter()
                .filter_map(|i| history.get(i))
                .collect(),
            search: None,
        })
        .collect();
    let mut spent = 0u64;
    let inconclusive = |limit, spent, searches: &[Turn<'_, M>]| {
        let mut undecided: Vec<String> = searches.iter().map(|t| t.name.to_string()).collect();
        undecided.sort();
        tracing::debug!(%limit, states = spent, ?undecided, "linearizability check inconclusive");
        Verdict::Inconclusive {
            limit,
            states: spent,
            undecided,
        }
    };
    let mut round = 1_000u64;
    while !searches.is_empty() {
        let mut i = 0;
        while i < searches.len() {
            let mut turn = round;
            let outcome = loop {
                let left = budget
                    .max_states
                    .map_or(u64::MAX, |m| m.saturating_sub(spent));
                let slice = turn.min(SLICE).min(left);
                if slice == 0 {
                    if left == 0 {
                        return inconclusive(Limit::States, spent, &searches);
                    }
                    break None;
                }
                let (outcome, taken) = searches[i].search(model).run(slice);
                spent += taken;
                turn -= taken;
                if outcome.is_some() {
                    break outcome;
                }
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    return inconclusive(Limit::Time, spent, &searches);
                }
            };
            match outcome {
                Some(Outcome::Linearizable) => {
                    searches.swap_remove(i);
                }
                Some(Outcome::Refuted { stuck_at }) => {
                    let turn = &mut searches[i];
                    let op = turn.search(model).op(stuck_at);
                    return Verdict::NotLinearizable {
                        part: turn.name.to_string(),
                        stuck_at: model.describe_operation(&op.input, op.answer()),
                    };
                }
                None => i += 1,
            }
        }
        round = round.saturating_mul(2);
    }
    Verdict::Linearizable
}
