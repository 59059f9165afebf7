//! The chain failover supervisor's decisions as a plain struct: inputs in (the manager's answer
//! to a read or a compare-and-swap, a node down, a probe's answer, a tick, a lease waited out),
//! actions out (read or compare-and-swap the configuration in the manager, push it with a lease
//! to the chain's nodes, probe a node, watch a node, wait out a lease). No actors, no network,
//! no clock: the [`ChainFailover`](super::ChainFailover) actor feeds it and carries its actions
//! out; time is counted in the actor's ticks.
//!
//! The rules, in the order they are applied:
//!
//! - **Read, or create.** The configuration is read from the manager; if the key holds none,
//!   the first chain (the plan's first `length` servers, epoch 1) is created by compare-and-swap.
//! - **Push and watch.** The configuration being served is pushed, with a lease, to each of its
//!   members not known down, at once and every `push_every` ticks (which renews the leases);
//!   every member not known down is watched by the failure detector.
//! - **Remove a joining node** that went down, at once: it serves nobody.
//! - **Remove a member** that went down once another member answers a probe saying its state is
//!   complete: the last complete copy is never given up, and the chain waits for it to answer
//!   again. The removed member may still think itself in the chain (cut off, not crashed), so
//!   its last lease is waited out before the new chain is installed.
//! - **Take back** a member known down that answers a probe (made when the configuration is
//!   pushed again): it gets the configuration and is watched again.
//! - **Add a node at the tail.** A chain shorter than its length, whose tail answers in the
//!   current epoch with a complete state, gets the first server outside it that answers a probe
//!   as its joining node.
//! - **Promote the joining node** to tail once it answers in the current epoch having applied
//!   what the tail had.
//! - **Compare-and-swap.** A new configuration is installed by compare-and-swap from the exact
//!   text last read, so two supervisors (a restarted one and a slow old one) cannot both
//!   install one: the loser takes the value it found (the winner's configuration) and starts
//!   over from it.
//!
//! Probes go out in rounds, at most one round at a time: each round asks every node it needs
//! at once, and the rules are applied when every one has answered (or timed out); `rounds`
//! holds them.

use super::rounds::Round;
use std::collections::BTreeSet;
use std::time::Duration;
use troupe_actors::chain::config::{self, ConfigError};
use troupe_messages::chain::{ChainConfig, ChainStatus, Epoch};
use troupe_messages::NodeId;

/// The manager's timing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// The configuration is pushed again (renewing the leases) every this many ticks.
    pub push_every: u64,
    /// How long a node may serve clients after a push reached it.
    pub lease: Duration,
}

/// What the shell must do for the core, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Read the chain's key in the manager, and give the value to
    /// [`ChainManager::on_read`] (`None` if the manager did not answer).
    Read,
    /// Set the chain's key in the manager to `value` if it holds exactly `expect` now, and give
    /// the value it held to [`ChainManager::on_swapped`] (`None` if the manager did not answer).
    Swap {
        /// The value the key must hold ("" for none).
        expect: String,
        /// The new value.
        value: String,
    },
    /// Send `config` to each of `to` with a lease of `lease`.
    Push {
        /// The configuration.
        config: ChainConfig,
        /// How long each may serve from receipt.
        lease: Duration,
        /// The nodes.
        to: Vec<NodeId>,
    },
    /// Ask `node` for its status and give the answer to [`ChainManager::on_probe`] with
    /// `round` (`None` if it does not answer in time). Every probe must be answered.
    Probe {
        /// The round the probe belongs to.
        round: u64,
        /// The node.
        node: NodeId,
    },
    /// Have the failure detector report when `node` goes down ([`ChainManager::on_down`]).
    Watch(NodeId),
    /// Call [`ChainManager::on_lease_out`] with `epoch` once `lease` has passed.
    WaitLease {
        /// The epoch of the configuration whose member's lease is waited out.
        epoch: Epoch,
        /// How long to wait.
        lease: Duration,
    },
}

/// The configuration the manager holds, and its exact text there.
#[derive(Debug, Clone)]
struct Current {
    config: ChainConfig,
    text: String,
}

#[derive(Debug)]
enum Phase {
    /// A read of the manager is under way.
    Reading,
    /// The configuration is served: pushed, watched, and looked after.
    Serving(Current),
    /// A move from `current` to `next` waits for the last lease of a removed member to run out.
    WaitingLease { current: Current, next: ChainConfig },
    /// A compare-and-swap from `expect` to `value` (the text of `next`) is under way.
    Swapping {
        expect: String,
        value: String,
        next: ChainConfig,
    },
}

/// The decisions of one chain's configuration manager.
#[derive(Debug)]
pub struct ChainManager {
    pub(super) servers: Vec<NodeId>,
    pub(super) length: usize,
    pub(super) timing: Timing,
    phase: Phase,
    /// Nodes the failure detector reported down and that have not answered since.
    pub(super) down: BTreeSet<NodeId>,
    /// Nodes being watched.
    pub(super) watched: BTreeSet<NodeId>,
    ticks: u64,
    next_push: u64,
    /// The configuration was pushed again: the next round asks the members known down.
    pub(super) revive_due: bool,
    pub(super) round: Option<Round>,
    pub(super) rounds: u64,
    pub(super) actions: Vec<Action>,
}

impl ChainManager {
    /// The manager of a chain that may use `servers`, the first `length` of which (head first)
    /// form its first configuration.
    pub fn new(servers: Vec<NodeId>, length: usize, timing: Timing) -> Self {
        let length = length.min(servers.len());
        ChainManager {
            servers,
            length,
            timing,
            phase: Phase::Reading,
            down: BTreeSet::new(),
            watched: BTreeSet::new(),
            ticks: 0,
            next_push: 0,
            revive_due: false,
            round: None,
            rounds: 0,
            actions: Vec::new(),
        }
    }

    /// The first actions: read the configuration.
    pub fn start(&mut self) -> Vec<Action> {
        self.phase = Phase::Reading;
        self.actions.push(Action::Read);
        self.take()
    }

    /// The configuration being served (or whose successor waits for a lease), if any.
    pub fn config(&self) -> Option<&ChainConfig> {
        match &self.phase {
            Phase::Serving(current) | Phase::WaitingLease { current, .. } => Some(&current.config),
            Phase::Reading | Phase::Swapping { .. } => None,
        }
    }

    /// Whether `node` is known down.
    pub fn is_down(&self, node: NodeId) -> bool {
        self.down.contains(&node)
    }

    /// The manager answered a read with `value` (`None`: no answer).
    pub fn on_read(&mut self, value: Option<String>) -> Vec<Action> {
        if matches!(self.phase, Phase::Reading) {
            match value {
                Some(text) => self.adopt(text),
                None => self.actions.push(Action::Read),
            }
        }
        self.take()
    }

    /// The manager answered a compare-and-swap with the value it `found` (`None`: no answer,
    /// it may or may not have taken effect).
    pub fn on_swapped(&mut self, found: Option<String>) -> Vec<Action> {
        if let Phase::Swapping {
            expect,
            value,
            next,
        } = std::mem::replace(&mut self.phase, Phase::Reading)
        {
            match found {
                Some(found) if found == expect => self.serve(next, value),
                // Another supervisor moved first: start over from what it installed.
                Some(found) => self.adopt(found),
                None => self.actions.push(Action::Read),
            }
        }
        self.take()
    }

    /// The failure detector reports `node` down.
    pub fn on_down(&mut self, node: NodeId) -> Vec<Action> {
        self.down.insert(node);
        self.watched.remove(&node); // watched again once it answers
        self.settle(false);
        self.take()
    }

    /// `node` answered the probe of round `round` with `status` (`None`: not in time).
    pub fn on_probe(
        &mut self,
        round: u64,
        node: NodeId,
        status: Option<ChainStatus>,
    ) -> Vec<Action> {
        if let Some(current) = self.round.as_mut().filter(|r| r.id == round) {
            if let Some(answer @ None) = current.answers.get_mut(&node) {
                *answer = Some(status);
            }
            if current.answers.values().all(Option::is_some) {
                if let Some(done) = self.round.take() {
                    self.conclude(done);
                }
            }
        }
        self.take()
    }

    /// One tick of the shell's clock: push again when due, and look at the chain.
    pub fn on_tick(&mut self) -> Vec<Action> {
        self.ticks += 1;
        let serving = matches!(self.phase, Phase::Serving(_));
        if self.config().is_some() && self.ticks >= self.next_push {
            self.push_all();
            self.revive_due = serving;
        }
        self.settle(true);
        self.take()
    }

    /// The lease waited out for the configuration of `epoch` has run out.
    pub fn on_lease_out(&mut self, epoch: Epoch) -> Vec<Action> {
        let due = matches!(&self.phase,
            Phase::WaitingLease { current, .. } if current.config.epoch == epoch);
        if due {
            self.push_all(); // the members that stay keep their leases through the swap
            if let Phase::WaitingLease { current, next } =
                std::mem::replace(&mut self.phase, Phase::Reading)
            {
                self.swap(current.text, next);
            }
        }
        self.take()
    }

    fn take(&mut self) -> Vec<Action> {
        std::mem::take(&mut self.actions)
    }

    /// Takes the manager's `text` as the current configuration, or creates the first one.
    fn adopt(&mut self, text: String) {
        match config::decode(&text) {
            Ok(config) => self.serve(config, text),
            Err(ConfigError::Missing) => self.create(text),
            Err(e) => {
                tracing::warn!(error = %e, "replacing the manager's value with a first chain");
                self.create(text);
            }
        }
    }

    fn create(&mut self, found: String) {
        let first = ChainConfig::new(1, self.servers[..self.length].to_vec());
        self.swap(found, first);
    }

    fn swap(&mut self, expect: String, next: ChainConfig) {
        let value = config::encode(&next);
        self.actions.push(Action::Swap {
            expect: expect.clone(),
            value: value.clone(),
        });
        self.round = None;
        self.phase = Phase::Swapping {
            expect,
            value,
            next,
        };
    }

    fn serve(&mut self, config: ChainConfig, text: String) {
        self.phase = Phase::Serving(Current { config, text });
        self.round = None;
        self.revive_due = false;
        self.push_all();
        self.settle(false);
    }

    /// Pushes the configuration to its members not known down, and watches them.
    fn push_all(&mut self) {
        let Some(config) = self.config() else {
            return;
        };
        let to: Vec<NodeId> = members(config).filter(|n| !self.down.contains(n)).collect();
        let config = config.clone();
        self.next_push = self.ticks + self.timing.push_every;
        for &member in &to {
            if self.watched.insert(member) {
                self.actions.push(Action::Watch(member));
            }
        }
        if !to.is_empty() {
            let lease = self.timing.lease;
            self.actions.push(Action::Push { config, lease, to });
        }
    }

    pub(super) fn serving(&self) -> Option<&ChainConfig> {
        match &self.phase {
            Phase::Serving(current) => Some(&current.config),
            _ => None,
        }
    }

    /// Moves from the served configuration to `next`, after waiting out a removed member's
    /// lease if `wait_lease`.
    pub(super) fn reconfigure(&mut self, next: ChainConfig, wait_lease: bool) {
        if !matches!(self.phase, Phase::Serving(_)) {
            return;
        }
        let Phase::Serving(current) = std::mem::replace(&mut self.phase, Phase::Reading) else {
            return;
        };
        tracing::info!(from = ?current.config, to = ?next, "reconfiguring the chain");
        self.round = None;
        if wait_lease {
            self.actions.push(Action::WaitLease {
                epoch: current.config.epoch,
                lease: self.timing.lease,
            });
            self.phase = Phase::WaitingLease { current, next };
        } else {
            self.swap(current.text, next);
        }
    }
}

/// The chain's nodes and its joining node.
pub(super) fn members(config: &ChainConfig) -> impl Iterator<Item = NodeId> + '_ {
    config.nodes.iter().copied().chain(config.joining)
}
