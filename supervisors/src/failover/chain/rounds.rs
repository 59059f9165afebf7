//! The configuration manager's probe rounds: which nodes a round asks (the other members when
//! one is down, the members known down when a renewal is due, the tail and
//! the joining node or the servers outside a short chain), and the rules applied once every
//! answer is in: take back, remove, add at the tail, promote.

use super::core::{members, Action, ChainManager};
use std::collections::{BTreeMap, BTreeSet};
use troupe_actors::chain::config::Transitions;
use troupe_messages::chain::{ChainConfig, ChainStatus};
use troupe_messages::NodeId;

/// One round of probes and what it is for.
#[derive(Debug)]
pub(super) struct Round {
    pub(super) id: u64,
    /// The member down whose removal the round checks (it asks the other members).
    pub(super) removal: Option<NodeId>,
    /// The round asks the members known down, to take back those that answer.
    pub(super) revive: bool,
    /// The round asks the tail and the joining node or the servers outside the chain.
    pub(super) grow: bool,
    /// Each node asked, and its answer once it came (`Some(None)`: no answer in time).
    pub(super) answers: BTreeMap<NodeId, Option<Option<ChainStatus>>>,
}

impl Round {
    /// `node`'s status, if it was asked and answered.
    fn status(&self, node: NodeId) -> Option<&ChainStatus> {
        self.answers.get(&node)?.as_ref()?.as_ref()
    }
}

impl ChainManager {
    /// The first member of the served configuration known down.
    fn gone(&self) -> Option<NodeId> {
        members(self.serving()?).find(|n| self.down.contains(n))
    }

    /// The member known down whose removal a round should check: one with another member that
    /// may hold a complete copy.
    fn removable(&self) -> Option<NodeId> {
        let config = self.serving()?;
        self.gone()
            .filter(|g| config.nodes.contains(g) && config.nodes.iter().any(|n| n != g))
    }

    /// Applies the rules that need no probe, then starts a round if one is useful and none is
    /// under way (looking at growth too if `grow`).
    pub(super) fn settle(&mut self, grow: bool) {
        if self.round.is_some() {
            return;
        }
        let Some(config) = self.serving().cloned() else {
            return;
        };
        if let Some(gone) = self.gone().filter(|g| config.joining == Some(*g)) {
            return self.reconfigure(config.without(gone), false);
        }
        let removal = self.removable();
        let mut asked = BTreeSet::new();
        if let Some(gone) = removal {
            asked.extend(config.nodes.iter().copied().filter(|&n| n != gone));
        }
        let revive = std::mem::take(&mut self.revive_due);
        if revive {
            asked.extend(members(&config).filter(|n| self.down.contains(n)));
        }
        let grow = grow && self.wants_to_grow(&config);
        if grow {
            asked.extend(config.tail());
            match config.joining {
                Some(joining) => {
                    asked.insert(joining);
                }
                None => asked.extend(self.candidates(&config)),
            }
        }
        if asked.is_empty() {
            return;
        }
        self.rounds += 1;
        let id = self.rounds;
        for &node in &asked {
            self.actions.push(Action::Probe { round: id, node });
        }
        self.round = Some(Round {
            id,
            removal,
            revive,
            grow,
            answers: asked.into_iter().map(|n| (n, None)).collect(),
        });
    }

    /// Applies the rules to a round's answers.
    pub(super) fn conclude(&mut self, round: Round) {
        let Some(config) = self.serving().cloned() else {
            return;
        };
        if round.revive {
            let back: Vec<NodeId> = members(&config)
                .filter(|&n| self.down.contains(&n) && round.status(n).is_some())
                .collect();
            for member in back {
                self.take_back(member);
            }
        }
        if let Some(gone) = self.gone() {
            if config.joining == Some(gone) {
                return self.reconfigure(config.without(gone), false);
            }
            if round.removal == Some(gone) {
                let complete = config
                    .nodes
                    .iter()
                    .filter(|&&n| n != gone)
                    .any(|&n| round.status(n).is_some_and(|s| s.synced));
                if complete {
                    return self.reconfigure(config.without(gone), true);
                }
                // The last complete copy: keep it, and ask again at the next tick.
            } else if self.removable().is_some() {
                // It went down during the round: check its removal now.
                return self.settle(false);
            }
        }
        if round.grow {
            if let Some(next) = self.grown(&config, &round) {
                self.reconfigure(next, false);
            }
        }
    }

    /// A member known down answers again: it is watched again, and the next renewal (which
    /// the manager confirms first) reaches it.
    fn take_back(&mut self, member: NodeId) {
        tracing::info!(%member, "chain node answers again");
        self.down.remove(&member);
        if self.watched.insert(member) {
            self.actions.push(Action::Watch(member));
        }
        self.next_push = self.next_push.min(self.ticks + 1);
    }

    /// Whether the chain is short of a node or has a joining node to promote.
    fn wants_to_grow(&self, config: &ChainConfig) -> bool {
        config.tail().is_some() && (config.joining.is_some() || config.nodes.len() < self.length)
    }

    /// The servers that could join the chain, in the plan's order.
    fn candidates<'a>(&'a self, config: &'a ChainConfig) -> impl Iterator<Item = NodeId> + 'a {
        self.servers
            .iter()
            .copied()
            .filter(|n| !config.nodes.contains(n))
    }

    /// The next configuration toward the chain's length, if the round shows one is due: the
    /// joining node made the tail once it has applied what the tail had, or the first server
    /// outside the chain that answered made the joining node. Both need a tail that answered in
    /// the current epoch with a complete state.
    fn grown(&mut self, config: &ChainConfig, round: &Round) -> Option<ChainConfig> {
        let tail = round.status(config.tail()?)?;
        if tail.epoch != config.epoch || !tail.synced {
            return None;
        }
        if let Some(joining) = config.joining {
            let joiner = round.status(joining)?;
            let caught_up = joiner.epoch == config.epoch && joiner.applied >= tail.applied;
            return caught_up.then(|| config.promoted());
        }
        let candidate = self
            .candidates(config)
            .find(|&n| round.status(n).is_some())?;
        self.down.remove(&candidate);
        Some(config.with_joining(candidate))
    }
}
