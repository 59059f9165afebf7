//! The chain failover supervisor's actor: a thin shell around [`ChainManager`]. It ticks the
//! core on a timer, feeds it the failure detector's reports, the manager's answers and the
//! probes' answers, and carries out its actions: manager operations through a key-value clerk,
//! pushes and probes to the chain nodes' actors, watches through the runtime's heartbeat failure
//! detector, and lease waits as timers.

use super::core::{Action, ChainManager, Timing};
use super::ChainPlan;
use actix::fut::ActorFutureExt;
use actix::{Actor, AsyncContext, Context, Handler, WrapFuture};
use std::time::Duration;
use troupe_actors::chain::node::name_of;
use troupe_actors::client::Outcome;
use troupe_actors::kv::clerk::Clerk;
use troupe_messages::chain::{ChainProbe, SetChainConfig};
use troupe_messages::kv::KvOp;
use troupe_runtime::{ActorPath, Down, Node, NodeId};

/// How long one manager operation may take before the supervisor tries again.
const MANAGER_DEADLINE: Duration = Duration::from_secs(5);

/// How often the core is ticked: how often the supervisor looks whether the chain should grow
/// (a joining node caught up, or a server back). A chain short of a node is exposed to one
/// failure fewer, so repair is quick.
const TICK: Duration = Duration::from_millis(20);

/// How often the current configuration is confirmed with the manager and pushed to the
/// chain's nodes again (which renews their leases), in ticks: every 120 ms, about three times a
/// lease.
const PUSH_EVERY: u64 = 6;

/// How long a node may serve clients after a push reached it. A removal waits out a lease (and
/// the margins below) before the new chain is pushed, so the lease is what a failover costs.
const LEASE: Duration = Duration::from_millis(400);

/// A renewal goes out only if the manager confirmed its configuration within this many ticks
/// of asking (80 ms).
const FRESH: u64 = 4;

/// The longest a push is assumed to travel: the margin of a hold.
const PUSH_DELAY: Duration = Duration::from_millis(100);

/// How long a probe may take; a node that does not answer in time counts as down.
const PROBE_TIMEOUT: Duration = Duration::from_millis(100);

/// The supervisor of one chain.
pub struct ChainFailover {
    node: Node,
    plan: ChainPlan,
    core: ChainManager,
    /// The manager's clerk, lent to the read or compare-and-swap under way (the core asks for
    /// one at a time).
    clerk: Option<Clerk>,
    /// A second clerk for confirmations (one at a time too), which may overlap with the above.
    confirmer: Option<Clerk>,
    /// The chain nodes' actor name.
    name: String,
}

impl ChainFailover {
    /// A supervisor on `node` for the chain `plan` describes.
    pub fn new(node: Node, plan: ChainPlan) -> Self {
        let timing = Timing {
            push_every: PUSH_EVERY,
            lease: LEASE,
            fresh: FRESH,
            hold: LEASE + TICK * (FRESH as u32 + 1) + PUSH_DELAY,
        };
        ChainFailover {
            core: ChainManager::new(plan.servers.clone(), plan.length, timing),
            name: name_of(plan.chain),
            node,
            plan,
            clerk: None,
            confirmer: None,
        }
    }

    /// Carries out the core's actions.
    fn perform(&mut self, actions: Vec<Action>, ctx: &mut Context<Self>) {
        for action in actions {
            match action {
                Action::Read => {
                    let get = KvOp::Get {
                        key: self.plan.key.clone(),
                    };
                    let deadline = MANAGER_DEADLINE;
                    self.ask_manager(get, deadline, false, ctx, move |core, value| {
                        core.on_read(value)
                    });
                }
                Action::Confirm { id } => {
                    let get = KvOp::Get {
                        key: self.plan.key.clone(),
                    };
                    let deadline = TICK * FRESH as u32;
                    self.ask_manager(get, deadline, true, ctx, move |core, value| {
                        core.on_confirmed(id, value)
                    });
                }
                Action::Swap { expect, value } => {
                    let cas = KvOp::Cas {
                        key: self.plan.key.clone(),
                        expect,
                        value,
                    };
                    self.ask_manager(cas, MANAGER_DEADLINE, false, ctx, |core, value| {
                        core.on_swapped(value)
                    });
                }
                Action::Push { config, lease, to } => {
                    let lease_ms = Some(lease.as_millis() as u64);
                    for member in to {
                        let grant = SetChainConfig {
                            config: config.clone(),
                            lease_ms,
                        };
                        if let Err(e) = self.node.send(&self.path(member), grant) {
                            tracing::debug!(%member, "configuration not sent: {e}");
                        }
                    }
                }
                Action::Probe { round, node } => self.probe(round, node, ctx),
                Action::Watch(member) => {
                    let watcher = ctx.address().recipient::<Down>();
                    self.node.watch(&self.path(member), watcher);
                }
                Action::Hold { epoch, wait } => {
                    ctx.run_later(wait, move |act, ctx| {
                        let actions = act.core.on_held(epoch);
                        act.perform(actions, ctx);
                    });
                }
            }
        }
    }

    fn path(&self, member: NodeId) -> ActorPath {
        ActorPath::new(member, self.name.clone())
    }

    /// Runs `op` on the manager (with the confirmer's clerk if `confirming`) and gives the
    /// value it answers within `deadline` to `then`.
    fn ask_manager(
        &mut self,
        op: KvOp,
        deadline: Duration,
        confirming: bool,
        ctx: &mut Context<Self>,
        then: impl FnOnce(&mut ChainManager, Option<String>) -> Vec<Action> + 'static,
    ) {
        let slot = if confirming {
            &mut self.confirmer
        } else {
            &mut self.clerk
        };
        let Some(mut clerk) = slot.take() else {
            tracing::error!("a second manager operation while one is under way; dropped");
            return;
        };
        let run = async move {
            let outcome = clerk.run(op, deadline).await;
            (clerk, outcome)
        };
        ctx.spawn(run.into_actor(self).map(move |(clerk, outcome), act, ctx| {
            if confirming {
                act.confirmer = Some(clerk);
            } else {
                act.clerk = Some(clerk);
            }
            let value = match outcome {
                Outcome::Done(value) => value,
                Outcome::NotApplied | Outcome::Unknown => None,
            };
            let actions = then(&mut act.core, value);
            act.perform(actions, ctx);
        }));
    }

    /// Asks `target` where it stands and gives the answer to the core.
    fn probe(&mut self, round: u64, target: NodeId, ctx: &mut Context<Self>) {
        let node = self.node.clone();
        let path = self.path(target);
        let ask = async move { node.call(&path, ChainProbe, PROBE_TIMEOUT).await.ok() };
        ctx.spawn(ask.into_actor(self).map(move |status, act, ctx| {
            let actions = act.core.on_probe(round, target, status);
            act.perform(actions, ctx);
        }));
    }
}

impl Actor for ChainFailover {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        // A fresh client id for each incarnation: a restarted supervisor's first operations
        // must not look like old retries to the manager.
        let clerk_id = self.node.with_rng(rand::Rng::gen::<u64>);
        let confirmer_id = self.node.with_rng(rand::Rng::gen::<u64>);
        let manager = self.plan.manager.clone();
        self.clerk = Some(Clerk::new(self.node.clone(), manager.clone(), clerk_id));
        self.confirmer = Some(Clerk::new(self.node.clone(), manager, confirmer_id));
        ctx.run_interval(TICK, |act, ctx| {
            let actions = act.core.on_tick();
            act.perform(actions, ctx);
        });
        let actions = self.core.start();
        self.perform(actions, ctx);
    }
}

impl Handler<Down> for ChainFailover {
    type Result = ();
    fn handle(&mut self, down: Down, ctx: &mut Context<Self>) {
        tracing::info!(node = %down.target.node, reason = ?down.reason, "chain node down");
        let actions = self.core.on_down(down.target.node);
        self.perform(actions, ctx);
    }
}
