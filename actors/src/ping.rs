//! A pinger: answers pings, and calls every peer with a ping of its own on a fixed period.
//!
//! It is the workload of `troupe bench messaging` (virtual-time speed of a 5-node ping topology)
//! and of the runtime's determinism and fault tests: small, but it exercises timers, one-way
//! sends, calls with deadlines, and replies crossing the network.

use actix::{Actor, ActorFutureExt, AsyncContext, Context, Handler, WrapFuture};
use std::time::Duration;
use troupe_messages::ping::{Counts, GetCounts, Ping, Tick};
use troupe_messages::ActorPath;
use troupe_runtime::{timer, Node, Spawned};

/// The name a pinger registers under on its node.
pub const NAME: &str = "pinger";

/// The pinger actor.
pub struct Pinger {
    node: Node,
    peers: Vec<ActorPath>,
    every: Duration,
    timeout: Duration,
    next_seq: u64,
    counts: Counts,
}

impl Pinger {
    /// A pinger on `node` that pings each of `peers` every `every`, waiting `timeout` for each
    /// answer. With no peers it only answers.
    pub fn new(node: Node, peers: Vec<ActorPath>, every: Duration, timeout: Duration) -> Self {
        Pinger {
            node,
            peers,
            every,
            timeout,
            next_seq: 0,
            counts: Counts::default(),
        }
    }

    /// Starts a pinger on `node` under [`NAME`], pinging the pinger of every node in `peers`.
    pub fn start(
        node: &Node,
        peers: impl IntoIterator<Item = troupe_messages::NodeId>,
        every: Duration,
    ) -> troupe_runtime::Result<Spawned<Pinger>> {
        let peers = peers
            .into_iter()
            .filter(|p| *p != node.id())
            .map(|p| ActorPath::new(p, NAME))
            .collect();
        let pinger = Pinger::new(node.clone(), peers, every, every * 2);
        Ok(node
            .spawn_named(NAME, pinger)?
            .accept::<Ping>()
            .accept::<Tick>()
            .accept::<GetCounts>())
    }

    fn ping_all(&mut self, ctx: &mut Context<Self>) {
        for peer in self.peers.clone() {
            self.next_seq += 1;
            let seq = self.next_seq;
            let node = self.node.clone();
            let timeout = self.timeout;
            let call = async move { node.call(&peer, Ping(seq), timeout).await };
            ctx.spawn(
                call.into_actor(self)
                    .map(move |answer, act, _| match answer {
                        Ok(n) if n == seq => act.counts.pongs += 1,
                        _ => act.counts.failures += 1,
                    }),
            );
        }
    }
}

impl Actor for Pinger {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        if !self.peers.is_empty() {
            let node = self.node.clone();
            timer::run_interval(ctx, &node, "ping", self.every, |act, ctx| act.ping_all(ctx));
        }
    }
}

impl Handler<Ping> for Pinger {
    type Result = u64;
    fn handle(&mut self, msg: Ping, _: &mut Context<Self>) -> u64 {
        self.counts.pings_answered += 1;
        msg.0
    }
}

impl Handler<Tick> for Pinger {
    type Result = ();
    fn handle(&mut self, _: Tick, _: &mut Context<Self>) {
        self.counts.ticks += 1;
    }
}

impl Handler<GetCounts> for Pinger {
    type Result = Counts;
    fn handle(&mut self, _: GetCounts, _: &mut Context<Self>) -> Counts {
        self.counts
    }
}
