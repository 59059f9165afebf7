//! The record format of record append (§3.3): self-describing records so that a reader can
//! skip what record append leaves between them.
//!
//! GFS guarantees a record is appended at least once, atomically, at an offset of GFS's
//! choosing; between the records, a chunk may hold padding, fragments of failed attempts on
//! some replicas, and duplicates from retries. The paper's applications cope with checksums
//! and unique identifiers in their records (§2.7.2); this is that format:
//!
//! `MAGIC (4) | id (u128 LE, 16) | payload length (u32 LE, 4) | CRC32 of id, length and
//! payload (4) | payload`.
//!
//! Padding is zero bytes ([`PAD_BYTE`]), never the start of a magic. [`records`] yields the
//! valid records, resynchronising on the magic after padding, torn or garbage bytes;
//! [`unique_records`] keeps the first of each id.

use std::collections::BTreeSet;

/// The four bytes every record starts with.
pub const MAGIC: [u8; 4] = *b"GFR\x01";

/// The byte padding is made of.
pub const PAD_BYTE: u8 = 0;

/// The header's length: magic, id, payload length, checksum.
pub const HEADER_LEN: usize = 28;

/// One valid record found in a chunk's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    /// Where the record starts in the bytes read.
    pub offset: u64,
    /// The client's id for it (the same for every retry of one append).
    pub id: u128,
    /// Its payload.
    pub payload: &'a [u8],
}

fn checksum(id: u128, payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&id.to_le_bytes());
    h.update(&(payload.len() as u32).to_le_bytes());
    h.update(payload);
    h.finalize()
}

/// The record `id` with `payload` (at most `u32::MAX` bytes: record appends are far smaller,
/// a quarter chunk at most), as appended to a chunk.
pub fn encode_record(id: u128, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&id.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&checksum(id, payload).to_le_bytes());
    out.extend_from_slice(payload);
    out
}

/// The valid record at the start of `bytes`, if there is one.
fn parse(bytes: &[u8], offset: u64) -> Option<Record<'_>> {
    let header = bytes.get(..HEADER_LEN)?;
    if header[..4] != MAGIC {
        return None;
    }
    let id = u128::from_le_bytes(header[4..20].try_into().ok()?);
    let len = u32::from_le_bytes(header[20..24].try_into().ok()?) as usize;
    let crc = u32::from_le_bytes(header[24..28].try_into().ok()?);
    let payload = bytes.get(HEADER_LEN..HEADER_LEN.checked_add(len)?)?;
    (checksum(id, payload) == crc).then_some(Record {
        offset,
        id,
        payload,
    })
}

/// The valid records of `bytes`, in order, skipping padding, torn and garbage regions.
pub fn records(bytes: &[u8]) -> Records<'_> {
    Records { bytes, pos: 0 }
}

/// The iterator of [`records`].
#[derive(Debug, Clone)]
pub struct Records<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Iterator for Records<'a> {
    type Item = Record<'a>;

    fn next(&mut self) -> Option<Record<'a>> {
        while self.pos < self.bytes.len() {
            let rest = &self.bytes[self.pos..];
            if let Some(record) = parse(rest, self.pos as u64) {
                self.pos += HEADER_LEN + record.payload.len();
                return Some(record);
            }
            // Not a record here: resynchronise on the next magic.
            match rest[1..].windows(MAGIC.len()).position(|w| w == MAGIC) {
                Some(skip) => self.pos += 1 + skip,
                None => self.pos = self.bytes.len(),
            }
        }
        None
    }
}

/// Each valid record of `bytes` once: the first of each id (a retried append's duplicates,
/// which GFS may leave, §3.3, are dropped).
pub fn unique_records(bytes: &[u8]) -> Vec<Record<'_>> {
    let mut seen = BTreeSet::new();
    records(bytes).filter(|r| seen.insert(r.id)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_round_trips() {
        let bytes = encode_record(42, b"hello");
        assert_eq!(bytes.len(), HEADER_LEN + 5);
        let got: Vec<_> = records(&bytes).collect();
        assert_eq!(
            got,
            vec![Record {
                offset: 0,
                id: 42,
                payload: b"hello"
            }]
        );
    }

    #[test]
    fn padding_garbage_and_torn_records_are_skipped() {
        let mut bytes = vec![PAD_BYTE; 10];
        bytes.extend(encode_record(1, b"one"));
        bytes.extend(b"garbage GFR nonsense");
        let torn = encode_record(2, b"a torn record");
        bytes.extend(&torn[..torn.len() - 3]);
        let at = bytes.len() as u64;
        bytes.extend(encode_record(3, b"three"));
        bytes.extend(vec![PAD_BYTE; 7]);
        let got: Vec<_> = records(&bytes)
            .map(|r| (r.offset, r.id, r.payload))
            .collect();
        assert_eq!(got, vec![(10, 1, &b"one"[..]), (at, 3, &b"three"[..])]);
    }

    #[test]
    fn a_flipped_payload_byte_drops_the_record() {
        let mut bytes = encode_record(5, b"payload");
        bytes[HEADER_LEN + 2] ^= 1;
        bytes.extend(encode_record(6, b"next"));
        let ids: Vec<_> = records(&bytes).map(|r| r.id).collect();
        assert_eq!(ids, vec![6]);
    }

    #[test]
    fn a_record_containing_the_magic_is_read_whole() {
        let mut payload = MAGIC.to_vec();
        payload.extend(encode_record(9, b"inner"));
        let bytes = encode_record(8, &payload);
        let ids: Vec<_> = records(&bytes).map(|r| r.id).collect();
        assert_eq!(ids, vec![8]);
    }

    #[test]
    fn duplicates_are_kept_once_first_first() {
        let mut bytes = encode_record(1, b"a");
        bytes.extend(encode_record(2, b"b"));
        bytes.extend(encode_record(1, b"a"));
        assert_eq!(records(&bytes).count(), 3);
        let unique: Vec<_> = unique_records(&bytes)
            .iter()
            .map(|r| (r.offset, r.id))
            .collect();
        assert_eq!(unique, vec![(0, 1), (HEADER_LEN as u64 + 1, 2)]);
    }
}
