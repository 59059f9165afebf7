//! The VM-FT failover supervisor. Going live after a failure is the hosts' own business (the
//! test-and-set in `troupe_actors::vmft::host`); what the supervisor owns is what comes after:
//! a primary left alone gets a new backup on a spare host, brought up to date by a state
//! transfer while the primary keeps serving (the FT VMotion of §3.1 of the paper). It also boots
//! the first primary of a VM never booted.
//!
//! Every 200 ms it reads the VM's record from the shared storage and asks each host where it
//! stands, and [`decide`] says what to do. Several supervisors may run at once (one per node of
//! a real cluster): a boot is a compare-and-swap from the empty record, so only one wins, and a
//! primary takes one backup at a time and ignores a second request.

use crate::{ChildSpec, Strategy, SupervisorSpec};
use actix::fut::ActorFutureExt;
use actix::{Actor, AsyncContext, Context, WrapFuture};
use std::time::Duration;
use troupe_actors::client::Outcome;
use troupe_actors::kv::clerk::Clerk;
use troupe_actors::vmft::record::{record_key, FtRecord};
use troupe_actors::vmft::{VmftPlan, HOST};
use troupe_messages::kv::KvOp;
use troupe_messages::vmft::{AddBackup, BootVm, VmftInspect, VmftRole, VmftStatus};
use troupe_runtime::{ActorPath, Node, NodeId};

/// How often the supervisor looks.
const TICK: Duration = Duration::from_millis(200);

/// How long a host may take to say where it stands.
const INSPECT_TIMEOUT: Duration = Duration::from_millis(150);

/// How long a read or swap of the record may take.
const STORAGE_DEADLINE: Duration = Duration::from_secs(1);

/// The name of the VM-FT failover supervisor's tree on its node.
pub const NAME: &str = "vmft-failover";

/// What the supervisor should do, given the record and what each host said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Nothing: the pair is complete, a transfer is under way, or nobody can help.
    Wait,
    /// Record `on` as the first primary (a swap from the empty record), then boot the VM there.
    Boot {
        /// The spare to boot it on.
        on: NodeId,
    },
    /// Ask `primary` (alone in `generation`) to start a backup on `backup`.
    AddBackup {
        /// The primary's host.
        primary: NodeId,
        /// The record's generation.
        generation: u64,
        /// The spare.
        backup: NodeId,
    },
    /// The record names `on` as the first primary (generation 1) and it runs no VM: the boot
    /// never reached it. Send it again (a host that booted generation 1 once refuses, so a VM
    /// that ran and crashed is not replaced by an empty one).
    BootAgain {
        /// The host the record names.
        on: NodeId,
    },
    /// The record names a primary whose host runs no VM: the VM's memory is gone with it.
    Lost {
        /// The host the record names.
        primary: NodeId,
    },
}

/// Decides from the `record` (None: never booted) and each host's status (None: it did not
/// answer); `turn` rotates the choice of spare, so that a spare that keeps failing is not
/// always the one picked.
pub fn decide(
    record: Option<FtRecord>,
    statuses: &[(NodeId, Option<VmftStatus>)],
    turn: usize,
) -> Decision {
    let spares: Vec<NodeId> = statuses
        .iter()
        .filter(|(_, s)| s.as_ref().is_some_and(|s| s.role == VmftRole::Spare))
        .map(|(node, _)| *node)
        .collect();
    let status_of = |node: NodeId| {
        statuses
            .iter()
            .find(|(n, _)| *n == node)
            .and_then(|(_, s)| s.clone())
    };
    let Some(record) = record else {
        return match spares.first() {
            Some(&on) => Decision::Boot { on },
            None => Decision::Wait,
        };
    };
    if record.backup.is_some() {
        return Decision::Wait;
    }
    match status_of(record.primary) {
        Some(s) if s.role == VmftRole::Primary && s.generation == record.generation => {
            let candidates: Vec<NodeId> = spares
                .into_iter()
                .filter(|n| *n != record.primary)
                .collect();
            if s.backup.is_some() || candidates.is_empty() {
                return Decision::Wait;
            }
            Decision::AddBackup {
                primary: record.primary,
                generation: record.generation,
                backup: candidates[turn % candidates.len()],
            }
        }
        Some(s) if s.role == VmftRole::Spare && record.generation == 1 => {
            Decision::BootAgain { on: record.primary }
        }
        Some(s) if s.role == VmftRole::Spare => Decision::Lost {
            primary: record.primary,
        },
        _ => Decision::Wait,
    }
}

/// The supervisor of one VM.
pub struct VmftFailover {
    node: Node,
    plan: VmftPlan,
    clerk: Option<Clerk>,
    turn: usize,
}

impl VmftFailover {
    /// A supervisor on `node` for the VM `plan` describes.
    pub fn new(node: Node, plan: VmftPlan) -> Self {
        VmftFailover {
            node,
            plan,
            clerk: None,
            turn: 0,
        }
    }

    /// One look: read the record, ask the hosts, decide, act.
    fn look(&mut self, ctx: &mut Context<Self>) {
        let Some(mut clerk) = self.clerk.take() else {
            return; // the last look is still under way
        };
        let key = record_key(&self.plan.vm);
        let node = self.node.clone();
        let hosts = self.plan.hosts.clone();
        let look = async move {
            let read = clerk.run(KvOp::Get { key }, STORAGE_DEADLINE).await;
            let mut statuses = Vec::new();
            for host in hosts {
                let path = ActorPath::new(host, HOST);
                let status = node.call(&path, VmftInspect, INSPECT_TIMEOUT).await.ok();
                statuses.push((host, status));
            }
            (clerk, read, statuses)
        };
        ctx.spawn(
            look.into_actor(self)
                .map(|(clerk, read, statuses), act, ctx| {
                    act.clerk = Some(clerk);
                    let Outcome::Done(value) = read else {
                        return;
                    };
                    let record = match FtRecord::decode(value.as_deref().unwrap_or("")) {
                        Ok(record) => record,
                        Err(e) => {
                            tracing::error!("{e}");
                            return;
                        }
                    };
                    act.turn += 1;
                    let decision = decide(record, &statuses, act.turn);
                    act.carry_out(decision, ctx);
                }),
        );
    }

    fn carry_out(&mut self, decision: Decision, ctx: &mut Context<Self>) {
        match decision {
            Decision::Wait => {}
            Decision::Lost { primary } => {
                tracing::error!(%primary, "the VM is lost: the record's primary runs no VM and it had no backup");
            }
            Decision::AddBackup {
                primary,
                generation,
                backup,
            } => {
                tracing::info!(%primary, %backup, generation, "asking for a new backup");
                let add = AddBackup { generation, backup };
                if let Err(e) = self.node.send(&ActorPath::new(primary, HOST), add) {
                    tracing::debug!("add-backup not sent: {e}");
                }
            }
            Decision::Boot { on } => self.boot(on, ctx),
            Decision::BootAgain { on } => self.send_boot(on),
        }
    }

    /// Records `on` as the first primary and boots the VM there, if this supervisor's swap wins.
    fn boot(&mut self, on: NodeId, ctx: &mut Context<Self>) {
        let Some(mut clerk) = self.clerk.take() else {
            return;
        };
        let first = FtRecord {
            generation: 1,
            primary: on,
            backup: None,
        };
        let cas = KvOp::Cas {
            key: record_key(&self.plan.vm),
            expect: String::new(),
            value: first.encode(),
        };
        let swap = async move {
            let outcome = clerk.run(cas, STORAGE_DEADLINE).await;
            (clerk, outcome)
        };
        ctx.spawn(swap.into_actor(self).map(move |(clerk, outcome), act, _| {
            act.clerk = Some(clerk);
            if matches!(&outcome, Outcome::Done(Some(found)) if found.is_empty()) {
                act.send_boot(on);
            }
        }));
    }

    /// Tells `on` to boot the VM as the primary of generation 1.
    fn send_boot(&self, on: NodeId) {
        tracing::info!(%on, "booting the VM");
        let boot = BootVm { generation: 1 };
        if let Err(e) = self.node.send(&ActorPath::new(on, HOST), boot) {
            tracing::debug!("boot not sent: {e}");
        }
    }
}

impl Actor for VmftFailover {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let id = self.node.with_rng(rand::Rng::gen::<u64>);
        self.clerk = Some(Clerk::new(self.node.clone(), self.plan.storage.clone(), id));
        ctx.run_interval(TICK, |act, ctx| act.look(ctx));
    }
}

/// A supervision tree that keeps a [`VmftFailover`] running on its node.
pub fn vmft_failover(plan: VmftPlan) -> SupervisorSpec {
    SupervisorSpec::new(NAME)
        .strategy(Strategy::OneForOne)
        .intensity(5, Duration::from_secs(10))
        .child(ChildSpec::new("failover", move |node| {
            let actor = VmftFailover::new(node.clone(), plan.clone());
            Ok(node.spawn(actor).handle().clone())
        }))
}

/// A supervision tree that keeps the VM host running on its node (restarted as a spare after
/// a crash of the actor: its VM is gone, and the failover supervisor gives it a new one).
pub fn vmft_host(plan: VmftPlan) -> SupervisorSpec {
    SupervisorSpec::new("vmft-hosting")
        .strategy(Strategy::OneForOne)
        .intensity(5, Duration::from_secs(10))
        .backoff(Duration::from_millis(50), Duration::from_secs(1))
        .child(ChildSpec::new("host", move |node| {
            troupe_actors::vmft::host::VmftHost::spawn(node, plan.clone())
        }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(role: VmftRole, generation: u64, backup: Option<u32>) -> Option<VmftStatus> {
        Some(VmftStatus {
            role,
            generation,
            log_index: 0,
            count: 0,
            backup: backup.map(NodeId),
            replicated: false,
            deciding: false,
        })
    }

    fn record(generation: u64, primary: u32, backup: Option<u32>) -> Option<FtRecord> {
        Some(FtRecord {
            generation,
            primary: NodeId(primary),
            backup: backup.map(NodeId),
        })
    }

    #[test]
    fn a_vm_never_booted_is_booted_on_a_spare_that_answers() {
        let statuses = [
            (NodeId(1), None),
            (NodeId(2), status(VmftRole::Spare, 0, None)),
        ];
        assert_eq!(decide(None, &statuses, 0), Decision::Boot { on: NodeId(2) });
        assert_eq!(decide(None, &statuses[..1], 0), Decision::Wait);
    }

    #[test]
    fn a_primary_alone_gets_a_backup_on_a_spare_in_turn() {
        let statuses = [
            (NodeId(1), status(VmftRole::Primary, 4, None)),
            (NodeId(2), status(VmftRole::Spare, 0, None)),
            (NodeId(3), status(VmftRole::Spare, 0, None)),
        ];
        let add = |backup| Decision::AddBackup {
            primary: NodeId(1),
            generation: 4,
            backup: NodeId(backup),
        };
        assert_eq!(decide(record(4, 1, None), &statuses, 0), add(2));
        assert_eq!(decide(record(4, 1, None), &statuses, 1), add(3));
    }

    #[test]
    fn nothing_is_done_while_a_pair_is_complete_or_a_transfer_runs() {
        let syncing = [
            (NodeId(1), status(VmftRole::Primary, 4, Some(2))),
            (NodeId(3), status(VmftRole::Spare, 0, None)),
        ];
        assert_eq!(decide(record(4, 1, None), &syncing, 0), Decision::Wait);
        assert_eq!(decide(record(5, 1, Some(2)), &syncing, 0), Decision::Wait);
        // A primary that has not caught up with the record yet is left alone too.
        let behind = [
            (NodeId(1), status(VmftRole::Primary, 3, None)),
            (NodeId(3), status(VmftRole::Spare, 0, None)),
        ];
        assert_eq!(decide(record(4, 1, None), &behind, 0), Decision::Wait);
    }

    #[test]
    fn a_first_primary_that_never_booted_is_told_again() {
        let statuses = [
            (NodeId(1), status(VmftRole::Spare, 0, None)),
            (NodeId(2), status(VmftRole::Spare, 0, None)),
        ];
        assert_eq!(
            decide(record(1, 1, None), &statuses, 0),
            Decision::BootAgain { on: NodeId(1) }
        );
    }

    #[test]
    fn a_recorded_primary_that_runs_no_vm_is_reported_lost() {
        let statuses = [
            (NodeId(1), status(VmftRole::Spare, 0, None)),
            (NodeId(2), status(VmftRole::Spare, 0, None)),
        ];
        assert_eq!(
            decide(record(4, 1, None), &statuses, 0),
            Decision::Lost { primary: NodeId(1) }
        );
    }
}
