//! What a check answers ([`Verdict`]), and how much searching it may do first ([`Budget`]).

use std::time::Duration;

/// How much searching a check may do before it gives up with [`Verdict::Inconclusive`].
///
/// `None` is no limit. The default is [`Budget::DEFAULT_STATES`] states and no time limit, so
/// that [`check`] answers the same on every machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// The most search states to visit, over all parts. A state is one step of the search: an
    /// operation linearized, one taken back, or a candidate passed over.
    pub max_states: Option<u64>,
    /// The most wall-clock time to spend (measured with [`std::time::Instant`], outside any simulation).
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
    /// Every part of the history is linearizable.
    Linearizable,
    /// A part of the history is not.
    NotLinearizable {
        /// The name of a part whose operations admit no linearization (for a key-value
        /// history, its key).
        part: String,
        /// The operation the longest partial linearization found could not get past, as the
        /// model describes it: the first to return among the operations it had not placed.
        stuck_at: String,
    },
    /// The budget ran out before an answer: every part searched to the end was linearizable,
    /// and the `undecided` ones may or may not be.
    Inconclusive {
        /// What ran out.
        limit: Limit,
        /// The states visited, over all parts.
        states: u64,
        /// The names of the parts whose search did not finish, in order.
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
