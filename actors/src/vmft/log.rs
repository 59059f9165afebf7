//! The log between primary and backup: how a recorded event becomes the interrupt or value the
//! VM is given, and the settings both sides share.

use super::vm::Interrupt;
use troupe_messages::vmft::LoggedEvent;

/// The backup's log buffer holds at most this many entries it has not replayed; the primary
/// stops executing while that many are outstanding (§3.2 of the paper: the primary slows down
/// when the backup's buffer is full).
pub const DEFAULT_BUFFER: u64 = 512;

/// The primary attaches a hash of the VM's state to every this-many-th entry.
pub const DEFAULT_HASH_EVERY: u64 = 16;

/// The interrupt a logged event delivers, or None for a value (a clock or random read) that
/// answers an instruction instead.
pub fn interrupt_of(event: &LoggedEvent) -> Option<Interrupt> {
    match event {
        LoggedEvent::Packet(data) => Some(Interrupt::Packet(data.clone())),
        LoggedEvent::Timer => Some(Interrupt::Timer),
        LoggedEvent::DiskRead { tag, data } => Some(Interrupt::DiskRead {
            tag: *tag,
            data: data.clone(),
        }),
        LoggedEvent::DiskWrite { tag } => Some(Interrupt::DiskWrite { tag: *tag }),
        LoggedEvent::Clock(_) | LoggedEvent::Random(_) => None,
    }
}

/// The event that records delivering `interrupt`.
pub fn event_of(interrupt: &Interrupt) -> LoggedEvent {
    match interrupt {
        Interrupt::Packet(data) => LoggedEvent::Packet(data.clone()),
        Interrupt::Timer => LoggedEvent::Timer,
        Interrupt::DiskRead { tag, data } => LoggedEvent::DiskRead {
            tag: *tag,
            data: data.clone(),
        },
        Interrupt::DiskWrite { tag } => LoggedEvent::DiskWrite { tag: *tag },
    }
}

/// Roughly how many bytes an entry takes on the logging channel (for the log bandwidth the
/// benchmark reports).
pub fn entry_bytes(event: &LoggedEvent) -> u64 {
    let data = match event {
        LoggedEvent::Packet(data) | LoggedEvent::DiskRead { data, .. } => data.len() as u64,
        _ => 8,
    };
    // Index, count, tag and framing.
    data + 24
}
