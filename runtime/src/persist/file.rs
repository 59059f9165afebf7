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
//! `write_batch` atomic. Start-up replays the snapshot and its log. A record cut short or
//! failing its checksum *at the end* of the log is what a crash in the middle of an append
//! leaves: it is truncated and reported ([`Recovery`]). A bad record with good records after it
//! is damage, not a torn write: the node refuses to start ([`Error::CorruptLog`]).
//!
//! Compaction writes the whole map to `snapshot.tmp`, fsyncs it, renames it over `snapshot`,
//! fsyncs the directory, then starts `log.<gen+1>` and removes the old log. A crash at any
//! point leaves either the old snapshot with its complete log, or the new snapshot (with an
//! empty or missing new log).

use super::{keys_with_prefix, Persister};
use crate::{decode, encode, Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Records larger than this are treated as corrupt length fields.
const MAX_RECORD: u32 = 1 << 30;
const HEADER: usize = 8;

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

#[derive(Serialize, Deserialize)]
struct Batch {
    puts: Vec<(String, serde_bytes::ByteBuf)>,
    removes: Vec<String>,
}

#[derive(Serialize, Deserialize)]
struct Snapshot {
    generation: u64,
    values: BTreeMap<String, serde_bytes::ByteBuf>,
}

/// A persister backed by files in one directory.
pub struct FilePersister {
    dir: PathBuf,
    state: Mutex<State>,
    recovery: Recovery,
}

struct State {
    values: BTreeMap<String, Vec<u8>>,
    log: File,
    generation: u64,
    log_bytes: u64,
    live_bytes: u64,
    /// Compact when the log exceeds this many bytes and twice the live data.
    compact_after: u64,
}

fn io(path: &Path, what: &str, e: std::io::Error) -> Error {
    Error::Persist(format!("{what} {}: {e}", path.display()))
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io(dir, "cannot fsync directory", e))
}

fn frame(payload: &[u8]) -> Vec<u8> {
    let mut record = Vec::with_capacity(HEADER + payload.len());
    record.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    record.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    record.extend_from_slice(payload);
    record
}

impl FilePersister {
    /// Opens (or creates) the persister in `dir`, replaying what it holds.
    pub fn open(dir: impl Into<PathBuf>) -> Result<FilePersister> {
        let dir = dir.into();
        fs::create_dir_all(&dir).map_err(|e| io(&dir, "cannot create", e))?;
        let (generation, mut values) = read_snapshot(&dir)?;
        let log_path = dir.join(format!("log.{generation}"));
        let recovery = replay_log(&log_path, &mut values)?;
        remove_stale_logs(&dir, generation)?;
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|e| io(&log_path, "cannot open", e))?;
        sync_dir(&dir)?;
        let log_bytes = log
            .metadata()
            .map_err(|e| io(&log_path, "cannot stat", e))?
            .len();
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
            dir,
            state: Mutex::new(State {
                values,
                log,
                generation,
                log_bytes,
                live_bytes,
                compact_after: 4 << 20,
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

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn compact(&self, state: &mut State) -> Result<()> {
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
        let mut file = File::create(&tmp).map_err(|e| io(&tmp, "cannot create", e))?;
        file.write_all(&bytes)
            .map_err(|e| io(&tmp, "cannot write", e))?;
        file.sync_all().map_err(|e| io(&tmp, "cannot fsync", e))?;
        fs::rename(&tmp, &path).map_err(|e| io(&path, "cannot rename onto", e))?;
        sync_dir(&self.dir)?;
        let log_path = self.dir.join(format!("log.{next}"));
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|e| io(&log_path, "cannot create", e))?;
        sync_dir(&self.dir)?;
        let old = self.dir.join(format!("log.{}", state.generation));
        fs::remove_file(&old).map_err(|e| io(&old, "cannot remove", e))?;
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
        let path = self.dir.join(format!("log.{}", state.generation));
        state
            .log
            .write_all(&record)
            .map_err(|e| io(&path, "cannot append to", e))?;
        // Durable before acknowledged.
        state
            .log
            .sync_data()
            .map_err(|e| io(&path, "cannot fsync", e))?;
        state.log_bytes += record.len() as u64;
        let state = &mut *state;
        apply(&mut state.values, &mut state.live_bytes, batch);
        if state.log_bytes > state.compact_after && state.log_bytes > 2 * state.live_bytes {
            self.compact(state)?;
        }
        Ok(())
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

/// Applies a batch to the map, keeping `live_bytes` (keys and values held) up to date without
/// walking the whole map: a write costs what it changes, however big the map is.
fn apply(values: &mut BTreeMap<String, Vec<u8>>, live_bytes: &mut u64, batch: Batch) {
    let size = |k: &str, v: &[u8]| (k.len() + v.len()) as u64;
    for key in batch.removes {
        if let Some(old) = values.remove(&key) {
            *live_bytes -= size(&key, &old);
        }
    }
    for (key, value) in batch.puts {
        let key_len = key.len() as u64;
        *live_bytes += size(&key, &value);
        if let Some(old) = values.insert(key, value.into_vec()) {
            *live_bytes -= key_len + old.len() as u64;
        }
    }
}

fn read_all(path: &Path) -> Result<Option<Vec<u8>>> {
    match File::open(path) {
        Ok(mut f) => {
            let mut bytes = Vec::new();
            f.read_to_end(&mut bytes)
                .map_err(|e| io(path, "cannot read", e))?;
            Ok(Some(bytes))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io(path, "cannot open", e)),
    }
}

fn read_snapshot(dir: &Path) -> Result<(u64, BTreeMap<String, Vec<u8>>)> {
    let path = dir.join("snapshot");
    let Some(bytes) = read_all(&path)? else {
        return Ok((0, BTreeMap::new()));
    };
    let bad = |detail: String| Error::CorruptLog {
        path: path.display().to_string(),
        offset: 0,
        detail,
    };
    if bytes.len() < HEADER {
        return Err(bad("shorter than its header".into()));
    }
    let len = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
    let crc = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
    let payload = bytes
        .get(HEADER..HEADER + len)
        .ok_or_else(|| bad("cut short".into()))?;
    if crc32fast::hash(payload) != crc {
        return Err(bad("checksum mismatch".into()));
    }
    let snapshot: Snapshot = decode(payload).map_err(|e| bad(e.to_string()))?;
    let values = snapshot
        .values
        .into_iter()
        .map(|(k, v)| (k, v.into_vec()))
        .collect();
    Ok((snapshot.generation, values))
}

/// Replays the log into `values`, truncating a torn tail; fails on damage before the tail.
fn replay_log(path: &Path, values: &mut BTreeMap<String, Vec<u8>>) -> Result<Recovery> {
    let Some(bytes) = read_all(path)? else {
        return Ok(Recovery::default());
    };
    let mut recovery = Recovery::default();
    let mut offset = 0usize;
    // The open walks the map once for its live bytes afterwards; this count is only kept
    // consistent for `apply`.
    let mut live: u64 = values.iter().map(|(k, v)| (k.len() + v.len()) as u64).sum();
    while offset < bytes.len() {
        let rest = &bytes[offset..];
        let torn = |reason: &str| (offset, reason.to_string());
        let outcome: std::result::Result<(Batch, usize), (usize, String)> = (|| {
            if rest.len() < HEADER {
                return Err(torn("record header cut short"));
            }
            let len = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]);
            let crc = u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]);
            if len > MAX_RECORD {
                return Err(torn("impossible record length"));
            }
            let end = HEADER + len as usize;
            let Some(payload) = rest.get(HEADER..end) else {
                return Err(torn("record cut short"));
            };
            if crc32fast::hash(payload) != crc {
                return Err((offset + end, "checksum mismatch".to_string()));
            }
            let batch: Batch = decode(payload).map_err(|e| (offset + end, e.to_string()))?;
            Ok((batch, end))
        })();
        match outcome {
            Ok((batch, len)) => {
                apply(values, &mut live, batch);
                recovery.replayed += 1;
                offset += len;
            }
            Err((record_end, reason)) => {
                // Damage with complete records after it is not a torn write.
                if record_end > offset && record_end < bytes.len() {
                    return Err(Error::CorruptLog {
                        path: path.display().to_string(),
                        offset: offset as u64,
                        detail: reason,
                    });
                }
                recovery.truncated_bytes = (bytes.len() - offset) as u64;
                recovery.reason = Some(format!("{reason} at byte {offset}"));
                let file = OpenOptions::new()
                    .write(true)
                    .open(path)
                    .map_err(|e| io(path, "cannot open", e))?;
                file.set_len(offset as u64)
                    .map_err(|e| io(path, "cannot truncate", e))?;
                file.sync_all().map_err(|e| io(path, "cannot fsync", e))?;
                break;
            }
        }
    }
    Ok(recovery)
}

fn remove_stale_logs(dir: &Path, generation: u64) -> Result<()> {
    let entries = fs::read_dir(dir).map_err(|e| io(dir, "cannot list", e))?;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(g) = name
            .to_str()
            .and_then(|n| n.strip_prefix("log."))
            .and_then(|g| g.parse::<u64>().ok())
        else {
            continue;
        };
        if g < generation {
            fs::remove_file(entry.path()).map_err(|e| io(&entry.path(), "cannot remove", e))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("troupe-fp-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    fn log_of(dir: &Path) -> PathBuf {
        let mut logs: Vec<_> = fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.file_name().unwrap().to_str().unwrap().starts_with("log."))
            .collect();
        logs.sort();
        logs.pop().unwrap()
    }

    #[test]
    fn batches_survive_a_reopen() {
        let dir = scratch("reopen");
        {
            let p = FilePersister::open(&dir).unwrap();
            p.write_batch(&[("a", b"1"), ("b", b"2")], &[]).unwrap();
            p.write_batch(&[("c", b"3")], &["a"]).unwrap();
        }
        let p = FilePersister::open(&dir).unwrap();
        assert_eq!(p.load("a").unwrap(), None);
        assert_eq!(p.load("b").unwrap().as_deref(), Some(&b"2"[..]));
        assert_eq!(p.keys("").unwrap(), ["b", "c"]);
        assert_eq!(
            p.recovery(),
            &Recovery {
                truncated_bytes: 0,
                reason: None,
                replayed: 2
            }
        );
        fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn a_torn_tail_is_truncated_and_reported() {
        let dir = scratch("torn");
        {
            let p = FilePersister::open(&dir).unwrap();
            p.save("a", b"first").unwrap();
            p.save("b", b"second, to be torn").unwrap();
        }
        let log = log_of(&dir);
        let len = fs::metadata(&log).unwrap().len();
        OpenOptions::new()
            .write(true)
            .open(&log)
            .unwrap()
            .set_len(len - 5)
            .unwrap();
        let p = FilePersister::open(&dir).unwrap();
        assert_eq!(p.load("a").unwrap().as_deref(), Some(&b"first"[..]));
        assert_eq!(p.load("b").unwrap(), None, "the torn batch is gone, whole");
        assert!(p.recovery().truncated_bytes > 0 && p.recovery().reason.is_some());
        // The log was cut back to its last good record and takes appends again.
        p.save("c", b"after").unwrap();
        drop(p);
        let p = FilePersister::open(&dir).unwrap();
        assert_eq!(p.recovery().truncated_bytes, 0);
        assert_eq!(p.keys("").unwrap(), ["a", "c"]);
        fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn a_flipped_byte_in_the_last_record_is_a_torn_tail() {
        let dir = scratch("flip-tail");
        {
            let p = FilePersister::open(&dir).unwrap();
            p.save("a", b"first").unwrap();
            p.save("b", b"second").unwrap();
        }
        let log = log_of(&dir);
        let mut bytes = fs::read(&log).unwrap();
        let last = bytes.len() - 2;
        bytes[last] ^= 0x40;
        fs::write(&log, &bytes).unwrap();
        let p = FilePersister::open(&dir).unwrap();
        assert_eq!(p.keys("").unwrap(), ["a"]);
        assert!(p.recovery().reason.as_deref().unwrap().contains("checksum"));
        fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn damage_before_the_tail_stops_the_start() {
        let dir = scratch("flip-middle");
        {
            let p = FilePersister::open(&dir).unwrap();
            p.save("a", b"first").unwrap();
            p.save("b", b"second").unwrap();
        }
        let log = log_of(&dir);
        let mut bytes = fs::read(&log).unwrap();
        bytes[HEADER + 2] ^= 0x01; // inside the first record's payload
        fs::write(&log, &bytes).unwrap();
        match FilePersister::open(&dir) {
            Err(Error::CorruptLog { offset, .. }) => assert_eq!(offset, 0),
            Err(other) => panic!("expected CorruptLog, got {other}"),
            Ok(_) => panic!("opened a log damaged in the middle"),
        }
        fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn compaction_rotates_the_log_and_keeps_everything() {
        let dir = scratch("compact");
        {
            let p = FilePersister::open(&dir).unwrap();
            p.compact_after(1_000);
            for i in 0..500u32 {
                p.save(&format!("k{}", i % 10), &i.to_le_bytes()).unwrap();
            }
            assert!(dir.join("snapshot").exists());
            assert!(fs::metadata(log_of(&dir)).unwrap().len() <= 1_000 + 64);
        }
        let p = FilePersister::open(&dir).unwrap();
        for k in 0..10u32 {
            let last = (490 + k).to_le_bytes();
            assert_eq!(
                p.load(&format!("k{k}")).unwrap().as_deref(),
                Some(&last[..])
            );
        }
        let logs = fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("log."))
            .count();
        assert_eq!(logs, 1, "old logs are removed");
        fs::remove_dir_all(&dir).ok();
    }
}

#[cfg(test)]
mod live_bytes {
    use super::*;

    /// The running count of live bytes, which decides compaction, matches a walk of the map
    /// after puts, overwrites with other sizes, removes, and a reopen.
    #[test]
    fn the_running_count_matches_the_map() {
        let dir = std::env::temp_dir().join(format!("troupe-live-bytes-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let walk = |p: &FilePersister| -> u64 {
            let state = p.lock();
            state
                .values
                .iter()
                .map(|(k, v)| (k.len() + v.len()) as u64)
                .sum()
        };
        let p = FilePersister::open(&dir).unwrap();
        for i in 0..200usize {
            let value = vec![7u8; i % 13];
            p.write_batch(
                &[(&format!("k{}", i % 17), &value)],
                &[&format!("k{}", i % 5)],
            )
            .unwrap();
            let counted = p.lock().live_bytes;
            assert_eq!(counted, walk(&p), "after batch {i}");
        }
        drop(p);
        let p = FilePersister::open(&dir).unwrap();
        let counted = p.lock().live_bytes;
        assert_eq!(counted, walk(&p), "after a reopen");
        fs::remove_dir_all(&dir).ok();
    }
}
