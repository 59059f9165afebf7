//! The GFS master as an actor: a [`MasterCore`] replicated by Raft (the paper's master
//! replicates its operation log on several machines, §5.1.3; here the log is a Raft log).
//!
//! Every replica applies every committed entry to its committed copy ([`committed`]). Only the
//! Raft leader serves: when a replica learns it leads (it polls its peer's status every tick),
//! it proposes a barrier, and once the barrier is applied it serves from a core rebuilt from
//! the committed state, with no replica location, live server or lease (heartbeats refill
//! them) and no lease granted before a full lease length (one its predecessor granted may
//! still run) plus [`MasterOptions::deposed_within`]. Until then it answers `NotReady`;
//! non-leaders answer `NotLeader`.
//!
//! The serving core changes at once (speculatively); each call's records are proposed as one
//! entry, and the reply waits until it is applied ([`waiters`]). The orders to chunkservers
//! wait too, and also go out when the entry is in the log but its commit is in doubt (it may
//! still commit; a replica must not be left behind it). Reads wait for the writes before
//! them ([`fence`]). A leader that loses leadership refuses the calls still waiting and drops
//! its core.
//!
//! - [`command`]: the entries of the master's log.
//! - `requests`: clients' calls (namespace, chunk locations, new chunks, leases).
//! - `chunkservers`: heartbeats (locations, stale replicas, lease extensions), corruption
//!   reports, the scan that clones and reclaims; inspection.
//! - [`fence`]: reads wait until the writes applied before them are committed.
//! - [`gates`]: a new lease stays unusable until every replica has its new version.
//! - [`calls`]: orders to several chunkservers at once.

pub mod calls;
mod chunkservers;
pub mod command;
pub mod committed;
pub mod fence;
pub mod gates;
#[cfg(test)]
mod harness;
mod requests;
#[cfg(test)]
mod tests;
pub mod waiters;

pub use command::MasterCommand;

use super::{Effect, MasterCore};
use crate::gfs::{GfsPlan, MASTER};
use crate::raft::peer::{Applied as RaftApplied, PeerOptions, RaftPeer, Snapshot};
use crate::raft::{Apply, RaftConfig};
use actix::{
    fut, Actor, ActorFutureExt, Addr, AsyncContext, Context, Handler, Message, ResponseActFuture,
    WrapFuture,
};
use committed::{Applied, Committed};
use fence::Fence;
use gates::LeaseGates;
use std::time::Duration;
use troupe_messages::gfs::{
    Heartbeat, InspectFailover, InspectMaster, MasterRefusal, MasterRequest, ReportCorrupt,
    Rereplicate,
};
use troupe_messages::raft::{GetStatus, RaftStatus, Start, Term};
use troupe_messages::NodeId;
use troupe_runtime::timer::run_interval;
use troupe_runtime::{encode, ActorHandle, Node};
use waiters::{NotCommitted, Waiters};

/// How to run a master replica.
#[derive(Debug, Clone)]
pub struct MasterOptions {
    /// The deployment: its masters are the Raft group.
    pub plan: GfsPlan,
    /// The Raft group and its timing.
    pub raft: PeerOptions,
    /// How long a call waits for its records to be committed before `Unavailable`.
    pub commit_timeout: Duration,
    /// Snapshot (checkpoint) the committed state every this many applied entries (0: never).
    pub snapshot_every: u64,
}

impl MasterOptions {
    /// The plan's masters as the Raft group, the default Raft timing with 10 ms ticks, calls
    /// waiting up to 1 s to commit, and a snapshot every 1000 entries.
    pub fn new(plan: GfsPlan) -> Self {
        MasterOptions {
            raft: PeerOptions {
                members: plan.masters.clone(),
                config: RaftConfig::default(),
                tick: Duration::from_millis(10),
            },
            plan,
            commit_timeout: Duration::from_secs(1),
            snapshot_every: 1000,
        }
    }

    /// How long a leader that lost its majority may go on serving before it notices: Raft's
    /// check-quorum steps it down within two election timeouts, and this replica polls its
    /// peer every tick. A new leader grants no lease before this long plus a lease length:
    /// one its predecessor extended meanwhile may still run. (Without check-quorum in the
    /// Raft config there is no such bound.)
    pub fn deposed_within(&self) -> Duration {
        let ticks = 2 * (self.raft.config.election_ticks_max + 1);
        self.raft.tick * ticks
    }
}

/// Where this replica stands.
enum Role {
    /// Another replica leads, or none.
    Follower,
    /// Leads `term`; waits for its barrier to be applied.
    CatchingUp { term: Term },
    /// Leads `term` and serves from `core`.
    Serving { term: Term, core: Box<MasterCore> },
}

/// A master replica.
pub struct MasterServer {
    node: Node,
    options: MasterOptions,
    raft: Option<Addr<RaftPeer>>,
    committed: Committed,
    role: Role,
    /// The leader, as the Raft peer last said.
    leader: Option<NodeId>,
    waiters: Waiters,
    fence: Fence,
    gates: LeaseGates,
    /// Chunks whose lease revocation is in flight.
    revoking: std::collections::BTreeSet<troupe_messages::gfs::ChunkHandle>,
}

#[derive(Message)]
#[rtype(result = "()")]
struct SetRaft(Addr<RaftPeer>);

/// Nanoseconds in `d`.
fn ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Milliseconds in `d`.
fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl MasterServer {
    /// Starts a master replica and its Raft peer on `node`; the replica registers as
    /// [`MASTER`]. The two are linked: if either stops, the other is stopped too.
    pub fn spawn(node: &Node, options: MasterOptions) -> troupe_runtime::Result<ActorHandle> {
        let raft_options = options.raft.clone();
        let server = MasterServer {
            node: node.clone(),
            committed: Committed::new(options.plan.master_config()),
            options,
            raft: None,
            role: Role::Follower,
            leader: None,
            waiters: Waiters::default(),
            fence: Fence::default(),
            gates: LeaseGates::default(),
            revoking: Default::default(),
        };
        let server = node
            .spawn_named(MASTER, server)?
            .accept::<MasterRequest>()
            .accept::<Heartbeat>()
            .accept::<ReportCorrupt>()
            .accept::<InspectMaster>()
            .accept::<InspectFailover>()
            .accept::<Rereplicate>();
        let peer = RaftPeer::spawn_linked(node, raft_options, &server)?;
        server.addr().do_send(SetRaft(peer));
        Ok(server.handle().clone())
    }

    /// The serving core and its term, or why this replica does not serve.
    fn serving(&mut self) -> Result<(Term, &mut MasterCore), MasterRefusal> {
        match &mut self.role {
            Role::Serving { term, core } => Ok((*term, core)),
            Role::CatchingUp { .. } => Err(MasterRefusal::NotReady),
            Role::Follower => Err(MasterRefusal::NotLeader {
                leader: self.leader,
            }),
        }
    }

    /// The serving core if this replica still serves `term`.
    fn core_of(&mut self, term: Term) -> Option<&mut MasterCore> {
        match &mut self.role {
            Role::Serving { term: t, core } if *t == term => Some(core),
            _ => None,
        }
    }

    /// Stops serving: the calls waiting are refused, the serving core dropped.
    fn step_down(&mut self, leader: Option<NodeId>) {
        if !matches!(self.role, Role::Follower) {
            tracing::info!(node = %self.node.id(), ?leader, "gfs master stops leading");
        }
        self.role = Role::Follower;
        self.waiters.refuse_all(MasterRefusal::NotLeader { leader });
        self.fence.clear(MasterRefusal::NotLeader { leader });
        self.gates.clear();
    }

    /// What the Raft peer says of itself: a new term led means catching up, a lost lead
    /// means stepping down.
    fn observe(&mut self, status: RaftStatus, ctx: &mut Context<Self>) {
        self.leader = status.leader;
        if !status.is_leader {
            if !matches!(self.role, Role::Follower) {
                self.step_down(status.leader);
            }
            return;
        }
        match self.role {
            Role::CatchingUp { term } | Role::Serving { term, .. } if term == status.term => return,
            _ => {}
        }
        self.step_down(Some(self.node.id()));
        let term = status.term;
        tracing::info!(node = %self.node.id(), term, "gfs master leads; catching up");
        self.role = Role::CatchingUp { term };
        let barrier = self.commit(term, command::MasterCommand::Barrier { term });
        ctx.spawn(barrier.map(move |outcome, act, _| {
            if outcome.is_err() && matches!(act.role, Role::CatchingUp { term: t } if t == term) {
                // Proposed again at the next poll if this replica still leads.
                act.role = Role::Follower;
            }
        }));
    }

    /// Proposes `command` as a leader of `term`; done once it is applied.
    fn commit(
        &mut self,
        term: Term,
        command: command::MasterCommand,
    ) -> ResponseActFuture<Self, Result<(), NotCommitted>> {
        let refused = |refusal, proposed| Err(NotCommitted { refusal, proposed });
        let (Some(raft), Ok(bytes)) = (self.raft.clone(), encode(&command)) else {
            return Box::pin(fut::ready(refused(MasterRefusal::Unavailable, false)));
        };
        // Sent now, not when the answer is awaited: entries reach the log in the order this
        // replica's core made their records (a chunk's handle, a file's chunk order).
        let sent = raft.send(Start { command: bytes });
        let start = sent;
        Box::pin(start.into_actor(self).then(move |started, act, _| {
            let waiting = match started {
                Ok(s) if s.is_leader && s.term == term => {
                    if s.index <= act.committed.last_applied() {
                        // Applied before its index was heard of.
                        Err(if act.committed.term_at(s.index) == Some(term) {
                            Ok(())
                        } else {
                            refused(MasterRefusal::NotLeader { leader: None }, true)
                        })
                    } else {
                        Ok(act.waiters.wait(s.index, term))
                    }
                }
                Ok(s) => Err(refused(
                    MasterRefusal::NotLeader { leader: s.leader },
                    false,
                )),
                Err(_) => Err(refused(MasterRefusal::Unavailable, false)),
            };
            let timeout = act.options.commit_timeout;
            async move {
                match waiting {
                    Err(outcome) => outcome,
                    Ok(answer) => match tokio::time::timeout(timeout, answer).await {
                        Ok(Ok(Ok(()))) => Ok(()),
                        Ok(Ok(Err(refusal))) => refused(refusal, true),
                        _ => refused(MasterRefusal::Unavailable, true),
                    },
                }
            }
            .into_actor(act)
        }))
    }

    /// Commits the records among `effects` (if any) as a leader of `term`; the other effects
    /// come back.
    fn commit_effects(
        &mut self,
        term: Term,
        effects: Vec<Effect>,
    ) -> (
        ResponseActFuture<Self, Result<(), NotCommitted>>,
        Vec<Effect>,
    ) {
        let (records, rest): (Vec<Effect>, Vec<Effect>) = effects
            .into_iter()
            .partition(|e| matches!(e, Effect::Persist(_)));
        let records: Vec<_> = records
            .into_iter()
            .filter_map(|e| match e {
                Effect::Persist(record) => Some(record),
                _ => None,
            })
            .collect();
        if records.is_empty() {
            return (Box::pin(fut::ready(Ok(()))), rest);
        }
        let write = self.fence.begin_write();
        let commit = self.commit(term, command::MasterCommand::Ops(records));
        let fenced = commit.map(move |outcome, act, _| {
            act.fence.end_write(write, outcome.is_ok());
            outcome
        });
        (Box::pin(fenced), rest)
    }
}

impl Actor for MasterServer {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let tick = self.options.raft.tick;
        run_interval(ctx, &self.node, "gfs-master-status", tick, |act, ctx| {
            let Some(raft) = act.raft.clone() else {
                return;
            };
            let ask = async move { raft.send(GetStatus).await };
            ctx.spawn(ask.into_actor(act).map(|status, act, ctx| {
                if let Ok(status) = status {
                    act.observe(status, ctx);
                }
            }));
        });
        let scan = self.options.plan.timing.scan;
        run_interval(ctx, &self.node, "gfs-master-scan", scan, |act, ctx| {
            act.scan(ctx)
        });
    }
}

impl Handler<SetRaft> for MasterServer {
    type Result = ();
    fn handle(&mut self, msg: SetRaft, _: &mut Context<Self>) {
        self.raft = Some(msg.0);
    }
}

impl Handler<RaftApplied> for MasterServer {
    type Result = ();

    fn handle(&mut self, msg: RaftApplied, _: &mut Context<Self>) {
        match msg.0 {
            Apply::Command {
                index,
                term,
                command,
            } => {
                match self.committed.apply(index, term, &command) {
                    Applied::Ops(records) => {
                        // This leader's own entries are in its core already.
                        if let Role::Serving { term: mine, core } = &mut self.role {
                            if term != *mine {
                                for record in &records {
                                    if let Err(e) = core.apply(record) {
                                        tracing::warn!(index, "record does not apply: {e}");
                                    }
                                }
                            }
                        }
                    }
                    Applied::Barrier { term: barrier } => {
                        if matches!(self.role, Role::CatchingUp { term: mine } if mine == barrier && term == mine)
                        {
                            // A deposed leader may still extend leases until it notices.
                            let from = self.node.now_ns() + ns(self.options.deposed_within());
                            let core = self.committed.core().rebuilt(from).in_term(term);
                            tracing::info!(node = %self.node.id(), term, "gfs master serves");
                            self.role = Role::Serving {
                                term,
                                core: Box::new(core),
                            };
                        }
                    }
                    Applied::Undecodable(e) => {
                        tracing::error!(node = %self.node.id(), index, "undecodable entry skipped: {e}");
                    }
                }
                self.waiters.applied(index, term);
                let due = self.committed.snapshot_due(self.options.snapshot_every);
                if let (Some((index, data)), Some(raft)) = (due, &self.raft) {
                    raft.do_send(Snapshot { index, data });
                }
            }
            Apply::Snapshot { index, data, .. } => {
                if let Err(e) = self.committed.restore(index, &data) {
                    tracing::error!(node = %self.node.id(), "undecodable snapshot ignored: {e}");
                    return;
                }
                self.waiters.refuse_up_to(index, MasterRefusal::Unavailable);
                if !matches!(self.role, Role::Follower) {
                    self.step_down(self.leader);
                }
            }
        }
    }
}
