//! What can go wrong on a simulated link: loss, delay (which also reorders), duplication, and
//! blocked directions (partitions).

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use troupe_messages::NodeId;

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

    /// Delays each message uniformly within `[min, max]`.
    pub fn with_delay(mut self, min: Duration, max: Duration) -> Self {
        self.delay_min = min.min(max);
        self.delay_max = max.max(min);
        self
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
        let span = (self.delay_max - self.delay_min).as_nanos() as u64;
        self.delay_min + Duration::from_nanos(rng.gen_range(0..=span))
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
    pub(crate) fn link(&self, from: NodeId, to: NodeId) -> &LinkFaults {
        self.links.get(&(from, to)).unwrap_or(&self.default)
    }

    pub(crate) fn is_blocked(&self, from: NodeId, to: NodeId) -> bool {
        from != to && self.blocked.contains(&(from, to))
    }
}
