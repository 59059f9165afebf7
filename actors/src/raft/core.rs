//! Raft's decisions as a plain struct: inputs in (a tick, a message, a command, a snapshot),
//! effects out (state to persist, messages to send, entries to apply). No actors, no network,
//! no clock: the peer actor feeds it and carries the effects out, in order (persist first, so
//! nothing is promised before it is durable).
//!
//! Time is counted in ticks. Elections use randomized timeouts with PreVote (a node first asks
//! whether it *would* win, so that a node coming back from a partition with a higher term cannot
//! depose a healthy leader) and CheckQuorum (a leader that has not heard from a majority for an
//! election timeout steps down, and a follower that hears from a live leader ignores vote
//! requests). Replication backs up fast on conflicts with (conflict term, conflict index) and
//! sends snapshots to followers whose next entry was compacted away.

use super::log::RaftLog;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use troupe_messages::raft::{Entry, Index, RaftMessage, RaftStatus, Term};
use troupe_messages::NodeId;

/// Timing and batching, in ticks of the peer's clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RaftConfig {
    /// Shortest election timeout.
    pub election_ticks_min: u32,
    /// Longest election timeout; each timeout is drawn uniformly in between.
    pub election_ticks_max: u32,
    /// A leader sends heartbeats this often.
    pub heartbeat_ticks: u32,
    /// At most this many entries per AppendEntries.
    pub max_batch: usize,
    /// Ask for pre-votes before a real election.
    pub pre_vote: bool,
    /// Leaders step down without a majority; followers with a live leader refuse votes.
    pub check_quorum: bool,
}

impl Default for RaftConfig {
    /// With 10 ms ticks: elections after 150-300 ms, heartbeats every 50 ms.
    fn default() -> Self {
        RaftConfig {
            election_ticks_min: 15,
            election_ticks_max: 30,
            heartbeat_ticks: 5,
            max_batch: 256,
            pre_vote: true,
            check_quorum: true,
        }
    }
}

/// A peer's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Role {
    /// Follows a leader (or waits for one).
    Follower,
    /// Asking for pre-votes.
    PreCandidate,
    /// Asking for votes in a new term.
    Candidate,
    /// Leads its term.
    Leader,
}

/// What survives a crash: term, vote and log (the snapshot's data is stored beside it).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Durable {
    /// The current term.
    pub term: Term,
    /// Whom this peer voted for in `term`.
    pub voted_for: Option<NodeId>,
    /// The log.
    pub log: RaftLog,
}

/// Something committed, for the service to apply, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Apply {
    /// A committed command.
    Command {
        /// Its index.
        index: Index,
        /// The term it was proposed in.
        term: Term,
        /// The service's command.
        command: Vec<u8>,
    },
    /// Replace the service's state with this snapshot.
    Snapshot {
        /// The last index it covers.
        index: Index,
        /// That entry's term.
        term: Term,
        /// The service's snapshot.
        data: Vec<u8>,
    },
}

/// What the peer must do, in this order: persist, send, apply.
#[derive(Debug, Default)]
pub struct Effects {
    /// Term, vote or log changed: persist [`RaftCore::durable`] before sending anything.
    pub persist_state: bool,
    /// The first log index whose entry was written or rewritten (entries from here to the end
    /// must be stored again; entries past the end were truncated).
    pub log_from: Option<Index>,
    /// The snapshot changed: persist [`RaftCore::snapshot`] together with the state.
    pub persist_snapshot: bool,
    /// Messages to send.
    pub messages: Vec<(NodeId, RaftMessage)>,
    /// Entries and snapshots to hand to the service.
    pub apply: Vec<Apply>,
}

#[derive(Debug, Clone, Copy)]
pub(super) struct Progress {
    pub(super) next: Index,
    pub(super) matched: Index,
    /// The follower's boot when it reported `matched` (0: not known).
    pub(super) matched_boot: u64,
    /// Heard from since the last quorum check.
    pub(super) active: bool,
}

/// One Raft peer's state machine.
pub struct RaftCore {
    pub(super) id: NodeId,
    /// Drawn at start-up; carried in this peer's append answers (see `AppendReply::boot`).
    pub(super) boot: u64,
    pub(super) peers: Vec<NodeId>,
    pub(super) config: RaftConfig,
    pub(super) rng: ChaCha8Rng,
    pub(super) durable: Durable,
    pub(super) snapshot: Vec<u8>,
    pub(super) role: Role,
    pub(super) leader: Option<NodeId>,
    pub(super) commit_index: Index,
    pub(super) last_applied: Index,
    pub(super) election_elapsed: u32,
    pub(super) election_timeout: u32,
    pub(super) heartbeat_elapsed: u32,
    pub(super) votes: BTreeSet<NodeId>,
    pub(super) progress: BTreeMap<NodeId, Progress>,
    pub(super) effects: Effects,
}

impl RaftCore {
    /// A peer `id` among `members` (which includes `id`), restarted from what it persisted.
    pub fn new(
        id: NodeId,
        members: &[NodeId],
        config: RaftConfig,
        rng: ChaCha8Rng,
        durable: Durable,
        snapshot: Vec<u8>,
    ) -> Self {
        let snapshot_index = durable.log.snapshot_index();
        let mut rng = rng;
        // Never 0, which stands for "not known".
        let boot = rng.gen::<u64>().max(1);
        let mut core = RaftCore {
            id,
            boot,
            peers: members.iter().copied().filter(|&m| m != id).collect(),
            config,
            rng,
            durable,
            snapshot,
            role: Role::Follower,
            leader: None,
            commit_index: snapshot_index,
            last_applied: snapshot_index,
            election_elapsed: 0,
            election_timeout: 0,
            heartbeat_elapsed: 0,
            votes: BTreeSet::new(),
            progress: BTreeMap::new(),
            effects: Effects::default(),
        };
        core.reset_election_timeout();
        if snapshot_index > 0 {
            core.effects.apply.push(Apply::Snapshot {
                index: snapshot_index,
                term: core.durable.log.snapshot_term(),
                data: core.snapshot.clone(),
            });
        }
        core
    }

    /// The state to persist.
    pub fn durable(&self) -> &Durable {
        &self.durable
    }

    /// The snapshot to persist beside it.
    pub fn snapshot(&self) -> &[u8] {
        &self.snapshot
    }

    /// The current role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The current term.
    pub fn term(&self) -> Term {
        self.durable.term
    }

    /// The highest index known committed.
    pub fn commit_index(&self) -> Index {
        self.commit_index
    }

    /// Who this peer believes leads, if anyone.
    pub fn leader(&self) -> Option<NodeId> {
        self.leader
    }

    /// The peer's view of itself.
    pub fn status(&self) -> RaftStatus {
        RaftStatus {
            term: self.durable.term,
            is_leader: self.role == Role::Leader,
            leader: self.leader,
            commit_index: self.commit_index,
            last_index: self.durable.log.last_index(),
            snapshot_index: self.durable.log.snapshot_index(),
        }
    }

    /// Takes the effects accumulated since the last call.
    pub fn take_effects(&mut self) -> Effects {
        std::mem::take(&mut self.effects)
    }

    /// One tick of the clock.
    pub fn tick(&mut self) {
        self.election_elapsed += 1;
        if self.role == Role::Leader {
            self.heartbeat_elapsed += 1;
            if self.heartbeat_elapsed >= self.config.heartbeat_ticks {
                self.heartbeat_elapsed = 0;
                self.broadcast_append();
            }
            if self.config.check_quorum && self.election_elapsed >= self.config.election_ticks_min {
                self.election_elapsed = 0;
                self.check_quorum();
            }
        } else if self.election_elapsed >= self.election_timeout {
            self.start_election();
        }
    }

    /// Starts agreement on `command` if this peer leads. Commands must not be empty (an empty
    /// entry is the no-op a new leader appends).
    pub fn propose(&mut self, command: Vec<u8>) -> (Index, Term, bool) {
        let started = self.propose_later(command);
        self.replicate();
        started
    }

    /// Appends a command to the leader's log like [`RaftCore::propose`], but sends nothing
    /// yet: a peer that takes many proposals at once calls [`RaftCore::replicate`] after the
    /// batch, so that the batch is persisted once and travels as one AppendEntries per follower.
    pub fn propose_later(&mut self, command: Vec<u8>) -> (Index, Term, bool) {
        let term = self.durable.term;
        if self.role != Role::Leader || command.is_empty() {
            return (0, term, false);
        }
        let index = self.durable.log.push(Entry { term, command });
        self.log_changed(index);
        (index, term, true)
    }

    /// Sends every follower the entries it is missing and commits what a majority holds: the
    /// end of a batch of [`RaftCore::propose_later`].
    pub fn replicate(&mut self) {
        if self.role == Role::Leader {
            self.broadcast_append();
            self.maybe_commit();
        }
    }

    /// The service has a snapshot covering everything up to `index` (which it has applied):
    /// compact the log.
    pub fn compact(&mut self, index: Index, data: Vec<u8>) {
        if index <= self.durable.log.snapshot_index() || index > self.last_applied {
            return;
        }
        let Some(term) = self.durable.log.term_at(index) else {
            return;
        };
        self.durable.log.compact(index, term);
        self.snapshot = data;
        self.effects.persist_state = true;
        self.effects.persist_snapshot = true;
    }

    /// Handles one message from `from`.
    pub fn step(&mut self, from: NodeId, message: RaftMessage) {
        if !self.peers.contains(&from) {
            tracing::warn!(node = %self.id, %from, "ignored a Raft message from a non-member");
            return;
        }
        let term = message_term(&message);
        if term > self.durable.term {
            match message {
                // A pre-vote request changes no term; a granted pre-vote answer carries the
                // term the candidate asked about, not the voter's.
                RaftMessage::RequestVote { pre_vote: true, .. } => {}
                RaftMessage::Vote {
                    pre_vote: true,
                    granted: true,
                    ..
                } => {}
                RaftMessage::RequestVote { .. } if self.in_leader_lease() => {
                    return; // a live leader: this candidate is the disruptive one
                }
                RaftMessage::AppendEntries { .. } | RaftMessage::InstallSnapshot { .. } => {
                    self.become_follower(term, Some(from));
                }
                _ => self.become_follower(term, None),
            }
        } else if term < self.durable.term {
            self.reject_stale(from, &message);
            return;
        }
        match message {
            RaftMessage::RequestVote {
                term,
                last_log_index,
                last_log_term,
                pre_vote,
            } => self.on_request_vote(from, term, last_log_index, last_log_term, pre_vote),
            RaftMessage::Vote {
                term,
                granted,
                pre_vote,
            } => self.on_vote(from, term, granted, pre_vote),
            RaftMessage::AppendEntries {
                prev_log_index,
                prev_log_term,
                entries,
                leader_commit,
                ..
            } => self.on_append(from, prev_log_index, prev_log_term, entries, leader_commit),
            RaftMessage::AppendReply {
                success,
                match_index,
                rejected_index,
                conflict_term,
                conflict_index,
                boot,
                ..
            } => self.on_append_reply(
                from,
                success,
                match_index,
                (rejected_index, conflict_term, conflict_index),
                boot,
            ),
            RaftMessage::InstallSnapshot {
                last_included_index,
                last_included_term,
                data,
                ..
            } => self.on_install_snapshot(from, last_included_index, last_included_term, data),
            RaftMessage::SnapshotReply {
                last_included_index,
                ..
            } => self.on_snapshot_reply(from, last_included_index),
        }
    }

    /// A message from an older term: tell a stale leader or candidate the current term, so it
    /// steps down; ignore stale answers.
    fn reject_stale(&mut self, from: NodeId, message: &RaftMessage) {
        let term = self.durable.term;
        match message {
            RaftMessage::AppendEntries { .. } | RaftMessage::InstallSnapshot { .. } => {
                self.send(
                    from,
                    RaftMessage::AppendReply {
                        term,
                        success: false,
                        match_index: 0,
                        rejected_index: 0,
                        conflict_term: 0,
                        conflict_index: 0,
                        boot: self.boot,
                    },
                );
            }
            RaftMessage::RequestVote { pre_vote, .. } => {
                self.send(
                    from,
                    RaftMessage::Vote {
                        term,
                        granted: false,
                        pre_vote: *pre_vote,
                    },
                );
            }
            _ => {}
        }
    }

    /// Records that the log changed from `index` on.
    pub(super) fn log_changed(&mut self, index: Index) {
        self.effects.persist_state = true;
        self.effects.log_from = Some(self.effects.log_from.map_or(index, |i| i.min(index)));
    }

    pub(super) fn send(&mut self, to: NodeId, message: RaftMessage) {
        self.effects.messages.push((to, message));
    }

    pub(super) fn quorum(&self) -> usize {
        let members = self.peers.len() + 1;
        members / 2 + 1
    }

    pub(super) fn reset_election_timeout(&mut self) {
        self.election_elapsed = 0;
        let (lo, hi) = (
            self.config.election_ticks_min,
            self.config
                .election_ticks_max
                .max(self.config.election_ticks_min),
        );
        self.election_timeout = self.rng.gen_range(lo..=hi);
    }

    /// Heard from a leader within the shortest election timeout.
    fn in_leader_lease(&self) -> bool {
        self.config.check_quorum
            && self.leader.is_some()
            && self.election_elapsed < self.config.election_ticks_min
    }

    pub(super) fn become_follower(&mut self, term: Term, leader: Option<NodeId>) {
        if term != self.durable.term {
            self.durable.term = term;
            self.durable.voted_for = None;
            self.effects.persist_state = true;
        }
        self.role = Role::Follower;
        self.leader = leader;
        self.votes.clear();
        self.reset_election_timeout();
    }

    /// Hands newly committed entries to the service.
    pub(super) fn apply_committed(&mut self) {
        while self.last_applied < self.commit_index {
            let index = self.last_applied + 1;
            match self.durable.log.entry(index) {
                Some(entry) => {
                    if !entry.command.is_empty() {
                        self.effects.apply.push(Apply::Command {
                            index,
                            term: entry.term,
                            command: entry.command.clone(),
                        });
                    }
                    self.last_applied = index;
                }
                None => break, // compacted: covered by the snapshot already applied
            }
        }
    }
}

fn message_term(message: &RaftMessage) -> Term {
    match message {
        RaftMessage::RequestVote { term, .. }
        | RaftMessage::Vote { term, .. }
        | RaftMessage::AppendEntries { term, .. }
        | RaftMessage::AppendReply { term, .. }
        | RaftMessage::InstallSnapshot { term, .. }
        | RaftMessage::SnapshotReply { term, .. } => *term,
    }
}
