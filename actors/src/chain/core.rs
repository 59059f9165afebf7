//! One node of one chain, as a plain state machine: client writes and reads, updates from the
//! predecessor, acknowledgements from the successor, CRAQ version queries, and reconfiguration
//! to a new epoch. Every input returns through [`ChainCore::take_effects`] the messages to send
//! and the client answers to give; nothing here touches a network or a clock.
//!
//! Invariants: every node applies the head's writes in sequence order (out-of-order arrivals
//! wait for the gap); a node's committed prefix is never ahead of the tail's; `pending` holds
//! every write this node applied that its successor (or joining node) may still lack, which is
//! what it re-sends when a middle node leaves. Joining, state transfer and reconfiguration are
//! in `membership.rs`.

use super::store::{key_of, VersionedStore};
use std::collections::BTreeMap;
use troupe_messages::chain::{
    ChainConfig, ChainMessage, ChainReply, ChainRole, ChainStatus, ChainView, Epoch, Seq, Update,
};
use troupe_messages::kv::KvOp;
use troupe_messages::{ClientId, NodeId};
use troupe_runtime::plant::{self, Bug};

/// The caller's number for a client request, echoed in the answer.
pub type RequestId = u64;

/// What one input asks the shell to do.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ChainEffects {
    /// Messages to other chain nodes, in order.
    pub send: Vec<(NodeId, ChainMessage)>,
    /// Answers to client requests.
    pub replies: Vec<(RequestId, ChainReply)>,
    /// What changed in the node's state, to be made durable before anything is sent.
    pub durable: Vec<DurableChange>,
}

/// A change a node's durable storage must record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DurableChange {
    /// A write was applied.
    Applied(Update),
    /// The whole state was replaced (a state transfer, or dropped on joining).
    Reset,
}

/// One chain node.
#[derive(Debug)]
pub struct ChainCore {
    pub(super) me: NodeId,
    craq: bool,
    pub(super) config: ChainConfig,
    pub(super) store: VersionedStore,
    /// Highest sequence number applied here (all below it too).
    pub(super) applied: Seq,
    /// Highest sequence number known committed at the tail.
    pub(super) committed: Seq,
    /// Applied writes the successor may lack, after `pending_from`: re-sent to a new one.
    pub(super) pending: BTreeMap<Seq, Update>,
    /// Every write up to here has left `pending` (the successor has it, committed).
    pub(super) pending_from: Seq,
    /// What the node downstream (successor or joining node) is known to hold.
    pub(super) downstream_has: Seq,
    /// Arrived ahead of a gap.
    pub(super) early: BTreeMap<Seq, Update>,
    /// Whether this node's state is known complete: true for a founding member; a node that
    /// joined or rejoined becomes synced at its predecessor's sync point.
    pub(super) synced: bool,
    /// The sync point the predecessor named in this epoch, while not synced.
    pub(super) sync_point: Option<Seq>,
    /// Client writes waiting for their sequence number to commit.
    pub(super) writers: BTreeMap<Seq, Vec<RequestId>>,
    /// CRAQ reads waiting for the tail's committed version: query -> (request, key).
    pub(super) readers: BTreeMap<u64, (RequestId, String)>,
    next_query: u64,
    /// Version queries that reached this node as a tail not yet synced: (asker, query, key).
    pub(super) held_queries: Vec<(NodeId, u64, String)>,
    /// Messages refused for naming another epoch.
    refused_stale: u64,
    /// Clients are served until this instant (nanoseconds of the node's clock); `None`: always.
    lease_until: Option<u64>,
    pub(super) effects: ChainEffects,
}

impl ChainCore {
    /// A founding node `me` of the chain `config` (or of the first chain it is given), empty;
    /// `craq` lets every node serve reads.
    pub fn new(me: NodeId, config: ChainConfig, craq: bool) -> Self {
        ChainCore {
            me,
            craq,
            config,
            store: VersionedStore::default(),
            applied: 0,
            committed: 0,
            pending: BTreeMap::new(),
            pending_from: 0,
            downstream_has: 0,
            early: BTreeMap::new(),
            synced: true,
            sync_point: None,
            writers: BTreeMap::new(),
            readers: BTreeMap::new(),
            next_query: 0,
            held_queries: Vec::new(),
            refused_stale: 0,
            lease_until: None,
            effects: ChainEffects::default(),
        }
    }

    /// A node `me` that lost its state (restarted): it is in no chain, and serves nobody until
    /// a supervisor adds it as a joining node and it has caught up.
    pub fn rejoining(me: NodeId, craq: bool) -> Self {
        let mut core = ChainCore::new(me, ChainConfig::default(), craq);
        core.synced = false;
        core
    }

    /// What a supervisor asks before a join.
    pub fn status(&self) -> ChainStatus {
        ChainStatus {
            epoch: self.config.epoch,
            synced: self.synced,
            applied: self.applied,
        }
    }

    /// What an operator is shown at `now` (nanoseconds of the node's clock).
    pub fn view(&self, now: u64) -> ChainView {
        ChainView {
            epoch: self.config.epoch,
            role: ChainRole::of(self.me, &self.config),
            applied: self.applied,
            committed: self.committed,
            synced: self.synced,
            leased: self.lease_until.is_none_or(|until| now < until),
        }
    }

    /// Whether some change waits to be made durable (before the effects may go out).
    pub fn durable_pending(&self) -> bool {
        !self.effects.durable.is_empty()
    }

    /// What to do now; the effects are cleared.
    pub fn take_effects(&mut self) -> ChainEffects {
        std::mem::take(&mut self.effects)
    }

    /// The current configuration.
    pub fn config(&self) -> &ChainConfig {
        &self.config
    }

    /// Highest sequence number applied here.
    pub fn applied(&self) -> Seq {
        self.applied
    }

    /// Highest sequence number known committed.
    pub fn committed(&self) -> Seq {
        self.committed
    }

    /// Messages refused because they named another epoch.
    pub fn refused_stale(&self) -> u64 {
        self.refused_stale
    }

    /// The committed value of `key` here ("" if none).
    pub fn committed_value(&self, key: &str) -> &str {
        self.store.committed(key).1
    }

    /// Serve clients until `until` (nanoseconds of the node's clock), or always with `None`.
    /// A grant never shortens a lease already given.
    pub fn grant_lease(&mut self, until: Option<u64>) {
        self.lease_until = match (self.lease_until, until) {
            (_, None) => None,
            (Some(held), Some(new)) => Some(held.max(new)),
            (None, Some(new)) => Some(new),
        };
    }

    /// Whether this node may answer clients at `now`: it is in the current chain and its lease
    /// (if it runs under one) has not run out.
    fn may_serve(&self, epoch: Epoch, now: u64) -> bool {
        epoch == self.config.epoch
            && self.in_chain()
            && self.lease_until.is_none_or(|until| now < until)
    }

    fn is_head(&self) -> bool {
        self.config.head() == Some(self.me)
    }

    pub(super) fn is_tail(&self) -> bool {
        self.config.tail() == Some(self.me)
    }

    pub(super) fn in_chain(&self) -> bool {
        self.config.nodes.contains(&self.me)
    }

    pub(super) fn is_joiner(&self) -> bool {
        self.config.joining == Some(self.me)
    }

    /// Where this node's writes go next: its successor, or from the tail the joining node.
    pub(super) fn downstream(&self) -> Option<NodeId> {
        match self.config.successor(self.me) {
            Some(next) => Some(next),
            None if self.is_tail() => self.config.joining,
            None => None,
        }
    }

    /// Where this node's writes come from: its predecessor, or for the joining node the tail.
    pub(super) fn upstream(&self) -> Option<NodeId> {
        if self.is_joiner() {
            self.config.tail()
        } else {
            self.config.predecessor(self.me)
        }
    }

    pub(super) fn reply(&mut self, request: RequestId, reply: ChainReply) {
        self.effects.replies.push((request, reply));
    }

    pub(super) fn send(&mut self, to: Option<NodeId>, message: ChainMessage) {
        if let Some(to) = to {
            self.effects.send.push((to, message));
        }
    }

    /// A client asks at `now` for a write (a put or an append) in `epoch`.
    pub fn write(
        &mut self,
        request: RequestId,
        now: u64,
        epoch: Epoch,
        client: ClientId,
        client_seq: u64,
        op: KvOp,
    ) {
        if !self.may_serve(epoch, now) {
            return self.reply(
                request,
                ChainReply::WrongEpoch {
                    config: self.config.clone(),
                },
            );
        }
        if !self.is_head() {
            let head = self.config.head();
            return self.reply(request, ChainReply::Redirect { node: head });
        }
        if !self.synced {
            return self.reply(request, ChainReply::NotCommitted);
        }
        match self.store.applied_write(client, client_seq) {
            // Applied before (a retry): answer when (or since) it committed.
            Some(Some(seq)) if seq <= self.committed => {
                return self.reply(request, ChainReply::Ok { value: None })
            }
            Some(Some(seq)) => return self.writers.entry(seq).or_default().push(request),
            // Older than the client's last write: the client has moved on.
            Some(None) => return self.reply(request, ChainReply::Ok { value: None }),
            None => {}
        }
        let update = Update {
            seq: self.applied + 1,
            client,
            client_seq,
            op,
        };
        self.writers.entry(update.seq).or_default().push(request);
        self.apply_in_order(update);
        self.after_applying();
    }

    /// A client asks at `now` to read `key` in `epoch`.
    pub fn read(&mut self, request: RequestId, now: u64, epoch: Epoch, key: &str) {
        if !self.may_serve(epoch, now) {
            return self.reply(
                request,
                ChainReply::WrongEpoch {
                    config: self.config.clone(),
                },
            );
        }
        let early_tail = self.is_tail() && plant::armed(Bug::TailServesBeforeSync);
        if !self.synced && !early_tail {
            return self.reply(request, ChainReply::NotCommitted);
        }
        if self.craq && !self.is_tail() && plant::armed(Bug::CraqReadsDirty) {
            let value = self.store.latest_of(key).to_string();
            return self.reply(request, ChainReply::Ok { value: Some(value) });
        }
        if self.is_tail() || (self.craq && self.store.is_clean(key)) {
            let value = self.store.committed(key).1.to_string();
            return self.reply(request, ChainReply::Ok { value: Some(value) });
        }
        if !self.craq {
            let tail = self.config.tail();
            return self.reply(request, ChainReply::Redirect { node: tail });
        }
        self.next_query += 1;
        let query = self.next_query;
        self.readers.insert(query, (request, key.to_string()));
        self.ask_tail(query, key.to_string());
    }

    pub(super) fn ask_tail(&mut self, query: u64, key: String) {
        let message = ChainMessage::VersionQuery {
            epoch: self.config.epoch,
            query,
            key,
        };
        self.send(self.config.tail(), message);
    }

    /// A message from another chain node.
    pub fn receive(&mut self, from: NodeId, message: ChainMessage) {
        let epoch = match &message {
            ChainMessage::Update { epoch, .. }
            | ChainMessage::Ack { epoch, .. }
            | ChainMessage::Resync { epoch, .. }
            | ChainMessage::Transfer { epoch, .. }
            | ChainMessage::SyncPoint { epoch, .. }
            | ChainMessage::VersionQuery { epoch, .. }
            | ChainMessage::VersionReply { epoch, .. } => *epoch,
        };
        if epoch != self.config.epoch || !(self.in_chain() || self.is_joiner()) {
            self.refused_stale += 1;
            return;
        }
        let upstream = Some(from) == self.upstream();
        let downstream = Some(from) == self.downstream();
        match message {
            ChainMessage::Update { update, .. } if upstream => self.on_update(update),
            ChainMessage::Ack { seq, .. } if downstream => {
                self.downstream_has = self.downstream_has.max(seq);
                self.commit_to(seq);
            }
            ChainMessage::Resync {
                applied,
                committed,
                synced,
                ..
            } if downstream => self.on_resync(from, applied, committed, synced),
            ChainMessage::Transfer { state, .. } if upstream => self.install(state),
            ChainMessage::SyncPoint { applied, .. } if upstream && self.in_chain() => {
                self.sync_point = Some(applied);
                self.after_applying();
            }
            ChainMessage::VersionQuery { query, key, .. } if self.is_tail() => {
                if self.synced {
                    self.answer_query(from, query, &key);
                } else {
                    self.held_queries.push((from, query, key));
                }
            }
            ChainMessage::VersionReply { query, version, .. } => {
                if let Some((request, key)) = self.readers.remove(&query) {
                    let value = self.store.value_as_of(&key, version).to_string();
                    self.reply(request, ChainReply::Ok { value: Some(value) });
                }
            }
            _ => {} // from a node that is not this one's neighbour in this role
        }
    }

    pub(super) fn answer_query(&mut self, to: NodeId, query: u64, key: &str) {
        let version = self.store.committed(key).0;
        let epoch = self.config.epoch;
        let reply = ChainMessage::VersionReply {
            epoch,
            query,
            version,
        };
        self.send(Some(to), reply);
    }

    pub(super) fn on_update(&mut self, update: Update) {
        if update.seq <= self.applied {
            return; // re-sent after a reconfiguration, and already here
        }
        self.early.insert(update.seq, update);
        self.apply_early();
        self.after_applying();
    }

    /// Applies every held write that continues the sequence.
    pub(super) fn apply_early(&mut self) {
        while let Some(next) = self.early.remove(&(self.applied + 1)) {
            self.apply_in_order(next);
        }
    }

    /// Applies the next write in sequence and passes it on.
    fn apply_in_order(&mut self, update: Update) {
        debug_assert_eq!(update.seq, self.applied + 1);
        self.store.apply(&update);
        self.applied = update.seq;
        self.effects
            .durable
            .push(DurableChange::Applied(update.clone()));
        let downstream = self.downstream();
        if downstream.is_some() {
            let epoch = self.config.epoch;
            self.send(
                downstream,
                ChainMessage::Update {
                    epoch,
                    update: update.clone(),
                },
            );
        }
        self.pending.insert(update.seq, update);
    }

    /// After writes were applied (or a sync point arrived): a node that reached its sync point
    /// is synced (and answers the version queries it held); a synced tail commits what it
    /// applied and says so upstream.
    pub(super) fn after_applying(&mut self) {
        if !self.synced && self.sync_point.is_some_and(|point| self.applied >= point) {
            self.synced = true;
            self.sync_point = None;
            for (to, query, key) in std::mem::take(&mut self.held_queries) {
                self.answer_query(to, query, &key);
            }
        }
        if self.is_tail() && self.synced {
            self.commit_to(self.applied);
        }
    }

    /// Everything up to `seq` is committed: settle it here, answer waiting writers, and pass
    /// the acknowledgement up the chain.
    pub(super) fn commit_to(&mut self, seq: Seq) {
        let seq = seq.min(self.applied);
        if seq > self.committed {
            for (&at, update) in self.pending.range(self.committed + 1..=seq) {
                self.store.commit(key_of(&update.op), at);
            }
            self.committed = seq;
            let rest = self.writers.split_off(&(seq + 1));
            for request in std::mem::replace(&mut self.writers, rest)
                .into_values()
                .flatten()
            {
                self.reply(request, ChainReply::Ok { value: None });
            }
            self.ack_upstream();
        }
        self.trim();
    }

    /// Drops from `pending` what is committed and held downstream.
    pub(super) fn trim(&mut self) {
        let floor = match self.downstream() {
            Some(_) => self.committed.min(self.downstream_has),
            None => self.committed,
        };
        if floor > self.pending_from {
            self.pending = self.pending.split_off(&(floor + 1));
            self.pending_from = floor;
        }
    }

    /// Re-sends downstream every write it may lack after `applied`.
    pub(super) fn resend_after(&mut self, applied: Seq) {
        let downstream = self.downstream();
        if downstream.is_none() {
            return;
        }
        let epoch = self.config.epoch;
        let resend: Vec<Update> = self
            .pending
            .range(applied + 1..)
            .map(|(_, u)| u.clone())
            .collect();
        for update in resend {
            self.send(downstream, ChainMessage::Update { epoch, update });
        }
    }

    fn ack_upstream(&mut self) {
        if self.is_joiner() {
            return; // the joining node commits nothing until it is the tail
        }
        let ack = ChainMessage::Ack {
            epoch: self.config.epoch,
            seq: self.committed,
        };
        self.send(self.config.predecessor(self.me), ack);
    }

    /// Called now and then (the shell's timer): tells upstream where this node stands, which
    /// re-sends writes and acknowledgements the network lost, and asks the tail again about
    /// reads still waiting.
    pub fn tick(&mut self) {
        if !(self.in_chain() || self.is_joiner()) {
            return;
        }
        self.resync_upstream();
        let waiting: Vec<(u64, String)> = self
            .readers
            .iter()
            .map(|(&q, (_, key))| (q, key.clone()))
            .collect();
        for (query, key) in waiting {
            self.ask_tail(query, key);
        }
    }

    pub(super) fn resync_upstream(&mut self) {
        let resync = ChainMessage::Resync {
            epoch: self.config.epoch,
            applied: self.applied,
            committed: self.committed,
            synced: self.synced,
        };
        self.send(self.upstream(), resync);
    }
}
