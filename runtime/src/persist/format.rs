//! The file persister's on-disk format, and reading it back: checksummed records, the batches
//! of the log, the snapshot, and the replay that tells a torn tail from damage.
//!
//! A record is `[len: u32 LE][crc32 of payload: u32 LE][payload]`. A log is records, one per
//! batch, each fsynced before the next is written; so a crash can leave at most one bad record,
//! the last. When replay meets a bad record (header or payload cut short, impossible length,
//! checksum mismatch), it looks for any whole record after it: a plausible length, a matching
//! checksum and a payload that is a batch, at any later byte (the bad record's length field
//! cannot be trusted to say where the next record starts). If one exists, the bad record is
//! damage and replay fails with [`Error::CorruptLog`], leaving the file as it is; only if
//! nothing valid follows is it a torn tail, to be cut off. A record whose checksum matches but
//! whose batch does not decode was written whole: it is damage wherever it is.
//!
//! What this cannot tell apart: a torn last record whose payload happens to contain a whole
//! record of its own (a value that is itself a log record) is taken for damage, and the node
//! refuses to start rather than cut an acknowledged write; and damage followed only by a torn
//! record looks like a torn tail. A header of zeros (a file extended by a crash but never
//! written) is an empty record, which no batch is: torn, not damage.

use crate::{decode, Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// Records larger than this are treated as corrupt length fields.
const MAX_RECORD: u32 = 1 << 30;
/// Bytes of a record's header: its length and its checksum.
pub(super) const HEADER: usize = 8;
/// The first byte of every encoded [`Batch`] (a MessagePack array of two): a cheap filter
/// before a checksum when looking for whole records.
const BATCH_LEAD: u8 = 0x92;

/// One atomic write: its puts and removes.
#[derive(Serialize, Deserialize)]
pub(super) struct Batch {
    pub(super) puts: Vec<(String, serde_bytes::ByteBuf)>,
    pub(super) removes: Vec<String>,
}

/// Every key and value as of the start of `log.<generation>`.
#[derive(Serialize, Deserialize)]
pub(super) struct Snapshot {
    pub(super) generation: u64,
    pub(super) values: BTreeMap<String, serde_bytes::ByteBuf>,
}

/// `payload` framed as a record.
pub(super) fn frame(payload: &[u8]) -> Vec<u8> {
    let mut record = Vec::with_capacity(HEADER + payload.len());
    record.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    record.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    record.extend_from_slice(payload);
    record
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at + 4)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// The payload of the record at the start of `bytes`, or what is wrong with it.
fn record(bytes: &[u8]) -> std::result::Result<&[u8], &'static str> {
    let (Some(len), Some(crc)) = (u32_at(bytes, 0), u32_at(bytes, 4)) else {
        return Err("record header cut short");
    };
    if len > MAX_RECORD {
        return Err("impossible record length");
    }
    if len == 0 {
        // Never written (every batch encodes to some bytes): zeros where a record should be.
        return Err("empty record");
    }
    let payload = bytes
        .get(HEADER..HEADER + len as usize)
        .ok_or("record cut short")?;
    if crc32fast::hash(payload) != crc {
        return Err("checksum mismatch");
    }
    Ok(payload)
}

/// Where the first whole batch record at or after byte `from` starts, if there is one.
fn next_whole_record(bytes: &[u8], from: usize) -> Option<usize> {
    (from..bytes.len()).find(|&at| {
        let rest = &bytes[at..];
        // Cheap tests first: a payload that fits and starts like a batch.
        let fits =
            u32_at(rest, 0).is_some_and(|len| len as usize <= rest.len().saturating_sub(HEADER));
        fits && rest.get(HEADER) == Some(&BATCH_LEAD)
            && record(rest).is_ok_and(|payload| decode::<Batch>(payload).is_ok())
    })
}

/// Applies a batch to the map, keeping `live_bytes` (keys and values held) up to date without
/// walking the whole map: a write costs what it changes, however big the map is.
pub(super) fn apply(values: &mut BTreeMap<String, Vec<u8>>, live_bytes: &mut u64, batch: Batch) {
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

/// Reads a snapshot file's bytes: its generation and values. Any damage is refused: the
/// snapshot is written aside and renamed into place, so it is never torn.
pub(super) fn read_snapshot(path: &Path, bytes: &[u8]) -> Result<(u64, BTreeMap<String, Vec<u8>>)> {
    let bad = |detail: String| Error::CorruptLog {
        path: path.display().to_string(),
        offset: 0,
        detail,
    };
    let payload = record(bytes).map_err(|flaw| bad(flaw.to_string()))?;
    let snapshot: Snapshot = decode(payload).map_err(|e| bad(e.to_string()))?;
    let values = snapshot
        .values
        .into_iter()
        .map(|(k, v)| (k, v.into_vec()))
        .collect();
    Ok((snapshot.generation, values))
}

/// What the replay of a log found.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Replayed {
    /// Batches applied.
    pub(super) batches: u64,
    /// A torn tail: where it starts, and what is wrong with it.
    pub(super) torn: Option<(u64, String)>,
}

/// Replays the log `bytes` (of the file at `path`) into `values`. A torn tail is reported, not
/// applied; damage before the tail fails with [`Error::CorruptLog`].
pub(super) fn replay_log(
    path: &Path,
    bytes: &[u8],
    values: &mut BTreeMap<String, Vec<u8>>,
) -> Result<Replayed> {
    let corrupt = |offset: usize, detail: String| Error::CorruptLog {
        path: path.display().to_string(),
        offset: offset as u64,
        detail,
    };
    let mut replayed = Replayed::default();
    let mut offset = 0usize;
    // The open walks the map once for its live bytes afterwards; this count is only kept
    // consistent for `apply`.
    let mut live: u64 = values.iter().map(|(k, v)| (k.len() + v.len()) as u64).sum();
    while offset < bytes.len() {
        match record(&bytes[offset..]) {
            Ok(payload) => {
                let batch: Batch = decode(payload)
                    .map_err(|e| corrupt(offset, format!("checksum matches but no batch: {e}")))?;
                apply(values, &mut live, batch);
                replayed.batches += 1;
                offset += HEADER + payload.len();
            }
            Err(flaw) => {
                if let Some(next) = next_whole_record(bytes, offset + 1) {
                    return Err(corrupt(
                        offset,
                        format!("{flaw}; a whole record follows at byte {next}"),
                    ));
                }
                replayed.torn = Some((offset as u64, flaw.to_string()));
                break;
            }
        }
    }
    Ok(replayed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode;

    fn batch_record(key: &str, value: &[u8]) -> Vec<u8> {
        let batch = Batch {
            puts: vec![(key.to_string(), serde_bytes::ByteBuf::from(value.to_vec()))],
            removes: vec![],
        };
        frame(&encode(&batch).unwrap())
    }

    #[test]
    fn every_batch_starts_with_the_lead_byte() {
        let empty = Batch {
            puts: vec![],
            removes: vec![],
        };
        assert_eq!(encode(&empty).unwrap()[0], BATCH_LEAD);
        assert_eq!(batch_record("k", &[1; 300])[HEADER], BATCH_LEAD);
    }

    #[test]
    fn whole_records_are_found_at_any_byte() {
        let mut bytes = vec![0u8; 13];
        let record = batch_record("k", b"v");
        bytes.extend_from_slice(&record);
        assert_eq!(next_whole_record(&bytes, 0), Some(13));
        assert_eq!(next_whole_record(&bytes, 14), None);
        // Zeros (an extended file) are not a record: an empty payload does not count.
        assert_eq!(next_whole_record(&[0u8; 64], 0), None);
        bytes.pop();
        assert_eq!(
            next_whole_record(&bytes, 0),
            None,
            "a cut record is not whole"
        );
    }
}
