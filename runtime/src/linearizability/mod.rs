//! A linearizability checker for key-value histories, with a budget.
//!
//! A history is linearizable if every operation can be given a single instant between its call
//! and its return such that, in the order of those instants, each get returns the value the
//! puts and appends before it produced. An operation whose return is unknown (`"return": null`)
//! may take effect at any instant after its call, or never: it is treated as returning after
//! everything else, where a put or append affects no observed read, and an unanswered get
//! constrains nothing.
//!
//! Each key is checked on its own (P-compositionality, as Porcupine does) by the search in
//! [`search`]. Deciding linearizability is NP-complete, so a search can take longer than anyone
//! will wait: [`check_with`] stops when its [`Budget`] of search states or of time runs out and
//! answers [`Verdict::Inconclusive`], which is neither a pass nor a failure. The state budget
//! makes the answer the same on every machine; the time budget is for people at a terminal.

mod search;

#[cfg(test)]
mod brute;
#[cfg(test)]
mod props;
#[cfg(test)]
mod tests;

use crate::history::{OpKind, Operation};
use search::KeySearch;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// How much searching a check may do before it gives up with [`Verdict::Inconclusive`].
///
/// `None` is no limit. The default is [`Budget::DEFAULT_STATES`] states and no time limit, so
/// that [`check`] answers the same on every machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// The most search states to visit, over all keys. A state is one step of the search: an
    /// operation linearized, one taken back, or a candidate passed over.
    pub max_states: Option<u64>,
    /// The most wall-clock time to spend (measured with [`Instant`], outside any simulation).
    pub max_time: Option<Duration>,
}

impl Budget {
    /// The default state budget: ample for the histories troupe's simulations and tests write
    /// (Porcupine's 50-client history takes about 33,000 states), and a few seconds and a few
    /// hundred megabytes of search at most.
    pub const DEFAULT_STATES: u64 = 10_000_000;

    /// No limit at all: the check runs until it has an answer.
    pub fn unlimited() -> Self {
        Budget {
            max_states: None,
            max_time: None,
        }
    }

    /// At most `max_states` states, and no time limit.
    pub fn states(max_states: u64) -> Self {
        Budget {
            max_states: Some(max_states),
            max_time: None,
        }
    }
}

impl Default for Budget {
    fn default() -> Self {
        Budget::states(Budget::DEFAULT_STATES)
    }
}

/// Which part of a [`Budget`] ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// [`Budget::max_states`].
    States,
    /// [`Budget::max_time`].
    Time,
}

impl std::fmt::Display for Limit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Limit::States => "state budget",
            Limit::Time => "time budget",
        })
    }
}

/// The verdict on one history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every key's sub-history is linearizable.
    Linearizable,
    /// The sub-history of `key` is not.
    NotLinearizable {
        /// A key whose operations admit no linearization.
        key: String,
    },
    /// The budget ran out before an answer: every key searched to the end was linearizable,
    /// and the `undecided` ones may or may not be.
    Inconclusive {
        /// What ran out.
        limit: Limit,
        /// The states visited, over all keys.
        states: u64,
        /// The keys whose search did not finish, in order.
        undecided: Vec<String>,
    },
}

impl Verdict {
    /// True for [`Verdict::Linearizable`] only (an inconclusive check is not a pass).
    pub fn is_linearizable(&self) -> bool {
        matches!(self, Verdict::Linearizable)
    }

    /// `Some(true)` if linearizable, `Some(false)` if not, `None` if inconclusive: the form a
    /// report's `linearizable` field takes.
    pub fn as_option(&self) -> Option<bool> {
        match self {
            Verdict::Linearizable => Some(true),
            Verdict::NotLinearizable { .. } => Some(false),
            Verdict::Inconclusive { .. } => None,
        }
    }
}

/// Checks a key-value history (get, put, append; a missing key reads as "") within the default
/// [`Budget`].
pub fn check(history: &[Operation]) -> Verdict {
    check_with(history, Budget::default())
}

/// The steps a search takes between two looks at the clock (about a millisecond).
const SLICE: u64 = 1 << 14;

/// Checks a key-value history within `budget`.
///
/// The keys are searched side by side, in rounds of a growing number of steps each, and the
/// check stops as soon as one key is refuted: a non-linearizable history is usually refuted
/// quickly on some key even when another key's search space is huge (Porcupine gets the same
/// effect by checking the keys in parallel). A refutation found before the budget runs out is
/// final even if other keys are undecided.
pub fn check_with(history: &[Operation], budget: Budget) -> Verdict {
    let started = Instant::now();
    let deadline = budget.max_time.and_then(|t| started.checked_add(t));
    let mut by_key: BTreeMap<&str, Vec<&Operation>> = BTreeMap::new();
    for op in history {
        // A get that never answered observed nothing and changed nothing.
        if op.op == OpKind::Get && op.ret.is_none() {
            continue;
        }
        by_key.entry(op.key.as_str()).or_default().push(op);
    }
    let mut searches: Vec<(&str, KeySearch)> = by_key
        .into_iter()
        .map(|(key, ops)| (key, KeySearch::new(ops)))
        .collect();
    let mut spent = 0u64;
    let inconclusive = |limit, spent, searches: &[(&str, KeySearch)]| {
        let mut undecided: Vec<String> = searches.iter().map(|(k, _)| k.to_string()).collect();
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
            let verdict = loop {
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
                let (verdict, taken) = searches[i].1.run(slice);
                spent += taken;
                turn -= taken;
                if verdict.is_some() {
                    break verdict;
                }
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    return inconclusive(Limit::Time, spent, &searches);
                }
            };
            match verdict {
                Some(true) => {
                    searches.swap_remove(i);
                }
                Some(false) => {
                    return Verdict::NotLinearizable {
                        key: searches[i].0.to_string(),
                    }
                }
                None => i += 1,
            }
        }
        round = round.saturating_mul(2);
    }
    Verdict::Linearizable
}
