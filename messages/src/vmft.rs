//! Wire types of VM-FT: primary/backup replication of a deterministic virtual machine.
//!
//! - Clients send the guest's own request packets ([`VmftRequest`]) to the host that runs the
//!   primary and get back the guest's reply packet once the output rule releases it.
//! - The logging channel carries [`LogBatch`]es of [`LogEntry`]s from the primary's host to the
//!   backup's, and [`LogAck`]s back; a batch also serves as the primary's heartbeat.
//! - [`InstallBackup`] is the state transfer that starts a new backup (FT VMotion), and
//!   [`AddBackup`] / [`BootVm`] are how the failover supervisor asks for one or for a first VM.
//! - [`VmftInspect`] asks a host where it stands (its [`VmftRole`]).

use crate::{ClientId, NodeId, Wire};
use serde::{Deserialize, Serialize};

/// A client's request: the guest's request packet, with the id the client gave it, by which
/// the host matches the guest's reply to the caller. A retry carries the same id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, actix::Message)]
#[rtype(result = "VmftReply")]
pub struct VmftRequest {
    /// The client's id.
    pub client: ClientId,
    /// The client's number for this request: the same for every retry.
    pub seq: u64,
    /// The request packet, in the guest's own format.
    pub packet: Vec<u8>,
}

impl Wire for VmftRequest {
    const TAG: &'static str = "vmft.request";
}

/// A host's answer to a [`VmftRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, actix::MessageResponse)]
pub enum VmftReply {
    /// The guest's reply packet, released by the output rule.
    Output(Vec<u8>),
    /// This host does not run the primary; `primary` is the one it knows of, if any.
    NotPrimary {
        /// The host the client should try next.
        primary: Option<NodeId>,
    },
    /// The primary stopped while the request was pending (it lost a test-and-set, or was
    /// replaced): the request may or may not have been executed. Retry with the same id.
    Abandoned,
    /// The packet is larger than the guest's receive buffer: never delivered.
    TooLarge {
        /// The largest packet the guest takes.
        max: usize,
    },
}

/// A non-deterministic event as the primary recorded it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum LoggedEvent {
    /// A client packet, delivered as an interrupt (its data copied from the bounce buffer).
    Packet(Vec<u8>),
    /// A timer interrupt.
    Timer,
    /// The value a clock read returned.
    Clock(u64),
    /// The value a read of the random source returned.
    Random(u64),
    /// A disk read's completion, with the block's data.
    DiskRead {
        /// The request's tag.
        tag: u64,
        /// The block read.
        data: Vec<u8>,
    },
    /// A disk write's completion.
    DiskWrite {
        /// The request's tag.
        tag: u64,
    },
}

/// One entry of the primary's log: an event and the instruction count it was delivered at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry {
    /// The entry's position in the log, from 1.
    pub index: u64,
    /// Instructions the VM had retired when the event was delivered.
    pub count: u64,
    /// The event.
    pub event: LoggedEvent,
    /// Every few entries: the hash of the VM's state right after this entry was applied, for the
    /// backup to compare with its own.
    pub state_hash: Option<u64>,
}

/// Log entries from the primary's host to the backup's; an empty batch is a heartbeat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, actix::Message)]
#[rtype(result = "()")]
pub struct LogBatch {
    /// The VM's generation: which primary/backup pair this channel belongs to.
    pub generation: u64,
    /// The primary's host.
    pub primary: NodeId,
    /// Entries in index order (possibly resent).
    pub entries: Vec<LogEntry>,
}

impl Wire for LogBatch {
    const TAG: &'static str = "vmft.log";
}

/// The backup's acknowledgement, sent for every batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, actix::Message)]
#[rtype(result = "()")]
pub struct LogAck {
    /// The generation of the batch it answers.
    pub generation: u64,
    /// The backup's host.
    pub backup: NodeId,
    /// Every entry up to this index is in the backup's log buffer.
    pub received: u64,
    /// Every entry up to this index has been replayed.
    pub replayed: u64,
}

impl Wire for LogAck {
    const TAG: &'static str = "vmft.ack";
}

/// The state transfer that starts a backup: the VM's state at log index `index`, after which
/// the primary streams entries `index + 1`, ... on the logging channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, actix::Message)]
#[rtype(result = "()")]
pub struct InstallBackup {
    /// The generation the new pair will have once the backup is in sync.
    pub generation: u64,
    /// The primary's host.
    pub primary: NodeId,
    /// The log index the state was taken at.
    pub index: u64,
    /// The VM's state (an encoded snapshot).
    pub state: Vec<u8>,
}

impl Wire for InstallBackup {
    const TAG: &'static str = "vmft.install";
}

/// From the failover supervisor to the primary's host: start a backup on `backup`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, actix::Message)]
#[rtype(result = "()")]
pub struct AddBackup {
    /// The generation the supervisor read, in which the primary runs alone.
    pub generation: u64,
    /// The spare to bring up as the backup.
    pub backup: NodeId,
}

impl Wire for AddBackup {
    const TAG: &'static str = "vmft.add_backup";
}

/// From the failover supervisor to a spare: boot the VM as its first primary, in the
/// generation the supervisor recorded for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, actix::Message)]
#[rtype(result = "()")]
pub struct BootVm {
    /// The generation recorded for this primary.
    pub generation: u64,
}

impl Wire for BootVm {
    const TAG: &'static str = "vmft.boot";
}

/// What a host is doing for the VM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum VmftRole {
    /// It runs the VM and serves clients.
    Primary,
    /// It replays the primary's log.
    Backup,
    /// It runs nothing: a node a backup can be started on.
    Spare,
}

impl VmftRole {
    /// The role's name, as `troupe status` prints it.
    pub fn name(self) -> &'static str {
        match self {
            VmftRole::Primary => "primary",
            VmftRole::Backup => "backup",
            VmftRole::Spare => "spare",
        }
    }
}

/// Asks a host where it stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, actix::Message)]
#[rtype(result = "VmftStatus")]
pub struct VmftInspect;

impl Wire for VmftInspect {
    const TAG: &'static str = "vmft.inspect";
}

/// A host's answer to [`VmftInspect`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, actix::MessageResponse)]
pub struct VmftStatus {
    /// What the host does.
    pub role: VmftRole,
    /// The generation it runs in (0 for a spare).
    pub generation: u64,
    /// The primary's last log index, or the backup's last entry received.
    pub log_index: u64,
    /// The VM's instruction count (0 for a spare).
    pub count: u64,
    /// A primary's backup: being installed, or in sync.
    pub backup: Option<NodeId>,
    /// A primary: whether its outputs wait for a backup's acknowledgement (false while it runs
    /// alone).
    pub replicated: bool,
    /// The host suspects its peer, or is changing the record: a failover may be under way.
    pub deciding: bool,
}
