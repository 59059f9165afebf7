//! What can go wrong on a simulated link: loss, delay (which also reorders), duplication, and
//! blocked directions (partitions).
//!
//! Link delays are whole milliseconds. The simulated clock is tokio's paused clock, whose timers
//! tick in milliseconds: a message due 1.3 ms after it was sent would be delivered at 2 ms. So
//! rather than round silently, a delay bound with a fraction of a millisecond is refused
//! ([`LinkFaults::try_with_delay`] says why; [`LinkFaults::with_delay`] panics with the same
//! words), and each message's delay is drawn among the whole milliseconds between the bounds.
//! Messages due at the same instant arrive in the order they were sent.

use crate::{Error, Result};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use troupe_messages::NodeId;

/// The latency of every simulated link unless a test or command asks otherwise: 1 to 5 ms with
/// jitter, so that messages in flight interleave and overtake each other as on a real network.
pub const DEFAULT_LATENCY: (Duration, Duration) =
    (Duration::from_millis(1), Duration::from_millis(5));

const MS: Duration = Duration::from_millis(1);

/// The behaviour of one directed link (or of every link, as the default).
#[derive(Debug, Clone, PartialEq)]
pub struct LinkFaults {
    /// Probability that a message is lost.
    pub drop: f64,
    /// Probability that a message is delivered twice.
    pub duplicate: f64,
    /// Shortest delay of a message.
    pub delay_min: Duration,
    /// Longest delay; each message's delay is uniform in `[delay_min, delay_max]`, so messages
    /// on one link overtake each other whenever the range is wider than their spacing.
    pub delay_max: Duration,
}

impl LinkFaults {
    /// No loss, no duplicates, no delay: messages arrive in order at the same virtual instant.
    pub fn reliable() -> Self {
        LinkFaults {
            drop: 0.0,
            duplicate: 0.0,
            delay_min: Duration::ZERO,
            delay_max: Duration::ZERO,
        }
    }

    /// Loses each message with probability `p`.
    pub fn with_drop(mut self, p: f64) -> Self {
        self.drop = p.clamp(0.0, 1.0);
        self
    }

    /// Delivers each message twice with probability `p`.
    pub fn with_duplicates(mut self, p: f64) -> Self {
        self.duplicate = p.clamp(0.0, 1.0);
        self
    }

    /// Delays each message by a whole number of milliseconds within `[min, max]`, drawn
    /// uniformly.
    ///
    /// # Panics
    /// If `min` or `max` has a fraction of a millisecond (see the module's header); use
    /// [`LinkFaults::try_with_delay`] for bounds that come from a user.
    pub fn with_delay(self, min: Duration, max: Duration) -> Self {
        match self.try_with_delay(min, max) {
            Ok(faults) => faults,
            Err(e) => panic!("{e}"),
        }
    }

    /// Like [`LinkFaults::with_delay`], but a bound with a fraction of a millisecond is an
    /// [`Error::BadSetting`] instead of a panic.
    pub fn try_with_delay(mut self, min: Duration, max: Duration) -> Result<Self> {
        for bound in [min, max] {
            if bound.as_nanos() % MS.as_nanos() != 0 {
                return Err(Error::BadSetting(format!(
                    "a link delay of {bound:?} is not a whole number of milliseconds; the \
                     simulated clock's timers tick in milliseconds, so it would be rounded"
                )));
            }
        }
        self.delay_min = min.min(max);
        self.delay_max = max.max(min);
        Ok(self)
    }

    /// Links as on a quiet local network: nothing lost, delays of [`DEFAULT_LATENCY`].
    pub fn realistic() -> Self {
        LinkFaults::reliable().with_delay(DEFAULT_LATENCY.0, DEFAULT_LATENCY.1)
    }

    /// The 6.824 "unreliable network": 10% loss and delays up to 27 ms (which reorder).
    pub fn unreliable() -> Self {
        LinkFaults::reliable()
            .with_drop(0.1)
            .with_delay(Duration::ZERO, Duration::from_millis(27))
    }

    pub(crate) fn sample_delay(&self, rng: &mut ChaCha8Rng) -> Duration {
        if self.delay_max <= self.delay_min {
            return self.delay_min;
        }
        let (lo, hi) = (self.delay_min.as_millis(), self.delay_max.as_millis());
        let ms = rng.gen_range(lo..=hi);
        Duration::from_millis(u64::try_from(ms).unwrap_or(u64::MAX))
    }
}

impl Default for LinkFaults {
    fn default() -> Self {
        LinkFaults::reliable()
    }
}

/// The fault configuration of the whole network.
#[derive(Debug, Default)]
pub(crate) struct Faults {
    pub(crate) default: LinkFaults,
    pub(crate) links: BTreeMap<(NodeId, NodeId), LinkFaults>,
    pub(crate) blocked: BTreeSet<(NodeId, NodeId)>,
}

impl Faults {
    pub(crate) fn with_default(default: LinkFaults) -> Self {
        Faults {
            default,
            ..Faults::default()
        }
    }

    pub(crate) fn link(&self, from: NodeId, to: NodeId) -> &LinkFaults {
        self.links.get(&(from, to)).unwrap_or(&self.default)
    }

    pub(crate) fn is_blocked(&self, from: NodeId, to: NodeId) -> bool {
        from != to && self.blocked.contains(&(from, to))
    }
}
