//! The backup's hypervisor, as a plain struct: it keeps the entries the primary sent in a
//! bounded log buffer, acknowledges them on receipt, and replays them, delivering every event
//! at exactly the instruction count the primary recorded. Its outputs are dropped. It never
//! executes past the last entry it holds (the next entry's count is the limit of every run), so
//! it stays behind the primary, and when it goes live it first replays everything it
//! acknowledged.
//!
//! Divergence detection, which the paper does not offer: every few entries the primary attaches
//! a hash of its VM state, and the backup compares its own after replaying that entry. An event
//! the VM cannot take where the log puts it is a divergence too.

use super::log::interrupt_of;
use super::primary::PrimaryCore;
use super::vm::{DiskRequest, Exit, Vm};
use crate::vmft::error::Divergence;
use std::collections::VecDeque;
use troupe_messages::vmft::{LogEntry, LoggedEvent};

/// The backup's hypervisor.
#[derive(Debug)]
pub struct BackupCore {
    vm: Vm,
    buffer: VecDeque<LogEntry>,
    /// Every entry up to this index is (or was) in the buffer.
    received: u64,
    /// Every entry up to this index has been replayed.
    replayed: u64,
    /// The last entry whose attached hash matched.
    agreed: u64,
    bound: u64,
    /// Outputs the replay produced and dropped.
    dropped: u64,
}

impl BackupCore {
    /// A backup whose VM was transferred at log index `index`; `bound` entries fit its buffer.
    pub fn new(vm: Vm, index: u64, bound: u64) -> Self {
        BackupCore {
            vm,
            buffer: VecDeque::new(),
            received: index,
            replayed: index,
            agreed: index,
            bound: bound.max(1),
            dropped: 0,
        }
    }

    /// Every entry up to this index is in the buffer or replayed.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Every entry up to this index is replayed.
    pub fn replayed(&self) -> u64 {
        self.replayed
    }

    /// Entries received and not yet replayed.
    pub fn buffered(&self) -> usize {
        self.buffer.len()
    }

    /// The VM (for inspection).
    pub fn vm(&self) -> &Vm {
        &self.vm
    }

    /// Outputs the replay dropped so far.
    pub fn dropped_outputs(&self) -> u64 {
        self.dropped
    }

    /// Takes the entries that continue the log, as far as the buffer has room; duplicates and
    /// entries after a gap are ignored (the primary sends them again). Returns the new
    /// `received`.
    pub fn receive(&mut self, entries: Vec<LogEntry>) -> u64 {
        for entry in entries {
            if entry.index != self.received + 1 {
                continue;
            }
            if self.buffer.len() as u64 >= self.bound {
                break;
            }
            self.received = entry.index;
            self.buffer.push_back(entry);
        }
        self.received
    }

    /// Replays buffered entries, executing at most about `budget` instructions; stops at the last
    /// entry it holds. A divergence stops the replay for good.
    pub fn replay(&mut self, budget: u64) -> Result<(), Divergence> {
        let start = self.vm.count();
        while let Some(entry) = self.buffer.front() {
            if self.vm.count().saturating_sub(start) >= budget {
                return Ok(());
            }
            let entry = entry.clone();
            self.reach(&entry, start.saturating_add(budget))?;
            if self.vm.count() < entry.count {
                return Ok(()); // out of budget before the entry's point
            }
            self.apply(&entry)?;
            self.buffer.pop_front();
            self.replayed = entry.index;
        }
        Ok(())
    }

    /// Runs the VM up to `entry`'s instruction count (or `cap`), dropping outputs on the way.
    fn reach(&mut self, entry: &LogEntry, cap: u64) -> Result<(), Divergence> {
        let limit = entry.count.min(cap);
        loop {
            if self.vm.count() >= limit {
                return Ok(());
            }
            match self.vm.run(limit) {
                Exit::Limit => return Ok(()),
                Exit::Output(_) => self.dropped += 1,
                // The backup issues no disk requests: the primary logs their completions.
                Exit::Disk { .. } => {}
                Exit::Idle if self.vm.count() >= entry.count => return Ok(()),
                Exit::Idle => {
                    return Err(self.diverged(entry, "the VM idled before the entry's count"))
                }
                Exit::Clock | Exit::Random => {
                    return Err(
                        self.diverged(entry, "the VM read a value the log does not give there")
                    )
                }
                Exit::Fault(e) => return Err(self.diverged(entry, &format!("the VM faulted: {e}"))),
            }
        }
    }

    /// Gives the VM `entry`'s event, at its count, and compares the state hash if it has one.
    fn apply(&mut self, entry: &LogEntry) -> Result<(), Divergence> {
        match &entry.event {
            LoggedEvent::Clock(value) | LoggedEvent::Random(value) => {
                let wanted = matches!(entry.event, LoggedEvent::Clock(_));
                // The read is the instruction at the entry's count: let the VM try it.
                let exit = self.vm.run(entry.count + 1);
                let fits = match exit {
                    Exit::Clock => wanted,
                    Exit::Random => !wanted,
                    _ => false,
                };
                if !fits {
                    return Err(self.diverged(entry, &format!("the VM stopped with {exit:?}")));
                }
                self.vm
                    .resume_with(*value)
                    .map_err(|e| self.diverged(entry, &e.to_string()))?;
            }
            event => {
                let interrupt = interrupt_of(event).expect("not a value");
                self.vm
                    .deliver(interrupt)
                    .map_err(|e| self.diverged(entry, &e.to_string()))?;
            }
        }
        if let Some(expected) = entry.state_hash {
            if self.vm.state_hash() != expected {
                return Err(self.diverged(entry, "the VM's state hash differs from the primary's"));
            }
            self.agreed = entry.index;
        }
        Ok(())
    }

    fn diverged(&self, entry: &LogEntry, what: &str) -> Divergence {
        Divergence {
            index: entry.index,
            count: entry.count,
            last_agreed: self.agreed,
            what: what.to_string(),
        }
    }

    /// Goes live: replays every entry it acknowledged, then becomes a primary running alone
    /// from there. Also returns the disk requests the VM issued whose completions were never
    /// logged: the new primary issues them again (they are idempotent).
    #[allow(clippy::type_complexity)]
    pub fn go_live(
        mut self,
        buffer: u64,
        hash_every: u64,
    ) -> Result<(PrimaryCore, Vec<(u64, DiskRequest)>), Divergence> {
        self.replay(u64::MAX)?;
        let outstanding = self.vm.outstanding_disk();
        let primary = PrimaryCore::new(self.vm, self.replayed, buffer, hash_every);
        Ok((primary, outstanding))
    }
}
