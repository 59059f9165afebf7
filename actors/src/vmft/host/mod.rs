//! The VM host: the actor on every node that may run the VM. It is a primary, a backup or a
//! spare, and it is a thin shell: the hypervisors' decisions are in [`PrimaryCore`] and
//! [`BackupCore`]; the host feeds them (client packets, timer ticks, disk completions, log
//! entries, acknowledgements) and carries out what they return (log batches, released
//! outputs, disk requests).
//!
//! - [`roles`]: running the VM as primary or backup, and the logging channel between them.
//! - [`golive`]: failure detection (the runtime's monitors plus silence on the logging channel)
//!   and the test-and-set on the shared storage that decides which side goes on.
//! - [`waiters`]: the clients waiting for their outputs.
//!
//! A host starts as a spare. The failover supervisor boots the first primary ([`BootVm`]) and
//! asks a primary for a backup ([`AddBackup`]); the primary then transfers its VM's state
//! ([`InstallBackup`]) and streams its log while it keeps serving.

mod golive;
mod roles;
mod waiters;

use super::backup::BackupCore;
use super::primary::PrimaryCore;
use super::record::FtRecord;
use super::VmftPlan;
use crate::kv::clerk::Clerk;
use actix::{Actor, AsyncContext, Context, Handler, Message, ResponseFuture};
use std::time::Duration;
use troupe_messages::vmft::{
    AddBackup, BootVm, InstallBackup, LogAck, LogBatch, VmftInspect, VmftReply, VmftRequest,
    VmftRole, VmftStatus,
};
use troupe_messages::NodeId;
use troupe_runtime::{ActorHandle, Down, MonitorRef, Node};
use waiters::Waiters;

/// Instructions the VM runs between two looks at the mailbox.
const SLICE: u64 = 20_000;

/// Counters a host keeps, for the simulation's report and the benchmark.
#[derive(
    Debug, Default, Clone, Copy, serde::Serialize, serde::Deserialize, actix::MessageResponse,
)]
pub struct HostStats {
    /// The host's node incarnation these counters belong to (they start again at a restart).
    pub incarnation: u64,
    /// Times this host went live (a backup took over, or a primary went on alone after a
    /// test-and-set).
    pub went_live: u64,
    /// Backups this host installed as primary.
    pub backups_started: u64,
    /// Log entries this host recorded as primary.
    pub log_entries: u64,
    /// Bytes of log entries this host recorded as primary.
    pub log_bytes: u64,
    /// The longest an output waited for the backup on this host (ns).
    pub longest_hold: u64,
    /// Divergences this host found as backup.
    pub divergences: u64,
    /// Test-and-sets this host lost (it stopped itself).
    pub lost_test_and_set: u64,
}

impl HostStats {
    /// Adds another incarnation's counters (the longest hold is the longer of the two).
    pub fn absorb(&mut self, more: &HostStats) {
        self.went_live += more.went_live;
        self.backups_started += more.backups_started;
        self.log_entries += more.log_entries;
        self.log_bytes += more.log_bytes;
        self.divergences += more.divergences;
        self.lost_test_and_set += more.lost_test_and_set;
        self.longest_hold = self.longest_hold.max(more.longest_hold);
    }

    /// Adds what a primary's hypervisor counted.
    fn add(&mut self, core: super::primary::PrimaryStats) {
        self.log_entries += core.entries;
        self.log_bytes += core.log_bytes;
        self.longest_hold = self.longest_hold.max(core.longest_hold);
    }
}

/// What the host does now.
#[derive(Debug)]
enum Role {
    Spare,
    Primary(Primary),
    Backup(Backup),
}

#[derive(Debug)]
struct Primary {
    core: PrimaryCore,
    /// The record's generation this primary runs in.
    generation: u64,
    /// The generation the logging channel to the current backup was opened in.
    channel: u64,
    /// The backup being installed or in sync: its node, and when it last answered.
    backup: Option<(NodeId, tokio::time::Instant)>,
    /// The record names the backup.
    recorded: bool,
    monitor: Option<MonitorRef>,
    /// A swap on the record is under way (to record the backup, or to go on alone).
    swapping: bool,
    /// The VM is being run (a slice is scheduled).
    running: bool,
    /// The state transfer, resent on every heartbeat until the backup acknowledges it.
    install: Option<InstallBackup>,
}

#[derive(Debug)]
struct Backup {
    core: BackupCore,
    channel: u64,
    primary: NodeId,
    last_heard: tokio::time::Instant,
    monitor: Option<MonitorRef>,
    /// The backup suspects the primary and is deciding whether to go live: it takes no more
    /// entries.
    going_live: bool,
    replaying: bool,
}

/// The VM host actor.
pub struct VmftHost {
    node: Node,
    plan: VmftPlan,
    role: Role,
    waiters: Waiters,
    /// The record as last read or written, for hints to clients.
    record: Option<FtRecord>,
    /// The shared storage's clerk, lent to the one record operation under way.
    storage: Option<Clerk>,
    stats: HostStats,
    /// Counts disk requests, so completions of a previous VM are recognised and dropped.
    epoch: u64,
}

impl VmftHost {
    /// Starts the host for `plan` on `node`, as a spare, under the name [`super::HOST`].
    pub fn spawn(node: &Node, plan: VmftPlan) -> troupe_runtime::Result<ActorHandle> {
        let host = VmftHost {
            node: node.clone(),
            plan,
            role: Role::Spare,
            waiters: Waiters::default(),
            record: None,
            storage: None,
            stats: HostStats::default(),
            epoch: 0,
        };
        Ok(node
            .spawn_named(super::HOST, host)?
            .accept::<VmftRequest>()
            .accept::<LogBatch>()
            .accept::<LogAck>()
            .accept::<InstallBackup>()
            .accept::<AddBackup>()
            .accept::<BootVm>()
            .accept::<VmftInspect>()
            .accept::<HostStatsRequest>()
            .into_handle())
    }

    fn role_name(&self) -> VmftRole {
        match self.role {
            Role::Spare => VmftRole::Spare,
            Role::Primary(_) => VmftRole::Primary,
            Role::Backup(_) => VmftRole::Backup,
        }
    }

    /// Stops running the VM: the host becomes a spare, and clients still waiting are told.
    fn become_spare(&mut self, why: &str) {
        if !matches!(self.role, Role::Spare) {
            tracing::info!(node = %self.node.id(), role = self.role_name().name(), "stopping the VM: {why}");
        }
        for monitor in self.monitors() {
            self.node.unwatch(monitor);
        }
        if let Role::Primary(p) = &self.role {
            self.stats.add(p.core.stats());
        }
        self.role = Role::Spare;
        self.epoch += 1;
        self.waiters.abandon_all();
    }

    fn monitors(&self) -> Vec<MonitorRef> {
        match &self.role {
            Role::Primary(p) => p.monitor.into_iter().collect(),
            Role::Backup(b) => b.monitor.into_iter().collect(),
            Role::Spare => Vec::new(),
        }
    }

    fn host_path(&self, node: NodeId) -> troupe_runtime::ActorPath {
        troupe_runtime::ActorPath::new(node, super::HOST)
    }
}

impl Actor for VmftHost {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        // A fresh client id per incarnation: a restarted host's swaps are not old retries.
        let id = self.node.with_rng(rand::Rng::gen::<u64>);
        self.storage = Some(Clerk::new(self.node.clone(), self.plan.storage.clone(), id));
        let timing = self.plan.timing;
        ctx.run_interval(timing.timer, |act, ctx| act.on_timer(ctx));
        ctx.run_interval(timing.heartbeat, |act, ctx| act.on_heartbeat(ctx));
        ctx.run_interval(Duration::from_secs(1), |act, _| act.waiters.forget_gone());
    }
}

impl Handler<VmftRequest> for VmftHost {
    type Result = ResponseFuture<VmftReply>;

    fn handle(&mut self, request: VmftRequest, ctx: &mut Context<Self>) -> Self::Result {
        let reply = self.on_request(request, ctx);
        Box::pin(reply)
    }
}

impl Handler<LogBatch> for VmftHost {
    type Result = ();

    fn handle(&mut self, batch: LogBatch, ctx: &mut Context<Self>) {
        self.on_batch(batch, ctx);
    }
}

impl Handler<LogAck> for VmftHost {
    type Result = ();

    fn handle(&mut self, ack: LogAck, ctx: &mut Context<Self>) {
        self.on_ack(ack, ctx);
    }
}

impl Handler<InstallBackup> for VmftHost {
    type Result = ();

    fn handle(&mut self, install: InstallBackup, ctx: &mut Context<Self>) {
        self.on_install(install, ctx);
    }
}

impl Handler<AddBackup> for VmftHost {
    type Result = ();

    fn handle(&mut self, add: AddBackup, ctx: &mut Context<Self>) {
        self.on_add_backup(add, ctx);
    }
}

impl Handler<BootVm> for VmftHost {
    type Result = ();

    fn handle(&mut self, boot: BootVm, ctx: &mut Context<Self>) {
        self.on_boot(boot, ctx);
    }
}

impl Handler<VmftInspect> for VmftHost {
    type Result = VmftStatus;

    fn handle(&mut self, _: VmftInspect, _: &mut Context<Self>) -> VmftStatus {
        match &self.role {
            Role::Spare => VmftStatus {
                role: VmftRole::Spare,
                generation: 0,
                log_index: 0,
                count: 0,
                backup: None,
                replicated: false,
                deciding: false,
            },
            Role::Primary(p) => VmftStatus {
                role: VmftRole::Primary,
                generation: p.generation,
                log_index: p.core.last_index(),
                count: p.core.vm().count(),
                backup: p.backup.map(|(node, _)| node),
                replicated: matches!(p.core.backup(), super::primary::Backup::InSync(_)),
                deciding: p.swapping,
            },
            Role::Backup(b) => VmftStatus {
                role: VmftRole::Backup,
                generation: b.channel,
                log_index: b.core.received(),
                count: b.core.vm().count(),
                backup: None,
                replicated: false,
                deciding: b.going_live,
            },
        }
    }
}

impl Handler<Down> for VmftHost {
    type Result = ();

    fn handle(&mut self, down: Down, ctx: &mut Context<Self>) {
        tracing::info!(node = %self.node.id(), peer = %down.target.node, reason = ?down.reason, "VM-FT peer down");
        self.suspect(down.target.node, ctx);
    }
}

/// Asks a host for its counters (the simulation and the benchmark read them).
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize, Message)]
#[rtype(result = "HostStats")]
pub struct HostStatsRequest;

impl troupe_messages::Wire for HostStatsRequest {
    const TAG: &'static str = "vmft.host_stats";
}

impl Handler<HostStatsRequest> for VmftHost {
    type Result = HostStats;

    fn handle(&mut self, _: HostStatsRequest, _: &mut Context<Self>) -> HostStats {
        let mut stats = self.stats;
        stats.incarnation = self.node.incarnation();
        if let Role::Primary(p) = &self.role {
            stats.add(p.core.stats());
        }
        stats
    }
}
