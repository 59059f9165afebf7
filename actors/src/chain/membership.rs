//! How a chain node's membership changes: a new configuration, a successor's resynchronisation,
//! a state transfer to a node too far behind, and the sync point that makes a joining node a
//! full member.
//!
//! A node joins behind the tail. The tail sends it its whole state, then every write it applies
//! (keeping them in `pending` until the joining node reports it holds them), while the chain
//! serves as before. When the supervisor sees the joining node caught up it installs the
//! configuration in which that node is the tail. The new tail serves nothing and commits
//! nothing until its predecessor, in the new epoch, names a sync point (everything the
//! predecessor had applied, so everything any earlier tail committed) and it has applied that
//! far. A crash of the old tail in between changes nothing: the next predecessor names its own.

use super::core::{ChainCore, DurableChange};
use super::store::VersionedStore;
use troupe_messages::chain::{ChainConfig, ChainMessage, ChainReply, ChainState, Seq};
use troupe_messages::NodeId;

impl ChainCore {
    /// A new configuration (ignored unless its epoch is newer). A node left out stops serving
    /// and answers its waiting clients `WrongEpoch`; a node that begins joining, or that was
    /// out of the chain since the last epoch it knew, drops its state; every node
    /// resynchronises with its neighbours.
    pub fn reconfigure(&mut self, config: ChainConfig) {
        if config.epoch <= self.config.epoch {
            return;
        }
        let known = self.config.epoch;
        let was_joiner = self.is_joiner();
        let old_downstream = self.downstream();
        self.config = config;
        self.sync_point = None;
        if !(self.in_chain() || self.is_joiner()) {
            self.drop_clients();
            self.held_queries.clear();
            return;
        }
        if (self.is_joiner() && !was_joiner) || self.config.since(self.me) > known {
            self.wipe();
        } else if was_joiner && self.in_chain() {
            self.synced = false; // complete once the predecessor names its sync point
        }
        if self.downstream() != old_downstream {
            self.downstream_has = 0;
        }
        // Messages of the old epoch in flight are refused from now on, and the neighbours may
        // install the new epoch before or after this node: so re-send every write downstream
        // may lack, and ask upstream for what this node lacks. Whichever side reconfigures
        // second is heard, and duplicates are ignored.
        self.resend_after(0);
        self.after_applying();
        self.resync_upstream();
        // Reads waiting on the old tail ask the new one (or are answered, at a synced tail).
        for (query, (request, key)) in std::mem::take(&mut self.readers) {
            if self.is_tail() && self.synced {
                let value = self.store.committed(&key).1.to_string();
                self.reply(request, ChainReply::Ok { value: Some(value) });
            } else {
                self.readers.insert(query, (request, key.clone()));
                self.ask_tail(query, key);
            }
        }
    }

    /// Answers every waiting client: a reader `WrongEpoch` (nothing happened), a writer
    /// `Abandoned` (its write was applied here and may commit downstream).
    fn drop_clients(&mut self) {
        let epoch = self.config.epoch;
        for request in std::mem::take(&mut self.writers).into_values().flatten() {
            self.reply(request, ChainReply::Abandoned { epoch });
        }
        for (request, _) in std::mem::take(&mut self.readers).into_values() {
            let config = self.config.clone();
            self.reply(request, ChainReply::WrongEpoch { config });
        }
    }

    /// Forgets everything: what this node held may have diverged from the chain while it was
    /// out of it. A state transfer from upstream fills it again.
    fn wipe(&mut self) {
        self.drop_clients();
        self.store = VersionedStore::default();
        self.applied = 0;
        self.committed = 0;
        self.pending.clear();
        self.pending_from = 0;
        self.early.clear();
        self.synced = false;
        self.effects.durable.push(DurableChange::Reset);
    }

    /// The successor (or joining node) `from` says where it stands.
    pub(super) fn on_resync(&mut self, from: NodeId, applied: Seq, committed: Seq, synced: bool) {
        if Some(from) == self.config.joining {
            self.downstream_has = self.downstream_has.max(applied);
        } else {
            self.downstream_has = self.downstream_has.max(committed);
            self.commit_to(committed);
        }
        if applied < self.pending_from {
            let state = self.state();
            let epoch = self.config.epoch;
            self.send(Some(from), ChainMessage::Transfer { epoch, state });
        } else {
            self.resend_after(applied);
        }
        self.trim();
        // Only a synced member can vouch for a successor's completeness, and only to a member
        // (the joining node becomes one in a later epoch, from that epoch's predecessor).
        if !synced && self.synced && Some(from) == self.config.successor(self.me) {
            let epoch = self.config.epoch;
            let applied = self.applied;
            self.send(Some(from), ChainMessage::SyncPoint { epoch, applied });
        }
    }

    /// This node's whole state, for a state transfer or a snapshot.
    pub fn state(&self) -> ChainState {
        let (keys, last_writes) = self.store.export();
        ChainState {
            applied: self.applied,
            committed: self.committed,
            keys,
            last_writes,
            pending: self.pending.values().cloned().collect(),
            pending_from: self.pending_from,
        }
    }

    /// Takes the predecessor's state, if this node is not synced or the state is ahead of it.
    pub(super) fn install(&mut self, state: ChainState) {
        if self.synced && state.applied <= self.applied {
            return;
        }
        if !self.synced && state.applied < self.applied {
            return; // an older transfer, overtaken by a newer one or by the writes after it
        }
        tracing::debug!(node = %self.me, applied = state.applied, "state transfer installed");
        self.store = VersionedStore::import(state.keys, state.last_writes);
        self.applied = state.applied;
        self.committed = state.committed;
        self.pending = state.pending.into_iter().map(|u| (u.seq, u)).collect();
        self.pending_from = state.pending_from;
        self.effects.durable.push(DurableChange::Reset);
        self.early = self.early.split_off(&(self.applied + 1));
        self.apply_early();
        self.after_applying();
        self.resync_upstream();
    }
}
