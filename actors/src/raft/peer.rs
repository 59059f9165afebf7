//! The Raft peer actor: a thin shell around [`RaftCore`]. It ticks the core on a timer, feeds
//! it messages and commands, and carries out its effects in order: persist (term, vote, log and
//! snapshot, atomically), then send, then hand committed entries to the service.
//!
//! Group commit: a handler does not carry out effects itself; it asks for one flush after
//! everything already in the mailbox, so a burst of proposals or of AppendEntries costs one
//! persist (one fsync on a real node) and proposals travel as one AppendEntries per follower.
//!
//! A service embeds a peer by spawning it with a recipient for [`Applied`] and sending it
//! [`Start`] (answered with index, term and whether this peer leads) and [`Snapshot`].

use super::core::{Apply, Effects, RaftConfig, RaftCore};
use super::storage::RaftStorage;
use actix::{Actor, ActorContext, AsyncContext, Context, Handler, Message, Recipient};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::time::Duration;
use troupe_messages::raft::{GetStatus, Index, Peer, RaftStatus, Start, Started};
use troupe_messages::NodeId;
use troupe_runtime::{ActorHandle, ActorPath, ExitReason, Node, Spawned};

/// How many messages a peer's mailbox holds before senders wait (actix's default is 16).
const MAILBOX: usize = 4096;

/// The name a Raft peer registers under.
pub const NAME: &str = "raft";

/// A committed entry or installed snapshot, delivered to the service in log order.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Applied(pub Apply);

/// The service has a snapshot of its state up to `index`: the log before it may go.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Snapshot {
    /// The last index the snapshot covers.
    pub index: Index,
    /// The service's snapshot.
    pub data: Vec<u8>,
}

/// How to run a peer.
#[derive(Debug, Clone)]
pub struct PeerOptions {
    /// Every member of the group, this node included.
    pub members: Vec<NodeId>,
    /// Ticks, timeouts and batching.
    pub config: RaftConfig,
    /// The length of one tick.
    pub tick: Duration,
}

/// The Raft peer actor.
pub struct RaftPeer {
    node: Node,
    me: ActorHandle,
    core: RaftCore,
    storage: RaftStorage,
    service: Recipient<Applied>,
    tick: Duration,
    /// A flush is queued behind the mailbox.
    flush_queued: bool,
    /// Proposals since the last flush wait to be sent.
    proposals_waiting: bool,
}

/// Carry out the effects gathered since the last flush.
#[derive(Message)]
#[rtype(result = "()")]
struct FlushQueued;

impl RaftPeer {
    /// Starts a peer for `service` (a service actor just spawned on `node`) and links the
    /// two: if either stops, the other is stopped too, so that a supervisor of the service's
    /// handle restarts the pair (the peer from what it persisted). If the peer does not start,
    /// the service is stopped and the error returned. Returns the peer's address, for the
    /// service to propose to.
    pub fn spawn_linked<S>(
        node: &Node,
        options: PeerOptions,
        service: &Spawned<S>,
    ) -> troupe_runtime::Result<actix::Addr<RaftPeer>>
    where
        S: Actor<Context = Context<S>> + Handler<Applied>,
    {
        let peer = match RaftPeer::spawn(node, options, service.addr().clone().recipient()) {
            Ok(peer) => peer,
            Err(e) => {
                service
                    .handle()
                    .kill(ExitReason::Failed(format!("raft peer did not start: {e}")));
                return Err(e);
            }
        };
        let (service_handle, peer_handle) = (service.handle().clone(), peer.handle().clone());
        let linked = service_handle.clone();
        peer_handle.on_exit(move |reason| {
            linked.kill(ExitReason::Failed(format!(
                "its raft peer stopped: {reason}"
            )));
        });
        let linked = peer_handle.clone();
        service_handle.on_exit(move |_| linked.kill(ExitReason::Shutdown));
        Ok(peer.into_addr())
    }

    /// Starts a peer on `node` under [`NAME`], restored from what the node persisted; committed
    /// entries go to `service`.
    pub fn spawn(
        node: &Node,
        options: PeerOptions,
        service: Recipient<Applied>,
    ) -> troupe_runtime::Result<Spawned<RaftPeer>> {
        let (storage, durable, snapshot) = RaftStorage::load(node.persister().clone())?;
        let seed = node.with_rng(|rng| rng.gen::<u64>());
        let core = RaftCore::new(
            node.id(),
            &options.members,
            options.config,
            ChaCha8Rng::seed_from_u64(seed),
            durable,
            snapshot,
        );
        Ok(node
            .spawn_with(Some(NAME), |me| RaftPeer {
                node: node.clone(),
                me: me.clone(),
                core,
                storage,
                service,
                tick: options.tick,
                flush_queued: false,
                proposals_waiting: false,
            })?
            .accept::<Peer>()
            .accept::<Start>()
            .accept::<GetStatus>())
    }

    /// Asks for one flush after the messages already queued.
    fn queue_flush(&mut self, ctx: &mut Context<Self>) {
        if !self.flush_queued {
            self.flush_queued = true;
            ctx.notify(FlushQueued);
        }
    }

    /// Carries out the core's effects: persist, then send and apply.
    fn flush(&mut self, ctx: &mut Context<Self>) {
        if std::mem::take(&mut self.proposals_waiting) {
            self.core.replicate();
        }
        let effects = self.core.take_effects();
        if effects.persist_state || effects.persist_snapshot {
            if let Err(e) = self.storage.save(&self.core, &effects) {
                // Nothing may be promised that is not durable: stop, as a crash would.
                tracing::error!(node = %self.node.id(), "raft state not persisted: {e}");
                self.me
                    .stop_with(ExitReason::Failed(format!("persist failed: {e}")));
                ctx.stop();
                return;
            }
        }
        let Effects {
            messages, apply, ..
        } = effects;
        let from = self.node.id();
        for (to, message) in messages {
            let path = ActorPath::new(to, NAME);
            if let Err(e) = self.node.send(&path, Peer { from, message }) {
                tracing::debug!(node = %from, "raft message not sent: {e}");
            }
        }
        for apply in apply {
            self.service.do_send(Applied(apply));
        }
    }
}

impl Actor for RaftPeer {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        // Proposals are queued in the order they were sent only while the mailbox has room:
        // a full one parks senders and may take them in another order.
        ctx.set_mailbox_capacity(MAILBOX);
        // A restored snapshot goes to the service first.
        self.flush(ctx);
        ctx.run_interval(self.tick, |act, ctx| {
            act.core.tick();
            act.flush(ctx);
        });
    }
}

impl Handler<Peer> for RaftPeer {
    type Result = ();
    fn handle(&mut self, msg: Peer, ctx: &mut Context<Self>) {
        tracing::trace!(node = %self.node.id(), from = %msg.from, message = ?msg.message, "raft message");
        self.core.step(msg.from, msg.message);
        self.queue_flush(ctx);
    }
}

impl Handler<Start> for RaftPeer {
    type Result = Started;
    fn handle(&mut self, msg: Start, ctx: &mut Context<Self>) -> Started {
        let (index, term, is_leader) = self.core.propose_later(msg.command);
        self.proposals_waiting |= is_leader;
        self.queue_flush(ctx);
        Started {
            index,
            term,
            is_leader,
            leader: self.core.leader(),
        }
    }
}

impl Handler<FlushQueued> for RaftPeer {
    type Result = ();
    fn handle(&mut self, _: FlushQueued, ctx: &mut Context<Self>) {
        self.flush_queued = false;
        self.flush(ctx);
    }
}

impl Handler<Snapshot> for RaftPeer {
    type Result = ();
    fn handle(&mut self, msg: Snapshot, ctx: &mut Context<Self>) {
        self.core.compact(msg.index, msg.data);
        self.flush(ctx);
    }
}

impl Handler<GetStatus> for RaftPeer {
    type Result = RaftStatus;
    fn handle(&mut self, _: GetStatus, _: &mut Context<Self>) -> RaftStatus {
        self.core.status()
    }
}
