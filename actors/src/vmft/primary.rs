//! The primary's hypervisor, as a plain struct: it runs the VM, records every non-deterministic
//! event with the instruction count it was delivered at, and holds each output until the
//! backup has acknowledged every log entry up to and including the one that produced it (the
//! output rule, §2.2 of the paper).
//!
//! Events from outside (client packets, timer ticks, disk completions) first wait in a queue,
//! the bounce buffer: they reach guest memory only when the VM is at an interrupt point, and
//! the entry records that point (§3.4). Clock and random reads stop the VM at the instruction;
//! the value is logged before the instruction retires.
//!
//! The primary runs alone (outputs released at once) until a backup is in sync, and again after
//! it won a test-and-set against a backup it lost. While a backup is in sync, the primary stops
//! executing whenever the backup's buffer is full.

use super::log::{entry_bytes, event_of};
use super::vm::{DiskRequest, Exit, Interrupt, Vm, VmError};
use std::collections::VecDeque;
use troupe_messages::vmft::{LogEntry, LoggedEvent};
use troupe_messages::NodeId;
use troupe_runtime::plant::{armed, Bug};

/// Where the non-deterministic values come from: the host's clock and random source.
pub trait Sources {
    /// The clock, in nanoseconds.
    fn clock(&mut self) -> u64;
    /// A random value.
    fn random(&mut self) -> u64;
}

/// An output waiting for the backup.
#[derive(Debug, Clone)]
struct Held {
    packet: Vec<u8>,
    /// The index of the last entry the VM had been given when it produced the output.
    produced_by: u64,
    /// When it was produced (the host's clock, ns), for the longest hold.
    since: u64,
}

/// The primary's backup, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backup {
    /// None: outputs are released at once.
    Alone,
    /// A backup receiving the state transfer; outputs are still released at once, since it
    /// cannot take over yet.
    Syncing(NodeId),
    /// A backup that has the transferred state and receives the log: outputs wait for it. It
    /// may take over once it has every entry behind an output released before
    /// ([`PrimaryCore::backup_may_take_over`]).
    InSync(NodeId),
}

/// What a step of the primary produced for its host to carry out.
#[derive(Debug, Default)]
pub struct Effects {
    /// Outputs released to clients.
    pub released: Vec<Vec<u8>>,
    /// Disk requests to issue (the tag comes back with the completion).
    pub disk: Vec<(u64, DiskRequest)>,
    /// The guest faulted: the VM is halted.
    pub fault: Option<VmError>,
    /// Whether the VM could run more now (it stopped on its budget, not idle or held back).
    pub more: bool,
}

/// Counters the benchmark and the simulation report.
#[derive(Debug, Default, Clone, Copy)]
pub struct PrimaryStats {
    /// Log entries recorded.
    pub entries: u64,
    /// Bytes of log entries recorded.
    pub log_bytes: u64,
    /// The longest an output waited for the backup (ns).
    pub longest_hold: u64,
    /// Times the primary stopped because the backup's buffer was full.
    pub throttled: u64,
}

/// The primary's hypervisor.
#[derive(Debug)]
pub struct PrimaryCore {
    vm: Vm,
    /// Events waiting for an interrupt point (the bounce buffer).
    pending: VecDeque<Interrupt>,
    /// Entries the backup has not acknowledged, oldest first, for resending.
    unacked: VecDeque<LogEntry>,
    /// Entries recorded since the host last took them for sending.
    unsent: Vec<LogEntry>,
    last_index: u64,
    held: VecDeque<Held>,
    backup: Backup,
    /// The backup's acknowledgements.
    received: u64,
    replayed: u64,
    buffer: u64,
    hash_every: u64,
    /// Every output released without waiting for the backup was produced by an entry up to
    /// this one.
    released_alone: u64,
    stats: PrimaryStats,
}

impl PrimaryCore {
    /// A primary running `vm`, whose log so far ends at `last_index`, alone.
    pub fn new(vm: Vm, last_index: u64, buffer: u64, hash_every: u64) -> Self {
        PrimaryCore {
            vm,
            pending: VecDeque::new(),
            unacked: VecDeque::new(),
            unsent: Vec::new(),
            last_index,
            held: VecDeque::new(),
            backup: Backup::Alone,
            received: last_index,
            replayed: last_index,
            buffer: buffer.max(1),
            hash_every: hash_every.max(1),
            released_alone: last_index,
            stats: PrimaryStats::default(),
        }
    }

    /// The VM (for inspection).
    pub fn vm(&self) -> &Vm {
        &self.vm
    }

    /// The index of the last entry recorded.
    pub fn last_index(&self) -> u64 {
        self.last_index
    }

    /// The backup, if any.
    pub fn backup(&self) -> Backup {
        self.backup
    }

    /// The counters so far.
    pub fn stats(&self) -> PrimaryStats {
        self.stats
    }

    /// How many outputs wait for the backup.
    pub fn held(&self) -> usize {
        self.held.len()
    }

    /// An event from outside, delivered at the next interrupt point.
    pub fn queue(&mut self, interrupt: Interrupt) {
        self.pending.push_back(interrupt);
    }

    /// How many events wait for an interrupt point.
    pub fn queued(&self) -> usize {
        self.pending.len()
    }

    /// Whether the backup's buffer is full, so the VM must not run.
    pub fn throttled(&self) -> bool {
        matches!(self.backup, Backup::InSync(_))
            && self.last_index.saturating_sub(self.replayed) >= self.buffer
    }

    /// Runs the VM for up to `budget` instructions, delivering queued events at interrupt
    /// points and recording each event; releases the outputs the output rule allows.
    pub fn run(&mut self, budget: u64, sources: &mut dyn Sources) -> Effects {
        let mut effects = Effects::default();
        let limit = self.vm.count().saturating_add(budget);
        loop {
            if self.throttled() {
                self.stats.throttled += 1;
                break;
            }
            if self.vm.interrupts_enabled() {
                if let Some(interrupt) = self.next_deliverable() {
                    let count = self.vm.count();
                    let event = event_of(&interrupt);
                    if let Err(e) = self.vm.deliver(interrupt) {
                        effects.fault = Some(e);
                        break;
                    }
                    self.record(count, event);
                    continue;
                }
            }
            match self.vm.run(limit) {
                Exit::Limit => {
                    effects.more = true;
                    break;
                }
                Exit::Idle => {
                    let deliverable = self
                        .pending
                        .iter()
                        .any(|i| !matches!(i, Interrupt::Packet(_)))
                        || (!self.pending.is_empty() && super::vm::guest::ring_has_room(&self.vm));
                    if !deliverable || !self.vm.interrupts_enabled() {
                        break;
                    }
                }
                Exit::Clock => {
                    let value = sources.clock();
                    self.answer(LoggedEvent::Clock(value), value, &mut effects);
                }
                Exit::Random => {
                    let value = sources.random();
                    self.answer(LoggedEvent::Random(value), value, &mut effects);
                }
                Exit::Output(packet) => {
                    self.held.push_back(Held {
                        packet,
                        produced_by: self.last_index,
                        since: sources.clock(),
                    });
                }
                Exit::Disk { tag, request } => effects.disk.push((tag, request)),
                Exit::Fault(e) => {
                    effects.fault = Some(e);
                    break;
                }
            }
            if effects.fault.is_some() {
                break;
            }
        }
        let now = sources.clock();
        effects.released = self.release(now);
        effects
    }

    /// The oldest queued event the VM can take now: packets wait while the guest's receive ring
    /// is full (the virtual device holds them), other interrupts go ahead.
    fn next_deliverable(&mut self) -> Option<Interrupt> {
        let room = super::vm::guest::ring_has_room(&self.vm);
        let at = self
            .pending
            .iter()
            .position(|i| room || !matches!(i, Interrupt::Packet(_)))?;
        self.pending.remove(at)
    }

    /// Answers the pending clock or random read with `value`, recording it first.
    fn answer(&mut self, event: LoggedEvent, value: u64, effects: &mut Effects) {
        let count = self.vm.count();
        if let Err(e) = self.vm.resume_with(value) {
            effects.fault = Some(e);
            return;
        }
        self.record(count, event);
    }

    /// Records an event the VM has just been given at `count`.
    fn record(&mut self, count: u64, event: LoggedEvent) {
        self.last_index += 1;
        let state_hash = (self.last_index % self.hash_every == 0).then(|| self.vm.state_hash());
        self.stats.entries += 1;
        self.stats.log_bytes += entry_bytes(&event);
        let entry = LogEntry {
            index: self.last_index,
            count,
            event,
            state_hash,
        };
        if self.backup != Backup::Alone {
            self.unacked.push_back(entry.clone());
            self.unsent.push(entry);
        }
    }

    /// The entries recorded since the last call: to send to the backup now (§3.2: flushed to
    /// the logging channel as soon as possible).
    pub fn take_unsent(&mut self) -> Vec<LogEntry> {
        std::mem::take(&mut self.unsent)
    }

    /// Up to `max` of the entries the backup has not acknowledged, to send again.
    pub fn unacknowledged(&self, max: usize) -> Vec<LogEntry> {
        self.unacked.iter().take(max).cloned().collect()
    }

    /// The backup's acknowledgement: every entry up to `received` is in its buffer, and up to
    /// `replayed` replayed. Returns the outputs this releases.
    pub fn on_ack(&mut self, received: u64, replayed: u64, now: u64) -> Vec<Vec<u8>> {
        let received = received.min(self.last_index);
        self.received = self.received.max(received);
        self.replayed = self.replayed.max(replayed.min(self.received));
        while self
            .unacked
            .front()
            .is_some_and(|e| e.index <= self.received)
        {
            self.unacked.pop_front();
        }
        if let Backup::Syncing(node) = self.backup {
            // The backup has the state: from here on outputs wait for it, and once it has every
            // entry up to this point it may take over.
            self.backup = Backup::InSync(node);
            self.released_alone = self.last_index;
        }
        self.release(now)
    }

    /// Whether the backup has every entry behind every output released so far, so that it
    /// could take over: only then may the record name it.
    pub fn backup_may_take_over(&self) -> bool {
        matches!(self.backup, Backup::InSync(_)) && self.received >= self.released_alone
    }

    /// The outputs the output rule lets go now.
    fn release(&mut self, now: u64) -> Vec<Vec<u8>> {
        let mut released = Vec::new();
        while let Some(held) = self.held.front() {
            if !self.may_release(held.produced_by) {
                break;
            }
            let held = self.held.pop_front().expect("front exists");
            self.stats.longest_hold = self.stats.longest_hold.max(now.saturating_sub(held.since));
            released.push(held.packet);
        }
        released
    }

    /// The output rule: an output produced after entry `produced_by` leaves only once the
    /// backup has that entry and every one before it.
    fn may_release(&self, produced_by: u64) -> bool {
        match self.backup {
            Backup::Alone | Backup::Syncing(_) => true,
            Backup::InSync(_) if armed(Bug::OutputBeforeAck) => true,
            Backup::InSync(_) if armed(Bug::OutputRuleSkipsOwnEntry) => {
                self.received >= produced_by.saturating_sub(1)
            }
            Backup::InSync(_) => self.received >= produced_by,
        }
    }

    /// Starts a backup on `node`: the VM's state now (to send as [`InstallBackup`]), taken at
    /// the last entry's index; entries after it are kept for the new backup.
    ///
    /// [`InstallBackup`]: troupe_messages::vmft::InstallBackup
    pub fn start_backup(&mut self, node: NodeId) -> (u64, super::vm::VmSnapshot) {
        self.backup = Backup::Syncing(node);
        self.unacked.clear();
        self.unsent.clear();
        self.received = self.last_index;
        self.replayed = self.last_index;
        (self.last_index, self.vm.snapshot())
    }

    /// Goes on without the backup (it is gone, and the test-and-set was won): every held output
    /// is released.
    pub fn run_alone(&mut self, now: u64) -> Vec<Vec<u8>> {
        self.backup = Backup::Alone;
        self.unacked.clear();
        self.unsent.clear();
        self.received = self.last_index;
        self.replayed = self.last_index;
        self.release(now)
    }
}
