//! One node of one chain, as a plain state machine: client writes and reads, updates from the
//! predecessor, acknowledgements from the successor, CRAQ version queries, and reconfiguration
//! to a new epoch. Every input returns through [`ChainCore::take_effects`] the messages to send
//! and the client answers to give; nothing here touches a network or a clock.
//!
//! Invariants: every node applies the head's writes in sequence order (out-of-order arrivals
//! wait for the gap); a node's committed prefix is never ahead of the tail's; `pending` holds
//! every write this node applied but has not seen acknowledged, which is what it re-sends to a
//! new successor when a middle node leaves.

use super::store::{key_of, VersionedStore};
use std::collections::BTreeMap;
use troupe_messages::chain::{ChainConfig, ChainMessage, ChainReply, Epoch, Seq, Update};
use troupe_messages::kv::KvOp;
use troupe_messages::NodeId;

/// The caller's number for a client request, echoed in the answer.
pub type RequestId = u64;

/// What one input asks the shell to do.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ChainEffects {
    /// Messages to other chain nodes, in order.
    pub send: Vec<(NodeId, ChainMessage)>,
    /// Answers to client requests.
    pub replies: Vec<(RequestId, ChainReply)>,
}

/// One chain node.
#[derive(Debug)]
pub struct ChainCore {
    me: NodeId,
    craq: bool,
    config: ChainConfig,
    store: VersionedStore,
    /// Highest sequence number applied here (all below it too).
    applied: Seq,
    /// Highest sequence number known committed at the tail.
    committed: Seq,
    /// Applied, not yet known committed: re-sent to a new successor.
    pending: BTreeMap<Seq, Update>,
    /// Arrived ahead of a gap.
    early: BTreeMap<Seq, Update>,
    /// Client writes waiting for their sequence number to commit.
    writers: BTreeMap<Seq, Vec<RequestId>>,
    /// CRAQ reads waiting for the tail's committed version: query -> (request, key).
    readers: BTreeMap<u64, (RequestId, String)>,
    next_query: u64,
    /// Messages refused for naming another epoch.
    refused_stale: u64,
    /// Clients are served until this instant (nanoseconds of the node's clock); `None`: always.
    lease_until: Option<u64>,
    effects: ChainEffects,
}

impl ChainCore {
    /// Node `me` of the chain `config`, empty; `craq` lets every node serve reads.
    pub fn new(me: NodeId, config: ChainConfig, craq: bool) -> Self {
        ChainCore {
            me,
            craq,
            config,
            store: VersionedStore::default(),
            applied: 0,
            committed: 0,
            pending: BTreeMap::new(),
            early: BTreeMap::new(),
            writers: BTreeMap::new(),
            readers: BTreeMap::new(),
            next_query: 0,
            refused_stale: 0,
            lease_until: None,
            effects: ChainEffects::default(),
        }
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

    fn is_tail(&self) -> bool {
        self.config.tail() == Some(self.me)
    }

    fn in_chain(&self) -> bool {
        self.config.nodes.contains(&self.me)
    }

    fn reply(&mut self, request: RequestId, reply: ChainReply) {
        self.effects.replies.push((request, reply));
    }

    fn send(&mut self, to: Option<NodeId>, message: ChainMessage) {
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
        client: u64,
        client_seq: u64,
        op: KvOp,
    ) {
        if !self.may_serve(epoch, now) {
            return self.reply(
                request,
                ChainReply::WrongEpoch {
                    epoch: self.config.epoch,
                },
            );
        }
        if !self.is_head() {
            let head = self.config.head();
            return self.reply(request, ChainReply::Redirect { node: head });
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
                    epoch: self.config.epoch,
                },
            );
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

    fn ask_tail(&mut self, query: u64, key: String) {
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
            | ChainMessage::VersionQuery { epoch, .. }
            | ChainMessage::VersionReply { epoch, .. } => *epoch,
        };
        if epoch != self.config.epoch || !self.in_chain() {
            self.refused_stale += 1;
            return;
        }
        match message {
            ChainMessage::Update { update, .. } => {
                if Some(from) == self.config.predecessor(self.me) {
                    self.on_update(update);
                }
            }
            ChainMessage::Ack { seq, .. } => {
                if Some(from) == self.config.successor(self.me) {
                    self.commit_to(seq);
                }
            }
            ChainMessage::Resync {
                applied, committed, ..
            } => {
                if Some(from) == self.config.successor(self.me) {
                    self.resend_after(applied);
                    self.commit_to(committed);
                }
            }
            ChainMessage::VersionQuery { query, key, .. } => {
                if self.is_tail() {
                    let version = self.store.committed(&key).0;
                    let epoch = self.config.epoch;
                    self.send(
                        Some(from),
                        ChainMessage::VersionReply {
                            epoch,
                            query,
                            version,
                        },
                    );
                }
            }
            ChainMessage::VersionReply { query, version, .. } => {
                if let Some((request, key)) = self.readers.remove(&query) {
                    let value = self.store.value_as_of(&key, version).to_string();
                    self.reply(request, ChainReply::Ok { value: Some(value) });
                }
            }
        }
    }

    fn on_update(&mut self, update: Update) {
        if update.seq <= self.applied {
            return; // re-sent after a reconfiguration, and already here
        }
        self.early.insert(update.seq, update);
        while let Some(next) = self.early.remove(&(self.applied + 1)) {
            self.apply_in_order(next);
        }
        self.after_applying();
    }

    /// Applies the next write in sequence and passes it on.
    fn apply_in_order(&mut self, update: Update) {
        debug_assert_eq!(update.seq, self.applied + 1);
        self.store.apply(&update);
        self.applied = update.seq;
        let successor = self.config.successor(self.me);
        if successor.is_some() {
            let epoch = self.config.epoch;
            self.send(
                successor,
                ChainMessage::Update {
                    epoch,
                    update: update.clone(),
                },
            );
        }
        self.pending.insert(update.seq, update);
    }

    /// A tail commits what it applied and says so upstream.
    fn after_applying(&mut self) {
        if self.is_tail() {
            self.commit_to(self.applied);
        }
    }

    /// Everything up to `seq` is committed: settle it here, answer waiting writers, and pass
    /// the acknowledgement up the chain.
    fn commit_to(&mut self, seq: Seq) {
        let seq = seq.min(self.applied);
        if seq <= self.committed {
            return;
        }
        let rest = self.pending.split_off(&(seq + 1));
        for (at, update) in std::mem::replace(&mut self.pending, rest) {
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

    /// Re-sends to the successor every unacknowledged write after `applied`.
    fn resend_after(&mut self, applied: Seq) {
        let successor = self.config.successor(self.me);
        if successor.is_none() {
            return;
        }
        let epoch = self.config.epoch;
        let resend: Vec<Update> = self
            .pending
            .range(applied + 1..)
            .map(|(_, u)| u.clone())
            .collect();
        for update in resend {
            self.send(successor, ChainMessage::Update { epoch, update });
        }
    }

    fn ack_upstream(&mut self) {
        let ack = ChainMessage::Ack {
            epoch: self.config.epoch,
            seq: self.committed,
        };
        self.send(self.config.predecessor(self.me), ack);
    }

    /// A new configuration (ignored unless its epoch is newer). A node left out stops serving
    /// and answers its waiting clients `WrongEpoch`; a new tail commits what it holds; every
    /// node resynchronises with its neighbours.
    pub fn reconfigure(&mut self, config: ChainConfig) {
        if config.epoch <= self.config.epoch {
            return;
        }
        self.config = config;
        if !self.in_chain() {
            let epoch = self.config.epoch;
            let waiting: Vec<RequestId> = std::mem::take(&mut self.writers)
                .into_values()
                .flatten()
                .chain(
                    std::mem::take(&mut self.readers)
                        .into_values()
                        .map(|(r, _)| r),
                )
                .collect();
            for request in waiting {
                self.reply(request, ChainReply::WrongEpoch { epoch });
            }
            return;
        }
        // Messages of the old epoch in flight are refused from now on, and the neighbours may
        // install the new epoch before or after this node: so re-send every unacknowledged
        // write downstream, and ask upstream for what this node lacks. Whichever side
        // reconfigures second is heard, and duplicates are ignored.
        self.resend_after(0);
        if self.is_tail() {
            self.commit_to(self.applied);
        }
        let resync = ChainMessage::Resync {
            epoch: self.config.epoch,
            applied: self.applied,
            committed: self.committed,
        };
        self.send(self.config.predecessor(self.me), resync);
        // Reads waiting on the old tail ask the new one (or are answered, at the tail).
        for (query, (request, key)) in std::mem::take(&mut self.readers) {
            if self.is_tail() {
                let value = self.store.committed(&key).1.to_string();
                self.reply(request, ChainReply::Ok { value: Some(value) });
            } else {
                self.readers.insert(query, (request, key.clone()));
                self.ask_tail(query, key);
            }
        }
    }
}
