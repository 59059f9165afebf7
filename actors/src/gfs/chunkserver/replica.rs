//! A replica's bytes going out and coming in: reads (only with versions the master confirmed
//! recently, and never of a corrupt block), fetches by another chunkserver, the repair of a
//! corrupt block from a good replica (§5.2), and clones for re-replication (§4.3).

use super::{refusal, Chunkserver};
use crate::gfs::chunk::{ChunkHandle, ChunkVersion, ReadOutcome, BLOCK_SIZE};
use crate::gfs::{CHUNKSERVER, MASTER};
use actix::{ActorFutureExt, AsyncContext, Context, ResponseActFuture, WrapFuture};
use troupe_messages::gfs::{
    ChunkAck, ChunkRefusal, CloneChunk, FetchChunk, ReadChunk, ReadReply, RepairFrom, ReportCorrupt,
};
use troupe_runtime::plant::{self, Bug};
use troupe_runtime::ActorPath;

impl Chunkserver {
    /// `ReadChunk`: refused while the master has not confirmed this server's versions
    /// recently, or when this replica is older than the version asked; a corrupt block is
    /// refused and repaired.
    pub(super) fn on_read(&mut self, msg: ReadChunk, ctx: &mut Context<Self>) -> ReadReply {
        let checked = !plant::armed(Bug::StaleReplicaServed);
        if checked && !self.leases.confirmed(self.now()) {
            self.counters.reads += 1;
            return ReadReply::Failed(ChunkRefusal::Unconfirmed);
        }
        let have = match self.store.version(msg.handle) {
            Ok(have) => have,
            Err(e) => return ReadReply::Failed(refusal(e)),
        };
        if checked && have < msg.version {
            self.counters.reads += 1;
            return ReadReply::Failed(ChunkRefusal::WrongVersion {
                have,
                want: msg.version,
            });
        }
        let reply = self.read_verified(msg.handle, have, msg.offset, msg.len, ctx);
        if matches!(reply, ReadReply::Data { .. }) {
            self.counters.reads += 1;
        }
        reply
    }

    /// `FetchChunk`: the whole chunk or one block, at exactly the version asked, verified.
    pub(super) fn on_fetch(&mut self, msg: FetchChunk, ctx: &mut Context<Self>) -> ReadReply {
        let have = match self.store.version(msg.handle) {
            Ok(have) => have,
            Err(e) => return ReadReply::Failed(refusal(e)),
        };
        if have != msg.version {
            return ReadReply::Failed(ChunkRefusal::WrongVersion {
                have,
                want: msg.version,
            });
        }
        let (offset, len) = match msg.block {
            Some(block) => (block.saturating_mul(BLOCK_SIZE), BLOCK_SIZE),
            None => (0, self.plan.chunk.chunk_size),
        };
        self.read_verified(msg.handle, have, offset, len, ctx)
    }

    /// The bytes, or `Corrupt` with the repair of the block started.
    fn read_verified(
        &mut self,
        handle: ChunkHandle,
        version: ChunkVersion,
        offset: u64,
        len: u64,
        ctx: &mut Context<Self>,
    ) -> ReadReply {
        match self.store.read(handle, offset, len) {
            Ok(ReadOutcome::Data(bytes)) => ReadReply::Data { version, bytes },
            Ok(ReadOutcome::Corrupt { block }) => {
                tracing::warn!(node = %self.node.id(), chunk = %handle, block, "corrupt block found");
                self.repair(handle, block, ctx);
                ReadReply::Failed(ChunkRefusal::Corrupt { block })
            }
            Err(e) => ReadReply::Failed(refusal(e)),
        }
    }

    /// Reports the corrupt block to the masters and, told where good replicas are, copies the
    /// block from one of them. Nothing if that block's repair is already under way.
    fn repair(&mut self, handle: ChunkHandle, block: u64, ctx: &mut Context<Self>) {
        if !self.repairing.insert((handle, block)) {
            return;
        }
        self.counters.corrupt_found += 1;
        let me = self.node.id();
        let timeout = self.call_timeout();
        let reports = self.call_all(
            &self.plan.masters.clone(),
            MASTER,
            |_| ReportCorrupt {
                server: me,
                handle,
                block,
            },
            timeout,
            1,
        );
        let node = self.node.clone();
        let fetch = async move {
            let sources = reports.await.into_iter().find_map(|(_, a)| match a {
                Some(RepairFrom::Replicas { version, replicas }) => Some((version, replicas)),
                _ => None,
            });
            let (version, replicas) = sources?;
            for source in replicas.into_iter().filter(|r| *r != me) {
                let ask = FetchChunk {
                    handle,
                    version,
                    block: Some(block),
                };
                let path = ActorPath::new(source, CHUNKSERVER);
                if let Ok(ReadReply::Data { bytes, .. }) = node.call(&path, ask, timeout).await {
                    return Some((version, bytes));
                }
            }
            None
        };
        ctx.spawn(fetch.into_actor(self).map(move |good, act, _| {
            act.repairing.remove(&(handle, block));
            let Some((version, bytes)) = good else {
                tracing::warn!(node = %act.node.id(), chunk = %handle, block, "no good copy to repair from yet");
                return;
            };
            // A replica older than the master's version is stale: the master deletes it.
            if act.store.version(handle).ok() != Some(version) {
                return;
            }
            // A write may have replaced the whole block meanwhile.
            let still_corrupt = matches!(
                act.store.read(handle, block * BLOCK_SIZE, BLOCK_SIZE),
                Ok(ReadOutcome::Corrupt { block: b }) if b == block
            );
            if !still_corrupt {
                return;
            }
            match act.store.repair_block(handle, block, &bytes) {
                Ok(()) => {
                    act.counters.repaired += 1;
                    tracing::info!(node = %act.node.id(), chunk = %handle, block, "corrupt block repaired");
                }
                Err(e) => {
                    tracing::warn!(node = %act.node.id(), chunk = %handle, block, "repair failed: {e}")
                }
            }
        }));
    }

    /// `CloneChunk`: copies the chunk at the version asked from another replica, replacing
    /// any local copy. The copy is written at version 0 and takes its version last, so a crash
    /// halfway leaves a replica the master sees as stale.
    pub(super) fn on_clone(&mut self, msg: CloneChunk) -> ResponseActFuture<Self, ChunkAck> {
        let node = self.node.clone();
        let timeout = self.call_timeout() * 4;
        let ask = FetchChunk {
            handle: msg.handle,
            version: msg.version,
            block: None,
        };
        let path = ActorPath::new(msg.from, CHUNKSERVER);
        let fetch = async move { node.call(&path, ask, timeout).await };
        Box::pin(
            fetch
                .into_actor(self)
                .map(move |reply, act, _| match reply {
                    Ok(ReadReply::Data { version, bytes }) if version == msg.version => {
                        match act.install_clone(msg.handle, version, &bytes) {
                            Ok(()) => {
                                tracing::info!(node = %act.node.id(), chunk = %msg.handle, from = %msg.from, %version, len = bytes.len(), "cloned");
                                act.counters.cloned += 1;
                                ChunkAck::Done
                            }
                            Err(why) => ChunkAck::Failed(why),
                        }
                    }
                    Ok(ReadReply::Data { version, .. }) => {
                        ChunkAck::Failed(ChunkRefusal::WrongVersion {
                            have: version,
                            want: msg.version,
                        })
                    }
                    Ok(ReadReply::Failed(why)) => ChunkAck::Failed(why),
                    // The source did not answer.
                    Err(_) => ChunkAck::Failed(ChunkRefusal::SecondaryFailed(msg.from)),
                }),
        )
    }

    fn install_clone(
        &mut self,
        handle: ChunkHandle,
        version: ChunkVersion,
        bytes: &[u8],
    ) -> Result<(), ChunkRefusal> {
        self.leases.forget(handle);
        if self.store.version(handle).is_ok() {
            self.store.delete(handle).map_err(refusal)?;
        }
        self.store
            .create(handle, ChunkVersion::default())
            .map_err(refusal)?;
        let written = self
            .store
            .write_at(handle, 0, bytes)
            .and_then(|()| self.store.set_version(handle, version));
        if let Err(e) = written {
            // Best effort: a half copy left at version 0 is stale to the master anyway.
            let _ = self.store.delete(handle);
            return Err(refusal(e));
        }
        Ok(())
    }
}
