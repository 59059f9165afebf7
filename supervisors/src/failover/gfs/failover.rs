//! The GFS failover supervisor: one beside every master replica, acting while that replica
//! serves as the leader. Every scan period it asks its replica what failover is due
//! ([`InspectFailover`]) and [`decide`]s:
//!
//! - chunks below their replica target (a chunkserver stayed down, a stale or corrupt replica
//!   was dropped): start re-replication ([`Rereplicate`]);
//! - a chunk in use whose primary is gone and whose lease has run out: move the lease, by
//!   asking for it as a client would, before any client does. The master names the new
//!   primary only because the old lease has expired; the supervisor never shortens a lease.
//!
//! The master keeps the mechanism (where a clone goes, which replica becomes primary, the
//! version bump); the supervisor owns when failover happens. While a replica does not serve,
//! its view is empty and its supervisor does nothing.

use actix::fut::ActorFutureExt;
use actix::{Actor, AsyncContext, Context, WrapFuture};
use std::collections::BTreeSet;
use std::time::Duration;
use troupe_actors::gfs::{GfsPlan, MASTER};
use troupe_messages::gfs::{
    ChunkHandle, FailoverView, InspectFailover, MasterOp, MasterReply, MasterRequest, Rereplicate,
};
use troupe_runtime::{ActorPath, Node, NodeId};

/// What to do about one view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Start re-replication of the chunks below their target.
    Rereplicate,
    /// Move the lease of `handle`, whose primary `from` is gone and whose lease expired.
    MoveLease {
        /// The chunk.
        handle: ChunkHandle,
        /// The primary it had.
        from: NodeId,
    },
}

/// What the view calls for: re-replication first (a lease waits for a clone to go ahead),
/// then every lease to move.
pub fn decide(view: &FailoverView) -> Vec<Action> {
    if !view.serving {
        return Vec::new();
    }
    let rereplicate = (!view.below_target.is_empty()).then_some(Action::Rereplicate);
    let moves = view
        .leases_to_move
        .iter()
        .map(|&(handle, from)| Action::MoveLease { handle, from });
    rereplicate.into_iter().chain(moves).collect()
}

/// The failover supervisor of one master replica's node.
pub struct GfsFailover {
    node: Node,
    plan: GfsPlan,
    /// The chunkservers it last saw down (to say when one goes down or comes back).
    down: BTreeSet<NodeId>,
    /// Whether a round is still under way.
    busy: bool,
}

impl GfsFailover {
    /// A supervisor for the master replica on `node`.
    pub fn new(node: Node, plan: GfsPlan) -> Self {
        GfsFailover {
            node,
            plan,
            down: BTreeSet::new(),
            busy: false,
        }
    }

    fn master(&self) -> ActorPath {
        ActorPath::new(self.node.id(), MASTER)
    }

    /// One round: ask the replica, then act on what it says.
    fn look(&mut self, ctx: &mut Context<Self>) {
        if self.busy {
            return;
        }
        self.busy = true;
        let (node, master) = (self.node.clone(), self.master());
        let timeout = self.plan.timing.scan;
        let round = async move {
            let view = node
                .call(&master, InspectFailover, timeout)
                .await
                .unwrap_or_default();
            let actions = decide(&view);
            for action in &actions {
                act_on(&node, &master, action, timeout).await;
            }
            view
        };
        ctx.spawn(round.into_actor(self).map(|view, act, _| {
            act.busy = false;
            act.note_down(&view);
        }));
    }

    /// Says which chunkservers went down or came back since the last view.
    fn note_down(&mut self, view: &FailoverView) {
        if !view.serving {
            self.down.clear();
            return;
        }
        let now: BTreeSet<NodeId> = view.down.iter().copied().collect();
        for server in now.difference(&self.down) {
            tracing::info!(node = %self.node.id(), %server, below_target = view.below_target.len(), "gfs failover: chunkserver down; re-replicating its chunks");
        }
        for server in self.down.difference(&now) {
            tracing::info!(node = %self.node.id(), %server, "gfs failover: chunkserver back");
        }
        self.down = now;
    }
}

/// Carries out one action through the master replica at `master`.
async fn act_on(node: &Node, master: &ActorPath, action: &Action, timeout: Duration) {
    match *action {
        Action::Rereplicate => match node.call(master, Rereplicate, timeout).await {
            Ok(0) | Err(_) => {}
            Ok(clones) => tracing::debug!(clones, "gfs failover: clones ordered"),
        },
        Action::MoveLease { handle, from } => {
            let ask = MasterRequest {
                op: MasterOp::Lease { handle },
            };
            match node.call(master, ask, timeout).await {
                Ok(MasterReply::Lease(lease)) => {
                    tracing::info!(%handle, %from, to = %lease.primary, version = %lease.version, "gfs failover: lease moved after its expiry");
                }
                Ok(other) => {
                    tracing::debug!(%handle, "gfs failover: lease not moved yet: {other:?}")
                }
                Err(e) => tracing::debug!(%handle, "gfs failover: lease not moved yet: {e}"),
            }
        }
    }
}

impl Actor for GfsFailover {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let every = self.plan.timing.scan;
        let node = self.node.clone();
        troupe_runtime::timer::run_interval(ctx, &node, "gfs-failover", every, |act, ctx| {
            act.look(ctx)
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(below: &[u64], moves: &[(u64, u32)]) -> FailoverView {
        FailoverView {
            serving: true,
            down: vec![NodeId(3)],
            below_target: below.iter().map(|&h| ChunkHandle(h)).collect(),
            leases_to_move: moves
                .iter()
                .map(|&(h, n)| (ChunkHandle(h), NodeId(n)))
                .collect(),
        }
    }

    #[test]
    fn chunks_below_target_are_re_replicated_before_leases_move() {
        assert_eq!(
            decide(&view(&[1, 2], &[(2, 3)])),
            vec![
                Action::Rereplicate,
                Action::MoveLease {
                    handle: ChunkHandle(2),
                    from: NodeId(3)
                }
            ]
        );
        assert_eq!(
            decide(&view(&[], &[(2, 3)])),
            vec![Action::MoveLease {
                handle: ChunkHandle(2),
                from: NodeId(3)
            }]
        );
        assert_eq!(decide(&view(&[], &[])), vec![]);
    }

    #[test]
    fn a_replica_that_does_not_serve_leaves_failover_to_the_leader() {
        let mut idle = view(&[1], &[(1, 3)]);
        idle.serving = false;
        assert_eq!(decide(&idle), vec![]);
    }
}
