//! The Raft core against a hand-driven wire: messages wait in a queue until the test delivers
//! them, and no clock runs unless the test ticks it. So each test shows what one peer does
//! with one message, and whether it acts at once or only at its next heartbeat.

use super::core::{Durable, RaftConfig, RaftCore, Role};
use super::log::RaftLog;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use troupe_messages::raft::{Entry, Index, RaftMessage};
use troupe_messages::NodeId;

fn n(i: u32) -> NodeId {
    NodeId(i)
}

fn entry(term: u64, byte: u8) -> Entry {
    Entry {
        term,
        command: vec![byte],
    }
}

fn config() -> RaftConfig {
    RaftConfig {
        max_batch: 2,
        ..RaftConfig::default()
    }
}

fn core(id: u32, members: u32, durable: Durable) -> RaftCore {
    let members: Vec<NodeId> = (1..=members).map(n).collect();
    let rng = ChaCha8Rng::seed_from_u64(u64::from(id));
    RaftCore::new(n(id), &members, config(), rng, durable, Vec::new())
}

/// A follower's answer that it holds the leader's log up to `match_index`.
fn success(term: u64, match_index: Index, boot: u64) -> RaftMessage {
    RaftMessage::AppendReply {
        term,
        success: true,
        match_index,
        rejected_index: 0,
        conflict_term: 0,
        conflict_index: 0,
        boot,
    }
}

/// A follower's refusal of the append at `rejected`, naming the conflicting term and where it
/// starts in its log.
fn refusal(
    term: u64,
    (rejected, conflict_term, conflict_index): (Index, u64, Index),
    boot: u64,
) -> RaftMessage {
    RaftMessage::AppendReply {
        term,
        success: false,
        match_index: 0,
        rejected_index: rejected,
        conflict_term,
        conflict_index,
        boot,
    }
}

/// Peers whose messages are delivered only when the test says; messages to or from a cut-off
/// peer vanish.
struct Wire {
    cores: BTreeMap<NodeId, RaftCore>,
    queue: VecDeque<(NodeId, NodeId, RaftMessage)>,
    cut_off: BTreeSet<NodeId>,
}

impl Wire {
    fn new(members: u32) -> Wire {
        Wire {
            cores: (1..=members)
                .map(|i| (n(i), core(i, members, Durable::default())))
                .collect(),
            queue: VecDeque::new(),
            cut_off: BTreeSet::new(),
        }
    }

    fn core(&mut self, id: u32) -> &mut RaftCore {
        self.cores.get_mut(&n(id)).expect("a member")
    }

    fn collect(&mut self, id: NodeId) {
        let effects = self.cores.get_mut(&id).expect("a member").take_effects();
        for (to, message) in effects.messages {
            self.queue.push_back((id, to, message));
        }
    }

    /// Delivers every message, and the messages they cause, until none is left.
    fn settle(&mut self) {
        let mut budget = 10_000;
        while let Some((from, to, message)) = self.queue.pop_front() {
            budget -= 1;
            assert!(budget > 0, "messages never stop");
            if self.cut_off.contains(&from) || self.cut_off.contains(&to) {
                continue;
            }
            self.core_of(to).step(from, message);
            self.collect(to);
        }
    }

    fn core_of(&mut self, id: NodeId) -> &mut RaftCore {
        self.cores.get_mut(&id).expect("a member")
    }

    /// Ticks `id` alone (its peers' clocks stand still) until it leads.
    fn elect(&mut self, id: u32) {
        for _ in 0..100 {
            self.core(id).tick();
            self.collect(n(id));
            self.settle();
            if self.core(id).role() == Role::Leader {
                return;
            }
        }
        panic!("node {id} was not elected");
    }

    /// `id`, the leader, proposes `count` commands one at a time, each replicated before the
    /// next.
    fn propose_each(&mut self, id: u32, count: u8) {
        for byte in 1..=count {
            self.core(id).propose(vec![byte]);
            self.collect(n(id));
            self.settle();
        }
    }

    fn last_index(&mut self, id: u32) -> Index {
        self.core(id).status().last_index
    }
}

/// A follower that learned the term from a candidate's vote request has no leader yet; the
/// first append of that term names it.
#[test]
fn a_follower_learns_its_leader_from_the_first_append_of_the_term() {
    let mut follower = core(2, 3, Durable::default());
    follower.step(
        n(3),
        RaftMessage::RequestVote {
            term: 5,
            last_log_index: 0,
            last_log_term: 0,
            pre_vote: false,
        },
    );
    assert_eq!((follower.term(), follower.leader()), (5, None));
    follower.step(
        n(3),
        RaftMessage::AppendEntries {
            term: 5,
            prev_log_index: 0,
            prev_log_term: 0,
            entries: Vec::new(),
            leader_commit: 0,
        },
    );
    assert_eq!(follower.role(), Role::Follower);
    assert_eq!(follower.leader(), Some(n(3)));
}

/// Entries the follower's snapshot already covers match by definition (they are committed):
/// an append that starts inside the snapshot is taken, not refused.
#[test]
fn an_append_that_starts_inside_the_snapshot_is_taken() {
    let durable = Durable {
        term: 1,
        voted_for: None,
        log: RaftLog::restore(5, 1, Vec::new()),
    };
    let mut follower = core(2, 3, durable);
    follower.take_effects();
    follower.step(
        n(1),
        RaftMessage::AppendEntries {
            term: 1,
            prev_log_index: 3,
            prev_log_term: 1,
            entries: (4..=7).map(|i| entry(1, i)).collect(),
            leader_commit: 0,
        },
    );
    let sent = follower.take_effects().messages;
    assert!(
        matches!(
            sent.as_slice(),
            [(
                _,
                RaftMessage::AppendReply {
                    success: true,
                    match_index: 7,
                    ..
                }
            )]
        ),
        "answered {sent:?}"
    );
    assert_eq!(follower.status().last_index, 7);
}

/// A backlog longer than one batch streams to the followers answer by answer: nobody waits
/// for the next heartbeat.
#[test]
fn a_leader_sends_the_next_batch_as_soon_as_a_follower_answers() {
    let mut w = Wire::new(3);
    w.elect(1);
    for byte in 1..=7 {
        w.core(1).propose_later(vec![byte]);
    }
    w.core(1).replicate();
    w.collect(n(1));
    w.settle();
    let last = w.last_index(1);
    assert_eq!(last, 8, "the no-op and seven commands");
    assert_eq!(
        w.core(1).commit_index(),
        last,
        "all committed without a tick"
    );
    assert_eq!((w.last_index(2), w.last_index(3)), (last, last));
}

/// A refusal older than what the follower has since acknowledged (a delayed answer) changes
/// nothing and sends nothing.
#[test]
fn a_stale_refusal_is_ignored() {
    let mut w = Wire::new(3);
    w.elect(1);
    w.propose_each(1, 3);
    let matched = w.core(1).progress[&n(2)].matched;
    assert_eq!(matched, 4);
    let boot = w.core(2).boot;
    let term = w.core(1).term();
    w.core(1).step(n(2), refusal(term, (2, 0, 2), boot));
    let progress = w.core(1).progress[&n(2)];
    assert_eq!((progress.matched, progress.next), (4, 5));
    assert!(w.core(1).take_effects().messages.is_empty());
}

/// Within one boot a follower never loses what it acknowledged, so a refusal whose conflict
/// starts below the acknowledged index (entries of one term on both sides of it) leaves the
/// leader's count of matched entries where it was.
#[test]
fn a_refusal_from_the_same_boot_never_lowers_what_the_follower_matched() {
    let mut w = Wire::new(3);
    w.elect(1);
    w.propose_each(1, 3);
    assert_eq!(w.core(1).progress[&n(2)].matched, 4);
    let boot = w.core(2).boot;
    let term = w.core(1).term();
    w.core(1).propose(vec![4]);
    w.core(1).take_effects();
    w.core(1).step(n(2), refusal(term, (5, term, 2), boot));
    assert_eq!(w.core(1).progress[&n(2)].matched, 4);
}

/// A follower brought up to date by a snapshot gets the entries after it at once, not at the
/// next heartbeat.
#[test]
fn after_a_snapshot_the_leader_sends_the_rest_of_its_log_at_once() {
    let mut w = Wire::new(3);
    w.elect(1);
    w.cut_off.insert(n(3));
    for byte in 1..=5 {
        w.core(1).propose(vec![byte]);
        w.collect(n(1));
        w.settle();
    }
    w.core(1).compact(4, b"state at 4".to_vec());
    assert_eq!(w.core(1).status().snapshot_index, 4);
    w.cut_off.clear();
    w.core(1).progress.get_mut(&n(3)).expect("a follower").next = 1;
    w.core(1).replicate();
    w.collect(n(1));
    w.settle();
    assert_eq!(w.core(3).status().snapshot_index, 4);
    assert_eq!(
        w.last_index(3),
        w.last_index(1),
        "the entries after the snapshot"
    );
}

/// A follower whose last entry conflicts names that entry's term and where its run of that term
/// starts, so that the leader can back up past the whole term at once.
#[test]
fn a_refusal_names_the_conflicting_term_and_where_it_starts() {
    let entries = vec![entry(1, 1), entry(1, 2), entry(2, 3)];
    let durable = Durable {
        term: 3,
        voted_for: None,
        log: RaftLog::restore(0, 0, entries),
    };
    let mut follower = core(2, 3, durable);
    follower.step(
        n(1),
        RaftMessage::AppendEntries {
            term: 3,
            prev_log_index: 3,
            prev_log_term: 3,
            entries: Vec::new(),
            leader_commit: 0,
        },
    );
    let sent = follower.take_effects().messages;
    assert!(
        matches!(
            sent.as_slice(),
            [(
                _,
                RaftMessage::AppendReply {
                    success: false,
                    rejected_index: 3,
                    conflict_term: 2,
                    conflict_index: 3,
                    ..
                }
            )]
        ),
        "answered {sent:?}"
    );
}

/// A refusal from the same boot saying the follower's log is too short below what it
/// acknowledged cannot be true (within one boot nothing acknowledged is lost): the leader keeps
/// the matched index it had.
#[test]
fn a_same_boot_refusal_claiming_a_short_log_never_lowers_what_was_matched() {
    let mut w = Wire::new(3);
    w.elect(1);
    w.propose_each(1, 3);
    let boot = w.core(2).boot;
    let term = w.core(1).term();
    w.core(1).propose(vec![4]);
    w.core(1).take_effects();
    w.core(1).step(n(2), refusal(term, (5, 0, 3), boot));
    assert_eq!(w.core(1).progress[&n(2)].matched, 4);
}

/// After a refusal that names a term the leader also has, the leader tries next right after
/// its own last entry of that term (never past the refused index).
#[test]
fn a_leader_backs_up_past_the_conflicting_term_at_once() {
    let mut w = Wire::new(3);
    w.elect(1);
    w.cut_off.insert(n(2));
    w.propose_each(1, 3);
    let term = w.core(1).term();
    let boot = w.core(2).boot;
    assert_eq!(w.last_index(1), 4);
    w.core(1).step(n(2), refusal(term, (4, term, 2), boot));
    let sent = w.core(1).take_effects().messages;
    assert!(
        matches!(
            sent.as_slice(),
            [(
                _,
                RaftMessage::AppendEntries {
                    prev_log_index: 3,
                    ..
                }
            )]
        ),
        "sent {sent:?}"
    );
}

/// A follower without a leader learns it from a snapshot, as from an append.
#[test]
fn a_follower_learns_its_leader_from_a_snapshot() {
    let mut follower = core(2, 3, Durable::default());
    follower.step(
        n(3),
        RaftMessage::RequestVote {
            term: 5,
            last_log_index: 0,
            last_log_term: 0,
            pre_vote: false,
        },
    );
    follower.step(
        n(3),
        RaftMessage::InstallSnapshot {
            term: 5,
            last_included_index: 4,
            last_included_term: 4,
            data: b"state".to_vec(),
        },
    );
    assert_eq!(follower.leader(), Some(n(3)));
    assert_eq!(follower.status().snapshot_index, 4);
}

/// A snapshot answer covering the leader's whole log brings that follower fully up to date:
/// nothing more is sent to it until there is something new.
#[test]
fn a_snapshot_of_the_whole_log_brings_a_follower_up_to_date() {
    let mut w = Wire::new(3);
    w.elect(1);
    w.cut_off.insert(n(3));
    w.propose_each(1, 3);
    let last = w.last_index(1);
    w.core(1).compact(last, b"everything".to_vec());
    w.cut_off.clear();
    w.core(1).progress.get_mut(&n(3)).expect("a follower").next = 1;
    w.core(1).replicate();
    w.collect(n(1));
    w.settle();
    assert_eq!(w.core(1).progress[&n(3)].matched, last);
    assert_eq!(w.core(3).status().snapshot_index, last);
}

/// Figure 8 of the Raft paper: a leader never commits an entry of an earlier term by counting
/// its copies; only an entry of its own term, once on a majority, commits it (and all before).
#[test]
fn a_leader_commits_earlier_terms_only_through_an_entry_of_its_own() {
    let mut w = Wire::new(3);
    // Node 1 holds an entry of term 2 that nobody committed.
    let old = Durable {
        term: 2,
        voted_for: None,
        log: RaftLog::restore(0, 0, vec![entry(2, 9)]),
    };
    w.cores.insert(n(1), core(1, 3, old));
    // Elected with votes only: every append it sends is lost.
    while w.core(1).role() != Role::Leader {
        w.core(1).tick();
        w.collect(n(1));
        while let Some((from, to, message)) = w.queue.pop_front() {
            if matches!(
                message,
                RaftMessage::RequestVote { .. } | RaftMessage::Vote { .. }
            ) {
                w.core_of(to).step(from, message);
                w.collect(to);
            }
        }
    }
    let term = w.core(1).term();
    assert!(term > 2);
    // A follower reports holding the old entry (index 1), not yet the leader's no-op (2).
    let boot = w.core(2).boot;
    w.core(1).step(n(2), success(term, 1, boot));
    assert_eq!(
        w.core(1).commit_index(),
        0,
        "an entry of term 2 was committed by counting copies"
    );
    w.core(1).step(n(2), success(term, 2, boot));
    assert_eq!(w.core(1).commit_index(), 2, "the no-op commits both");
}
