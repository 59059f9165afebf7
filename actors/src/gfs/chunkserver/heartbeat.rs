//! The chunkserver and the master: the heartbeat to every master replica (what it holds, and
//! the leases to extend), the leader's answer (replicas to delete, leases extended, reads
//! confirmed), and the master's orders (create a chunk, take a new version, delete chunks).

use super::lease::PrimaryState;
use super::{ns, refusal, Chunkserver};
use crate::gfs::chunk::{ChunkError, ChunkHandle, ChunkVersion};
use crate::gfs::MASTER;
use actix::{ActorFutureExt, AsyncContext, Context, WrapFuture};
use std::time::Duration;
use tokio::sync::oneshot;
use troupe_messages::gfs::{
    ChunkAck, ChunkRefusal, CreateChunk, DeleteChunks, Heartbeat, HeartbeatReply, NewVersion,
};

impl Chunkserver {
    /// Sends a heartbeat to every master replica; the leader's answer is handled as it comes.
    pub(super) fn heartbeat(&mut self, ctx: &mut Context<Self>) {
        let sent_at = self.now();
        let reported: Vec<(ChunkHandle, ChunkVersion)> = self
            .store
            .report()
            .into_iter()
            .map(|(h, v, _)| (h, v))
            .collect();
        let extend = self.leases.to_extend(sent_at);
        let holding = self.leases.running(sent_at);
        let server = self.node.id();
        let masters = self.plan.masters.clone();
        let answers = self.call_all(
            &masters,
            MASTER,
            |_| Heartbeat {
                server,
                chunks: reported.clone(),
                extend: extend.clone(),
                holding: holding.clone(),
            },
            self.call_timeout(),
            1,
        );
        ctx.spawn(answers.into_actor(self).map(move |answers, act, _| {
            for (_, answer) in answers {
                // Followers answer NotLeader; a replica that did not answer says nothing.
                if let Some(HeartbeatReply::Ack {
                    delete,
                    extended,
                    lease_ms,
                    serve_ms,
                }) = answer
                {
                    act.answered(sent_at, &reported, &delete, &extended, lease_ms, serve_ms);
                }
            }
        }));
    }

    /// The leader answered the heartbeat sent at `sent_at` that reported `reported`.
    fn answered(
        &mut self,
        sent_at: u64,
        reported: &[(ChunkHandle, ChunkVersion)],
        delete: &[ChunkHandle],
        extended: &[ChunkHandle],
        lease_ms: u64,
        serve_ms: u64,
    ) {
        // Deletions first, so a stale replica is never served under the new confirmation. A
        // replica whose version changed since the heartbeat was sent is not the one the master
        // judged: the next heartbeat reports it again.
        for handle in delete {
            let judged = reported.iter().find(|(h, _)| h == handle).map(|(_, v)| *v);
            if judged.is_some() && self.store.version(*handle).ok() == judged {
                match self.store.delete(*handle) {
                    Ok(()) => {
                        tracing::info!(node = %self.node.id(), chunk = %handle, "deleted at the master's word")
                    }
                    Err(e) => {
                        tracing::warn!(node = %self.node.id(), chunk = %handle, "delete failed: {e}")
                    }
                }
                self.leases.forget(*handle);
            }
        }
        let now = self.now();
        let ms = |m: u64| ns(Duration::from_millis(m));
        self.leases
            .answered(sent_at, extended, ms(lease_ms), ms(serve_ms), now);
        let started: Vec<_> = std::mem::take(&mut self.lease_waiters);
        for (handle, waiter) in started {
            if self.leases.is_pending(handle) {
                self.lease_waiters.push((handle, waiter));
            } else {
                // The mutation may have given up waiting.
                let _ = waiter.send(());
            }
        }
    }

    /// A mutation of `handle` waits for its pending lease to start: a heartbeat goes at once
    /// (unless another mutation already asked), and the answer is sent when a heartbeat's answer starts the lease (or drops it).
    pub(super) fn wait_for_lease(
        &mut self,
        handle: ChunkHandle,
        ctx: &mut Context<Self>,
    ) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        let asked = self.lease_waiters.iter().any(|(h, _)| *h == handle);
        self.lease_waiters.push((handle, tx));
        if !asked {
            self.heartbeat(ctx);
        }
        rx
    }

    /// `CreateChunk`: an empty chunk at its first version; done already if it is there at that
    /// version.
    pub(super) fn on_create(&mut self, msg: CreateChunk) -> ChunkAck {
        match self.store.version(msg.handle) {
            Ok(have) if have == msg.version => ChunkAck::Done,
            Ok(have) => ChunkAck::Failed(ChunkRefusal::WrongVersion {
                have,
                want: msg.version,
            }),
            Err(ChunkError::NoSuchChunk(_)) => match self.store.create(msg.handle, msg.version) {
                Ok(()) => ChunkAck::Done,
                Err(e) => ChunkAck::Failed(refusal(e)),
            },
            Err(e) => ChunkAck::Failed(refusal(e)),
        }
    }

    /// `NewVersion`: persists the chunk's new version (refused if this replica holds a higher
    /// one); the new primary learns its secondaries and asks at once for its lease to start.
    pub(super) fn on_new_version(&mut self, msg: NewVersion, ctx: &mut Context<Self>) -> ChunkAck {
        let have = match self.store.version(msg.handle) {
            Ok(have) => have,
            Err(e) => return ChunkAck::Failed(refusal(e)),
        };
        if have > msg.version {
            return ChunkAck::Failed(ChunkRefusal::WrongVersion {
                have,
                want: msg.version,
            });
        }
        tracing::debug!(node = %self.node.id(), chunk = %msg.handle, %have, new = %msg.version, primary = msg.primary_of.is_some(), "new version");
        if have < msg.version {
            if let Err(e) = self.store.set_version(msg.handle, msg.version) {
                return ChunkAck::Failed(refusal(e));
            }
        }
        match msg.primary_of {
            Some(secondaries) => {
                let now = self.now();
                self.leases
                    .named_primary(msg.handle, msg.version, secondaries, now);
                if self.leases.primary(msg.handle, now) == PrimaryState::Pending {
                    self.heartbeat(ctx);
                }
            }
            None => self.leases.forget(msg.handle),
        }
        ChunkAck::Done
    }

    /// `DeleteChunks`: removes each replica named (one not held is fine).
    pub(super) fn on_delete(&mut self, msg: DeleteChunks) -> ChunkAck {
        let mut failed = false;
        for handle in msg.handles {
            self.leases.forget(handle);
            match self.store.delete(handle) {
                Ok(()) | Err(ChunkError::NoSuchChunk(_)) => {}
                Err(e) => {
                    tracing::warn!(node = %self.node.id(), chunk = %handle, "delete failed: {e}");
                    failed = true;
                }
            }
        }
        if failed {
            ChunkAck::Failed(ChunkRefusal::Storage)
        } else {
            ChunkAck::Done
        }
    }
}
