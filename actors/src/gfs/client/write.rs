//! Writing and record append (§3.1-§3.3 of the paper). The client asks the master who holds
//! the chunk's lease (and caches the answer), pushes the data along a chain of the chunk's
//! replicas (§3.2), then sends the mutation to the primary, which picks the order (and, for a
//! record append, the offset) and has every secondary apply it before it answers.
//!
//! A failure anywhere is retried from the start with the same record id, so a record append
//! takes effect at least once: a record may appear twice, or a failed attempt may leave a
//! fragment on some replicas. A record that does not fit in the chunk's rest has the chunk
//! padded, and goes on in the next chunk.

use super::{GfsClient, GfsError};
use crate::gfs::chunk::record::encode_record;
use crate::gfs::CHUNKSERVER;
use std::time::Duration;
use tokio::time::Instant;
use troupe_messages::gfs::{
    ChunkHandle, ChunkRefusal, DataId, LeaseInfo, MasterOp, MasterRefusal, MasterReply, Mutate,
    MutateReply, MutationKind, PushData, PushReply,
};
use troupe_messages::{ActorPath, ClientId};

/// The most bytes one write pushes (a whole chunk is written in pieces).
pub const WRITE_PIECE: u64 = 1 << 20;

/// Where a record append put a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// The record's id: what readers deduplicate by.
    pub id: u128,
    /// The index of the chunk it went to.
    pub chunk: u64,
    /// Its offset in that chunk.
    pub offset: u64,
}

/// How one mutation attempt sequence ended.
enum Mutated {
    /// Written, or appended at this offset.
    Done(Option<u64>),
    /// The chunk was full and padded: go on in the next one.
    ChunkFull,
}

impl GfsClient {
    /// The id of the next record this client appends: its client id's bits and a number.
    fn next_record_id(&mut self) -> u128 {
        self.record_seq += 1;
        self.last_record_id()
    }

    /// The id of record number `seq` of the client `client`, as that client's own
    /// [`GfsClient::record_append`] names it.
    pub fn record_id(client: ClientId, seq: u64) -> u128 {
        (u128::from(client.seed_bits()) << 64) | u128::from(seq)
    }

    /// The id of the record this client appended (or tried to) last: after a timeout, the
    /// id a reader may or may not find.
    pub fn last_record_id(&self) -> u128 {
        Self::record_id(self.id, self.record_seq)
    }

    /// Appends `payload` to `path` as one record (§3.3), at least once: retried until it is on
    /// every replica of a chunk, or until `deadline` (then it may or may not be in the file).
    pub async fn record_append(
        &mut self,
        path: &str,
        payload: &[u8],
        deadline: Duration,
    ) -> Result<Appended, GfsError> {
        let id = self.next_record_id();
        self.record_append_as(path, payload, id, deadline).await
    }

    /// [`GfsClient::record_append`] of a record whose id the caller chose: a gateway appends
    /// for a remote client under that client's id, so that the remote client's retries
    /// (through any node) carry one id and a reader keeps the record once.
    pub async fn record_append_as(
        &mut self,
        path: &str,
        payload: &[u8],
        id: u128,
        deadline: Duration,
    ) -> Result<Appended, GfsError> {
        let end = Instant::now() + deadline;
        let record = encode_record(id, payload);
        let max = self.chunk_size / 4;
        if record.len() as u64 > max {
            return Err(GfsError::TooLarge {
                len: record.len() as u64,
                max,
            });
        }
        // The file's last chunk as this client last saw it; a chunk filled since then answers
        // `ChunkFull` and the append moves on.
        let mut index = match self.last_chunk.get(path) {
            Some(&index) => index,
            None => self.chunks(path, deadline).await?.saturating_sub(1),
        };
        let mut maybe = false;
        let mut asked = false;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            let outcome = self
                .mutate(path, index, &record, MutationKind::Append, left, &mut maybe)
                .await;
            match outcome {
                Ok(Mutated::Done(offset)) => {
                    self.last_chunk.insert(path.to_string(), index);
                    return Ok(Appended {
                        id,
                        chunk: index,
                        offset: offset.unwrap_or_default(),
                    });
                }
                Ok(Mutated::ChunkFull) => {
                    index += 1;
                    self.last_chunk.insert(path.to_string(), index);
                }
                // The file is not as this client remembered it (deleted and made again by
                // another client): ask the master once how many chunks it has.
                Err(GfsError::Refused(MasterRefusal::NoChunkAt { .. })) if !asked => {
                    asked = true;
                    self.last_chunk.remove(path);
                    index = match self.chunks(path, left).await {
                        Ok(chunks) => chunks.saturating_sub(1),
                        Err(e) => return Err(in_doubt(e, maybe)),
                    };
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Creates `path` and writes `data` into it, chunk after chunk, in pieces of at most
    /// [`WRITE_PIECE`].
    pub async fn write_file(
        &mut self,
        path: &str,
        data: &[u8],
        deadline: Duration,
    ) -> Result<(), GfsError> {
        let end = Instant::now() + deadline;
        self.create(path, deadline).await?;
        let mut maybe = false;
        for (index, chunk) in data.chunks(self.chunk_size as usize).enumerate() {
            for (k, piece) in chunk.chunks(WRITE_PIECE as usize).enumerate() {
                let offset = k as u64 * WRITE_PIECE;
                let kind = MutationKind::Write { offset };
                let left = end.saturating_duration_since(Instant::now());
                self.mutate(path, index as u64, piece, kind, left, &mut maybe)
                    .await?;
            }
        }
        Ok(())
    }

    /// Who holds the lease of `handle`: cached, else asked of the master.
    async fn lease_of(
        &mut self,
        handle: ChunkHandle,
        deadline: Duration,
    ) -> Result<LeaseInfo, GfsError> {
        if let Some(lease) = self.leases.get(&handle) {
            return Ok(lease.clone());
        }
        match self.master(MasterOp::Lease { handle }, deadline).await {
            Ok((MasterReply::Lease(lease), _)) => {
                self.leases.insert(handle, lease.clone());
                Ok(lease)
            }
            Err((refusal, _)) => Err(GfsError::Refused(refusal)),
            Ok(_) => Err(GfsError::Timeout {
                maybe_applied: false,
            }),
        }
    }

    /// Applies `data` to chunk `index` of `path` (adding the chunk if the file ends before
    /// it) as `kind`, retrying until it is done on every replica or `deadline` passes.
    /// `maybe` is set once an attempt may have taken effect.
    async fn mutate(
        &mut self,
        path: &str,
        index: u64,
        data: &[u8],
        kind: MutationKind,
        deadline: Duration,
        maybe: &mut bool,
    ) -> Result<Mutated, GfsError> {
        let end = Instant::now() + deadline;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(GfsError::Timeout {
                    maybe_applied: *maybe,
                });
            }
            let location = match self.locate(path, index, true, left).await {
                Ok(location) => location,
                Err(GfsError::Refused(r)) => return Err(in_doubt(GfsError::Refused(r), *maybe)),
                Err(_) => {
                    return Err(GfsError::Timeout {
                        maybe_applied: *maybe,
                    })
                }
            };
            let left = end.saturating_duration_since(Instant::now());
            let lease = match self.lease_of(location.handle, left).await {
                Ok(lease) => lease,
                Err(GfsError::Refused(MasterRefusal::NoSuchChunk(_))) => {
                    self.forget(path, index);
                    continue;
                }
                Err(GfsError::Refused(r)) => return Err(in_doubt(GfsError::Refused(r), *maybe)),
                Err(_) => {
                    return Err(GfsError::Timeout {
                        maybe_applied: *maybe,
                    })
                }
            };
            match self.attempt(&lease, data, kind, end).await {
                Attempt::Done(outcome) => return Ok(outcome),
                Attempt::TooLarge { len, max } => {
                    return Err(in_doubt(GfsError::TooLarge { len, max }, *maybe))
                }
                Attempt::Retry {
                    maybe_applied,
                    stale,
                } => {
                    *maybe |= maybe_applied;
                    if stale {
                        self.leases.remove(&lease.handle);
                        self.forget(path, index);
                    }
                    let left = end.saturating_duration_since(Instant::now());
                    tokio::time::sleep(self.timing.pause.min(left)).await;
                }
            }
        }
    }

    /// One try: push the data along the lease's replicas, then send the mutation to the
    /// primary.
    async fn attempt(
        &mut self,
        lease: &LeaseInfo,
        data: &[u8],
        kind: MutationKind,
        end: Instant,
    ) -> Attempt {
        self.push_seq += 1;
        let id = DataId {
            client: self.id,
            seq: self.push_seq,
        };
        // The chain: the primary first, then the secondaries (§3.2 orders it by distance;
        // every replica is as far as any other here).
        let mut chain = vec![lease.primary];
        chain.extend(&lease.secondaries);
        let push = PushData {
            id,
            data: data.to_vec(),
            forward: chain[1..].to_vec(),
        };
        let left = end.saturating_duration_since(Instant::now());
        let first = ActorPath::new(chain[0], CHUNKSERVER);
        // The push's answer waits for the whole chain: allow a call per hop.
        let push_timeout = (self.timing.call * chain.len() as u32).min(left);
        match self.node.call(&first, push, push_timeout).await {
            Ok(PushReply::Stored) => {}
            Ok(PushReply::Failed { at }) => {
                tracing::debug!(%at, "push failed");
                return Attempt::Retry {
                    maybe_applied: false,
                    stale: true,
                };
            }
            Err(e) => {
                tracing::debug!("push failed: {e}");
                return Attempt::Retry {
                    maybe_applied: false,
                    stale: true,
                };
            }
        }
        let mutate = Mutate {
            handle: lease.handle,
            version: lease.version,
            data: id,
            kind,
        };
        let left = end.saturating_duration_since(Instant::now());
        let timeout = (self.timing.call * 2).min(left);
        match self.node.call(&first, mutate, timeout).await {
            Ok(MutateReply::Written) => Attempt::Done(Mutated::Done(None)),
            Ok(MutateReply::Appended { offset }) => {
                tracing::trace!(primary = %lease.primary, secondaries = ?lease.secondaries, version = %lease.version, chunk = %lease.handle, offset, "appended");
                Attempt::Done(Mutated::Done(Some(offset)))
            }
            Ok(MutateReply::ChunkFull) => Attempt::Done(Mutated::ChunkFull),
            Ok(MutateReply::Failed(ChunkRefusal::TooLarge { len, max })) => {
                Attempt::TooLarge { len, max }
            }
            Ok(MutateReply::Failed(refusal)) => {
                tracing::debug!(primary = %lease.primary, "mutation failed: {refusal}");
                let maybe_applied = matches!(refusal, ChunkRefusal::SecondaryFailed(_));
                let stale = !matches!(refusal, ChunkRefusal::NoData);
                Attempt::Retry {
                    maybe_applied,
                    stale,
                }
            }
            Err(e) => {
                tracing::debug!(primary = %lease.primary, "mutation failed: {e}");
                Attempt::Retry {
                    maybe_applied: true,
                    stale: true,
                }
            }
        }
    }
}

/// `e`, marked in doubt when an earlier attempt may have taken effect.
fn in_doubt(e: GfsError, maybe: bool) -> GfsError {
    if maybe {
        GfsError::InDoubt(Box::new(e))
    } else {
        e
    }
}

/// How one try ended.
enum Attempt {
    /// Done on every replica (or the chunk is full).
    Done(Mutated),
    /// The record is too large for any chunk.
    TooLarge { len: u64, max: u64 },
    /// Try again; `stale`: ask the master afresh who holds the lease.
    Retry { maybe_applied: bool, stale: bool },
}
