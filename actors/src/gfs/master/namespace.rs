//! The namespace (§4.1 of the paper): a table from full path names to files, each an ordered
//! list of chunk handles, with no per-directory structure. Deletion is lazy (§4.4.1): the file
//! is renamed to a hidden name carrying the deletion time, and [`MasterCore::gc`] reclaims it
//! once the grace period has passed; its chunks then become orphans that the chunkservers are
//! told to delete at their next heartbeat.
//!
//! Every change returns the [`OpRecord`] the shell must make durable before answering.

use super::{ChunkHandle, ChunkVersion, Effect, MasterCore, MasterError, OpRecord};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Where deleted files are kept under their hidden names.
pub const HIDDEN_PREFIX: &str = "/.deleted/";

/// A file: its chunks in order, and when it was deleted if it is hidden.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct File {
    /// Its chunks' handles, chunk index order.
    pub chunks: Vec<ChunkHandle>,
    /// When it was deleted (ns), if it has been: it then lives under a hidden name.
    pub deleted_at: Option<u64>,
}

/// Everything the master persists: namespace, handle counter, chunk versions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Persisted {
    /// Full path name to file (hidden names included).
    pub files: BTreeMap<String, File>,
    /// The next chunk handle to hand out.
    pub next_handle: u64,
    /// Each live chunk's version.
    pub versions: BTreeMap<ChunkHandle, ChunkVersion>,
}

/// Whether `path` is absolute: starts with `/`, no empty component, no trailing `/`.
pub fn check_path(path: &str) -> Result<(), MasterError> {
    let ok = path
        .strip_prefix('/')
        .is_some_and(|rest| !rest.is_empty() && rest.split('/').all(|c| !c.is_empty()));
    if ok {
        Ok(())
    } else {
        Err(MasterError::NotAbsolute(path.to_string()))
    }
}

/// The hidden name a file deleted at `at` is renamed to.
pub fn hidden_name(path: &str, at: u64) -> String {
    format!("{HIDDEN_PREFIX}{at}{path}")
}

impl MasterCore {
    /// Creates an empty file at `path`.
    pub fn create(&mut self, path: &str) -> Result<OpRecord, MasterError> {
        check_path(path)?;
        if path.starts_with(HIDDEN_PREFIX) {
            return Err(MasterError::NotAbsolute(path.to_string()));
        }
        let record = OpRecord::CreateFile {
            path: path.to_string(),
        };
        self.apply(&record)?;
        Ok(record)
    }

    /// Deletes `path` lazily: renames it to a hidden name with the deletion time `now`.
    pub fn delete(&mut self, path: &str, now: u64) -> Result<OpRecord, MasterError> {
        check_path(path)?;
        match self.state.files.get(path) {
            Some(file) if file.deleted_at.is_none() => {}
            _ => return Err(MasterError::NoSuchFile(path.to_string())),
        }
        let record = OpRecord::DeleteFile {
            path: path.to_string(),
            hidden: hidden_name(path, now),
            at: now,
        };
        self.apply(&record)?;
        Ok(record)
    }

    /// The visible files under directory `dir` (`/` for all), in path order.
    pub fn list(&self, dir: &str) -> Vec<String> {
        let prefix = if dir.ends_with('/') {
            dir.to_string()
        } else {
            format!("{dir}/")
        };
        self.state
            .files
            .iter()
            .filter(|(path, file)| file.deleted_at.is_none() && path.starts_with(&prefix))
            .map(|(path, _)| path.clone())
            .collect()
    }

    /// The file's chunk handles, in order (also for a hidden, deleted file).
    pub fn chunks_of(&self, path: &str) -> Result<Vec<ChunkHandle>, MasterError> {
        self.state
            .files
            .get(path)
            .map(|file| file.chunks.clone())
            .ok_or_else(|| MasterError::NoSuchFile(path.to_string()))
    }

    /// Appends a new chunk to the file at `path`: a handle from the counter, version 1, and
    /// replicas on up to `target` live chunkservers (fewest chunks first). The effects start
    /// with the record to persist, then tell the chosen servers to create the chunk.
    pub fn add_chunk(
        &mut self,
        path: &str,
        now: u64,
    ) -> Result<(ChunkHandle, Vec<Effect>), MasterError> {
        match self.state.files.get(path) {
            Some(file) if file.deleted_at.is_none() => {}
            _ => return Err(MasterError::NoSuchFile(path.to_string())),
        }
        let handle = ChunkHandle(self.state.next_handle.max(self.fresh_from));
        let version = ChunkVersion(1);
        let record = OpRecord::AddChunk {
            path: path.to_string(),
            handle,
            version,
        };
        self.apply(&record)?;
        let mut effects = vec![Effect::Persist(record)];
        effects.extend(self.place_new(handle, version, now));
        Ok((handle, effects))
    }

    /// Reclaims the hidden files deleted at least `grace` before `now` (§4.4.1): their
    /// metadata goes, and their chunks become orphans, deleted at the next heartbeats. The
    /// effects are the records to persist.
    pub fn gc(&mut self, now: u64) -> Vec<Effect> {
        let due: Vec<String> = self
            .state
            .files
            .iter()
            .filter(|(_, f)| f.deleted_at.is_some_and(|at| at + self.config.grace <= now))
            .map(|(path, _)| path.clone())
            .collect();
        let mut effects = Vec::new();
        for hidden in due {
            let record = OpRecord::Reclaim { hidden };
            if self.apply(&record).is_ok() {
                effects.push(Effect::Persist(record));
            }
        }
        effects
    }
}
