//! What can go wrong in VM-FT that a caller acts on: a backup whose VM diverged from the
//! primary's, and a record in the shared storage that does not parse.

use serde::{Deserialize, Serialize};

/// The backup's VM is not where the primary's was: replay found an event the VM could not take
/// where the log put it, or a state hash that differs. The backup stops; the primary goes on
/// alone and a new backup is started from its state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("the backup diverged at log entry {index} (instruction {count}; hashes last agreed at entry {last_agreed}): {what}")]
pub struct Divergence {
    /// The first entry at which the difference showed.
    pub index: u64,
    /// That entry's instruction count.
    pub count: u64,
    /// The last entry whose state hash matched: the divergence happened after it.
    pub last_agreed: u64,
    /// What differed.
    pub what: String,
}

/// The VM's record in the shared storage does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a VM-FT record: {0:?}")]
pub struct BadRecord(pub String);
