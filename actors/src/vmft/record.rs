//! The VM's record in the shared storage (troupe's Raft key-value service): which generation
//! of the primary/backup pair is current, who is primary and who, if anyone, is the backup.
//!
//! Every change is a compare-and-swap from the exact text read, so it is the atomic
//! test-and-set of §2.3 of the paper: when primary and backup each want to go live, both swap
//! from the same record and only one succeeds; the loser stops itself.

use super::error::BadRecord;
use troupe_messages::NodeId;

/// The storage key of the record of VM `vm`.
pub fn record_key(vm: &str) -> String {
    format!("vmft/{vm}/pair")
}

/// The storage key of block `block` of VM `vm`'s virtual disk.
pub fn disk_key(vm: &str, block: u64) -> String {
    format!("vmft/{vm}/disk/{block}")
}

/// The current primary/backup pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FtRecord {
    /// Bumped by every change.
    pub generation: u64,
    /// The host running the primary.
    pub primary: NodeId,
    /// The host running a backup that may take over, if any.
    pub backup: Option<NodeId>,
}

impl FtRecord {
    /// The record as stored: `"<generation> <primary> <backup or ->"`, e.g. `"3 n2 n4"`.
    pub fn encode(&self) -> String {
        let backup = self.backup.map_or("-".to_string(), |b| b.to_string());
        format!("{} {} {}", self.generation, self.primary, backup)
    }

    /// Parses a stored record; `Ok(None)` for the empty value of a VM never booted.
    pub fn decode(text: &str) -> Result<Option<FtRecord>, BadRecord> {
        if text.is_empty() {
            return Ok(None);
        }
        let bad = || BadRecord(text.to_string());
        let mut words = text.split(' ');
        let generation = words.next().and_then(|w| w.parse().ok()).ok_or_else(bad)?;
        let primary = words.next().and_then(parse_node).ok_or_else(bad)?;
        let backup = match words.next().ok_or_else(bad)? {
            "-" => None,
            word => Some(parse_node(word).ok_or_else(bad)?),
        };
        if words.next().is_some() {
            return Err(bad());
        }
        Ok(Some(FtRecord {
            generation,
            primary,
            backup,
        }))
    }

    /// The hosts it names: the primary, then the backup if any.
    pub fn hosts(&self) -> Vec<NodeId> {
        [Some(self.primary), self.backup]
            .into_iter()
            .flatten()
            .collect()
    }

    /// The record after `winner` went live alone.
    pub fn live(&self, winner: NodeId) -> FtRecord {
        FtRecord {
            generation: self.generation + 1,
            primary: winner,
            backup: None,
        }
    }

    /// The record after `backup` joined this primary.
    pub fn with_backup(&self, backup: NodeId) -> FtRecord {
        FtRecord {
            generation: self.generation + 1,
            primary: self.primary,
            backup: Some(backup),
        }
    }
}

fn parse_node(word: &str) -> Option<NodeId> {
    word.strip_prefix('n')?.parse().ok().map(NodeId)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_reads_back_as_written() {
        let pair = FtRecord {
            generation: 3,
            primary: NodeId(2),
            backup: Some(NodeId(4)),
        };
        assert_eq!(pair.encode(), "3 n2 n4");
        assert_eq!(FtRecord::decode("3 n2 n4"), Ok(Some(pair)));
        let alone = pair.live(NodeId(4));
        assert_eq!(alone.encode(), "4 n4 -");
        assert_eq!(FtRecord::decode(&alone.encode()), Ok(Some(alone)));
        assert_eq!(FtRecord::decode(""), Ok(None));
        for bad in ["3", "x n1 -", "3 n1", "3 1 -", "3 n1 - extra"] {
            assert!(FtRecord::decode(bad).is_err(), "{bad}");
        }
    }
}
