//! Durability bugs planted on purpose in the file persister, compiled only with the
//! `planted-bugs` feature. Each one loses acknowledged writes in a way only a power loss shows
//! (a SIGKILL keeps the page cache, so the data comes back); the power-loss tests turn one on
//! and must catch it, which shows that they can fail.

/// A durability bug the file persister can be told to have ([`super::FilePersister::plant`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PlantedBug {
    /// No bug: the persister as it ships.
    #[default]
    None,
    /// `write_batch` appends its record and returns without fsyncing the log.
    SkipLogFsync,
    /// Compaction renames the new snapshot into place, starts the new log and removes the old
    /// one without fsyncing the directory, so none of it is durable.
    SkipCompactionDirFsync,
}
