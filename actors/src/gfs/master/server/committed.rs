//! A replica's copy of the master's committed state: every entry Raft applies goes here, on
//! leaders and followers alike, so that a replica that becomes the leader serves from what was
//! committed, and snapshots (checkpoints, §5.1.3) are taken from it. Recovery is the latest
//! snapshot plus the log after it, replayed by Raft.

use super::command::MasterCommand;
use crate::gfs::master::{Checkpoint, Config, MasterCore, OpRecord};
use std::collections::BTreeMap;
use troupe_messages::raft::{Index, Term};
use troupe_runtime::{decode, encode};

/// How many applied entries' terms are kept, to answer a proposal whose entry was applied
/// before its proposer heard the index.
const RECENT: usize = 1024;

/// The committed state and where it stands in the log.
#[derive(Debug, Clone)]
pub struct Committed {
    core: MasterCore,
    last_applied: Index,
    recent: BTreeMap<Index, Term>,
    since_snapshot: u64,
}

/// What applying one entry did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// Records of the log, applied here; the caller may apply them elsewhere too.
    Ops(Vec<OpRecord>),
    /// A new leader's barrier.
    Barrier {
        /// Its term.
        term: Term,
    },
    /// An entry that does not decode, skipped.
    Undecodable(String),
}

impl Committed {
    /// An empty master with these settings, before any entry.
    pub fn new(config: Config) -> Self {
        Committed {
            core: MasterCore::new(config),
            last_applied: 0,
            recent: BTreeMap::new(),
            since_snapshot: 0,
        }
    }

    /// The committed master (persisted state only: no heartbeat ever reaches it).
    pub fn core(&self) -> &MasterCore {
        &self.core
    }

    /// The last index applied.
    pub fn last_applied(&self) -> Index {
        self.last_applied
    }

    /// The term of the entry applied at `index`, if it is recent.
    pub fn term_at(&self, index: Index) -> Option<Term> {
        self.recent.get(&index).copied()
    }

    /// Applies the entry at `index`, of `term`.
    pub fn apply(&mut self, index: Index, term: Term, command: &[u8]) -> Applied {
        self.last_applied = index;
        self.recent.insert(index, term);
        while self.recent.len() > RECENT {
            self.recent.pop_first();
        }
        self.since_snapshot += 1;
        match decode::<MasterCommand>(command) {
            Ok(MasterCommand::Ops(records)) => {
                for record in &records {
                    if let Err(e) = self.core.apply(record) {
                        tracing::error!(index, "committed record does not apply: {e}");
                    }
                }
                Applied::Ops(records)
            }
            Ok(MasterCommand::Barrier { term }) => Applied::Barrier { term },
            Err(e) => Applied::Undecodable(e.to_string()),
        }
    }

    /// The snapshot to hand Raft if `every` entries were applied since the last one.
    pub fn snapshot_due(&mut self, every: u64) -> Option<(Index, Vec<u8>)> {
        if every == 0 || self.since_snapshot < every {
            return None;
        }
        match encode(&self.core.checkpoint()) {
            Ok(data) => {
                self.since_snapshot = 0;
                Some((self.last_applied, data))
            }
            Err(e) => {
                tracing::error!("checkpoint does not encode: {e}");
                None
            }
        }
    }

    /// Replaces the state with a snapshot covering the log up to `index`.
    pub fn restore(&mut self, index: Index, data: &[u8]) -> Result<(), String> {
        let checkpoint: Checkpoint = decode(data).map_err(|e| e.to_string())?;
        let config = *self.core.config();
        self.core = MasterCore::recover(config, checkpoint, &[], 0).map_err(|e| e.to_string())?;
        self.last_applied = index;
        self.recent.clear();
        self.since_snapshot = 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ops(records: Vec<OpRecord>) -> Vec<u8> {
        encode(&MasterCommand::Ops(records)).unwrap()
    }

    #[test]
    fn entries_apply_and_snapshots_restore_the_same_state() {
        let mut c = Committed::new(Config::default());
        let create = OpRecord::CreateFile { path: "/a".into() };
        assert_eq!(
            c.apply(1, 1, &ops(vec![create.clone()])),
            Applied::Ops(vec![create])
        );
        assert_eq!(c.snapshot_due(2), None);
        let barrier = encode(&MasterCommand::Barrier { term: 2 }).unwrap();
        assert_eq!(c.apply(3, 2, &barrier), Applied::Barrier { term: 2 });
        assert_eq!(
            (c.term_at(1), c.term_at(3), c.term_at(2)),
            (Some(1), Some(2), None)
        );
        let (index, data) = c.snapshot_due(2).unwrap();
        assert_eq!(index, 3);
        assert_eq!(c.snapshot_due(2), None, "counted again from the snapshot");
        let mut other = Committed::new(Config::default());
        other.restore(index, &data).unwrap();
        assert_eq!(other.core().persisted(), c.core().persisted());
        assert_eq!(other.last_applied(), 3);
        assert!(other.restore(4, b"junk").is_err());
        assert!(matches!(c.apply(4, 2, b"junk"), Applied::Undecodable(_)));
    }
}
