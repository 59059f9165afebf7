//! Elections: pre-votes, votes, becoming leader, and the leader's quorum check.

use super::core::{Progress, RaftCore, Role};
use troupe_messages::raft::{Entry, Index, RaftMessage, Term};
use troupe_messages::NodeId;

impl RaftCore {
    /// The election timeout passed: ask for pre-votes (or votes, without PreVote).
    pub(super) fn start_election(&mut self) {
        if self.config.pre_vote {
            self.campaign(true);
        } else {
            self.campaign(false);
        }
    }

    fn campaign(&mut self, pre_vote: bool) {
        self.reset_election_timeout();
        self.votes.clear();
        self.votes.insert(self.id);
        self.leader = None;
        let term = if pre_vote {
            self.role = Role::PreCandidate;
            self.durable.term + 1
        } else {
            self.role = Role::Candidate;
            self.durable.term += 1;
            self.durable.voted_for = Some(self.id);
            self.effects.persist_state = true;
            self.durable.term
        };
        tracing::debug!(node = %self.id, term, pre_vote, "campaigning");
        if self.votes.len() >= self.quorum() {
            return self.won(pre_vote);
        }
        let (last_log_index, last_log_term) =
            (self.durable.log.last_index(), self.durable.log.last_term());
        for peer in self.peers.clone() {
            self.send(
                peer,
                RaftMessage::RequestVote {
                    term,
                    last_log_index,
                    last_log_term,
                    pre_vote,
                },
            );
        }
    }

    fn won(&mut self, pre_vote: bool) {
        if pre_vote {
            self.campaign(false);
        } else {
            self.become_leader();
        }
    }

    pub(super) fn on_request_vote(
        &mut self,
        from: NodeId,
        term: Term,
        last_log_index: Index,
        last_log_term: Term,
        pre_vote: bool,
    ) {
        let log = &self.durable.log;
        let up_to_date = (last_log_term, last_log_index) >= (log.last_term(), log.last_index());
        let granted = if pre_vote {
            // Would vote: a later term, a log at least as complete, and no live leader here.
            let leader_alive =
                self.leader.is_some() && self.election_elapsed < self.config.election_ticks_min;
            term > self.durable.term && up_to_date && !leader_alive
        } else {
            let free = self.durable.voted_for.is_none_or(|v| v == from);
            free && up_to_date
        };
        if granted && !pre_vote {
            self.durable.voted_for = Some(from);
            self.effects.persist_state = true;
            self.reset_election_timeout();
        }
        let answer_term = if pre_vote && granted {
            term
        } else {
            self.durable.term
        };
        self.send(
            from,
            RaftMessage::Vote {
                term: answer_term,
                granted,
                pre_vote,
            },
        );
    }

    pub(super) fn on_vote(&mut self, from: NodeId, term: Term, granted: bool, pre_vote: bool) {
        let expected = match (self.role, pre_vote) {
            (Role::PreCandidate, true) => term == self.durable.term + 1,
            (Role::Candidate, false) => term == self.durable.term,
            _ => false,
        };
        if !expected || !granted {
            return;
        }
        self.votes.insert(from);
        if self.votes.len() >= self.quorum() {
            self.won(pre_vote);
        }
    }

    fn become_leader(&mut self) {
        tracing::debug!(node = %self.id, term = self.durable.term, "became leader");
        self.role = Role::Leader;
        self.leader = Some(self.id);
        self.heartbeat_elapsed = 0;
        self.election_elapsed = 0;
        let next = self.durable.log.last_index() + 1;
        self.progress = self
            .peers
            .iter()
            .map(|&p| {
                (
                    p,
                    Progress {
                        next,
                        matched: 0,
                        matched_boot: 0,
                        active: true,
                    },
                )
            })
            .collect();
        // A no-op of its own term lets it commit what earlier terms left uncommitted.
        let noop = self.durable.log.push(Entry {
            term: self.durable.term,
            command: Vec::new(),
        });
        self.log_changed(noop);
        self.broadcast_append();
        self.maybe_commit();
    }

    /// CheckQuorum: a leader that has not heard from a majority since the last check steps
    /// down, so that a partitioned leader stops believing it leads.
    pub(super) fn check_quorum(&mut self) {
        let active = 1 + self.progress.values().filter(|p| p.active).count();
        if active < self.quorum() {
            tracing::debug!(node = %self.id, term = self.durable.term, "lost quorum, stepping down");
            let term = self.durable.term;
            self.become_follower(term, None);
            return;
        }
        for p in self.progress.values_mut() {
            p.active = false;
        }
    }
}
