//! The record-append checks of `troupe sim gfs`: the history of appends and reads, and what
//! GFS promises about them (§3.3 of the paper): an acknowledged record is in the file on every
//! replica, so every later read finds it and so does the final read after healing; a read
//! never finds a record nobody appended.

use anyhow::{Context as _, Result};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::path::Path;
use troupe_actors::gfs::client::read::FileRecords;

/// What one operation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpKind {
    /// A record append of the record `id` (acknowledged if the operation returned).
    Append {
        /// The record's id.
        id: u128,
    },
    /// A record append that certainly took no effect.
    FailedAppend,
    /// A read of the whole file: the ids found (each once), and how many duplicates.
    Read {
        /// The ids.
        found: Vec<u128>,
        /// Copies of records already found.
        duplicates: u64,
    },
}

/// One client operation on a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GfsOp {
    /// The client's number.
    pub client: u64,
    /// The file's index.
    pub file: usize,
    /// What it did.
    pub kind: OpKind,
    /// When it was called (ns).
    pub call: u64,
    /// When it returned (ns); None when its outcome is unknown.
    pub ret: Option<u64>,
}

impl GfsOp {
    /// An append of `id`, acknowledged at `ret` (None: its outcome is unknown).
    pub fn append(client: u64, file: usize, id: u128, call: u64, ret: Option<u64>) -> Self {
        GfsOp {
            client,
            file,
            kind: OpKind::Append { id },
            call,
            ret,
        }
    }

    /// An append that certainly took no effect.
    pub fn failed_append(client: u64, file: usize, call: u64) -> Self {
        GfsOp {
            client,
            file,
            kind: OpKind::FailedAppend,
            call,
            ret: None,
        }
    }

    /// A read that found `found`.
    pub fn read(client: u64, file: usize, call: u64, ret: u64, found: &FileRecords) -> Self {
        GfsOp {
            client,
            file,
            kind: OpKind::Read {
                found: found.records.iter().map(|r| r.id).collect(),
                duplicates: found.duplicates,
            },
            call,
            ret: Some(ret),
        }
    }
}

/// Every operation of a run.
#[derive(Debug, Default)]
pub struct GfsHistory {
    ops: Vec<GfsOp>,
}

/// What the checks found.
#[derive(Debug, Default, Clone)]
pub struct Found {
    /// Appends acknowledged.
    pub appends_acked: u64,
    /// Distinct records the final reads found.
    pub records_found: u64,
    /// Duplicate copies the final reads skipped.
    pub duplicates: u64,
    /// Acknowledged records the final reads did not find.
    pub lost: u64,
    /// Reads that missed a record acknowledged before they began.
    pub stale_reads: u64,
    /// Records read that no append had begun to write.
    pub phantoms: u64,
    /// Reads done by the workload.
    pub reads: u64,
    /// Appends that took effect (acknowledged), certainly did not, and may have; reads are
    /// in `reads`.
    pub ops_ok: u64,
    /// See `ops_ok`.
    pub ops_failed: u64,
    /// See `ops_ok`.
    pub ops_unknown: u64,
    /// One sentence per broken promise.
    pub problems: Vec<String>,
}

impl Found {
    /// The record-append model holds: no stale read and no phantom.
    pub fn model_holds(&self) -> Option<bool> {
        Some(self.stale_reads == 0 && self.phantoms == 0)
    }
}

/// One history line, in the shape of every troupe history.
#[derive(Serialize)]
struct Line<'a> {
    client: u64,
    op: &'a str,
    key: String,
    value: Option<String>,
    output: Option<String>,
    call: u64,
    #[serde(rename = "return")]
    ret: Option<u64>,
}

impl GfsHistory {
    /// Adds an operation.
    pub fn push(&mut self, op: GfsOp) {
        self.ops.push(op);
    }

    /// Checks the history against the final reads (`final_reads[f]`: file f's records after
    /// healing, None if it could not be read).
    pub fn check(&self, final_reads: &[Option<FileRecords>]) -> Found {
        let mut found = Found::default();
        // Per file: acknowledged ids with their return times, and every id an append began.
        let mut acked: BTreeMap<usize, Vec<(u64, u128)>> = BTreeMap::new();
        let mut begun: BTreeMap<u128, u64> = BTreeMap::new();
        for op in &self.ops {
            match (&op.kind, op.ret) {
                (OpKind::Append { id }, Some(ret)) => {
                    found.appends_acked += 1;
                    found.ops_ok += 1;
                    acked.entry(op.file).or_default().push((ret, *id));
                    begun.insert(*id, op.call);
                }
                (OpKind::Append { id }, None) => {
                    found.ops_unknown += 1;
                    begun.insert(*id, op.call);
                }
                (OpKind::FailedAppend, _) => found.ops_failed += 1,
                // Reads are counted apart: the progress floor is the appends'.
                (OpKind::Read { .. }, _) => found.reads += 1,
            }
        }
        let mut stale_example = None;
        let mut phantom_example = None;
        for op in &self.ops {
            let (OpKind::Read { found: ids, .. }, Some(ret)) = (&op.kind, op.ret) else {
                continue;
            };
            let seen: BTreeSet<u128> = ids.iter().copied().collect();
            let missed: Vec<(u64, u128)> = acked
                .get(&op.file)
                .into_iter()
                .flatten()
                .filter(|&&(acked_at, id)| acked_at < op.call && !seen.contains(&id))
                .copied()
                .collect();
            if let Some(&first) = missed.first() {
                found.stale_reads += 1;
                stale_example.get_or_insert((op.clone(), missed.len(), first));
            }
            for &id in ids {
                if begun.get(&id).is_none_or(|&call| call > ret) {
                    found.phantoms += 1;
                    phantom_example.get_or_insert((op.client, op.file, ret, id));
                }
            }
        }
        let mut lost_example = None;
        for (f, read) in final_reads.iter().enumerate() {
            let Some(read) = read else { continue };
            found.records_found += read.records.len() as u64;
            found.duplicates += read.duplicates;
            let seen: BTreeSet<u128> = read.records.iter().map(|r| r.id).collect();
            for &(acked_at, id) in acked.get(&f).into_iter().flatten() {
                if !seen.contains(&id) {
                    found.lost += 1;
                    lost_example.get_or_insert((f, acked_at, id));
                }
            }
        }
        if let Some((f, acked_at, id)) = lost_example {
            found.problems.push(format!(
                "{} acknowledged record(s) are not in their file after healing (first: record \
                 {id:x} of file {f}, acknowledged at {:.3}s)",
                found.lost,
                acked_at as f64 / 1e9
            ));
        }
        if let Some((op, missed, (acked_at, id))) = stale_example {
            found.problems.push(format!(
                "{} read(s) missed records acknowledged before they began (first: client {} \
                 read file {} at {:.3}s and missed {missed}, among them record {id:x}, \
                 acknowledged at {:.3}s)",
                found.stale_reads,
                op.client,
                op.file,
                op.call as f64 / 1e9,
                acked_at as f64 / 1e9
            ));
        }
        if let Some((client, file, ret, id)) = phantom_example {
            found.problems.push(format!(
                "{} record(s) read that no append had begun (first: record {id:x}, read by \
                 client {client} from file {file} by {:.3}s)",
                found.phantoms,
                ret as f64 / 1e9
            ));
        }
        found
    }

    /// Writes the history as JSON lines: `append` with the record id as value, `records`
    /// with the ids read, comma-separated, as output; ids in hex.
    pub fn write(&self, path: &Path) -> Result<()> {
        let file = std::fs::File::create(path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        let mut out = std::io::BufWriter::new(file);
        for op in &self.ops {
            let key = super::file(op.file);
            let line = match &op.kind {
                OpKind::Append { id } => Line {
                    client: op.client,
                    op: "append",
                    key,
                    value: Some(format!("{id:x}")),
                    output: None,
                    call: op.call,
                    ret: op.ret,
                },
                OpKind::FailedAppend => continue,
                OpKind::Read { found, .. } => Line {
                    client: op.client,
                    op: "records",
                    key,
                    value: None,
                    output: Some(
                        found
                            .iter()
                            .map(|id| format!("{id:x}"))
                            .collect::<Vec<_>>()
                            .join(","),
                    ),
                    call: op.call,
                    ret: op.ret,
                },
            };
            serde_json::to_writer(&mut out, &line)?;
            writeln!(out)?;
        }
        out.flush()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use troupe_actors::gfs::client::read::FoundRecord;

    fn records(ids: &[u128]) -> FileRecords {
        FileRecords {
            records: ids
                .iter()
                .map(|&id| FoundRecord {
                    id,
                    payload: Vec::new(),
                    chunk: 0,
                    offset: 0,
                })
                .collect(),
            duplicates: 0,
        }
    }

    #[test]
    fn a_read_that_misses_an_earlier_acknowledged_record_is_stale() {
        let mut history = GfsHistory::default();
        history.push(GfsOp::append(1, 0, 10, 100, Some(200)));
        history.push(GfsOp::read(2, 0, 300, 400, &records(&[])));
        // Concurrent with the append: may miss it.
        history.push(GfsOp::read(2, 0, 150, 250, &records(&[])));
        let found = history.check(&[Some(records(&[10]))]);
        assert_eq!(found.stale_reads, 1);
        assert_eq!(found.lost, 0);
        assert_eq!(found.model_holds(), Some(false));
    }

    #[test]
    fn a_missing_acknowledged_record_is_lost_and_an_unknown_one_is_not() {
        let mut history = GfsHistory::default();
        history.push(GfsOp::append(1, 0, 10, 100, Some(200)));
        history.push(GfsOp::append(1, 0, 11, 300, None));
        let found = history.check(&[Some(records(&[]))]);
        assert_eq!(found.lost, 1);
        assert_eq!(found.ops_unknown, 1);
        assert!(found.model_holds() == Some(true));
    }

    #[test]
    fn a_record_nobody_appended_is_a_phantom() {
        let mut history = GfsHistory::default();
        history.push(GfsOp::read(2, 0, 300, 400, &records(&[99])));
        // Appended only after the read returned.
        history.push(GfsOp::append(1, 0, 98, 500, Some(600)));
        history.push(GfsOp::read(2, 0, 300, 400, &records(&[98])));
        let found = history.check(&[Some(records(&[98]))]);
        assert_eq!(found.phantoms, 2);
        assert_eq!(found.model_holds(), Some(false));
    }
}
