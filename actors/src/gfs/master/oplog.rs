//! The operation log (§5.1.3 of the paper): every change to the persisted metadata is an
//! [`OpRecord`] the shell makes durable before the change becomes visible to anyone, and
//! [`MasterCore::apply`] replays it. A [`Checkpoint`] is the persisted state at one point;
//! [`MasterCore::recover`] rebuilds a master from the latest checkpoint plus the records after
//! it. Replica locations and leases are not in either: the chunkservers' heartbeats rebuild
//! the locations (§2.6.2), and a recovered master's leases are all expired (a new one is only
//! granted after the old one could have run out, see [`super::lease`]).

use super::namespace::{File, Persisted, HIDDEN_PREFIX};
use super::{ChunkHandle, ChunkVersion, Config, MasterCore, MasterError};
use serde::{Deserialize, Serialize};

/// One change to the persisted metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum OpRecord {
    /// An empty file was created.
    CreateFile {
        /// Its path.
        path: String,
    },
    /// A file was deleted: renamed to a hidden name.
    DeleteFile {
        /// Its path.
        path: String,
        /// Its hidden name.
        hidden: String,
        /// When (ns).
        at: u64,
    },
    /// A chunk was appended to a file.
    AddChunk {
        /// The file.
        path: String,
        /// The chunk's handle (the counter moves past it).
        handle: ChunkHandle,
        /// Its first version.
        version: ChunkVersion,
    },
    /// A chunk's version changed: a new lease, or a replica reported a higher one.
    SetVersion {
        /// The chunk.
        handle: ChunkHandle,
        /// Its version.
        version: ChunkVersion,
    },
    /// A hidden file was reclaimed, and its chunks forgotten.
    Reclaim {
        /// Its hidden name.
        hidden: String,
    },
}

/// The persisted metadata at one point of the log.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The state.
    pub state: Persisted,
}

fn bad(what: String) -> MasterError {
    MasterError::BadRecord(what)
}

impl MasterCore {
    /// Applies one record to the persisted state (the live path and replay both use it).
    pub fn apply(&mut self, record: &OpRecord) -> Result<(), MasterError> {
        let state = &mut self.state;
        match record {
            OpRecord::CreateFile { path } => {
                if state.files.contains_key(path) {
                    return Err(MasterError::Exists(path.clone()));
                }
                state.files.insert(path.clone(), File::default());
            }
            OpRecord::DeleteFile { path, hidden, at } => {
                if state.files.contains_key(hidden) {
                    return Err(MasterError::Exists(hidden.clone()));
                }
                let mut file = state
                    .files
                    .remove(path)
                    .ok_or_else(|| MasterError::NoSuchFile(path.clone()))?;
                file.deleted_at = Some(*at);
                state.files.insert(hidden.clone(), file);
            }
            OpRecord::AddChunk {
                path,
                handle,
                version,
            } => {
                if state.versions.contains_key(handle) {
                    return Err(bad(format!("chunk {} handed out twice", handle.0)));
                }
                let file = state
                    .files
                    .get_mut(path)
                    .ok_or_else(|| MasterError::NoSuchFile(path.clone()))?;
                file.chunks.push(*handle);
                state.versions.insert(*handle, *version);
                state.next_handle = state.next_handle.max(handle.0 + 1);
            }
            OpRecord::SetVersion { handle, version } => {
                let known = state
                    .versions
                    .get_mut(handle)
                    .ok_or_else(|| bad(format!("no chunk {}", handle.0)))?;
                *known = *version;
            }
            OpRecord::Reclaim { hidden } => {
                if !hidden.starts_with(HIDDEN_PREFIX) {
                    return Err(bad(format!("`{hidden}` is not a hidden name")));
                }
                let file = state
                    .files
                    .remove(hidden)
                    .ok_or_else(|| MasterError::NoSuchFile(hidden.clone()))?;
                for handle in file.chunks {
                    state.versions.remove(&handle);
                    self.chunks.remove(&handle);
                }
            }
        }
        Ok(())
    }

    /// The persisted state now, to write as a checkpoint (the log before it can then go).
    pub fn checkpoint(&self) -> Checkpoint {
        Checkpoint {
            state: self.state.clone(),
        }
    }

    /// A master rebuilt at `now` from a checkpoint and the records logged after it. It knows
    /// no replica location and no live server until heartbeats come in, and grants no lease
    /// before `now + lease_length`: one its predecessor granted may still run.
    pub fn recover(
        config: Config,
        checkpoint: Checkpoint,
        records: &[OpRecord],
        now: u64,
    ) -> Result<MasterCore, MasterError> {
        let mut master = MasterCore::new(config);
        master.no_lease_before = now + config.lease_length;
        master.state = checkpoint.state;
        for record in records {
            master.apply(record)?;
        }
        Ok(master)
    }
}
