//! Running the VM as primary or backup, and the logging channel between them: client packets
//! and timer ticks queued for the primary, slices of execution, log batches (flushed as soon as
//! they are recorded, and resent on every heartbeat until acknowledged), acknowledgements, the
//! state transfer that installs a backup, and the backup's replay.

use super::{Backup, Primary, Role, VmftHost, SLICE};
use crate::vmft::backup::BackupCore;
use crate::vmft::primary::{Effects, PrimaryCore, Sources};
use crate::vmft::vm::{DiskRequest, Interrupt, Vm, MAX_PACKET};
use actix::fut::ActorFutureExt;
use actix::{AsyncContext, Context, Handler, Message, WrapFuture};
use std::future::Future;
use std::time::Duration;
use troupe_messages::vmft::{
    AddBackup, BootVm, InstallBackup, LogAck, LogBatch, LogEntry, VmftReply, VmftRequest,
};
use troupe_runtime::PersisterExt;

/// At most this many entries go in one batch.
const MAX_BATCH: usize = 256;

/// The clock and random source of a host's node: the run's clock and seeded generator.
struct NodeSources<'a>(&'a troupe_runtime::Node);

impl Sources for NodeSources<'_> {
    fn clock(&mut self) -> u64 {
        self.0.now_ns()
    }

    fn random(&mut self) -> u64 {
        self.0.with_rng(rand::Rng::gen::<u64>)
    }
}

/// Runs the next slice of the VM (a message to itself, so the mailbox is read in between).
#[derive(Message)]
#[rtype(result = "()")]
pub(super) struct RunSlice;

/// Replays the next slice of the backup's buffer.
#[derive(Message)]
#[rtype(result = "()")]
pub(super) struct ReplaySlice;

/// A disk request finished (for the VM of host epoch `epoch`).
struct DiskDone {
    epoch: u64,
    interrupt: Interrupt,
}

impl VmftHost {
    /// A client's request: queued for the primary's VM, answered when its output is released.
    pub(super) fn on_request(
        &mut self,
        request: VmftRequest,
        ctx: &mut Context<Self>,
    ) -> impl Future<Output = VmftReply> + 'static {
        let waiting = match &mut self.role {
            Role::Primary(_) if request.packet.len() > MAX_PACKET => {
                Err(VmftReply::TooLarge { max: MAX_PACKET })
            }
            Role::Primary(p) => {
                p.core.queue(Interrupt::Packet(request.packet));
                Ok(self
                    .waiters
                    .wait((*request.client.0.as_bytes(), request.seq)))
            }
            Role::Backup(b) => Err(VmftReply::NotPrimary {
                primary: Some(b.primary),
            }),
            Role::Spare => Err(VmftReply::NotPrimary {
                primary: self.record.map(|r| r.primary),
            }),
        };
        if waiting.is_ok() {
            self.kick(ctx);
        }
        async move {
            match waiting {
                Err(reply) => reply,
                Ok(told) => told.await.unwrap_or(VmftReply::Abandoned),
            }
        }
    }

    /// The timer interrupt, for a primary's VM.
    pub(super) fn on_timer(&mut self, ctx: &mut Context<Self>) {
        if let Role::Primary(p) = &mut self.role {
            p.core.queue(Interrupt::Timer);
            self.kick(ctx);
        }
    }

    /// Schedules a slice of the primary's VM, unless one is scheduled.
    pub(super) fn kick(&mut self, ctx: &mut Context<Self>) {
        if let Role::Primary(p) = &mut self.role {
            if !p.running {
                p.running = true;
                ctx.notify(RunSlice);
            }
        }
    }

    fn run_slice(&mut self, ctx: &mut Context<Self>) {
        let Role::Primary(p) = &mut self.role else {
            return;
        };
        let before = p.core.vm().count();
        let effects = p.core.run(SLICE, &mut NodeSources(&self.node));
        let ran = p.core.vm().count() - before;
        let entries = p.core.take_unsent();
        match self.plan.cpu_hz {
            // The simulated CPU takes its time: what the slice did happens when it ends.
            Some(hz) if ran > 0 => {
                let epoch = self.epoch;
                let took = Duration::from_nanos(ran.saturating_mul(1_000_000_000) / hz.max(1));
                ctx.run_later(took, move |act, ctx| {
                    if act.epoch == epoch {
                        act.carry_out(entries, effects, ctx);
                    }
                });
            }
            _ => self.carry_out(entries, effects, ctx),
        }
    }

    /// Sends the slice's entries, releases its outputs, issues its disk requests and runs on.
    fn carry_out(&mut self, entries: Vec<LogEntry>, effects: Effects, ctx: &mut Context<Self>) {
        let Effects {
            released,
            disk,
            fault,
            more,
        } = effects;
        self.send_entries(entries);
        for output in released {
            self.waiters.release(output);
        }
        for (tag, request) in disk {
            self.issue_disk(tag, request, ctx);
        }
        if let Some(fault) = fault {
            tracing::error!(node = %self.node.id(), "the guest faulted: {fault}");
        }
        let Role::Primary(p) = &mut self.role else {
            return;
        };
        p.running = false;
        if more || (p.core.queued() > 0 && !p.core.throttled()) {
            self.kick(ctx);
        }
    }

    /// Sends `entries` to the backup at once (§3.2: the log is flushed as soon as possible).
    fn send_entries(&mut self, entries: Vec<LogEntry>) {
        let Role::Primary(p) = &self.role else {
            return;
        };
        let Some((backup, _)) = p.backup else {
            return;
        };
        for chunk in entries.chunks(MAX_BATCH) {
            let batch = LogBatch {
                generation: p.channel,
                primary: self.node.id(),
                entries: chunk.to_vec(),
            };
            if let Err(e) = self.node.send(&self.host_path(backup), batch) {
                tracing::debug!(%backup, "log batch not sent: {e}");
            }
        }
    }

    /// Every heartbeat: the primary resends what is unacknowledged (an empty batch is the
    /// heartbeat itself); each side suspects the other after `timeout` of silence.
    pub(super) fn on_heartbeat(&mut self, ctx: &mut Context<Self>) {
        let now = tokio::time::Instant::now();
        let timeout = self.plan.timing.timeout;
        match &self.role {
            Role::Primary(p) => {
                let Some((backup, heard)) = p.backup else {
                    return;
                };
                if let Some(install) = &p.install {
                    if let Err(e) = self.node.send(&self.host_path(backup), install.clone()) {
                        tracing::debug!(%backup, "state transfer not sent: {e}");
                    }
                }
                let batch = LogBatch {
                    generation: p.channel,
                    primary: self.node.id(),
                    entries: p.core.unacknowledged(MAX_BATCH),
                };
                if let Err(e) = self.node.send(&self.host_path(backup), batch) {
                    tracing::debug!(%backup, "heartbeat not sent: {e}");
                }
                if now.duration_since(heard) > timeout {
                    self.suspect(backup, ctx);
                }
            }
            Role::Backup(b) => {
                if !b.going_live && now.duration_since(b.last_heard) > timeout {
                    let primary = b.primary;
                    self.suspect(primary, ctx);
                }
            }
            Role::Spare => {}
        }
    }

    /// The backup takes a batch, acknowledges it and replays.
    pub(super) fn on_batch(&mut self, batch: LogBatch, ctx: &mut Context<Self>) {
        let Role::Backup(b) = &mut self.role else {
            return;
        };
        if b.primary != batch.primary || b.channel != batch.generation || b.going_live {
            return;
        }
        b.last_heard = tokio::time::Instant::now();
        b.core.receive(batch.entries);
        self.acknowledge();
        self.kick_replay(ctx);
    }

    /// Tells the primary what the backup holds and has replayed.
    fn acknowledge(&self) {
        let Role::Backup(b) = &self.role else {
            return;
        };
        let ack = LogAck {
            generation: b.channel,
            backup: self.node.id(),
            received: b.core.received(),
            replayed: b.core.replayed(),
        };
        if let Err(e) = self.node.send(&self.host_path(b.primary), ack) {
            tracing::debug!(primary = %b.primary, "ack not sent: {e}");
        }
    }

    fn kick_replay(&mut self, ctx: &mut Context<Self>) {
        if let Role::Backup(b) = &mut self.role {
            if !b.replaying && b.core.buffered() > 0 {
                b.replaying = true;
                ctx.notify(ReplaySlice);
            }
        }
    }

    fn replay_slice(&mut self, ctx: &mut Context<Self>) {
        let Role::Backup(b) = &mut self.role else {
            return;
        };
        let before = (b.core.vm().count(), b.core.replayed());
        let replayed = b.core.replay(SLICE);
        let ran = b.core.vm().count() - before.0;
        let advanced = b.core.replayed() > before.1;
        if let Err(divergence) = replayed {
            tracing::error!(node = %self.node.id(), "{divergence}");
            self.stats.divergences += 1;
            self.become_spare("the backup diverged from the primary");
            return;
        }
        let took = match self.plan.cpu_hz {
            Some(hz) => Duration::from_nanos(ran.saturating_mul(1_000_000_000) / hz.max(1)),
            None => Duration::ZERO,
        };
        let epoch = self.epoch;
        ctx.run_later(took, move |act, ctx| {
            if act.epoch != epoch {
                return;
            }
            if advanced {
                act.acknowledge();
            }
            if let Role::Backup(b) = &mut act.role {
                b.replaying = false;
            }
            act.kick_replay(ctx);
        });
    }

    /// The primary takes the backup's acknowledgement: outputs the output rule now allows are
    /// released, and a backup newly in sync is recorded.
    pub(super) fn on_ack(&mut self, ack: LogAck, ctx: &mut Context<Self>) {
        let now = self.node.now_ns();
        let Role::Primary(p) = &mut self.role else {
            return;
        };
        let Some((backup, _)) = p.backup else {
            return;
        };
        if ack.backup != backup || ack.generation != p.channel {
            return;
        }
        p.backup = Some((backup, tokio::time::Instant::now()));
        p.install = None;
        let released = p.core.on_ack(ack.received, ack.replayed, now);
        let record = p.core.backup_may_take_over() && !p.recorded && !p.swapping;
        for output in released {
            self.waiters.release(output);
        }
        if record {
            self.record_backup(ctx);
        }
        self.kick(ctx);
    }

    /// A spare receives the primary's VM and becomes its backup.
    pub(super) fn on_install(&mut self, install: InstallBackup, ctx: &mut Context<Self>) {
        match &self.role {
            Role::Backup(b) if b.primary == install.primary && b.channel == install.generation => {
                self.acknowledge();
                return;
            }
            Role::Spare => {}
            _ => return,
        }
        let vm = troupe_runtime::decode(&install.state)
            .map_err(|e| e.to_string())
            .and_then(|snapshot| {
                Vm::restore(self.plan.guest.program(), snapshot).map_err(|e| e.to_string())
            });
        let vm = match vm {
            Ok(vm) => vm,
            Err(e) => {
                tracing::error!(node = %self.node.id(), "a state transfer that does not restore: {e}");
                return;
            }
        };
        let monitor = self
            .node
            .watch(&self.host_path(install.primary), ctx.address().recipient());
        tracing::info!(node = %self.node.id(), primary = %install.primary, index = install.index, "backup installed");
        self.role = Role::Backup(Backup {
            core: BackupCore::new(vm, install.index, self.plan.buffer),
            channel: install.generation,
            primary: install.primary,
            last_heard: tokio::time::Instant::now(),
            monitor: Some(monitor),
            going_live: false,
            replaying: false,
        });
        self.acknowledge();
    }

    /// The supervisor asks the primary for a backup on a spare: the state transfer starts.
    pub(super) fn on_add_backup(&mut self, add: AddBackup, ctx: &mut Context<Self>) {
        let me = self.node.id();
        let Role::Primary(p) = &mut self.role else {
            return;
        };
        if p.generation != add.generation || p.backup.is_some() || add.backup == me || p.swapping {
            return;
        }
        let (index, snapshot) = p.core.start_backup(add.backup);
        let state = match troupe_runtime::encode(&snapshot) {
            Ok(state) => state,
            Err(e) => {
                tracing::error!("the VM's state does not encode: {e}");
                p.core.run_alone(0);
                return;
            }
        };
        p.channel = p.generation;
        p.backup = Some((add.backup, tokio::time::Instant::now()));
        p.recorded = false;
        let install = InstallBackup {
            generation: p.channel,
            primary: me,
            index,
            state,
        };
        p.install = Some(install.clone());
        let path = troupe_runtime::ActorPath::new(add.backup, crate::vmft::HOST);
        p.monitor = Some(self.node.watch(&path, ctx.address().recipient()));
        self.stats.backups_started += 1;
        tracing::info!(node = %me, backup = %add.backup, index, "starting a backup");
        if let Err(e) = self.node.send(&self.host_path(add.backup), install) {
            tracing::debug!(backup = %add.backup, "state transfer not sent: {e}");
        }
    }

    /// The supervisor boots the VM here as its first primary (once per generation: a host that
    /// booted it and restarted must not boot a fresh VM in its place).
    pub(super) fn on_boot(&mut self, boot: BootVm, ctx: &mut Context<Self>) {
        if !matches!(self.role, Role::Spare) {
            return;
        }
        let key = format!("vmft/{}/booted", self.plan.vm);
        let persister = self.node.persister().clone();
        match persister.load_value::<u64>(&key) {
            Ok(Some(booted)) if booted >= boot.generation => {
                tracing::warn!(node = %self.node.id(), "asked to boot generation {} again: refused", boot.generation);
                return;
            }
            Err(e) => {
                tracing::error!("cannot read what this host booted: {e}");
                return;
            }
            _ => {}
        }
        if let Err(e) = persister.save_value(&key, &boot.generation) {
            tracing::error!("cannot record the boot: {e}");
            return;
        }
        let vm = Vm::boot(self.plan.guest.program(), self.plan.memory);
        tracing::info!(node = %self.node.id(), generation = boot.generation, "VM booted as primary");
        self.become_primary(
            PrimaryCore::new(vm, 0, self.plan.buffer, self.plan.hash_every),
            boot.generation,
            ctx,
        );
    }

    /// Runs `core` as the primary of `generation`, alone.
    pub(super) fn become_primary(
        &mut self,
        core: PrimaryCore,
        generation: u64,
        ctx: &mut Context<Self>,
    ) {
        self.role = Role::Primary(Primary {
            core,
            generation,
            channel: generation,
            backup: None,
            recorded: false,
            monitor: None,
            swapping: false,
            running: false,
            install: None,
        });
        self.kick(ctx);
    }

    /// Issues a disk request to the shared storage; its completion is queued for the VM.
    pub(super) fn issue_disk(&mut self, tag: u64, request: DiskRequest, ctx: &mut Context<Self>) {
        let id = self.node.with_rng(rand::Rng::gen::<u64>);
        let mut clerk =
            crate::kv::clerk::Clerk::new(self.node.clone(), self.plan.storage.clone(), id);
        let vm = self.plan.vm.clone();
        let epoch = self.epoch;
        let perform =
            async move { crate::vmft::disk::perform(&mut clerk, &vm, tag, request).await };
        // Tied to the actor: a host that stops issues nothing more.
        ctx.spawn(perform.into_actor(self).map(move |interrupt, act, ctx| {
            act.on_disk_done(DiskDone { epoch, interrupt }, ctx);
        }));
    }

    fn on_disk_done(&mut self, done: DiskDone, ctx: &mut Context<Self>) {
        if done.epoch != self.epoch {
            return;
        }
        if let Role::Primary(p) = &mut self.role {
            p.core.queue(done.interrupt);
            self.kick(ctx);
        }
    }
}

impl Handler<RunSlice> for VmftHost {
    type Result = ();

    fn handle(&mut self, _: RunSlice, ctx: &mut Context<Self>) {
        self.run_slice(ctx);
    }
}

impl Handler<ReplaySlice> for VmftHost {
    type Result = ();

    fn handle(&mut self, _: ReplaySlice, ctx: &mut Context<Self>) {
        self.replay_slice(ctx);
    }
}
