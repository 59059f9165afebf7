//! VM-FT: the fault-tolerant virtual machine of Scales, Nelson and Venkitachalam (VMware, 2010),
//! built on troupe's actors.
//!
//! - [`vm`]: a small deterministic virtual machine (a bytecode interpreter with registers,
//!   memory and an instruction counter) and its guest programs, a key-value service and a
//!   counter. Every non-deterministic input (client packets, timer interrupts, clock and random
//!   reads, disk completions) enters through the hypervisor.
//! - [`primary`] and [`backup`]: the hypervisors, as plain structs. The primary records each
//!   event with the instruction count it was delivered at and holds each output until the
//!   backup has acknowledged the entries that produced it; the backup replays the log, never
//!   past its last entry, and compares state hashes.
//! - [`record`]: who is primary and who is backup, kept in the shared storage (troupe's Raft
//!   key-value service) and changed only by compare-and-swap: the test-and-set that decides
//!   which side goes live.
//! - [`host`]: the actor on every VM host, which is a primary, a backup or a spare.
//! - [`client`]: a client that retries with request ids, so an output repeated at failover is
//!   harmless.
//! - [`gateway`]: how a real node's client port runs a remote client's requests on the guest.
//!
//! The failover supervisor that starts a new backup after a failover is in
//! `troupe_supervisors::failover::vmft`.

pub mod backup;
pub mod client;
pub mod disk;
pub mod error;
pub mod gateway;
pub mod host;
pub mod log;
pub mod primary;
pub mod record;
#[cfg(test)]
mod tests;
pub mod vm;

use std::sync::Arc;
use std::time::Duration;
use troupe_messages::NodeId;
use vm::isa::Program;

/// The actor name of the VM host on every node that may run the VM.
pub const HOST: &str = "vmft-host";

/// Which guest program the VM runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guest {
    /// The key-value service (get, put, append) whose histories the key-value model checks.
    Kv,
    /// The counter, which uses timers, the clock, the random source and the disk.
    Counter,
}

impl Guest {
    /// The guest's program.
    pub fn program(self) -> Arc<Program> {
        match self {
            Guest::Kv => vm::guest::kv::kv(),
            Guest::Counter => vm::guest::counter::counter(),
        }
    }
}

/// Timeouts and periods of the hosts.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// The timer interrupt's period.
    pub timer: Duration,
    /// How often the primary sends a batch (empty: a heartbeat) and resends what is unacknowledged.
    pub heartbeat: Duration,
    /// Silence on the logging channel after which a side suspects the other.
    pub timeout: Duration,
    /// How long a test-and-set on the shared storage may take before it is tried again.
    pub storage_deadline: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            timer: Duration::from_millis(10),
            heartbeat: Duration::from_millis(20),
            timeout: Duration::from_millis(300),
            storage_deadline: Duration::from_millis(500),
        }
    }
}

/// One fault-tolerant VM: its name, where its record and disk are kept, and what it runs.
#[derive(Debug, Clone)]
pub struct VmftPlan {
    /// The VM's name, which names its keys in the storage.
    pub vm: String,
    /// The shared storage's Raft group.
    pub storage: Vec<NodeId>,
    /// The hosts that may run the VM's primary or backup.
    pub hosts: Vec<NodeId>,
    /// The guest program.
    pub guest: Guest,
    /// The VM's memory, in bytes.
    pub memory: usize,
    /// The backup's log buffer, in entries.
    pub buffer: u64,
    /// A state hash every this many entries.
    pub hash_every: u64,
    /// The hosts' timeouts and periods.
    pub timing: Timing,
    /// Instructions the simulated CPU retires per second (None: as fast as the machine runs;
    /// in simulation, then, the VM takes no virtual time at all).
    pub cpu_hz: Option<u64>,
}

impl VmftPlan {
    /// The key-value guest on `hosts`, with its record and disk in `storage`.
    pub fn new(storage: Vec<NodeId>, hosts: Vec<NodeId>) -> Self {
        VmftPlan {
            vm: "vm0".to_string(),
            storage,
            hosts,
            guest: Guest::Kv,
            memory: 1 << 20,
            buffer: log::DEFAULT_BUFFER,
            hash_every: log::DEFAULT_HASH_EVERY,
            timing: Timing::default(),
            cpu_hz: None,
        }
    }
}
