//! The master and its chunkservers: heartbeats, from which the serving leader learns where
//! replicas are, which are stale or orphaned (deleted through the answer), and which leases to
//! extend (§2.6.2, §3.1, §4.4, §4.5); corrupt blocks (§5.2); the periodic scan that revokes
//! leases and reclaims deleted files (§4.4); clones of under-replicated chunks (§4.3) when the
//! failover supervisor asks, and what failover it sees due. And what a master replica says of
//! itself when inspected.

use super::calls::order_all;
use super::{ms, ns, MasterServer, Role};
use crate::gfs::master::Effect;
use actix::{fut, ActorFutureExt, AsyncContext, Context, Handler, ResponseActFuture, WrapFuture};
use troupe_messages::gfs::{
    CloneChunk, CreateChunk, FailoverView, Heartbeat, HeartbeatReply, InspectFailover,
    InspectMaster, MasterStatus, RepairFrom, ReportCorrupt, Rereplicate, RevokeLease,
};
use troupe_messages::NodeId;

impl Handler<Heartbeat> for MasterServer {
    type Result = ResponseActFuture<Self, HeartbeatReply>;

    fn handle(&mut self, beat: Heartbeat, _: &mut Context<Self>) -> Self::Result {
        let now = self.node.now_ns();
        let timing = self.options.plan.timing;
        let retry = ns(timing.heartbeat);
        let Ok((term, core)) = self.serving() else {
            return Box::pin(fut::ready(HeartbeatReply::NotLeader));
        };
        let server = beat.server;
        let effects = core.heartbeat(server, beat.chunks, now);
        for handle in beat.holding {
            if core.adopt_lease(handle, server, now) {
                tracing::debug!(%handle, primary = %server, "running lease adopted");
            }
        }
        let mut extended = Vec::new();
        for handle in beat.extend {
            if self.gates.wait(handle, now, retry).is_some() {
                continue;
            }
            let granted = self
                .core_of(term)
                .is_some_and(|core| core.extend_lease(handle, server, now).is_ok());
            if granted {
                extended.push(handle);
            }
        }
        let (commit, rest) = self.commit_effects(term, effects);
        let delete = rest
            .into_iter()
            .filter_map(|e| match e {
                Effect::Delete { server: s, handle } if s == server => Some(handle),
                _ => None,
            })
            .collect();
        let ack = HeartbeatReply::Ack {
            delete,
            extended,
            lease_ms: ms(timing.lease),
            serve_ms: ms(timing.dead_after),
        };
        Box::pin(commit.map(move |outcome, _, _| match outcome {
            Ok(()) => ack,
            Err(_) => HeartbeatReply::NotLeader,
        }))
    }
}

impl Handler<ReportCorrupt> for MasterServer {
    type Result = RepairFrom;

    fn handle(&mut self, report: ReportCorrupt, _: &mut Context<Self>) -> RepairFrom {
        let now = self.node.now_ns();
        let Ok((_, core)) = self.serving() else {
            return RepairFrom::Unknown;
        };
        let Some(version) = core.version(report.handle) else {
            return RepairFrom::Unknown;
        };
        let replicas: Vec<NodeId> = core
            .up_to_date(report.handle, now)
            .into_iter()
            .filter(|&s| s != report.server)
            .collect();
        if replicas.is_empty() {
            return RepairFrom::Unknown;
        }
        RepairFrom::Replicas { version, replicas }
    }
}

impl Handler<InspectMaster> for MasterServer {
    type Result = MasterStatus;

    fn handle(&mut self, _: InspectMaster, _: &mut Context<Self>) -> MasterStatus {
        let now = self.node.now_ns();
        match &self.role {
            Role::Serving { core, .. } => MasterStatus {
                serving: true,
                files: core.file_count() as u64,
                chunks: core.chunk_count() as u64,
                under_replicated: core.under_replicated(now) as u64,
                live_servers: core.live_servers(now),
            },
            _ => {
                let core = self.committed.core();
                MasterStatus {
                    serving: false,
                    files: core.file_count() as u64,
                    chunks: core.chunk_count() as u64,
                    under_replicated: 0,
                    live_servers: Vec::new(),
                }
            }
        }
    }
}

impl Handler<InspectFailover> for MasterServer {
    type Result = FailoverView;

    fn handle(&mut self, _: InspectFailover, _: &mut Context<Self>) -> FailoverView {
        let now = self.node.now_ns();
        match self.serving() {
            Ok((_, core)) => FailoverView {
                serving: true,
                down: core.down_servers(now),
                below_target: core.below_target(now),
                leases_to_move: core.leases_to_move(now),
            },
            Err(_) => FailoverView::default(),
        }
    }
}

impl Handler<Rereplicate> for MasterServer {
    type Result = u64;

    fn handle(&mut self, _: Rereplicate, ctx: &mut Context<Self>) -> u64 {
        self.start_clones(ctx)
    }
}

impl MasterServer {
    /// Re-replication (§4.3), on the serving leader, when the failover supervisor asks: one
    /// clone for each chunk below its target that can be cloned now. How many were ordered.
    fn start_clones(&mut self, ctx: &mut Context<Self>) -> u64 {
        let now = self.node.now_ns();
        let Ok((term, core)) = self.serving() else {
            return 0;
        };
        let clones = core.tick(now);
        let ordered = clones.len() as u64;
        let timeout = self.options.plan.timing.replication_timeout;
        for effect in clones {
            if let Effect::Create {
                server,
                handle,
                version,
            } = effect
            {
                let node = self.node.clone();
                let order = CreateChunk { handle, version };
                let timeout = self.options.plan.timing.heartbeat * 3;
                let call = async move { order_all(&node, vec![(server, order)], timeout).await };
                ctx.spawn(call.into_actor(self).map(move |done, act, _| {
                    if let (true, Some(core)) = (done.is_empty(), act.core_of(term)) {
                        core.not_told(handle, server);
                    }
                }));
                continue;
            }
            let Effect::Replicate {
                handle,
                version,
                from,
                to,
            } = effect
            else {
                continue;
            };
            let node = self.node.clone();
            let order = CloneChunk {
                handle,
                version,
                from,
            };
            let call = async move { order_all(&node, vec![(to, order)], timeout).await };
            ctx.spawn(call.into_actor(self).map(move |done, act, _| {
                let now = act.node.now_ns();
                if let (false, Some(core)) = (done.is_empty(), act.core_of(term)) {
                    core.replicated(handle, to, now);
                }
            }));
        }
        ordered
    }

    /// Lease revocations (a group member lost, or a clone waiting) and garbage collection, on
    /// the serving leader.
    pub(super) fn scan(&mut self, ctx: &mut Context<Self>) {
        let now = self.node.now_ns();
        let Ok((term, core)) = self.serving() else {
            return;
        };
        let revocations = core.to_revoke(now);
        let reclaimed = core.gc(now);
        for (handle, primary) in revocations {
            if !self.revoking.insert(handle) {
                continue;
            }
            let node = self.node.clone();
            let order = RevokeLease { handle };
            let timeout = self.options.plan.timing.heartbeat * 3;
            let call = async move { order_all(&node, vec![(primary, order)], timeout).await };
            ctx.spawn(call.into_actor(self).map(move |done, act, _| {
                act.revoking.remove(&handle);
                if let (false, Some(core)) = (done.is_empty(), act.core_of(term)) {
                    tracing::debug!(%handle, %primary, "lease revoked for a clone");
                    core.revoked(handle, primary);
                }
            }));
        }
        let (commit, _) = self.commit_effects(term, reclaimed);
        ctx.spawn(commit.map(|outcome, act, _| {
            if let Err(e) = outcome {
                tracing::debug!(node = %act.node.id(), "reclaimed files not committed: {}", e.refusal);
            }
        }));
    }
}
