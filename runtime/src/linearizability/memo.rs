//! What a search remembers: each distinct state once, under a number ([`States`]), and the
//! (set of linearized operations, state) pairs it has explored ([`Explored`]), the memo that
//! keeps it from exploring one twice.
//!
//! States are stored once, in a vector, and found by hash through a table of their numbers, so
//! that a state is one allocation (a key's long value) and a step that leads back to a known
//! state costs a lookup, not a copy.

use hashbrown::HashTable;
use rustc_hash::{FxBuildHasher, FxHashMap, FxHashSet};
use std::hash::{BuildHasher, Hash, Hasher};

/// A part's distinct states, each stored once under a number, and the steps between them.
pub(super) struct States<S> {
    values: Vec<S>,
    /// The numbers of `values`, found by their value's hash.
    ids: HashTable<u32>,
    /// (state, operation) -> the state after it, or `None` if the model refuses it there.
    pub(super) transitions: FxHashMap<(u32, u32), Option<u32>>,
}

/// A value's hash in the tables here.
fn hash_of<T: Hash>(value: &T) -> u64 {
    FxBuildHasher.hash_one(value)
}

impl<S: Eq + Hash> States<S> {
    /// No states yet.
    pub(super) fn new() -> Self {
        States {
            values: Vec::new(),
            ids: HashTable::new(),
            transitions: FxHashMap::default(),
        }
    }

    /// State number `id`.
    pub(super) fn get(&self, id: u32) -> &S {
        &self.values[id as usize]
    }

    /// The number of `value`, given it if it is new.
    pub(super) fn intern(&mut self, value: S) -> u32 {
        let hash = hash_of(&value);
        let values = &self.values;
        if let Some(&id) = self.ids.find(hash, |&id| values[id as usize] == value) {
            return id;
        }
        let id = self.values.len() as u32;
        self.values.push(value);
        let values = &self.values;
        self.ids
            .insert_unique(hash, id, |&id| hash_of(&values[id as usize]));
        id
    }
}

/// One explored pair: a set of linearized operations, its Zobrist code, and a state number.
/// It hashes by the code (kept up to date by the search as operations are linearized and
/// undone) and the state's number, and compares in full.
#[derive(PartialEq, Eq)]
struct Visit {
    code: u64,
    state: u32,
    set: Vec<u64>,
}

impl Hash for Visit {
    fn hash<H: Hasher>(&self, hasher: &mut H) {
        hasher.write_u64(self.code ^ u64::from(self.state).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    }
}

/// The explored pairs.
#[derive(Default)]
pub(super) struct Explored {
    visits: FxHashSet<Visit>,
}

impl Explored {
    /// Records the pair (`linearized` with operation `op` added, `state`), where `code` is the
    /// code of that set; `false` if it was explored before.
    pub(super) fn insert(&mut self, linearized: &[u64], op: usize, code: u64, state: u32) -> bool {
        let mut set = linearized.to_vec();
        set[op / 64] |= 1 << (op % 64);
        self.visits.insert(Visit { code, state, set })
    }
}

/// Operation `op`'s random-looking code (splitmix64): a set's code is the XOR of its members'.
pub(super) fn zobrist(op: usize) -> u64 {
    let mut z = (op as u64)
        .wrapping_add(1)
        .wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
