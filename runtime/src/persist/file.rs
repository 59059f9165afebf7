//! The file persister of a real node: an append-only log of checksummed batches, fsynced before
//! a write returns, compacted into a snapshot file that is replaced atomically.
//!
//! Layout of the node's data directory:
//!
//! ```text
//! snapshot      every key and value as of the start of log.<gen>, and <gen> (optional)
//! log.<gen>     records appended since: [len: u32 LE][crc32 of payload: u32 LE][payload]
//! ```
//!
//! A payload is one batch of puts and removes, encoded with rmp-serde; a batch is applied at
//! start-up only if its whole record is there and its checksum matches, which makes every
//! `write_batch` atomic. Start-up replays the snapshot and its log. A bad record with nothing
//! valid after it is what a crash in the middle of an append leaves: it is truncated and
//! reported ([`Recovery`]). A bad record with a whole record anywhere after it is damage, not a
//! torn write: the node refuses to start ([`Error::CorruptLog`]) and the file is left as it is
//! (see the `format` module).
//!
//! Compaction writes the whole map to `snapshot.tmp`, fsyncs it, renames it over `snapshot`,
//! fsyncs the directory, then starts `log.<gen+1>`, fsyncs the directory again and removes the
//! old log. A crash at any point leaves either the old snapshot with its complete log, or the
//! new snapshot (with an empty or missing new log).
//!
//! A write that fails (an append, an fsync, a step of compaction) stops the persister: what the
//! files hold after a failed fsync is unknown, and a compaction cut half-way leaves the map and
//! the files out of step, so every later write fails too until the node reopens its directory.
//!
//! Every file operation goes through a [`FileSystem`]: the real one ([`StdFs`]) by default, or
//! a disk that loses power ([`super::power_loss::PowerLossFs`]) in tests.

use super::format::{apply, frame, read_snapshot, replay_log, Batch, Snapshot};
use super::fs::{create_dir_durably, FileHandle, FileSystem, StdFs};
use super::{keys_with_prefix, Persister};
use crate::error::Cause;
use crate::{encode, Error, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

#[cfg(feature = "planted-bugs")]
pub use super::planted::PlantedBug;

/// What start-up found at the end of the log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Bytes cut off a torn or corrupt tail (0 if the log was clean).
    pub truncated_bytes: u64,
    /// Why they were cut, if they were.
    pub reason: Option<String>,
    /// Batches replayed from the log.
    pub replayed: u64,
}

/// A persister backed by files in one directory.
pub struct FilePersister {
    fs: Arc<dyn FileSystem>,
    dir: PathBuf,
    state: Mutex<State>,
    recovery: Recovery,
}

struct State {
    values: BTreeMap<String, Vec<u8>>,
    log: Box<dyn FileHandle>,
    generation: u64,
    log_bytes: u64,
    live_bytes: u64,
    /// Compact when the log exceeds this many bytes and twice the live data.
    compact_after: u64,
    /// Why an earlier write failed: no write is taken after one.
    failed: Option<Error>,
    #[cfg(feature = "planted-bugs")]
    bug: PlantedBug,
}

fn io(path: &Path, what: &str, e: std::io::Error) -> Error {
    Error::persist(format!("{what} {}", path.display()), e)
}

impl FilePersister {
    /// Opens (or creates) the persister in `dir` on the real filesystem, replaying what it
    /// holds.
    pub fn open(dir: impl Into<PathBuf>) -> Result<FilePersister> {
        Self::open_on(Arc::new(StdFs), dir)
    }

    /// Opens (or creates) the persister in `dir` on `fs`, replaying what it holds.
    pub fn open_on(fs: Arc<dyn FileSystem>, dir: impl Into<PathBuf>) -> Result<FilePersister> {
        let dir = dir.into();
        create_dir_durably(fs.as_ref(), &dir).map_err(|e| io(&dir, "cannot create", e))?;
        let snapshot_path = dir.join("snapshot");
        let (generation, mut values) = match read(fs.as_ref(), &snapshot_path)? {
            Some(bytes) => read_snapshot(&snapshot_path, &bytes)?,
            None => (0, BTreeMap::new()),
        };
        let log_path = dir.join(format!("log.{generation}"));
        let replayed = match read(fs.as_ref(), &log_path)? {
            Some(bytes) => replay_log(&log_path, &bytes, &mut values)?,
            None => Default::default(),
        };
        let mut log = fs
            .open_append(&log_path)
            .map_err(|e| io(&log_path, "cannot open", e))?;
        let mut recovery = Recovery {
            replayed: replayed.batches,
            ..Recovery::default()
        };
        if let Some((offset, reason)) = replayed.torn {
            let len = log.size().map_err(|e| io(&log_path, "cannot stat", e))?;
            log.truncate(offset)
                .and_then(|()| log.sync())
                .map_err(|e| io(&log_path, "cannot truncate", e))?;
            recovery.truncated_bytes = len.saturating_sub(offset);
            recovery.reason = Some(format!("{reason} at byte {offset}"));
        }
        remove_stale_logs(fs.as_ref(), &dir, generation)?;
        fs.sync_dir(&dir)
            .map_err(|e| io(&dir, "cannot fsync directory", e))?;
        let log_bytes = log.size().map_err(|e| io(&log_path, "cannot stat", e))?;
        let live_bytes = values.iter().map(|(k, v)| (k.len() + v.len()) as u64).sum();
        if recovery.truncated_bytes > 0 {
            tracing::warn!(
                log = %log_path.display(),
                truncated = recovery.truncated_bytes,
                "torn tail truncated at start-up: {}",
                recovery.reason.as_deref().unwrap_or("")
            );
        }
        Ok(FilePersister {
            fs,
            dir,
            state: Mutex::new(State {
                values,
                log,
                generation,
                log_bytes,
                live_bytes,
                compact_after: 4 << 20,
                failed: None,
                #[cfg(feature = "planted-bugs")]
                bug: PlantedBug::None,
            }),
            recovery,
        })
    }

    /// What start-up found: a truncated tail, and how many batches it replayed.
    pub fn recovery(&self) -> &Recovery {
        &self.recovery
    }

    /// Compact once the log passes `bytes` (and twice the live data); default 4 MiB.
    pub fn compact_after(&self, bytes: u64) {
        self.lock().compact_after = bytes;
    }

    /// Gives this persister a durability bug, to show that the power-loss tests catch it.
    #[cfg(feature = "planted-bugs")]
    pub fn plant(&self, bug: PlantedBug) {
        self.lock().bug = bug;
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends `record` durably, applies `batch`, and compacts if it is time.
    fn append(&self, state: &mut State, record: &[u8], batch: Batch) -> Result<()> {
        let path = self.dir.join(format!("log.{}", state.generation));
        state
            .log
            .append(record)
            .map_err(|e| io(&path, "cannot append to", e))?;
        #[cfg(feature = "planted-bugs")]
        let skip = state.bug == PlantedBug::SkipLogFsync;
        #[cfg(not(feature = "planted-bugs"))]
        let skip = false;
        // Durable before acknowledged.
        if !skip {
            state.log.sync().map_err(|e| io(&path, "cannot fsync", e))?;
        }
        state.log_bytes += record.len() as u64;
        apply(&mut state.values, &mut state.live_bytes, batch);
        if state.log_bytes > state.compact_after && state.log_bytes > 2 * state.live_bytes {
            self.compact(state)?;
        }
        Ok(())
    }

    fn compact(&self, state: &mut State) -> Result<()> {
        let fs = self.fs.as_ref();
        #[cfg(feature = "planted-bugs")]
        let durable_dir = state.bug != PlantedBug::SkipCompactionDirFsync;
        #[cfg(not(feature = "planted-bugs"))]
        let durable_dir = true;
        let sync_dir = || -> Result<()> {
            if durable_dir {
                fs.sync_dir(&self.dir)
                    .map_err(|e| io(&self.dir, "cannot fsync directory", e))?;
            }
            Ok(())
        };
        let next = state.generation + 1;
        let snapshot = Snapshot {
            generation: next,
            values: state
                .values
                .iter()
                .map(|(k, v)| (k.clone(), serde_bytes::ByteBuf::from(v.clone())))
                .collect(),
        };
        let tmp = self.dir.join("snapshot.tmp");
        let path = self.dir.join("snapshot");
        let bytes = frame(&encode(&snapshot)?);
        let mut file = fs.create(&tmp).map_err(|e| io(&tmp, "cannot create", e))?;
        file.append(&bytes)
            .map_err(|e| io(&tmp, "cannot write", e))?;
        file.sync().map_err(|e| io(&tmp, "cannot fsync", e))?;
        fs.rename(&tmp, &path)
            .map_err(|e| io(&path, "cannot rename onto", e))?;
        sync_dir()?;
        let log_path = self.dir.join(format!("log.{next}"));
        let log = fs
            .open_append(&log_path)
            .map_err(|e| io(&log_path, "cannot create", e))?;
        sync_dir()?;
        let old = self.dir.join(format!("log.{}", state.generation));
        fs.remove(&old).map_err(|e| io(&old, "cannot remove", e))?;
        state.log = log;
        state.generation = next;
        state.log_bytes = 0;
        Ok(())
    }
}

impl Persister for FilePersister {
    fn write_batch(&self, puts: &[(&str, &[u8])], removes: &[&str]) -> Result<()> {
        let batch = Batch {
            puts: puts
                .iter()
                .map(|(k, v)| ((*k).to_string(), serde_bytes::ByteBuf::from(v.to_vec())))
                .collect(),
            removes: removes.iter().map(|k| (*k).to_string()).collect(),
        };
        let record = frame(&encode(&batch)?);
        let mut state = self.lock();
        if let Some(why) = &state.failed {
            return Err(Error::Persist {
                context: format!(
                    "{}: stopped by an earlier failed write; reopen the directory to go on",
                    self.dir.display()
                ),
                cause: Some(Cause::new(why.clone())),
            });
        }
        let result = self.append(&mut state, &record, batch);
        if let Err(e) = &result {
            tracing::error!(dir = %self.dir.display(), "persister stopped: {e}");
            state.failed = Some(e.clone());
        }
        result
    }

    fn load(&self, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.lock().values.get(key).cloned())
    }

    fn remove(&self, key: &str) -> Result<()> {
        self.write_batch(&[], &[key])
    }

    fn keys(&self, prefix: &str) -> Result<Vec<String>> {
        Ok(keys_with_prefix(&self.lock().values, prefix))
    }

    fn size(&self, key: &str) -> Result<usize> {
        Ok(self.lock().values.get(key).map_or(0, Vec::len))
    }
}

fn read(fs: &dyn FileSystem, path: &Path) -> Result<Option<Vec<u8>>> {
    fs.read(path).map_err(|e| io(path, "cannot read", e))
}

fn remove_stale_logs(fs: &dyn FileSystem, dir: &Path, generation: u64) -> Result<()> {
    let names = fs.list(dir).map_err(|e| io(dir, "cannot list", e))?;
    for name in names {
        let Some(g) = name
            .strip_prefix("log.")
            .and_then(|g| g.parse::<u64>().ok())
        else {
            continue;
        };
        if g < generation {
            let path = dir.join(&name);
            fs.remove(&path)
                .map_err(|e| io(&path, "cannot remove", e))?;
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "file_tests.rs"]
mod tests;
