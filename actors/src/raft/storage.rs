//! How a Raft peer keeps its state in the node's persister: the hard state (term, vote, and
//! where the snapshot ends) under one key, each log entry under a key of its own, and the
//! snapshot under another. A change writes only what changed (new or rewritten entries, removed
//! keys for truncated or compacted entries) in one atomic batch, instead of the whole log each
//! time.

use super::core::{Durable, Effects, RaftCore};
use super::log::RaftLog;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use troupe_messages::raft::{Entry, Index, Term};
use troupe_runtime::{decode, encode, Persister, PersisterExt};

const HARD_KEY: &str = "raft/hard";
const SNAPSHOT_KEY: &str = "raft/snapshot";
/// Prefix of the entry keys; the key of index i is the prefix and i in 20 digits.
pub const ENTRY_PREFIX: &str = "raft/entry/";

fn entry_key(index: Index) -> String {
    format!("{ENTRY_PREFIX}{index:020}")
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Hard {
    term: Term,
    voted_for: Option<troupe_messages::NodeId>,
    snapshot_index: Index,
    snapshot_term: Term,
}

/// The stored state of one peer, and which entries are on disk.
pub struct RaftStorage {
    persister: Arc<dyn Persister>,
    /// Entries `first..=last` are stored (empty when first > last).
    first: Index,
    last: Index,
}

impl RaftStorage {
    /// Reads what a previous incarnation stored (nothing, on a first start).
    pub fn load(
        persister: Arc<dyn Persister>,
    ) -> troupe_runtime::Result<(RaftStorage, Durable, Vec<u8>)> {
        let hard = persister.load_value::<Hard>(HARD_KEY)?.unwrap_or_default();
        let mut entries = Vec::new();
        let mut index = hard.snapshot_index + 1;
        while let Some(bytes) = persister.load(&entry_key(index))? {
            entries.push(decode::<Entry>(&bytes)?);
            index += 1;
        }
        let snapshot = persister.load(SNAPSHOT_KEY)?.unwrap_or_default();
        let log = RaftLog::restore(hard.snapshot_index, hard.snapshot_term, entries);
        let storage = RaftStorage {
            persister,
            first: hard.snapshot_index + 1,
            last: log.last_index(),
        };
        let durable = Durable {
            term: hard.term,
            voted_for: hard.voted_for,
            log,
        };
        Ok((storage, durable, snapshot))
    }

    /// Writes what `effects` say changed, in one atomic batch.
    pub fn save(&mut self, core: &RaftCore, effects: &Effects) -> troupe_runtime::Result<()> {
        let durable = core.durable();
        let log = &durable.log;
        let hard = encode(&Hard {
            term: durable.term,
            voted_for: durable.voted_for,
            snapshot_index: log.snapshot_index(),
            snapshot_term: log.snapshot_term(),
        })?;
        let mut owned: Vec<(String, Vec<u8>)> = vec![(HARD_KEY.to_string(), hard)];
        let first_kept = log.snapshot_index() + 1;
        let write_from = effects.log_from.unwrap_or(Index::MAX).max(first_kept);
        for index in write_from..=log.last_index() {
            if let Some(entry) = log.entry(index) {
                owned.push((entry_key(index), encode(entry)?));
            }
        }
        if effects.persist_snapshot {
            owned.push((SNAPSHOT_KEY.to_string(), core.snapshot().to_vec()));
        }
        // Entries compacted into the snapshot, and entries past the new end.
        let removed: Vec<String> = (self.first..first_kept.min(self.last + 1))
            .chain((log.last_index() + 1).max(self.first)..=self.last)
            .map(entry_key)
            .collect();
        let puts: Vec<(&str, &[u8])> = owned
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_slice()))
            .collect();
        let removes: Vec<&str> = removed.iter().map(String::as_str).collect();
        self.persister.write_batch(&puts, &removes)?;
        self.first = first_kept;
        self.last = log.last_index();
        Ok(())
    }

    /// Bytes of Raft state stored (hard state and entries, not the snapshot).
    pub fn state_size(persister: &dyn Persister) -> troupe_runtime::Result<usize> {
        let mut size = persister.size(HARD_KEY)?;
        for key in persister.keys(ENTRY_PREFIX)? {
            size += persister.size(&key)?;
        }
        Ok(size)
    }
}
