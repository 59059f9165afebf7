//! The chain node actor: a thin shell around [`ChainCore`]. It turns client requests into core
//! inputs (keeping each caller's reply channel until the core answers), hands peer messages and
//! new configurations to the core, and carries out the core's effects.

use super::core::{ChainCore, ChainEffects, RequestId};
use actix::{Actor, AsyncContext, Context, Handler, ResponseFuture};
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::sync::oneshot;
use troupe_messages::chain::{
    ChainConfig, ChainPeer, ChainProbe, ChainReply, ChainRequest, SetChainConfig,
};
use troupe_messages::kv::KvOp;
use troupe_runtime::{ActorPath, Node, Spawned};

/// The name a chain node registers under.
pub const NAME: &str = "chain";

/// How long a client request may wait for the chain before the node gives up on it (the
/// client retries with the same sequence number).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

/// How often a node tells its predecessor where it stands (which repairs lost messages).
const TICK: Duration = Duration::from_millis(100);

/// The chain node actor.
pub struct ChainNode {
    node: Node,
    core: ChainCore,
    waiting: BTreeMap<RequestId, oneshot::Sender<ChainReply>>,
    next_request: RequestId,
}

impl ChainNode {
    /// Starts the chain node of `node` under [`NAME`], empty. In the node's first incarnation
    /// it is a founding member of `config` (or of the first configuration it is given); in a
    /// later one (a restart: chain nodes keep nothing on disk) it has lost its state and waits,
    /// serving nobody, to be added again as a joining node.
    pub fn spawn(
        node: &Node,
        config: ChainConfig,
        craq: bool,
    ) -> troupe_runtime::Result<Spawned<ChainNode>> {
        let core = if node.incarnation() == 0 {
            ChainCore::new(node.id(), config, craq)
        } else {
            ChainCore::rejoining(node.id(), craq)
        };
        Self::spawn_with(node, core)
    }

    /// Starts a chain node that has lost whatever state it had (for instance after its actor
    /// was restarted): it waits to be added again as a joining node.
    pub fn spawn_rejoining(node: &Node, craq: bool) -> troupe_runtime::Result<Spawned<ChainNode>> {
        Self::spawn_with(node, ChainCore::rejoining(node.id(), craq))
    }

    fn spawn_with(node: &Node, core: ChainCore) -> troupe_runtime::Result<Spawned<ChainNode>> {
        let actor = ChainNode {
            node: node.clone(),
            core,
            waiting: BTreeMap::new(),
            next_request: 0,
        };
        Ok(node
            .spawn_named(NAME, actor)?
            .accept::<ChainPeer>()
            .accept::<ChainRequest>()
            .accept::<SetChainConfig>()
            .accept::<ChainProbe>())
    }

    fn perform(&mut self) {
        let ChainEffects { send, replies } = self.core.take_effects();
        let from = self.node.id();
        for (to, message) in send {
            let path = ActorPath::new(to, NAME);
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
        ctx.run_interval(TICK, |node, _| {
            node.core.tick();
            node.perform();
        });
    }
}

impl Handler<ChainProbe> for ChainNode {
    type Result = actix::MessageResult<ChainProbe>;
    fn handle(&mut self, _: ChainProbe, _: &mut Context<Self>) -> Self::Result {
        actix::MessageResult(self.core.status())
    }
}

impl Handler<ChainPeer> for ChainNode {
    type Result = ();
    fn handle(&mut self, msg: ChainPeer, _: &mut Context<Self>) {
        self.core.receive(msg.from, msg.message);
        self.perform();
    }
}

impl Handler<SetChainConfig> for ChainNode {
    type Result = ();
    fn handle(&mut self, msg: SetChainConfig, _: &mut Context<Self>) {
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
        self.perform();
    }
}

impl Handler<ChainRequest> for ChainNode {
    type Result = ResponseFuture<ChainReply>;

    fn handle(&mut self, msg: ChainRequest, _: &mut Context<Self>) -> Self::Result {
        self.next_request += 1;
        let request = self.next_request;
        let (reply, answer) = oneshot::channel();
        self.waiting.insert(request, reply);
        let now = self.node.now_ns();
        match msg.op {
            KvOp::Get { key } => self.core.read(request, now, msg.epoch, &key),
            op => self
                .core
                .write(request, now, msg.epoch, msg.client, msg.client_seq, op),
        }
        self.perform();
        Box::pin(async move {
            match tokio::time::timeout(REQUEST_TIMEOUT, answer).await {
                Ok(Ok(reply)) => reply,
                _ => ChainReply::NotCommitted,
            }
        })
    }
}
