//! A chain node's durable state: every write it applied, under its own key, plus a small
//! record of its configuration, commit point and completeness, and from time to time a
//! snapshot of the whole state that lets the older writes go. A node writes here before it
//! sends or answers anything about what it applied, so after a crash it restarts with every
//! write it ever passed on or acknowledged: a chain that was down to its last node survives
//! that node's restart.

use super::core::{ChainCore, DurableChange};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use troupe_messages::chain::{ChainConfig, ChainState, Seq, Update};
use troupe_runtime::{decode, encode, Persister, PersisterExt};

/// Applied writes kept one per key before they are folded into a snapshot.
const SNAPSHOT_AFTER: u64 = 8192;

/// What a node records besides its writes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainMeta {
    /// The configuration it runs.
    pub config: ChainConfig,
    /// Highest sequence number it knows committed.
    pub committed: Seq,
    /// Whether its state is known complete.
    pub synced: bool,
}

/// What a node's storage held when it was opened.
#[derive(Debug)]
pub struct Stored {
    /// Its record.
    pub meta: ChainMeta,
    /// Its last snapshot (empty if none).
    pub snapshot: ChainState,
    /// The writes it applied after the snapshot, in order.
    pub updates: Vec<Update>,
}

/// One chain node's storage, under the key prefix of its actor name.
pub struct ChainStorage {
    persister: Arc<dyn Persister>,
    prefix: String,
    meta: ChainMeta,
    /// Writes recorded since the last snapshot.
    since_snapshot: u64,
}

impl ChainStorage {
    fn meta_key(&self) -> String {
        format!("{}/meta", self.prefix)
    }

    fn snapshot_key(&self) -> String {
        format!("{}/snapshot", self.prefix)
    }

    fn update_key(&self, seq: Seq) -> String {
        format!("{}/u/{seq:020}", self.prefix)
    }

    /// Opens the storage of the chain node named `name`, and what it held: `None` if it never
    /// recorded anything (a new node).
    pub fn open(
        persister: Arc<dyn Persister>,
        name: &str,
    ) -> troupe_runtime::Result<(ChainStorage, Option<Stored>)> {
        let mut storage = ChainStorage {
            persister,
            prefix: name.to_string(),
            meta: ChainMeta::default(),
            since_snapshot: 0,
        };
        let Some(meta) = storage
            .persister
            .load_value::<ChainMeta>(&storage.meta_key())?
        else {
            return Ok((storage, None));
        };
        let snapshot = storage
            .persister
            .load_value::<ChainState>(&storage.snapshot_key())?
            .unwrap_or_default();
        let mut updates = Vec::new();
        for key in storage.persister.keys(&format!("{}/u/", storage.prefix))? {
            if let Some(bytes) = storage.persister.load(&key)? {
                let update: Update = decode(&bytes)?;
                if update.seq > snapshot.applied {
                    updates.push(update);
                }
            }
        }
        updates.sort_by_key(|u| u.seq);
        storage.since_snapshot = updates.len() as u64;
        storage.meta = meta.clone();
        let stored = Stored {
            meta,
            snapshot,
            updates,
        };
        Ok((storage, Some(stored)))
    }

    /// Writes what changed in `core` (its new writes and, if it changed, its record) in one
    /// batch. After a reset, or once many writes are kept one by one, it writes a snapshot of
    /// the state instead: that covers every write of this batch too.
    pub fn record(
        &mut self,
        core: &ChainCore,
        changes: &[DurableChange],
    ) -> troupe_runtime::Result<()> {
        let applied = changes
            .iter()
            .filter(|c| matches!(c, DurableChange::Applied(_)))
            .count() as u64;
        let reset = changes.iter().any(|c| matches!(c, DurableChange::Reset));
        let mut puts: Vec<(String, Vec<u8>)> = Vec::new();
        let mut removes: Vec<String> = Vec::new();
        if reset || self.since_snapshot + applied > SNAPSHOT_AFTER {
            removes = self.persister.keys(&format!("{}/u/", self.prefix))?;
            puts.push((self.snapshot_key(), encode(&core.state())?));
            self.since_snapshot = 0;
        } else {
            for change in changes {
                if let DurableChange::Applied(update) = change {
                    puts.push((self.update_key(update.seq), encode(update)?));
                }
            }
            self.since_snapshot += applied;
        }
        // The record changes with most acknowledgements; compare before building a new one.
        let meta = &self.meta;
        if meta.committed != core.committed
            || meta.synced != core.synced
            || meta.config != core.config
        {
            self.meta = core.meta();
            puts.push((self.meta_key(), encode(&self.meta)?));
        }
        if puts.is_empty() && removes.is_empty() {
            return Ok(());
        }
        let puts: Vec<(&str, &[u8])> = puts.iter().map(|(k, v)| (k.as_str(), &v[..])).collect();
        let removes: Vec<&str> = removes.iter().map(String::as_str).collect();
        self.persister.write_batch(&puts, &removes)
    }
}

impl ChainCore {
    /// What [`ChainStorage`] records besides the writes.
    pub fn meta(&self) -> ChainMeta {
        ChainMeta {
            config: self.config.clone(),
            committed: self.committed,
            synced: self.synced,
        }
    }

    /// Node `me` as its storage left it: the snapshot, the writes after it, its configuration
    /// and commit point. It serves no client until a supervisor grants it a lease again.
    pub fn restore(me: troupe_messages::NodeId, craq: bool, stored: Stored) -> ChainCore {
        let Stored {
            meta,
            snapshot,
            updates,
        } = stored;
        let mut core = ChainCore::new(me, meta.config, craq);
        core.synced = false; // so that the snapshot is taken whatever it holds
        core.install(snapshot);
        for update in updates {
            core.on_update(update);
        }
        core.commit_to(meta.committed);
        core.synced = meta.synced;
        core.grant_lease(Some(0));
        // What the steps above would send was sent before the crash, or will be asked for.
        core.take_effects();
        core
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use troupe_messages::kv::KvOp;
    use troupe_messages::NodeId;
    use troupe_runtime::MemPersister;

    /// A one-node chain (head and tail) that records every step.
    struct Recorded {
        core: ChainCore,
        storage: ChainStorage,
        persister: Arc<MemPersister>,
    }

    impl Recorded {
        fn new() -> Recorded {
            let persister = Arc::new(MemPersister::new());
            let (storage, held) = ChainStorage::open(persister.clone(), "chain/0").expect("open");
            assert!(held.is_none(), "nothing stored yet");
            let config = ChainConfig::new(1, vec![NodeId(1)]);
            Recorded {
                core: ChainCore::new(NodeId(1), config, false),
                storage,
                persister,
            }
        }

        fn append(&mut self, seq: u64, value: &str) {
            let op = KvOp::Append {
                key: "k".into(),
                value: value.into(),
            };
            self.core.write(seq, 0, 1, 7.into(), seq, op);
            let effects = self.core.take_effects();
            self.storage
                .record(&self.core, &effects.durable)
                .expect("recorded");
        }

        fn reopen(&self) -> ChainCore {
            let (_, held) = ChainStorage::open(self.persister.clone(), "chain/0").expect("open");
            ChainCore::restore(NodeId(1), false, held.expect("stored state"))
        }
    }

    #[test]
    fn a_restarted_node_has_every_write_it_acknowledged_and_serves_only_under_a_lease() {
        let mut node = Recorded::new();
        node.append(1, "a");
        node.append(2, "b");
        let mut restored = node.reopen();
        assert_eq!(restored.applied(), 2);
        assert_eq!(restored.committed(), 2);
        assert_eq!(restored.committed_value("k"), "ab");
        assert!(restored.status().synced);
        restored.read(1, 0, 1, "k");
        let refused = restored.take_effects().replies;
        assert!(
            matches!(
                refused.as_slice(),
                [(1, troupe_messages::chain::ChainReply::WrongEpoch { config })] if config.epoch == 1
            ),
            "no lease yet: {refused:?}"
        );
        restored.grant_lease(Some(1_000));
        restored.read(2, 0, 1, "k");
        let answered = restored.take_effects().replies;
        let value = Some("ab".to_string());
        assert_eq!(
            answered,
            vec![(2, troupe_messages::chain::ChainReply::Ok { value })]
        );
    }

    #[test]
    fn many_writes_fold_into_a_snapshot_and_the_writes_before_it_go() {
        let mut node = Recorded::new();
        let count = SNAPSHOT_AFTER + 10;
        for seq in 1..=count {
            node.append(seq, "x");
        }
        let kept = node.persister.keys("chain/0/u/").expect("keys").len() as u64;
        assert!(kept < 20, "{kept} writes still kept one by one");
        let restored = node.reopen();
        assert_eq!(restored.applied(), count);
        assert_eq!(restored.committed_value("k").len() as u64, count);
    }
}
