//! Property test: whatever the network does to Raft's messages (loss, duplication, reordering,
//! replays of old messages long after they were sent) and whatever stale or impossible
//! messages arrive (older terms, indices past the end of the log), and however peers crash and
//! restart, Raft's safety holds: at most one leader per term, terms never go back, and every
//! peer applies the same command at each index, in order. The cores are driven directly, with
//! no actors, so that proptest can explore and shrink thousands of schedules.

use proptest::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;
use troupe_actors::raft::{Apply, Durable, RaftConfig, RaftCore, Role};
use troupe_messages::raft::{Entry, Index, RaftMessage, Term};
use troupe_messages::NodeId;
use troupe_runtime::{decode, encode};

const N: u32 = 3;

#[derive(Debug, Clone)]
enum Action {
    Tick(u32),
    Deliver(usize),
    Drop(usize),
    Duplicate(usize),
    Replay(usize),
    Propose(u32, u8),
    Compact(u32),
    Restart(u32),
    /// A message from a term older than the receiver's, with arbitrary fields.
    Stale {
        to: u32,
        from: u32,
        kind: u8,
        index: u64,
        term_back: u64,
    },
    /// An answer claiming indices past the end of the receiver's log, in its current term.
    Impossible {
        to: u32,
        from: u32,
        index_ahead: u64,
    },
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        6 => (1..=N).prop_map(Action::Tick),
        10 => any::<usize>().prop_map(Action::Deliver),
        2 => any::<usize>().prop_map(Action::Drop),
        1 => any::<usize>().prop_map(Action::Duplicate),
        2 => any::<usize>().prop_map(Action::Replay),
        2 => (1..=N, any::<u8>()).prop_map(|(n, v)| Action::Propose(n, v)),
        1 => (1..=N).prop_map(Action::Compact),
        1 => (1..=N).prop_map(Action::Restart),
        1 => (1..=N, 1..=N, any::<u8>(), 0..50u64, 1..4u64)
            .prop_map(|(to, from, kind, index, term_back)| Action::Stale { to, from, kind, index, term_back }),
        1 => (1..=N, 1..=N, 1..20u64).prop_map(|(to, from, index_ahead)| Action::Impossible { to, from, index_ahead }),
    ]
}

/// The state a peer's service keeps: the commands it applied, which its snapshots carry.
type Applied = BTreeMap<Index, (Term, Vec<u8>)>;

struct World {
    cores: BTreeMap<u32, RaftCore>,
    applied: BTreeMap<u32, Applied>,
    last_applied: BTreeMap<u32, Index>,
    in_flight: Vec<(NodeId, NodeId, RaftMessage)>,
    sent: Vec<(NodeId, NodeId, RaftMessage)>,
    leaders: BTreeMap<Term, NodeId>,
    committed: BTreeMap<Index, (Term, Vec<u8>)>,
    terms: BTreeMap<u32, Term>,
    restarts: u64,
}

fn config() -> RaftConfig {
    RaftConfig {
        election_ticks_min: 3,
        election_ticks_max: 6,
        heartbeat_ticks: 1,
        max_batch: 4,
        pre_vote: true,
        check_quorum: true,
    }
}

fn members() -> Vec<NodeId> {
    (1..=N).map(NodeId).collect()
}

impl World {
    fn new() -> World {
        let mut w = World {
            cores: BTreeMap::new(),
            applied: BTreeMap::new(),
            last_applied: BTreeMap::new(),
            in_flight: Vec::new(),
            sent: Vec::new(),
            leaders: BTreeMap::new(),
            committed: BTreeMap::new(),
            terms: BTreeMap::new(),
            restarts: 0,
        };
        for i in 1..=N {
            let core = RaftCore::new(
                NodeId(i),
                &members(),
                config(),
                ChaCha8Rng::seed_from_u64(u64::from(i)),
                Durable::default(),
                Vec::new(),
            );
            w.cores.insert(i, core);
        }
        w
    }

    fn record_apply(&mut self, node: u32, apply: Apply) -> Result<(), String> {
        match apply {
            Apply::Command {
                index,
                term,
                command,
            } => {
                let last = self.last_applied.get(&node).copied().unwrap_or(0);
                if index <= last {
                    return Err(format!("n{node} applied {index} after {last}"));
                }
                self.last_applied.insert(node, index);
                self.agree(node, index, term, &command)?;
                self.applied
                    .entry(node)
                    .or_default()
                    .insert(index, (term, command));
            }
            Apply::Snapshot { index, data, .. } => {
                let state: Applied = decode(&data).map_err(|e| format!("bad snapshot: {e}"))?;
                for (i, (t, c)) in &state {
                    self.agree(node, *i, *t, c)?;
                }
                self.applied.insert(node, state);
                self.last_applied.insert(node, index);
            }
        }
        Ok(())
    }

    fn agree(&mut self, node: u32, index: Index, term: Term, command: &[u8]) -> Result<(), String> {
        match self.committed.get(&index) {
            Some((t, c)) if (*t, c.as_slice()) != (term, command) => Err(format!(
                "n{node} applied ({term}, {command:?}) at {index}, but ({t}, {c:?}) was applied there before"
            )),
            Some(_) => Ok(()),
            None => {
                self.committed.insert(index, (term, command.to_vec()));
                Ok(())
            }
        }
    }

    /// Collects a core's effects and checks the invariants.
    fn settle(&mut self, node: u32) -> Result<(), String> {
        let core = self.cores.get_mut(&node).expect("node exists");
        let effects = core.take_effects();
        let (role, term) = (core.role(), core.term());
        let previous = self.terms.insert(node, term).unwrap_or(0);
        if term < previous {
            return Err(format!(
                "n{node}'s term went back from {previous} to {term}"
            ));
        }
        if role == Role::Leader {
            if let Some(other) = self.leaders.insert(term, NodeId(node)) {
                if other != NodeId(node) {
                    return Err(format!("two leaders in term {term}: {other} and n{node}"));
                }
            }
        }
        for (to, message) in effects.messages {
            self.in_flight.push((NodeId(node), to, message.clone()));
            self.sent.push((NodeId(node), to, message));
        }
        for apply in effects.apply {
            self.record_apply(node, apply)?;
        }
        Ok(())
    }

    fn run(&mut self, action: Action) -> Result<(), String> {
        match action {
            Action::Tick(n) => {
                self.cores.get_mut(&n).expect("node").tick();
                self.settle(n)
            }
            Action::Deliver(k) | Action::Drop(k) | Action::Duplicate(k)
                if !self.in_flight.is_empty() =>
            {
                let k = k % self.in_flight.len();
                let (from, to, message) = match action {
                    Action::Duplicate(_) => self.in_flight[k].clone(),
                    _ => self.in_flight.swap_remove(k),
                };
                if matches!(action, Action::Drop(_)) {
                    return Ok(());
                }
                self.cores.get_mut(&to.0).expect("node").step(from, message);
                self.settle(to.0)
            }
            Action::Replay(k) if !self.sent.is_empty() => {
                let (from, to, message) = self.sent[k % self.sent.len()].clone();
                self.cores.get_mut(&to.0).expect("node").step(from, message);
                self.settle(to.0)
            }
            Action::Propose(n, v) => {
                self.cores.get_mut(&n).expect("node").propose(vec![v, 1]);
                self.settle(n)
            }
            Action::Compact(n) => {
                let upto = self.last_applied.get(&n).copied().unwrap_or(0);
                let state: Applied = self.applied.get(&n).cloned().unwrap_or_default();
                let data = encode(&state).map_err(|e| e.to_string())?;
                self.cores.get_mut(&n).expect("node").compact(upto, data);
                self.settle(n)
            }
            Action::Restart(n) => {
                // A crash: only what the core would have persisted survives.
                let core = self.cores.remove(&n).expect("node");
                let (durable, snapshot) = (core.durable().clone(), core.snapshot().to_vec());
                self.restarts += 1;
                let rng = ChaCha8Rng::seed_from_u64(1000 + self.restarts);
                self.cores.insert(
                    n,
                    RaftCore::new(NodeId(n), &members(), config(), rng, durable, snapshot),
                );
                self.applied.remove(&n);
                self.last_applied.remove(&n);
                self.settle(n)
            }
            Action::Stale {
                to,
                from,
                kind,
                index,
                term_back,
            } => {
                let core = self.cores.get(&to).expect("node");
                if from == to || core.term() < term_back {
                    return Ok(());
                }
                let term = core.term() - term_back;
                let entries = vec![Entry {
                    term,
                    command: vec![9, 9],
                }];
                let message = match kind % 6 {
                    0 => RaftMessage::RequestVote {
                        term,
                        last_log_index: index,
                        last_log_term: term,
                        pre_vote: false,
                    },
                    1 => RaftMessage::Vote {
                        term,
                        granted: true,
                        pre_vote: false,
                    },
                    2 => RaftMessage::AppendEntries {
                        term,
                        prev_log_index: index,
                        prev_log_term: term,
                        entries,
                        leader_commit: index + 5,
                    },
                    3 => RaftMessage::AppendReply {
                        term,
                        success: true,
                        match_index: index,
                        rejected_index: 0,
                        conflict_term: 0,
                        conflict_index: 0,
                        boot: 0,
                    },
                    4 => RaftMessage::InstallSnapshot {
                        term,
                        last_included_index: index,
                        last_included_term: term,
                        data: vec![0xc1],
                    },
                    _ => RaftMessage::SnapshotReply {
                        term,
                        last_included_index: index,
                    },
                };
                self.cores
                    .get_mut(&to)
                    .expect("node")
                    .step(NodeId(from), message);
                self.settle(to)
            }
            Action::Impossible {
                to,
                from,
                index_ahead,
            } => {
                let core = self.cores.get(&to).expect("node");
                if from == to {
                    return Ok(());
                }
                let (term, last) = (core.term(), core.durable().log.last_index());
                let message = RaftMessage::AppendReply {
                    term,
                    success: true,
                    match_index: last + index_ahead,
                    rejected_index: 0,
                    conflict_term: 0,
                    conflict_index: 0,
                    boot: 0,
                };
                self.cores
                    .get_mut(&to)
                    .expect("node")
                    .step(NodeId(from), message);
                self.settle(to)
            }
            _ => Ok(()),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn raft_stays_safe_under_any_schedule_and_stale_or_impossible_messages(
        actions in proptest::collection::vec(action(), 1..400)
    ) {
        let mut world = World::new();
        for action in actions {
            let step = format!("{action:?}");
            if let Err(violation) = world.run(action) {
                prop_assert!(false, "after {}: {}", step, violation);
            }
        }
    }
}

/// The property is not vacuous: a long fair schedule elects leaders and commits commands.
#[test]
fn the_model_makes_progress() {
    let mut world = World::new();
    for round in 0..2_000usize {
        let n = (round % N as usize) as u32 + 1;
        world.run(Action::Tick(n)).expect("safe");
        world.run(Action::Propose(n, round as u8)).expect("safe");
        while !world.in_flight.is_empty() {
            world.run(Action::Deliver(0)).expect("safe");
        }
    }
    assert!(!world.leaders.is_empty(), "no leader was ever elected");
    assert!(
        world.committed.len() > 100,
        "only {} entries committed",
        world.committed.len()
    );
}
