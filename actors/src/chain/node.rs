//! The chain node actor: a thin shell around [`ChainCore`]. It turns client requests into core
//! inputs (keeping each caller's reply channel until the core answers), hands peer messages and
//! new configurations to the core, and carries out the core's effects.
//!
//! Group commit: a handler does not carry out effects itself; it asks for one flush after
//! everything already in the mailbox, so a burst of client writes and updates from the
//! predecessor costs one write to storage (one fsync on a real node), and nothing is sent or
//! answered before the writes it depends on are durable. A read, which changes nothing
//! durable, is answered at once when nothing else waits to be made durable.

use super::core::{ChainCore, ChainEffects, RequestId};
use super::storage::ChainStorage;
use actix::{Actor, ActorContext, AsyncContext, Context, Handler, ResponseFuture};
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::sync::oneshot;
use troupe_messages::chain::{
    ChainConfig, ChainInspect, ChainPeer, ChainProbe, ChainReply, ChainRequest, SetChainConfig,
};
use troupe_messages::kv::{KvOp, ReadLocal};
use troupe_runtime::{ActorPath, Node, Spawned};

/// The name the node of chain 0 registers under (the only chain, unless keys are sharded over
/// several).
pub const NAME: &str = "chain/0";

/// The name the node of chain number `chain` registers under: `chain/<number>`. Each server
/// of a sharded store runs one chain node per chain it belongs to.
pub fn name_of(chain: u32) -> String {
    format!("chain/{chain}")
}

/// How long a client request may wait for the chain before the node gives up on it (the
/// client retries with the same sequence number).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

/// How often a node tells its predecessor where it stands (which repairs lost messages).
const TICK: Duration = Duration::from_millis(100);

/// The chain node actor.
pub struct ChainNode {
    node: Node,
    /// The name this node registered under (its chain's).
    name: String,
    core: ChainCore,
    waiting: BTreeMap<RequestId, oneshot::Sender<ChainReply>>,
    next_request: RequestId,
    /// Where the node's state is made durable.
    storage: ChainStorage,
    /// A flush is queued behind the mailbox.
    flush_queued: bool,
}

/// Carry out the effects gathered since the last flush.
#[derive(actix::Message)]
#[rtype(result = "()")]
struct FlushQueued;

impl ChainNode {
    /// Starts the chain node of `node` under [`NAME`]. It keeps its state in the node's
    /// persister and, after a restart, carries on from it (serving clients again once a
    /// supervisor grants it a lease). A node with nothing stored is, in the node's first
    /// incarnation, a founding member of `config` (or of the first configuration it is given),
    /// and otherwise waits, serving nobody, to be added as a joining node.
    pub fn spawn(
        node: &Node,
        config: ChainConfig,
        craq: bool,
    ) -> troupe_runtime::Result<Spawned<ChainNode>> {
        Self::spawn_chain(node, 0, config, craq)
    }

    /// [`ChainNode::spawn`] for chain number `chain`, under [`name_of`]`(chain)`.
    pub fn spawn_chain(
        node: &Node,
        chain: u32,
        config: ChainConfig,
        craq: bool,
    ) -> troupe_runtime::Result<Spawned<ChainNode>> {
        let name = name_of(chain);
        let (storage, held) = ChainStorage::open(node.persister().clone(), &name)?;
        let core = match held {
            Some(stored) => {
                let core = ChainCore::restore(node.id(), craq, stored);
                tracing::info!(node = %node.id(), chain, applied = core.applied(), "chain node restored from its storage");
                core
            }
            None if node.incarnation() == 0 => ChainCore::new(node.id(), config, craq),
            None => ChainCore::rejoining(node.id(), craq),
        };
        let actor = ChainNode {
            node: node.clone(),
            name,
            core,
            waiting: BTreeMap::new(),
            next_request: 0,
            storage,
            flush_queued: false,
        };
        Ok(node
            .spawn_named(&actor.name.clone(), actor)?
            .accept::<ChainPeer>()
            .accept::<ChainRequest>()
            .accept::<SetChainConfig>()
            .accept::<ChainProbe>()
            .accept::<ChainInspect>()
            .accept::<ReadLocal>())
    }

    /// Asks for one flush after the messages already queued.
    fn queue_flush(&mut self, ctx: &mut Context<Self>) {
        if !self.flush_queued {
            self.flush_queued = true;
            ctx.notify(FlushQueued);
        }
    }

    /// Carries out what the core decided: make it durable, then send and answer.
    fn flush(&mut self, ctx: &mut Context<Self>) {
        self.flush_queued = false;
        let mut effects = self.core.take_effects();
        let durable = std::mem::take(&mut effects.durable);
        if let Err(e) = self.storage.record(&self.core, &durable) {
            // Nothing it applied may leave the node undurable: it stops, as if crashed.
            tracing::error!(node = %self.node.id(), "chain node cannot write its state: {e}");
            ctx.stop();
            return;
        }
        let ChainEffects { send, replies, .. } = effects;
        let from = self.node.id();
        for (to, message) in send {
            let path = ActorPath::new(to, self.name.clone());
            if let Err(e) = self.node.send(&path, ChainPeer { from, message }) {
                tracing::debug!(node = %from, %to, "chain message not sent: {e}");
            }
        }
        for (request, reply) in replies {
            if let Some(waiter) = self.waiting.remove(&request) {
                // The caller may have given up; then nobody listens.
                let _ = waiter.send(reply);
            }
        }
    }
}

impl Actor for ChainNode {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(TICK, |node, ctx| {
            node.core.tick();
            node.queue_flush(ctx);
        });
    }
}

impl Handler<FlushQueued> for ChainNode {
    type Result = ();
    fn handle(&mut self, _: FlushQueued, ctx: &mut Context<Self>) {
        self.flush(ctx);
    }
}

impl Handler<ChainProbe> for ChainNode {
    type Result = actix::MessageResult<ChainProbe>;
    fn handle(&mut self, _: ChainProbe, ctx: &mut Context<Self>) -> Self::Result {
        // The answer speaks for what is durable: flush what is gathered first.
        self.flush(ctx);
        actix::MessageResult(self.core.status())
    }
}

impl Handler<ChainInspect> for ChainNode {
    type Result = actix::MessageResult<ChainInspect>;
    fn handle(&mut self, _: ChainInspect, _: &mut Context<Self>) -> Self::Result {
        actix::MessageResult(self.core.view(self.node.now_ns()))
    }
}

impl Handler<ReadLocal> for ChainNode {
    type Result = String;
    fn handle(&mut self, read: ReadLocal, _: &mut Context<Self>) -> String {
        self.core.committed_value(&read.key).to_string()
    }
}

impl Handler<ChainPeer> for ChainNode {
    type Result = ();
    fn handle(&mut self, msg: ChainPeer, ctx: &mut Context<Self>) {
        self.core.receive(msg.from, msg.message);
        self.queue_flush(ctx);
    }
}

impl Handler<SetChainConfig> for ChainNode {
    type Result = ();
    fn handle(&mut self, msg: SetChainConfig, ctx: &mut Context<Self>) {
        let SetChainConfig { config, lease_ms } = msg;
        if config.epoch > self.core.config().epoch {
            tracing::debug!(node = %self.node.id(), epoch = config.epoch, chain = ?config.nodes, "new chain configuration");
        }
        // A grant for the configuration this node runs (or a newer one) extends its lease.
        if config.epoch >= self.core.config().epoch {
            let until = lease_ms.map(|ms| self.node.now_ns() + ms * 1_000_000);
            self.core.grant_lease(until);
        }
        self.core.reconfigure(config);
        self.queue_flush(ctx);
    }
}

impl Handler<ChainRequest> for ChainNode {
    type Result = ResponseFuture<ChainReply>;

    fn handle(&mut self, msg: ChainRequest, ctx: &mut Context<Self>) -> Self::Result {
        self.next_request += 1;
        let request = self.next_request;
        let (reply, answer) = oneshot::channel();
        self.waiting.insert(request, reply);
        let now = self.node.now_ns();
        match msg.op {
            KvOp::Get { key } => {
                self.core.read(request, now, msg.epoch, &key);
                // A read changes nothing durable: with nothing else waiting to be made durable,
                // its answer (or version query) goes out at once.
                if self.core.durable_pending() {
                    self.queue_flush(ctx);
                } else {
                    self.flush(ctx);
                }
            }
            op => {
                self.core
                    .write(request, now, msg.epoch, msg.client, msg.client_seq, op);
                self.queue_flush(ctx);
            }
        }
        Box::pin(async move {
            match tokio::time::timeout(REQUEST_TIMEOUT, answer).await {
                Ok(Ok(reply)) => reply,
                _ => ChainReply::NotCommitted,
            }
        })
    }
}
