//! Durable state: the [`Persister`] trait, the in-memory persister of the simulation, and the
//! file persister of real nodes ([`file::FilePersister`]) with its on-disk format
//! (`format`), over a filesystem trait ([`fs::FileSystem`]) that a disk losing power
//! ([`power_loss::PowerLossFs`]) also implements, for tests.
//!
//! A node keeps across crashes exactly what it wrote through its persister, and nothing else.
//! In simulation the [`MemPersister`] is owned by the simulated network, not by the node, so it
//! survives the node's crash and is handed to the node's next incarnation.

pub mod file;
#[cfg(test)]
mod file_power_loss_tests;
mod format;
pub mod fs;
#[cfg(feature = "planted-bugs")]
mod planted;
pub mod power_loss;

use crate::envelope::{decode, encode};
use crate::error::{Error, Result};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Mutex;

/// Durable key/value storage for one node.
///
/// Every write is durable when it returns: a node may acknowledge what it wrote as soon as the
/// call comes back. `save_all` is atomic: after a crash either every item is there or none is.
pub trait Persister: Send + Sync {
    /// Replaces the value under `key`.
    fn save(&self, key: &str, value: &[u8]) -> Result<()> {
        self.save_all(&[(key, value)])
    }
    /// Replaces several values at once, atomically.
    fn save_all(&self, items: &[(&str, &[u8])]) -> Result<()> {
        self.write_batch(items, &[])
    }
    /// Writes `puts` and removes `removes` in one atomic, durable step.
    fn write_batch(&self, puts: &[(&str, &[u8])], removes: &[&str]) -> Result<()>;
    /// The keys that start with `prefix`, in order.
    fn keys(&self, prefix: &str) -> Result<Vec<String>>;
    /// The value under `key`, if any.
    fn load(&self, key: &str) -> Result<Option<Vec<u8>>>;
    /// Removes `key` (no error if it was absent).
    fn remove(&self, key: &str) -> Result<()>;
    /// The size in bytes of the value under `key` (0 if absent).
    fn size(&self, key: &str) -> Result<usize> {
        Ok(self.load(key)?.map_or(0, |v| v.len()))
    }
}

/// Typed helpers over any persister: values are encoded with rmp-serde.
pub trait PersisterExt: Persister {
    /// Encodes `value` and saves it under `key`.
    fn save_value<T: Serialize>(&self, key: &str, value: &T) -> Result<()> {
        self.save(key, &encode(value)?)
    }
    /// Loads and decodes the value under `key`.
    fn load_value<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        match self.load(key)? {
            None => Ok(None),
            Some(bytes) => decode(&bytes)
                .map(Some)
                .map_err(|e| Error::persist(format!("value under `{key}` is corrupt"), e)),
        }
    }
}

impl<P: Persister + ?Sized> PersisterExt for P {}

/// A persister in memory, for simulated nodes: it survives the node's crash because the
/// simulated network keeps it, and it counts what was written.
#[derive(Debug, Default)]
pub struct MemPersister {
    state: Mutex<MemState>,
}

#[derive(Debug, Default)]
struct MemState {
    values: BTreeMap<String, Vec<u8>>,
    bytes_written: u64,
    writes: u64,
}

impl MemPersister {
    /// An empty persister.
    pub fn new() -> Self {
        Self::default()
    }

    /// Total bytes written so far (every save counts its full value).
    pub fn bytes_written(&self) -> u64 {
        self.lock().bytes_written
    }

    /// Number of `save`/`save_all` calls so far.
    pub fn writes(&self) -> u64 {
        self.lock().writes
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, MemState> {
        // A poisoned lock only means another thread panicked mid-call; the map is still whole.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Persister for MemPersister {
    fn write_batch(&self, puts: &[(&str, &[u8])], removes: &[&str]) -> Result<()> {
        let mut state = self.lock();
        state.writes += 1;
        for key in removes {
            state.values.remove(*key);
        }
        for (key, value) in puts {
            state.bytes_written += value.len() as u64;
            state.values.insert((*key).to_string(), value.to_vec());
        }
        Ok(())
    }

    fn keys(&self, prefix: &str) -> Result<Vec<String>> {
        Ok(keys_with_prefix(&self.lock().values, prefix))
    }

    fn load(&self, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.lock().values.get(key).cloned())
    }

    fn remove(&self, key: &str) -> Result<()> {
        self.lock().values.remove(key);
        Ok(())
    }

    fn size(&self, key: &str) -> Result<usize> {
        Ok(self.lock().values.get(key).map_or(0, |v| v.len()))
    }
}

/// The keys of `values` that start with `prefix`, in order.
pub(crate) fn keys_with_prefix(values: &BTreeMap<String, Vec<u8>>, prefix: &str) -> Vec<String> {
    values
        .range(prefix.to_string()..)
        .map(|(k, _)| k)
        .take_while(|k| k.starts_with(prefix))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saves_loads_and_counts() {
        let p = MemPersister::new();
        assert_eq!(p.load("term").unwrap(), None);
        p.save_value("term", &7u64).unwrap();
        p.save_all(&[("a", b"xy"), ("b", b"z")]).unwrap();
        assert_eq!(p.load_value::<u64>("term").unwrap(), Some(7));
        assert_eq!(p.size("a").unwrap(), 2);
        assert_eq!(p.writes(), 2);
        p.remove("a").unwrap();
        assert_eq!(p.load("a").unwrap(), None);
        p.write_batch(&[("log/2", b"y"), ("log/3", b"z")], &["b"])
            .unwrap();
        assert_eq!(p.keys("log/").unwrap(), ["log/2", "log/3"]);
        assert_eq!(p.load("b").unwrap(), None);
        p.save("bad", &[0xc1]).unwrap();
        assert!(matches!(
            p.load_value::<u64>("bad"),
            Err(Error::Persist { .. })
        ));
    }

    #[test]
    fn a_failure_keeps_the_error_beneath_it() {
        let p = MemPersister::new();
        p.save("bad", &[0xc1]).unwrap();
        let error = p.load_value::<u64>("bad").expect_err("corrupt");
        let cause = error.cause().expect("a cause");
        let Some(codec) = cause.downcast_ref::<Error>() else {
            panic!("the codec's error is kept as itself: {error}");
        };
        assert!(codec
            .cause()
            .is_some_and(|c| c.downcast_ref::<rmp_serde::decode::Error>().is_some()));
        assert!(
            error.to_string().contains("value under `bad` is corrupt"),
            "{error}"
        );
        let file = std::env::temp_dir().join(format!("troupe-not-a-dir-{}", std::process::id()));
        std::fs::write(&file, b"x").unwrap();
        let opened = crate::FilePersister::open(&file)
            .map(|_| ())
            .expect_err("not a dir");
        let io = opened
            .cause()
            .and_then(|c| c.downcast_ref::<std::io::Error>());
        assert!(io.is_some(), "{opened}");
        let _ = std::fs::remove_file(&file);
    }
}
