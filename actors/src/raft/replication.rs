//! Log replication: AppendEntries with fast conflict backup, commit by majority for entries of
//! the current term, and InstallSnapshot for followers behind the snapshot.

use super::core::{Apply, RaftCore, Role};
use troupe_messages::raft::{Entry, Index, RaftMessage, Term};
use troupe_messages::NodeId;

impl RaftCore {
    /// Sends every follower what it is missing (a heartbeat if nothing).
    pub(super) fn broadcast_append(&mut self) {
        for peer in self.peers.clone() {
            self.send_append(peer);
        }
    }

    /// Sends `to` the entries from its next index on, optimistically advancing it (pipelining):
    /// a rejection moves it back.
    pub(super) fn send_append(&mut self, to: NodeId) {
        let Some(progress) = self.progress.get(&to).copied() else {
            return;
        };
        let log = &self.durable.log;
        if progress.next <= log.snapshot_index() {
            let message = RaftMessage::InstallSnapshot {
                term: self.durable.term,
                last_included_index: log.snapshot_index(),
                last_included_term: log.snapshot_term(),
                data: self.snapshot.clone(),
            };
            return self.send(to, message);
        }
        let prev_log_index = progress.next - 1;
        let Some(prev_log_term) = log.term_at(prev_log_index) else {
            return;
        };
        let entries = log.entries_from(progress.next, self.config.max_batch);
        let sent = entries.len() as Index;
        let message = RaftMessage::AppendEntries {
            term: self.durable.term,
            prev_log_index,
            prev_log_term,
            entries,
            leader_commit: self.commit_index,
        };
        if let Some(p) = self.progress.get_mut(&to) {
            p.next += sent;
        }
        self.send(to, message);
    }

    pub(super) fn on_append(
        &mut self,
        from: NodeId,
        prev_log_index: Index,
        prev_log_term: Term,
        entries: Vec<Entry>,
        leader_commit: Index,
    ) {
        // Same term: whoever sends appends leads it.
        if self.role != Role::Follower || self.leader != Some(from) {
            let term = self.durable.term;
            self.become_follower(term, Some(from));
        }
        self.election_elapsed = 0;
        let term = self.durable.term;
        let log = &self.durable.log;
        let matches = prev_log_index < log.snapshot_index()
            || log.term_at(prev_log_index) == Some(prev_log_term);
        if !matches {
            let (conflict_term, conflict_index) = if prev_log_index > log.last_index() {
                (0, log.last_index() + 1)
            } else {
                let t = log.term_at(prev_log_index).unwrap_or(0);
                (t, log.first_index_of_term_at(prev_log_index))
            };
            return self.send(
                from,
                RaftMessage::AppendReply {
                    term,
                    success: false,
                    match_index: 0,
                    rejected_index: prev_log_index,
                    conflict_term,
                    conflict_index,
                    boot: self.boot,
                },
            );
        }
        if let Some(changed) = self.durable.log.merge(prev_log_index, &entries) {
            self.log_changed(changed);
        }
        let match_index = prev_log_index + entries.len() as Index;
        let match_index = match_index.max(self.durable.log.snapshot_index());
        let new_commit = leader_commit.min(match_index);
        if new_commit > self.commit_index {
            self.commit_index = new_commit;
            self.apply_committed();
        }
        self.send(
            from,
            RaftMessage::AppendReply {
                term,
                success: true,
                match_index,
                rejected_index: 0,
                conflict_term: 0,
                conflict_index: 0,
                boot: self.boot,
            },
        );
    }

    pub(super) fn on_append_reply(
        &mut self,
        from: NodeId,
        success: bool,
        match_index: Index,
        (rejected_index, conflict_term, conflict_index): (Index, Term, Index),
        boot: u64,
    ) {
        if self.role != Role::Leader {
            return;
        }
        let last_index = self.durable.log.last_index();
        if match_index > last_index || rejected_index > last_index {
            // No honest follower can match or refuse past the leader's log: a bogus answer.
            tracing::warn!(node = %self.id, %from, match_index, rejected_index, "ignored an impossible append answer");
            return;
        }
        let backed_up = self.durable.log.last_index_of_term(conflict_term);
        let Some(progress) = self.progress.get_mut(&from) else {
            return;
        };
        progress.active = true;
        if success {
            if match_index >= progress.matched {
                progress.matched = match_index;
                progress.matched_boot = boot;
            }
            progress.next = progress.next.max(progress.matched + 1);
            let behind = progress.matched < last_index;
            self.maybe_commit();
            if behind
                && self
                    .progress
                    .get(&from)
                    .is_some_and(|p| p.next <= last_index)
            {
                self.send_append(from);
            }
        } else if conflict_index > 0 && rejected_index >= progress.matched {
            let restarted = progress.matched_boot != 0 && boot != progress.matched_boot;
            if restarted && conflict_term == 0 && conflict_index <= progress.matched {
                // A restarted follower's log ends before entries it acknowledged in an earlier
                // boot: it lost them, which only a damaged log tail truncated at start-up does.
                // Send them again (the commit index never moves back; what a majority held
                // stays committed).
                tracing::warn!(node = %self.id, %from, matched = progress.matched, has = conflict_index - 1, "follower lost acknowledged entries; replicating them again");
                progress.matched = conflict_index - 1;
            }
            // Back up past the whole conflicting term at once, but never beyond the refused
            // index (so each refusal moves strictly back) nor below what is known to match.
            let next = match (conflict_term, backed_up) {
                (0, _) | (_, None) => conflict_index,
                (_, Some(last_of_term)) => last_of_term + 1,
            };
            progress.next = next.min(rejected_index).max(progress.matched + 1).max(1);
            self.send_append(from);
        }
    }

    pub(super) fn on_install_snapshot(
        &mut self,
        from: NodeId,
        index: Index,
        term: Term,
        data: Vec<u8>,
    ) {
        if self.role != Role::Follower || self.leader != Some(from) {
            let current = self.durable.term;
            self.become_follower(current, Some(from));
        }
        self.election_elapsed = 0;
        if index > self.commit_index {
            self.durable.log.compact(index, term);
            self.snapshot = data.clone();
            self.commit_index = index;
            self.last_applied = index;
            self.effects.persist_state = true;
            self.effects.persist_snapshot = true;
            self.effects
                .apply
                .push(Apply::Snapshot { index, term, data });
        }
        let answer = RaftMessage::SnapshotReply {
            term: self.durable.term,
            last_included_index: index
                .max(self.commit_index)
                .min(self.durable.log.last_index()),
        };
        self.send(from, answer);
    }

    pub(super) fn on_snapshot_reply(&mut self, from: NodeId, index: Index) {
        if self.role != Role::Leader {
            return;
        }
        let last_index = self.durable.log.last_index();
        if index > last_index {
            tracing::warn!(node = %self.id, %from, index, "ignored an impossible snapshot answer");
            return;
        }
        if let Some(progress) = self.progress.get_mut(&from) {
            progress.active = true;
            progress.matched = progress.matched.max(index);
            progress.next = progress.matched + 1;
            if progress.next <= last_index {
                self.send_append(from);
            }
        }
    }

    /// Commits the highest index of the current term stored on a majority.
    pub(super) fn maybe_commit(&mut self) {
        if self.role != Role::Leader {
            return;
        }
        let mut matched: Vec<Index> = self.progress.values().map(|p| p.matched).collect();
        matched.push(self.durable.log.last_index());
        matched.sort_unstable_by(|a, b| b.cmp(a));
        let majority_index = matched[self.quorum() - 1];
        if majority_index > self.commit_index
            && self.durable.log.term_at(majority_index) == Some(self.durable.term)
        {
            self.commit_index = majority_index;
            self.apply_committed();
        }
    }
}
