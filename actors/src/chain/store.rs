//! A chain node's versioned key-value store: per key the committed version and the versions
//! applied after it but not yet known committed ("dirty", in CRAQ's words), and per client the
//! last write applied, so that a retried write takes effect once.

use std::collections::BTreeMap;
use troupe_messages::chain::{KeyVersions, Seq, Update};
use troupe_messages::kv::KvOp;
use troupe_messages::ClientId;

#[derive(Debug, Default, Clone)]
struct Versions {
    /// The committed version and its value (version 0: never written, "").
    committed: (Seq, String),
    /// Versions applied after the committed one, oldest first.
    dirty: BTreeMap<Seq, String>,
}

impl Versions {
    fn latest(&self) -> &str {
        self.dirty.values().next_back().unwrap_or(&self.committed.1)
    }
}

/// The versions of every key on one node.
#[derive(Debug, Default, Clone)]
pub struct VersionedStore {
    keys: BTreeMap<String, Versions>,
    /// Per client: its last write's client sequence number and the chain sequence number it got.
    last_write: BTreeMap<ClientId, (u64, Seq)>,
}

/// The key a write changes.
pub fn key_of(op: &KvOp) -> &str {
    match op {
        KvOp::Get { key }
        | KvOp::Put { key, .. }
        | KvOp::Append { key, .. }
        | KvOp::Cas { key, .. } => key,
    }
}

impl VersionedStore {
    /// Applies `update` as a new dirty version of its key (a get changes nothing).
    pub fn apply(&mut self, update: &Update) {
        self.last_write
            .insert(update.client, (update.client_seq, update.seq));
        let versions = self.keys.entry(key_of(&update.op).to_string()).or_default();
        let value = match &update.op {
            KvOp::Get { .. } => return,
            KvOp::Put { value, .. } => value.clone(),
            KvOp::Append { value, .. } => format!("{}{value}", versions.latest()),
            KvOp::Cas { expect, value, .. } if versions.latest() == expect => value.clone(),
            KvOp::Cas { .. } => return,
        };
        versions.dirty.insert(update.seq, value);
    }

    /// Marks version `seq` of `key` (and every older one) committed.
    pub fn commit(&mut self, key: &str, seq: Seq) {
        let Some(versions) = self.keys.get_mut(key) else {
            return;
        };
        let newer = versions.dirty.split_off(&(seq + 1));
        if let Some((&at, value)) = versions.dirty.iter().next_back() {
            versions.committed = (at, value.clone());
        }
        versions.dirty = newer;
    }

    /// The committed version of `key` and its value.
    pub fn committed(&self, key: &str) -> (Seq, &str) {
        self.keys
            .get(key)
            .map_or((0, ""), |v| (v.committed.0, v.committed.1.as_str()))
    }

    /// The newest version of `key` this node holds, committed or not (what only a planted bug
    /// would answer a read with).
    pub fn latest_of(&self, key: &str) -> &str {
        self.keys.get(key).map_or("", |v| v.latest())
    }

    /// Whether every version of `key` this node holds is committed.
    pub fn is_clean(&self, key: &str) -> bool {
        self.keys.get(key).is_none_or(|v| v.dirty.is_empty())
    }

    /// The value of `key` as of version `version` or a later committed one: what a CRAQ read
    /// answers once the tail said `version` is committed.
    pub fn value_as_of(&self, key: &str, version: Seq) -> &str {
        let Some(versions) = self.keys.get(key) else {
            return "";
        };
        if versions.committed.0 >= version {
            return &versions.committed.1;
        }
        versions
            .dirty
            .range(..=version)
            .next_back()
            .map_or(versions.committed.1.as_str(), |(_, v)| v.as_str())
    }

    /// The chain sequence number of the client's write `client_seq`, if it is the client's last
    /// applied write; `Some(None)` if the client has since applied a later one.
    pub fn applied_write(&self, client: ClientId, client_seq: u64) -> Option<Option<Seq>> {
        let &(last, seq) = self.last_write.get(&client)?;
        match client_seq.cmp(&last) {
            std::cmp::Ordering::Equal => Some(Some(seq)),
            std::cmp::Ordering::Less => Some(None),
            std::cmp::Ordering::Greater => None,
        }
    }

    /// Every key's versions and every client's last write, for a state transfer.
    pub fn export(&self) -> (Vec<KeyVersions>, Vec<(ClientId, u64, Seq)>) {
        let keys = self
            .keys
            .iter()
            .map(|(key, v)| KeyVersions {
                key: key.clone(),
                committed: v.committed.clone(),
                dirty: v
                    .dirty
                    .iter()
                    .map(|(&s, value)| (s, value.clone()))
                    .collect(),
            })
            .collect();
        let clients = self
            .last_write
            .iter()
            .map(|(&client, &(client_seq, seq))| (client, client_seq, seq))
            .collect();
        (keys, clients)
    }

    /// The store [`VersionedStore::export`] described.
    pub fn import(keys: Vec<KeyVersions>, clients: Vec<(ClientId, u64, Seq)>) -> Self {
        VersionedStore {
            keys: keys
                .into_iter()
                .map(|k| {
                    let versions = Versions {
                        committed: k.committed,
                        dirty: k.dirty.into_iter().collect(),
                    };
                    (k.key, versions)
                })
                .collect(),
            last_write: clients
                .into_iter()
                .map(|(client, client_seq, seq)| (client, (client_seq, seq)))
                .collect(),
        }
    }
}
