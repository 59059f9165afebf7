//! The Raft log, with the prefix a snapshot has replaced.
//!
//! Indices are 1-based. Entries up to `snapshot_index` live only in the service's snapshot; the
//! log remembers the last one's term so that consistency checks at that index still work.

use serde::{Deserialize, Serialize};
use troupe_messages::raft::{Entry, Index, Term};

/// The entries after the snapshot, and the snapshot's last index and term.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RaftLog {
    snapshot_index: Index,
    snapshot_term: Term,
    entries: Vec<Entry>,
}

impl RaftLog {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    /// A log rebuilt from storage: the snapshot's last index and term, and the entries after.
    pub fn restore(snapshot_index: Index, snapshot_term: Term, entries: Vec<Entry>) -> Self {
        RaftLog {
            snapshot_index,
            snapshot_term,
            entries,
        }
    }

    /// The last index the snapshot covers (0 if none).
    pub fn snapshot_index(&self) -> Index {
        self.snapshot_index
    }

    /// The term of the snapshot's last entry (0 if none).
    pub fn snapshot_term(&self) -> Term {
        self.snapshot_term
    }

    /// Index of the last entry (the snapshot's last if the log after it is empty).
    pub fn last_index(&self) -> Index {
        self.snapshot_index + self.entries.len() as Index
    }

    /// Term of the last entry.
    pub fn last_term(&self) -> Term {
        self.entries.last().map_or(self.snapshot_term, |e| e.term)
    }

    /// Number of entries kept after the snapshot.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True if no entry follows the snapshot.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn offset(&self, index: Index) -> Option<usize> {
        if index <= self.snapshot_index || index > self.last_index() {
            return None;
        }
        Some((index - self.snapshot_index - 1) as usize)
    }

    /// The term of the entry at `index`: known for the snapshot's last index and every entry
    /// after it, unknown (`None`) before the snapshot and past the end.
    pub fn term_at(&self, index: Index) -> Option<Term> {
        if index == self.snapshot_index {
            return Some(self.snapshot_term);
        }
        self.offset(index).map(|i| self.entries[i].term)
    }

    /// The entry at `index`, if it is in the log (not compacted, not past the end).
    pub fn entry(&self, index: Index) -> Option<&Entry> {
        self.offset(index).map(|i| &self.entries[i])
    }

    /// Up to `max` entries from `from` on (from must be after the snapshot).
    pub fn entries_from(&self, from: Index, max: usize) -> Vec<Entry> {
        match self.offset(from) {
            Some(start) => {
                let end = (start + max).min(self.entries.len());
                self.entries[start..end].to_vec()
            }
            None => Vec::new(),
        }
    }

    /// The first index of the run of entries with `term` that contains `index`.
    pub fn first_index_of_term_at(&self, index: Index) -> Index {
        let Some(term) = self.term_at(index) else {
            return index;
        };
        let mut first = index;
        while first > self.snapshot_index + 1 && self.term_at(first - 1) == Some(term) {
            first -= 1;
        }
        first
    }

    /// The last index whose entry has `term`, if any entry after the snapshot has it.
    pub fn last_index_of_term(&self, term: Term) -> Option<Index> {
        self.entries
            .iter()
            .rposition(|e| e.term == term)
            .map(|i| self.snapshot_index + 1 + i as Index)
    }

    /// Appends one entry; returns its index.
    pub fn push(&mut self, entry: Entry) -> Index {
        self.entries.push(entry);
        self.last_index()
    }

    /// Stores `entries` as following `prev`, keeping what already matches and dropping any
    /// conflicting suffix. Returns the first index that changed, if any. Entries at or before
    /// the snapshot are skipped (they are committed, so they match).
    pub fn merge(&mut self, prev: Index, entries: &[Entry]) -> Option<Index> {
        let mut changed = None;
        for (k, entry) in entries.iter().enumerate() {
            let index = prev + 1 + k as Index;
            if index <= self.snapshot_index {
                continue;
            }
            match self.term_at(index) {
                Some(term) if term == entry.term => continue,
                Some(_) => {
                    self.truncate_from(index);
                    self.entries.push(entry.clone());
                }
                None => self.entries.push(entry.clone()),
            }
            changed = changed.or(Some(index));
        }
        changed
    }

    /// Drops the entries from `index` on.
    fn truncate_from(&mut self, index: Index) {
        if let Some(i) = self.offset(index) {
            self.entries.truncate(i);
        }
    }

    /// Forgets the entries up to `index`, which a snapshot now covers. If the log has an entry
    /// at `index` with `term`, the entries after it are kept; otherwise the log becomes empty.
    pub fn compact(&mut self, index: Index, term: Term) {
        if index <= self.snapshot_index {
            return;
        }
        if self.term_at(index) == Some(term) {
            let keep_from = (index - self.snapshot_index) as usize;
            self.entries.drain(..keep_from);
        } else {
            self.entries.clear();
        }
        self.snapshot_index = index;
        self.snapshot_term = term;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(term: Term) -> Entry {
        Entry {
            term,
            command: vec![term as u8],
        }
    }

    #[test]
    fn merge_keeps_matches_and_replaces_conflicts() {
        let mut log = RaftLog::new();
        for t in [1, 1, 2, 2] {
            log.push(e(t));
        }
        assert_eq!(log.merge(1, &[e(1), e(2)]), None, "already there");
        assert_eq!(
            log.merge(2, &[e(3)]),
            Some(3),
            "conflict at 3 replaces the suffix"
        );
        assert_eq!(log.last_index(), 3);
        assert_eq!(log.term_at(3), Some(3));
        assert_eq!(log.first_index_of_term_at(2), 1);
        assert_eq!(log.last_index_of_term(1), Some(2));
    }

    #[test]
    fn compaction_keeps_the_suffix_and_the_boundary_term() {
        let mut log = RaftLog::new();
        for t in [1, 1, 2, 3, 3] {
            log.push(e(t));
        }
        log.compact(3, 2);
        assert_eq!(
            (log.snapshot_index(), log.last_index(), log.len()),
            (3, 5, 2)
        );
        assert_eq!(log.term_at(3), Some(2));
        assert_eq!(log.term_at(2), None);
        assert_eq!(log.entries_from(4, 10).len(), 2);
        assert_eq!(
            log.merge(0, &[e(1), e(1), e(2), e(3)]),
            None,
            "a prefix inside the snapshot matches"
        );
        // A snapshot the log does not agree with replaces it entirely.
        log.compact(7, 4);
        assert_eq!(
            (log.snapshot_index(), log.last_index(), log.last_term()),
            (7, 7, 4)
        );
    }
}
