//! Clients' calls to the serving master (§2.7, §3.1, §4.1): the namespace, where chunks are,
//! new chunks at a file's end, and leases. A change answers once its records are committed;
//! a new chunk once the chosen chunkservers created it; a new lease once every up-to-date
//! replica has the new version.

use super::calls::order_all;
use super::{ms, ns, MasterServer};
use crate::gfs::master::namespace::HIDDEN_PREFIX;
use crate::gfs::master::{ChunkHandle, ChunkVersion, Effect, MasterCore, MasterError, Refusal};
use actix::{fut, ActorFutureExt, Context, Handler, ResponseActFuture, WrapFuture};
use troupe_messages::gfs::{
    ChunkLocation, CreateChunk, LeaseInfo, MasterOp, MasterRefusal, MasterReply, MasterRequest,
    NewVersion,
};
use troupe_messages::raft::Term;
use troupe_messages::NodeId;

type Reply = ResponseActFuture<MasterServer, MasterReply>;

fn answer(reply: MasterReply) -> Reply {
    Box::pin(fut::ready(reply))
}

fn refused(refusal: MasterRefusal) -> Reply {
    answer(MasterReply::Refused(refusal))
}

/// A namespace failure as the client hears it.
fn from_error(e: MasterError) -> MasterRefusal {
    match e {
        MasterError::NotAbsolute(path) => MasterRefusal::BadPath(path),
        MasterError::Exists(path) => MasterRefusal::Exists(path),
        MasterError::NoSuchFile(path) => MasterRefusal::NoSuchFile(path),
        MasterError::BadRecord(_) => MasterRefusal::Unavailable,
    }
}

/// How long to wait, from `now`, for something possible at `until` (at least 1 ms).
fn wait_for(until: u64, now: u64) -> MasterRefusal {
    let ms = until.saturating_sub(now).div_ceil(1_000_000).max(1);
    MasterRefusal::WaitForLease { ms }
}

/// A chunk refusal as the client hears it (`scan`: how often re-replication starts, ns).
fn from_refusal(r: Refusal, path: &str, handle: ChunkHandle, now: u64, scan: u64) -> MasterRefusal {
    match r {
        Refusal::NoSuchFile => MasterRefusal::NoSuchFile(path.to_string()),
        Refusal::NoChunkAt { index } => MasterRefusal::NoChunkAt {
            index: index as u64,
        },
        Refusal::NoSuchChunk => MasterRefusal::NoSuchChunk(handle),
        Refusal::NoLiveReplica | Refusal::NotPrimary => MasterRefusal::NoLiveReplica,
        Refusal::WaitForLease { until } => wait_for(until, now),
        Refusal::BelowTarget => wait_for(now.saturating_add(scan), now),
    }
}

/// The chunks of a visible file.
fn visible_chunks(core: &MasterCore, path: &str) -> Result<Vec<ChunkHandle>, MasterRefusal> {
    if path.starts_with(HIDDEN_PREFIX) {
        return Err(MasterRefusal::NoSuchFile(path.to_string()));
    }
    core.chunks_of(path).map_err(from_error)
}

/// Where chunk `index` of `path` is.
fn locate(core: &MasterCore, path: &str, index: u64, now: u64) -> MasterReply {
    let Ok(at) = usize::try_from(index) else {
        return MasterReply::Refused(MasterRefusal::NoChunkAt { index });
    };
    match core.locations(path, at, now) {
        Ok((handle, version, replicas)) => MasterReply::Located(ChunkLocation {
            index,
            handle,
            version,
            replicas,
        }),
        Err(r) => MasterReply::Refused(from_refusal(r, path, ChunkHandle(0), now, 0)),
    }
}

impl Handler<MasterRequest> for MasterServer {
    type Result = Reply;

    fn handle(&mut self, req: MasterRequest, _: &mut Context<Self>) -> Reply {
        let now = self.node.now_ns();
        let (term, core) = match self.serving() {
            Ok(serving) => serving,
            Err(refusal) => return refused(refusal),
        };
        match req.op {
            MasterOp::Create { path } => match core.create(&path) {
                Ok(record) => self.committed_then(term, vec![Effect::Persist(record)]),
                Err(e) => refused(from_error(e)),
            },
            MasterOp::Delete { path } => match core.delete(&path, now) {
                Ok(record) => self.committed_then(term, vec![Effect::Persist(record)]),
                Err(e) => refused(from_error(e)),
            },
            MasterOp::List { dir } => {
                let listed = MasterReply::Listed(core.list(&dir));
                self.after_writes(listed)
            }
            MasterOp::Stat { path } => {
                let stat = match visible_chunks(core, &path) {
                    Ok(chunks) => MasterReply::Stat {
                        chunks: chunks.len() as u64,
                    },
                    Err(r) => MasterReply::Refused(r),
                };
                self.after_writes(stat)
            }
            MasterOp::Locate { path, index } => {
                let located = locate(core, &path, index, now);
                self.after_writes(located)
            }
            MasterOp::AddChunk { path, index } => self.add_chunk(term, path, index, now),
            MasterOp::Lease { handle } => self.lease(term, handle, now),
        }
    }
}

impl MasterServer {
    /// How long an order to chunkservers may take: three heartbeats.
    fn order_timeout(&self) -> std::time::Duration {
        self.options.plan.timing.heartbeat * 3
    }

    /// `reply`, read from the serving core, once the writes applied before it are committed.
    fn after_writes(&mut self, reply: MasterReply) -> Reply {
        let Some(wait) = self.fence.read() else {
            return answer(reply);
        };
        let timeout = self.options.commit_timeout;
        let read = async move {
            match tokio::time::timeout(timeout, wait).await {
                Ok(Ok(Ok(()))) => reply,
                Ok(Ok(Err(refusal))) => MasterReply::Refused(refusal),
                _ => MasterReply::Refused(MasterRefusal::Unavailable),
            }
        };
        Box::pin(read.into_actor(self))
    }

    /// `Done` once the records among `effects` are committed.
    fn committed_then(&mut self, term: Term, effects: Vec<Effect>) -> Reply {
        let (commit, _) = self.commit_effects(term, effects);
        Box::pin(commit.map(|outcome, _, _| match outcome {
            Ok(()) => MasterReply::Done,
            Err(e) => MasterReply::Refused(e.refusal),
        }))
    }

    /// Commits the records among `effects`, then sends `orders` and waits for them: the
    /// servers that acknowledged.
    fn commit_and_order<M>(
        &mut self,
        term: Term,
        effects: Vec<Effect>,
        orders: Vec<(NodeId, M)>,
    ) -> ResponseActFuture<Self, Result<Vec<NodeId>, MasterRefusal>>
    where
        M: troupe_messages::Wire<Result = troupe_messages::gfs::ChunkAck> + Clone,
    {
        let timeout = self.order_timeout();
        let (commit, _) = self.commit_effects(term, effects);
        Box::pin(commit.then(move |outcome, act, _| {
            let node = act.node.clone();
            async move {
                if let Err(e) = &outcome {
                    if !e.proposed {
                        return Err(e.refusal.clone());
                    }
                }
                // Sent even when the commit is in doubt: the record may still commit, and the
                // replicas must not be left behind it (stale, or a chunk nobody created). A
                // version that never commits comes back in the replicas' reports, and a chunk
                // that never commits is an orphan, deleted at its server's next heartbeat.
                let acked = order_all(&node, orders, timeout).await;
                outcome.map(|()| acked).map_err(|e| e.refusal)
            }
            .into_actor(act)
        }))
    }

    /// The chunk at `index` of `path`: the existing one, or a new one at the file's end.
    fn add_chunk(&mut self, term: Term, path: String, index: u64, now: u64) -> Reply {
        let Some(core) = self.core_of(term) else {
            return refused(MasterRefusal::NotReady);
        };
        let have = match visible_chunks(core, &path) {
            Ok(chunks) => chunks.len() as u64,
            Err(r) => return refused(r),
        };
        if have > index {
            let located = locate(core, &path, index, now);
            return self.after_writes(located);
        }
        if have < index {
            return refused(MasterRefusal::NoChunkAt { index });
        }
        if core.live_servers(now).is_empty() {
            return refused(MasterRefusal::NoLiveReplica);
        }
        let (handle, effects) = match core.add_chunk(&path, now) {
            Ok(added) => added,
            Err(e) => return refused(from_error(e)),
        };
        let version = core.version(handle).unwrap_or(ChunkVersion(1));
        let orders: Vec<(NodeId, CreateChunk)> = effects
            .iter()
            .filter_map(|e| match *e {
                Effect::Create {
                    server,
                    handle,
                    version,
                } => Some((server, CreateChunk { handle, version })),
                _ => None,
            })
            .collect();
        let chosen: Vec<NodeId> = orders.iter().map(|(server, _)| *server).collect();
        let created = self.commit_and_order(term, effects, orders);
        Box::pin(
            created
                .map(move |result, act, _| {
                    if let (Ok(acked), Some(core)) = (&result, act.core_of(term)) {
                        for &server in chosen.iter().filter(|s| !acked.contains(s)) {
                            core.not_told(handle, server);
                        }
                    }
                    result
                })
                .map(move |result, _, _| match result {
                    Err(r) => MasterReply::Refused(r),
                    Ok(acked) if acked.is_empty() => {
                        MasterReply::Refused(MasterRefusal::NoLiveReplica)
                    }
                    Ok(replicas) => MasterReply::Located(ChunkLocation {
                        index,
                        handle,
                        version,
                        replicas,
                    }),
                }),
        )
    }

    /// The chunk's lease: the running one, or a new one announced to every up-to-date replica
    /// and usable once each has acknowledged (or could no longer serve the old version).
    fn lease(&mut self, term: Term, handle: ChunkHandle, now: u64) -> Reply {
        let timing = self.options.plan.timing;
        if let Some(until) = self.gates.wait(handle, now, ns(timing.heartbeat)) {
            return refused(wait_for(until, now));
        }
        let Some(core) = self.core_of(term) else {
            return refused(MasterRefusal::NotReady);
        };
        let before = core.version(handle);
        let (lease, effects) = match core.lease(handle, now) {
            Ok(granted) => granted,
            Err(r) => return refused(from_refusal(r, "", handle, now, ns(timing.scan))),
        };
        let info = LeaseInfo {
            handle,
            version: lease.version,
            primary: lease.primary,
            secondaries: lease.secondaries.clone(),
        };
        if effects.is_empty() {
            return self.after_writes(MasterReply::Lease(info));
        }
        let orders: Vec<(NodeId, NewVersion)> = effects
            .iter()
            .filter_map(|e| match *e {
                Effect::SetVersion {
                    server,
                    handle,
                    version,
                } => {
                    let primary_of = (server == lease.primary).then(|| lease.secondaries.clone());
                    Some((
                        server,
                        NewVersion {
                            handle,
                            version,
                            primary_of,
                        },
                    ))
                }
                _ => None,
            })
            .collect();
        let told: Vec<NodeId> = orders.iter().map(|(server, _)| *server).collect();
        let expiry = lease.expiry;
        let info_version = info.version;
        self.gates.starting(handle, expiry);
        // The replicas take the new version first, and the log records it only once one of
        // them has: a version the log holds but no replica does would make every replica
        // stale (and deleted) after a failover. A version some replica holds but the log does
        // not (this leader fell before committing it) comes back in that replica's reports,
        // and the next leader adopts it (§4.5).
        let node = self.node.clone();
        let timeout = self.order_timeout();
        let ordered = async move { order_all(&node, orders, timeout).await };
        let committed = ordered.into_actor(self).then(move |acked, act, _| {
            let done: ResponseActFuture<MasterServer, Result<Vec<NodeId>, MasterRefusal>> = if acked
                .is_empty()
            {
                // Nobody took it: it never happened (it was never proposed either).
                if let (Some(core), Some(before)) = (act.core_of(term), before) {
                    core.undo_version(handle, info_version, before);
                }
                tracing::debug!(%handle, "no replica took the new version: undone");
                let now = act.node.now_ns();
                Box::pin(fut::ready(Err(wait_for(expiry, now))))
            } else {
                let (commit, _) = act.commit_effects(term, effects);
                Box::pin(
                    commit.map(move |outcome, _, _| outcome.map(|()| acked).map_err(|e| e.refusal)),
                )
            };
            done
        });
        Box::pin(committed.map(move |result, act, _| {
            let now = act.node.now_ns();
            let leader = act.leader;
            let Some(core) = act.core_of(term) else {
                return MasterReply::Refused(MasterRefusal::NotLeader { leader });
            };
            let acked = match result {
                Ok(acked) => acked,
                Err(r) => {
                    // The lease never started: it runs out unused.
                    act.gates.block(handle, expiry);
                    return MasterReply::Refused(r);
                }
            };
            let missed: Vec<NodeId> = told.into_iter().filter(|s| !acked.contains(s)).collect();
            for &server in &missed {
                core.not_told(handle, server);
            }
            if missed.is_empty() {
                act.gates.open(handle);
                return MasterReply::Lease(info);
            }
            // A replica that missed the new version may serve the old one until its last
            // heartbeat + dead_after; a primary that missed it never starts the lease.
            let dead_after = ns(timing.dead_after);
            let mut until = missed
                .iter()
                .map(|&s| core.last_heard(s).unwrap_or(now).saturating_add(dead_after))
                .max()
                .unwrap_or(now);
            if missed.contains(&info.primary) {
                until = until.max(expiry);
            }
            act.gates.block(handle, until);
            tracing::debug!(%handle, ?missed, wait_ms = ms(std::time::Duration::from_nanos(until.saturating_sub(now))), "new lease not usable yet");
            MasterReply::Refused(wait_for(until, now))
        }))
    }
}
