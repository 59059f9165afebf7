//! The nemesis: a seeded adversary that crashes and restarts nodes, partitions the network and
//! makes links unreliable at random virtual instants, then heals everything at the end.
//!
//! `troupe sim ... --nemesis KIND` and long failure tests use it. It never takes down more than a
//! minority of its targets at once, so a majority-based system can always make progress once
//! the network is healed. A partition splits the targets into a minority and a majority and puts
//! each other node (a client) on either side, so clients see both sides of every partition.
//! Healing returns the links to the network's baseline (its usual latency), not to zero delay.

use crate::sim::{derive_seed, LinkFaults, SimNet};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;
use tokio::time::Instant;
use troupe_messages::NodeId;

/// Which faults the nemesis injects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NemesisKind {
    /// None at all.
    None,
    /// Crashes and restarts of a minority of nodes.
    Crash,
    /// Partitions that leave a majority and a minority side (or isolate one node).
    Partition,
    /// Lossy, delaying, reordering links.
    Unreliable,
    /// A random mix of the above.
    All,
}

impl FromStr for NemesisKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "none" => Ok(NemesisKind::None),
            "crash" => Ok(NemesisKind::Crash),
            "partition" => Ok(NemesisKind::Partition),
            "unreliable" => Ok(NemesisKind::Unreliable),
            "all" => Ok(NemesisKind::All),
            other => Err(format!(
                "unknown nemesis `{other}` (expected none, crash, partition, unreliable or all)"
            )),
        }
    }
}

impl fmt::Display for NemesisKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            NemesisKind::None => "none",
            NemesisKind::Crash => "crash",
            NemesisKind::Partition => "partition",
            NemesisKind::Unreliable => "unreliable",
            NemesisKind::All => "all",
        };
        f.write_str(name)
    }
}

/// One thing the nemesis did, for a run's timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NemesisEvent {
    /// The node crashed.
    Crash(NodeId),
    /// The node restarted (from its storage).
    Restart(NodeId),
    /// The targets were split in two; every other node went to one side or the other.
    Partition {
        /// The smaller side's targets.
        minority: Vec<NodeId>,
        /// The larger side's targets.
        majority: Vec<NodeId>,
    },
    /// The partition healed.
    Heal,
    /// The link between two nodes was cut both ways, every other link left as it was (a system
    /// cuts its own critical link this way, such as VM-FT's logging channel).
    LinkCut(NodeId, NodeId),
    /// That link was restored.
    LinkRestored(NodeId, NodeId),
    /// Links became lossy, duplicating and slow.
    Unreliable,
    /// Links returned to their baseline.
    Reliable,
    /// The end: the network healed, links made reliable, every crashed node restarted.
    HealAll,
}

/// What the nemesis did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct NemesisReport {
    /// Node crashes.
    pub crashes: u64,
    /// Node restarts.
    pub restarts: u64,
    /// Partitions made.
    pub partitions: u64,
    /// Times the links were made unreliable.
    pub unreliable_periods: u64,
    /// Every event, with the virtual time since the simulation started (not in the JSON
    /// report: `troupe sim` narrates it).
    #[serde(skip)]
    pub timeline: Vec<(Duration, NemesisEvent)>,
}

impl NemesisReport {
    /// Notes `event` at the current virtual time (also for faults a system injects beside the
    /// nemesis).
    pub fn log(&mut self, event: NemesisEvent) {
        let at = crate::sim::virtual_elapsed().unwrap_or_default();
        self.timeline.push((at, event));
    }
}

/// A seeded adversary for one simulated network.
pub struct Nemesis {
    kind: NemesisKind,
    net: SimNet,
    targets: Vec<NodeId>,
    rng: ChaCha8Rng,
    focus: Option<Box<dyn Fn() -> Vec<NodeId>>>,
    /// Nodes no partition cuts off (a simulation's observer, which is not part of the
    /// system under test).
    observers: Vec<NodeId>,
    /// Whether it crashes nodes (a system whose fault model needs crashes paced by its own
    /// state brings its own crash schedule and turns these off).
    crashes: bool,
    /// Shortest and longest time between two actions.
    pub pace: (Duration, Duration),
    /// Whether crashes and partitions together leave a majority of the targets up and
    /// connected ([`Nemesis::keep_majority`]).
    keep_majority: bool,
    /// The targets on the minority side of the partition in place, if any.
    cut_off: Vec<NodeId>,
}

const NEMESIS_STREAM: u64 = u64::MAX - 1;

impl Nemesis {
    /// A nemesis of `kind` for `net`, drawing from the network's seed.
    pub fn new(kind: NemesisKind, net: &SimNet) -> Self {
        Nemesis {
            kind,
            targets: net.node_ids(),
            net: net.clone(),
            rng: ChaCha8Rng::seed_from_u64(derive_seed(net.seed(), NEMESIS_STREAM)),
            focus: None,
            observers: Vec::new(),
            crashes: true,
            pace: (Duration::from_millis(200), Duration::from_millis(1500)),
            keep_majority: false,
            cut_off: Vec::new(),
        }
    }

    /// Never crashes a node: only partitions and unreliable links (as its kind allows). A system
    /// that survives one crash at a time only once it has repaired itself (VM-FT's pair of
    /// primary and backup) paces its crashes by its own state instead.
    pub fn without_crashes(mut self) -> Self {
        self.crashes = false;
        self
    }

    /// Acts on these nodes only (for instance the servers, not the clients).
    pub fn targets(mut self, targets: Vec<NodeId>) -> Self {
        self.targets = targets;
        self
    }

    /// Names the nodes whose isolation hurts most right now (a leader, a chain's head or tail),
    /// as a system under test knows them: half of the partitions then cut one of them off with
    /// the minority, where a node that still believes in its role is most dangerous.
    pub fn focus(mut self, nodes: impl Fn() -> Vec<NodeId> + 'static) -> Self {
        self.focus = Some(Box::new(nodes));
        self
    }

    /// Never has more than a minority of the targets down or cut off at once, counting
    /// crashed nodes and the minority side of a partition together (by default each has its
    /// own budget, so two crashes and a partition of two more can leave no majority at all).
    /// For a system whose progress rule assumes the faults it is built to survive.
    pub fn keep_majority(mut self) -> Self {
        self.keep_majority = true;
        self
    }

    /// Leaves `nodes` out of every partition: they reach every node and every node reaches
    /// them (a simulation's observer that reads the servers' state for its checks, and must
    /// not lose what a server cut off from the clients still did).
    pub fn observers(mut self, nodes: Vec<NodeId>) -> Self {
        self.observers = nodes;
        self
    }

    /// Acts for `duration` of virtual time, then heals the network, makes links reliable and
    /// restarts every crashed node.
    pub async fn run(mut self, duration: Duration) -> NemesisReport {
        let mut report = NemesisReport::default();
        let end = Instant::now() + duration;
        if self.kind != NemesisKind::None {
            loop {
                let (lo, hi) = self.pace;
                let pause = self.rng.gen_range(lo..=hi);
                if Instant::now() + pause >= end {
                    break;
                }
                tokio::time::sleep(pause).await;
                self.act(&mut report);
            }
        }
        tokio::time::sleep_until(end).await;
        self.heal_all(&mut report);
        report
    }

    fn act(&mut self, report: &mut NemesisReport) {
        let kinds: &[NemesisKind] = if self.crashes {
            &[
                NemesisKind::Crash,
                NemesisKind::Partition,
                NemesisKind::Unreliable,
            ]
        } else {
            &[NemesisKind::Partition, NemesisKind::Unreliable]
        };
        let kind = match self.kind {
            NemesisKind::All => *kinds.choose(&mut self.rng).unwrap_or(&NemesisKind::Crash),
            NemesisKind::Crash if !self.crashes => NemesisKind::None,
            other => other,
        };
        match kind {
            NemesisKind::Crash => self.crash_or_restart(report),
            NemesisKind::Partition => self.partition_or_heal(report),
            NemesisKind::Unreliable => self.toggle_unreliable(report),
            NemesisKind::None | NemesisKind::All => {}
        }
    }

    fn crash_or_restart(&mut self, report: &mut NemesisReport) {
        let ids = self.targets.clone();
        let down: Vec<NodeId> = ids
            .iter()
            .copied()
            .filter(|&id| self.net.node(id).is_none())
            .collect();
        let up: Vec<NodeId> = ids
            .iter()
            .copied()
            .filter(|&id| self.net.node(id).is_some())
            .collect();
        let minority = (ids.len().saturating_sub(1)) / 2;
        // Under `keep_majority`, the cut-off side counts against the budget too: crashing a
        // node that is already cut off costs nothing more.
        let cut_off: Vec<NodeId> = if self.keep_majority {
            self.cut_off.clone()
        } else {
            Vec::new()
        };
        let lost = |extra: Option<NodeId>| -> usize {
            let mut lost: Vec<NodeId> = down.clone();
            lost.extend(cut_off.iter().copied());
            lost.extend(extra);
            lost.sort();
            lost.dedup();
            lost.len()
        };
        let restart = !down.is_empty() && (lost(None) >= minority || self.rng.gen_bool(0.5));
        if restart {
            if let Some(&id) = down.choose(&mut self.rng) {
                self.net.restart(id);
                report.restarts += 1;
                report.log(NemesisEvent::Restart(id));
            }
        } else if let Some(&id) = up.choose(&mut self.rng) {
            if lost(Some(id)) <= minority {
                self.net.crash(id);
                report.crashes += 1;
                report.log(NemesisEvent::Crash(id));
            }
        }
    }

    /// Splits the targets into a minority and a majority side, and puts every other node
    /// (clients, for instance) on a side at random, so that some clients are cut off with the
    /// minority: a deposed leader or a stale node they can still reach must not fool them.
    fn partition_or_heal(&mut self, report: &mut NemesisReport) {
        if self.rng.gen_bool(0.3) {
            self.net.heal();
            self.cut_off.clear();
            report.log(NemesisEvent::Heal);
            return;
        }
        let mut targets = self.targets.clone();
        targets.shuffle(&mut self.rng);
        let focused = self.focus.as_ref().map(|f| f()).unwrap_or_default();
        let focused: Vec<NodeId> = focused
            .into_iter()
            .filter(|id| targets.contains(id))
            .collect();
        if let Some(&pick) = focused.choose(&mut self.rng) {
            if self.rng.gen_bool(0.5) {
                // The focused node goes first: it lands on the minority side.
                targets.retain(|&id| id != pick);
                targets.insert(0, pick);
            }
        }
        let minority = self
            .rng
            .gen_range(1..=(targets.len().saturating_sub(1) / 2).max(1));
        let (small, large) = targets.split_at(minority.min(targets.len()));
        let (mut small, mut large) = (small.to_vec(), large.to_vec());
        if self.keep_majority {
            // Crashed nodes count against the minority: cut off only as many live ones as
            // leave a majority up and connected (the focused node first).
            let budget = (self.targets.len().saturating_sub(1)) / 2;
            let down: Vec<NodeId> = self
                .targets
                .iter()
                .copied()
                .filter(|&id| self.net.node(id).is_none())
                .collect();
            let mut live_cut = budget.saturating_sub(down.len());
            small.retain(|id| {
                if down.contains(id) {
                    return true;
                }
                let keep = live_cut > 0;
                live_cut = live_cut.saturating_sub(1);
                if !keep {
                    large.push(*id);
                }
                keep
            });
            if small.iter().all(|id| down.contains(id)) {
                // Every node it could cut off is down already: heal instead.
                self.net.heal();
                self.cut_off.clear();
                report.log(NemesisEvent::Heal);
                return;
            }
            self.cut_off = small.clone();
        }
        let mut sides = (small.clone(), large.clone());
        sides.0.sort();
        sides.1.sort();
        report.log(NemesisEvent::Partition {
            minority: sides.0,
            majority: sides.1,
        });
        for id in self.net.node_ids() {
            if !self.targets.contains(&id) && !self.observers.contains(&id) {
                if self.rng.gen_bool(0.5) {
                    small.push(id);
                } else {
                    large.push(id);
                }
            }
        }
        self.net.partition(&[&small, &large]);
        for &observer in &self.observers {
            for id in self.net.node_ids() {
                self.net.unblock(observer, id);
                self.net.unblock(id, observer);
            }
        }
        report.partitions += 1;
    }

    fn toggle_unreliable(&mut self, report: &mut NemesisReport) {
        if self.rng.gen_bool(0.5) {
            self.net.clear_faults();
            report.log(NemesisEvent::Reliable);
        } else {
            // Lossy, duplicating, and slower than the healthy links, never faster.
            let healthy = self.net.baseline();
            let unreliable = LinkFaults::unreliable();
            let slowest = unreliable.delay_max.max(healthy.delay_max);
            self.net.set_default_faults(
                unreliable
                    .with_delay(healthy.delay_min, slowest)
                    .with_duplicates(0.02),
            );
            report.unreliable_periods += 1;
            report.log(NemesisEvent::Unreliable);
        }
    }

    fn heal_all(&mut self, report: &mut NemesisReport) {
        self.net.heal();
        self.cut_off.clear();
        self.net.clear_faults();
        for id in self.net.node_ids() {
            if self.net.node(id).is_none() {
                self.net.restart(id);
                report.restarts += 1;
            }
        }
        report.log(NemesisEvent::HealAll);
    }
}
