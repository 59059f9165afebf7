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
//! - **Renew only what the manager confirms.** Every `push_every` ticks the key is read again;
//!   only if it still holds the configuration being served, and the read was asked at most
//!   `fresh` ticks ago, is that configuration pushed, with a lease, to each member not known
//!   down (which renews their leases). A configuration the manager no longer holds is never
//!   renewed, so several supervisors of one chain (one per node of a real cluster) cannot
//!   keep a removed member serving after one of them replaced its configuration. Every member
//!   not known down is watched by the failure detector.
//! - **Hold a configuration that may leave a member behind.** A configuration this supervisor
//!   installed to remove a member, or one it finds in the manager newer than any it served
//!   (another supervisor's: it may have removed one), is pushed only after a hold of
//!   `hold`: the longest a lease renewed before the change was committed can last (a lease,
//!   the `fresh` window, and a margin for the push's delay). Until then a removed member may
//!   still serve in its old epoch; after it, nobody serves outside the new chain. During the
//!   hold of a configuration that directly follows the one served, the members it keeps in its
//!   chain are renewed in the old epoch (once the manager confirms the new one): a write of the
//!   new epoch must pass each of them, so none serves the old epoch once the new one has
//!   committed anything.
//! - **Remove a joining node** that went down, at once: it serves nobody, so no hold.
//! - **Remove a member** that went down once another member answers a probe saying its state is
//!   complete: the last complete copy is never given up, and the chain waits for it to answer
//!   again.
//! - **Take back** a member known down that answers a probe (made when a renewal is due): it is
//!   watched again and gets the next renewal.
//! - **Add a node at the tail.** A chain shorter than its length, whose tail answers in the
//!   current epoch with a complete state, gets the first server outside it that answers a probe
//!   as its joining node.
//! - **Promote the joining node** to tail once it answers in the current epoch having applied
//!   what the tail had.
//! - **Compare-and-swap.** A new configuration is installed by compare-and-swap from the exact
//!   text last read, so two supervisors cannot both install one: the loser takes the value it
//!   found (the winner's configuration, held as above) and starts over from it.
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
use troupe_runtime::plant::{self, Bug};

/// The manager's timing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// The configuration is confirmed and pushed again (renewing the leases) every this many
    /// ticks.
    pub push_every: u64,
    /// How long a node may serve clients after a push reached it.
    pub lease: Duration,
    /// A push goes out only if the read that confirmed its configuration was asked at most
    /// this many ticks ago.
    pub fresh: u64,
    /// How long a configuration that may leave a member behind is held before it is pushed:
    /// at least `lease` plus `fresh` ticks plus the longest a push may travel.
    pub hold: Duration,
}

/// What the shell must do for the core, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Read the chain's key in the manager, and give the value to
    /// [`ChainManager::on_read`] (`None` if the manager did not answer).
    Read,
    /// Read the chain's key in the manager again, and give the value to
    /// [`ChainManager::on_confirmed`] with `id` (`None` if the manager did not answer within
    /// the `fresh` window: an answer later than that is of no use).
    Confirm {
        /// Which confirmation this is.
        id: u64,
    },
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
    /// Call [`ChainManager::on_held`] with `epoch` once `wait` has passed.
    Hold {
        /// The epoch of the configuration held.
        epoch: Epoch,
        /// How long to wait.
        wait: Duration,
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
    /// The configuration is served: confirmed, pushed, watched, and looked after.
    Serving(Current),
    /// The configuration is committed in the manager but not pushed until its hold is over.
    /// Meanwhile the members it keeps in its chain from `previous` (the configuration served
    /// before, if the held one directly follows it) have their leases renewed in it: a write of
    /// the new epoch must pass every one of them, so none serves the old epoch once the new one
    /// has committed anything.
    Holding {
        held: Current,
        previous: Option<ChainConfig>,
    },
    /// A compare-and-swap from `expect` to `value` (the text of `next`) is under way; if it
    /// wins, `next` is held first if `hold`.
    Swapping {
        expect: String,
        value: String,
        next: ChainConfig,
        hold: bool,
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
    pub(super) ticks: u64,
    pub(super) next_push: u64,
    /// The tick at which the last read or compare-and-swap was asked.
    asked_at: u64,
    /// The confirmation under way: its id and the tick it was asked at.
    confirming: Option<(u64, u64)>,
    confirmations: u64,
    /// The newest epoch this supervisor pushed (or created).
    served_epoch: Epoch,
    /// The configuration last pushed (kept for the planted bug [`Bug::RenewsUnconfirmed`]).
    last_pushed: Option<ChainConfig>,
    /// The configuration last served, until a hold takes it as its previous one.
    last_served: Option<ChainConfig>,
    /// A renewal is due: the next round asks the members known down.
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
            asked_at: 0,
            confirming: None,
            confirmations: 0,
            served_epoch: 0,
            last_pushed: None,
            last_served: None,
            revive_due: false,
            round: None,
            rounds: 0,
            actions: Vec::new(),
        }
    }

    /// The first actions: read the configuration.
    pub fn start(&mut self) -> Vec<Action> {
        self.read();
        self.take()
    }

    /// The configuration served (or held before it is), if any.
    pub fn config(&self) -> Option<&ChainConfig> {
        match &self.phase {
            Phase::Serving(current) | Phase::Holding { held: current, .. } => Some(&current.config),
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
                None => self.read(),
            }
        }
        self.take()
    }

    /// The manager answered confirmation `id` with `value` (`None`: not in time).
    pub fn on_confirmed(&mut self, id: u64, value: Option<String>) -> Vec<Action> {
        let Some((asked, asked_at)) = self.confirming else {
            return self.take();
        };
        if asked != id {
            return self.take();
        }
        self.confirming = None;
        let fresh = self.ticks.saturating_sub(asked_at) <= self.timing.fresh;
        let Some(text) = value else {
            return self.take();
        };
        match &self.phase {
            Phase::Serving(current) if text == current.text => {
                if fresh {
                    self.push_all();
                }
            }
            Phase::Holding { held, previous } if text == held.text => {
                if let (true, Some(previous)) = (fresh, previous) {
                    self.renew_survivors(previous.clone(), held.config.clone());
                }
            }
            Phase::Serving(_) | Phase::Holding { .. } => {
                // Another supervisor changed the configuration: take it (held first).
                self.round = None;
                self.adopt(text);
            }
            Phase::Reading | Phase::Swapping { .. } => {}
        }
        self.take()
    }

    /// The manager answered a compare-and-swap with the value it `found` (`None`: no answer,
    /// it may or may not have taken effect).
    pub fn on_swapped(&mut self, found: Option<String>) -> Vec<Action> {
        if !matches!(self.phase, Phase::Swapping { .. }) {
            return self.take();
        }
        if let Phase::Swapping {
            expect,
            value,
            next,
            hold,
        } = std::mem::replace(&mut self.phase, Phase::Reading)
        {
            match found {
                Some(found) if found == expect && hold => self.hold(next, value),
                Some(found) if found == expect => self.serve(next, value),
                // Another supervisor moved first: start over from what it installed.
                Some(found) => self.adopt(found),
                None => self.read(),
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

    /// One tick of the shell's clock: confirm (and so renew) when due, and look at the chain.
    pub fn on_tick(&mut self) -> Vec<Action> {
        self.ticks += 1;
        if plant::armed(Bug::RenewsUnconfirmed) {
            self.renew_unconfirmed();
        } else if self.config().is_some() && self.ticks >= self.next_push {
            self.confirm();
        }
        self.settle(true);
        self.take()
    }

    /// The hold of the configuration of `epoch` is over: confirm it, then push it.
    pub fn on_held(&mut self, epoch: Epoch) -> Vec<Action> {
        let due = matches!(&self.phase, Phase::Holding { held, .. } if held.config.epoch == epoch);
        if due {
            if let Phase::Holding { held: current, .. } =
                std::mem::replace(&mut self.phase, Phase::Reading)
            {
                self.last_served = Some(current.config.clone());
                self.phase = Phase::Serving(current);
                self.served_epoch = self.served_epoch.max(epoch);
                self.confirm();
                self.settle(false);
            }
        }
        self.take()
    }

    fn take(&mut self) -> Vec<Action> {
        std::mem::take(&mut self.actions)
    }

    fn read(&mut self) {
        self.phase = Phase::Reading;
        self.asked_at = self.ticks;
        self.actions.push(Action::Read);
    }

    /// Asks the manager whether the served configuration is still current (one at a time).
    fn confirm(&mut self) {
        self.next_push = self.ticks + self.timing.push_every;
        self.revive_due = true;
        if self.confirming.is_none() {
            self.confirmations += 1;
            let id = self.confirmations;
            self.confirming = Some((id, self.ticks));
            self.actions.push(Action::Confirm { id });
        }
    }

    /// Takes the manager's `text` as the current configuration, or creates the first one.
    fn adopt(&mut self, text: String) {
        match config::decode(&text) {
            Ok(config) if config.epoch > self.served_epoch => self.hold(config, text),
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
        self.swap(found, first, false);
    }

    fn swap(&mut self, expect: String, next: ChainConfig, hold: bool) {
        let value = config::encode(&next);
        self.actions.push(Action::Swap {
            expect: expect.clone(),
            value: value.clone(),
        });
        self.asked_at = self.ticks;
        self.round = None;
        self.phase = Phase::Swapping {
            expect,
            value,
            next,
            hold,
        };
    }

    /// Holds `config` (committed in the manager) until no lease of an older epoch is left.
    fn hold(&mut self, config: ChainConfig, text: String) {
        self.round = None;
        self.actions.push(Action::Hold {
            epoch: config.epoch,
            wait: self.timing.hold,
        });
        let previous = self
            .last_served
            .take()
            .filter(|p| p.epoch + 1 == config.epoch);
        self.phase = Phase::Holding {
            held: Current { config, text },
            previous,
        };
    }

    /// Serves `config`, pushing it at once if the manager's answer that gave it is fresh
    /// (otherwise at the next tick, after a confirmation).
    fn serve(&mut self, config: ChainConfig, text: String) {
        self.served_epoch = self.served_epoch.max(config.epoch);
        self.last_served = Some(config.clone());
        self.phase = Phase::Serving(Current { config, text });
        self.round = None;
        self.revive_due = false;
        if self.ticks.saturating_sub(self.asked_at) <= self.timing.fresh {
            self.push_all();
        } else {
            self.next_push = self.ticks;
        }
        self.settle(false);
    }

    /// During a hold: renews, in the `previous` configuration, the leases of its members that
    /// `held` (its direct successor) keeps in its chain and that are not known down.
    fn renew_survivors(&mut self, previous: ChainConfig, held: ChainConfig) {
        let to: Vec<NodeId> = members(&previous)
            .filter(|n| held.nodes.contains(n) && !self.down.contains(n))
            .collect();
        if !to.is_empty() {
            let lease = self.timing.lease;
            self.actions.push(Action::Push {
                config: previous,
                lease,
                to,
            });
        }
    }

    /// The planted bug [`Bug::RenewsUnconfirmed`]: when a renewal is due, push the last
    /// configuration pushed, whatever the manager holds now (and whatever this supervisor is
    /// doing meanwhile).
    fn renew_unconfirmed(&mut self) {
        if self.ticks < self.next_push {
            return;
        }
        let Some(config) = self.last_pushed.clone() else {
            return;
        };
        self.revive_due = self.serving().is_some();
        self.next_push = self.ticks + self.timing.push_every;
        let to: Vec<NodeId> = members(&config)
            .filter(|n| !self.down.contains(n))
            .collect();
        if !to.is_empty() {
            let lease = self.timing.lease;
            self.actions.push(Action::Push { config, lease, to });
        }
    }

    /// Pushes the configuration to its members not known down, and watches them.
    fn push_all(&mut self) {
        let Some(config) = self.serving() else {
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
            self.last_pushed = Some(config.clone());
            self.actions.push(Action::Push { config, lease, to });
        }
    }

    pub(super) fn serving(&self) -> Option<&ChainConfig> {
        match &self.phase {
            Phase::Serving(current) => Some(&current.config),
            _ => None,
        }
    }

    /// Moves from the served configuration to `next`, holding it after the swap if it
    /// `removes` a member that may still hold a lease.
    pub(super) fn reconfigure(&mut self, next: ChainConfig, removes: bool) {
        if !matches!(self.phase, Phase::Serving(_)) {
            return;
        }
        let Phase::Serving(current) = std::mem::replace(&mut self.phase, Phase::Reading) else {
            return;
        };
        tracing::info!(from = ?current.config, to = ?next, "reconfiguring the chain");
        self.swap(current.text, next, removes);
    }
}

/// The chain's nodes and its joining node.
pub(super) fn members(config: &ChainConfig) -> impl Iterator<Item = NodeId> + '_ {
    config.nodes.iter().copied().chain(config.joining)
}
