//! Reading (§2.7.1 of the paper): the client asks the master where a chunk is (and caches the
//! answer), then reads from one replica, asking for the version the master named. A replica
//! that is stale, unconfirmed, corrupt or silent refuses or fails, and the client tries the
//! next; when every replica failed it asks the master again.
//!
//! [`GfsClient::records`] reads a record-append file and keeps each valid record once: record
//! append leaves padding, fragments of failed attempts and duplicates of retried ones between
//! the records (§3.3), and the record format makes them all skippable.

use super::{GfsClient, GfsError};
use crate::gfs::chunk::record::records;
use crate::gfs::CHUNKSERVER;
use std::collections::BTreeSet;
use std::time::Duration;
use tokio::time::Instant;
use troupe_messages::gfs::{ReadChunk, ReadReply};
use troupe_messages::ActorPath;

/// The most bytes one read call asks for (a whole 64 MB chunk is read in pieces).
pub const READ_PIECE: u64 = 1 << 20;

/// A valid record found in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundRecord {
    /// The writer's id for it (the same for every retry of one append).
    pub id: u128,
    /// Its payload.
    pub payload: Vec<u8>,
    /// The index of the chunk it was found in.
    pub chunk: u64,
    /// Where it starts in that chunk.
    pub offset: u64,
}

/// What reading a record-append file found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileRecords {
    /// Each record once, in file order (the first copy of each id).
    pub records: Vec<FoundRecord>,
    /// Copies of a record already found earlier in the file (retried appends, §3.3).
    pub duplicates: u64,
}

impl GfsClient {
    /// Up to `len` bytes of chunk `index` of `path` from `offset` (fewer at the chunk's end),
    /// from one replica at the chunk's current version.
    pub async fn read_chunk(
        &mut self,
        path: &str,
        index: u64,
        offset: u64,
        len: u64,
        deadline: Duration,
    ) -> Result<Vec<u8>, GfsError> {
        let end = Instant::now() + deadline;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(GfsError::Unreadable { index });
            }
            let location = self.locate(path, index, false, left).await?;
            let replicas = location.replicas.len();
            self.read_turn = self.read_turn.wrapping_add(1);
            for k in 0..replicas {
                let server = location.replicas[(self.read_turn + k) % replicas];
                let left = end.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                let request = ReadChunk {
                    handle: location.handle,
                    version: location.version,
                    offset,
                    len,
                };
                let to = ActorPath::new(server, CHUNKSERVER);
                match self
                    .node
                    .call(&to, request, self.timing.call.min(left))
                    .await
                {
                    Ok(ReadReply::Data { version, bytes }) if version >= location.version => {
                        tracing::trace!(%server, %version, chunk = %location.handle, offset, len = bytes.len(), "read");
                        return Ok(bytes);
                    }
                    Ok(ReadReply::Data { version, .. }) => {
                        // A replica must refuse a version below the one asked for; one that
                        // answers anyway is not to be believed.
                        tracing::warn!(%server, %version, want = %location.version, "stale data refused");
                    }
                    Ok(ReadReply::Failed(refusal)) => {
                        tracing::debug!(%server, "read refused: {refusal}");
                    }
                    Err(e) => tracing::debug!(%server, "read failed: {e}"),
                }
            }
            self.forget(path, index);
            let left = end.saturating_duration_since(Instant::now());
            tokio::time::sleep(self.timing.pause.min(left)).await;
        }
    }

    /// The whole of chunk `index` of `path`, read in pieces of [`READ_PIECE`].
    pub async fn read_whole_chunk(
        &mut self,
        path: &str,
        index: u64,
        deadline: Duration,
    ) -> Result<Vec<u8>, GfsError> {
        let end = Instant::now() + deadline;
        let mut bytes = Vec::new();
        loop {
            let left = end.saturating_duration_since(Instant::now());
            let offset = bytes.len() as u64;
            let piece = READ_PIECE.min(self.chunk_size.saturating_sub(offset));
            if piece == 0 {
                return Ok(bytes);
            }
            let got = self.read_chunk(path, index, offset, piece, left).await?;
            let short = (got.len() as u64) < piece;
            bytes.extend_from_slice(&got);
            if short {
                return Ok(bytes);
            }
        }
    }

    /// The whole file: every chunk's bytes, in order.
    pub async fn read_file(&mut self, path: &str, deadline: Duration) -> Result<Vec<u8>, GfsError> {
        let end = Instant::now() + deadline;
        let chunks = self.chunks(path, deadline).await?;
        let mut bytes = Vec::new();
        for index in 0..chunks {
            let left = end.saturating_duration_since(Instant::now());
            bytes.extend(self.read_whole_chunk(path, index, left).await?);
        }
        Ok(bytes)
    }

    /// Every valid record of a record-append file once, in file order, and how many duplicate
    /// copies were skipped.
    pub async fn records(
        &mut self,
        path: &str,
        deadline: Duration,
    ) -> Result<FileRecords, GfsError> {
        let end = Instant::now() + deadline;
        let chunks = self.chunks(path, deadline).await?;
        let mut found = FileRecords::default();
        let mut seen = BTreeSet::new();
        for index in 0..chunks {
            let left = end.saturating_duration_since(Instant::now());
            let bytes = self.read_whole_chunk(path, index, left).await?;
            for record in records(&bytes) {
                if seen.insert(record.id) {
                    found.records.push(FoundRecord {
                        id: record.id,
                        payload: record.payload.to_vec(),
                        chunk: index,
                        offset: record.offset,
                    });
                } else {
                    found.duplicates += 1;
                }
            }
        }
        Ok(found)
    }
}
