//! Guest programs for the VM, written with the assembler, and the host-side codecs of their
//! packets: [`kv`] (get / put / append with request ids) and [`counter`] (timers, clock,
//! random and the disk).
//!
//! What they share, emitted by the functions here. Memory above the VM's fixed areas:
//!
//! - `0x2000` globals: ring head (u64) at `0x2000`, ring tail at `0x2008`, then each guest's
//!   own; `0x2100` the scratch of the request being processed (client pointer, seq, dedup
//!   entry, then each guest's own fields).
//! - `0x3000` the transmit buffer a reply is built in (MAX_PACKET bytes).
//! - `0x4000` the receive ring: [`RING_SLOTS`] slots of `len u64 | packet [u8; MAX_PACKET]`.
//!   The packet interrupt handler copies the receive buffer into slot `tail % RING_SLOTS` and
//!   bumps the tail, or drops the packet if the ring is full (the client retries). The request
//!   loop processes slot `head % RING_SLOTS` in place and bumps the head only afterwards, so
//!   the handler never writes the slot being processed.
//! - `0xD000` upwards: each guest's own data.
//!
//! The request loop disables interrupts to look at the ring and, if it is empty, executes
//! `Wait`, which enables them and idles in one step, so a packet cannot arrive unnoticed
//! between the check and the wait. Requests are processed with interrupts enabled.
//!
//! Dedup (both guests): a table of `client [u8; 16] | seq u64` entries, the seq of the client's
//! latest applied write; the same seq is a retry, an older one is stale, a newer one applies.

pub mod counter;
#[cfg(test)]
pub(crate) mod harness;
pub mod kv;

use super::asm::{Asm, Label};
use super::isa::{R1, R14, R2, R3, R4, R5, R6, R7, R8};
use super::{IRQ_LEN_ADDR, MAX_PACKET, RX_BUFFER};

/// The ring's head (u64: packets taken).
pub const RING_HEAD: u64 = 0x2000;
/// The ring's tail (u64: packets queued).
pub const RING_TAIL: u64 = 0x2008;
/// The scratch of the request being processed.
pub const SCRATCH: u64 = 0x2100;
/// Scratch: the address of the request's client id.
pub const SCRATCH_CLIENT: i32 = 0;
/// Scratch: the request's seq.
pub const SCRATCH_SEQ: i32 = 8;
/// Scratch: the client's dedup entry (0 if it has none).
pub const SCRATCH_ENTRY: i32 = 16;
/// The transmit buffer.
pub const TX: u64 = 0x3000;
/// The receive ring.
pub const RING: u64 = 0x4000;
/// Slots in the ring.
pub const RING_SLOTS: u64 = 8;
/// Bytes per slot: the length, then the packet.
pub const SLOT_SIZE: u64 = 8 + MAX_PACKET as u64;
/// The first address of each guest's own data.
pub const GUEST_DATA: u64 = 0xD000;
/// Bytes per dedup entry: client id, seq.
pub const DEDUP_ENTRY: u64 = 24;

/// Where a dedup table lives, and its limit.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DedupTable {
    /// The first entry.
    pub table: u64,
    /// The u64 count of entries.
    pub count: u64,
    /// The most entries.
    pub max: u64,
}

/// Whether the guest's receive ring has room for another packet, as the virtual network
/// device sees it: the hypervisor holds packets in its bounce buffer while the ring is full,
/// rather than deliver them to be dropped (a device knows its ring's descriptors). Reading
/// guest memory changes nothing, so this is deterministic and needs no log entry.
pub fn ring_has_room(vm: &super::Vm) -> bool {
    let word = |addr: u64| {
        vm.read_memory(addr, 8)
            .ok()
            .and_then(|b| b.try_into().ok())
            .map(u64::from_le_bytes)
    };
    match (word(RING_HEAD), word(RING_TAIL)) {
        (Some(head), Some(tail)) => tail.wrapping_sub(head) < RING_SLOTS,
        _ => true,
    }
}

/// Emits the packet branch of a handler: queue the receive buffer in the ring (or drop it if
/// the ring is full), then `Iret`. Uses R1..R6 (the VM restores them).
pub(crate) fn emit_enqueue(a: &mut Asm) {
    let drop = a.label();
    a.imm(R1, RING_HEAD);
    a.ld64(R2, R1, 0);
    a.ld64(R3, R1, (RING_TAIL - RING_HEAD) as i32);
    a.sub(R4, R3, R2);
    a.imm(R5, RING_SLOTS);
    a.bge(R4, R5, drop);
    a.andi(R4, R3, RING_SLOTS - 1);
    a.muli(R4, R4, SLOT_SIZE);
    a.addi(R4, R4, RING);
    a.imm(R5, IRQ_LEN_ADDR);
    a.ld64(R5, R5, 0);
    a.st64(R5, R4, 0);
    a.addi(R6, R4, 8);
    a.imm(R2, RX_BUFFER);
    a.copy(R6, R2, R5);
    a.addi(R3, R3, 1);
    a.st64(R3, R1, (RING_TAIL - RING_HEAD) as i32);
    a.bind(drop);
    a.iret();
}

/// Emits the request loop: forever, take the oldest queued packet and call `process` with R1 =
/// its address and R2 = its length, then drop it from the ring; `Wait` while the ring is
/// empty. `process` may use every register.
pub(crate) fn emit_request_loop(a: &mut Asm, process: Label) {
    let top = a.here();
    let have = a.label();
    a.di();
    a.imm(R1, RING_HEAD);
    a.ld64(R2, R1, 0);
    a.ld64(R3, R1, (RING_TAIL - RING_HEAD) as i32);
    a.bne(R2, R3, have);
    a.wait();
    a.jump(top);
    a.bind(have);
    a.ei();
    a.andi(R4, R2, RING_SLOTS - 1);
    a.muli(R4, R4, SLOT_SIZE);
    a.addi(R4, R4, RING);
    a.ld64(R2, R4, 0);
    a.addi(R1, R4, 8);
    a.call(process);
    a.imm(R1, RING_HEAD);
    a.ld64(R2, R1, 0);
    a.addi(R2, R2, 1);
    a.st64(R2, R1, 0);
    a.jump(top);
}

/// Emits the subroutine at `entry` that looks the scratch request's client up in `dedup`:
/// R3 = 0 apply, 1 retry (same seq), 2 stale (older seq), 3 table full; the client's entry (or
/// 0) goes to the scratch. Uses R1, R3..R7, R14.
pub(crate) fn emit_dedup_check(a: &mut Asm, entry: Label, dedup: DedupTable) {
    let (scan, found, missing, stale, retry, full) = (
        a.label(),
        a.label(),
        a.label(),
        a.label(),
        a.label(),
        a.label(),
    );
    a.bind(entry);
    a.imm(R14, SCRATCH);
    a.ld64(R1, R14, SCRATCH_CLIENT);
    a.imm(R4, dedup.count);
    a.ld64(R4, R4, 0);
    a.imm(R5, dedup.table);
    a.imm(R6, 16);
    a.imm(R7, 0);
    a.bind(scan);
    a.bge(R7, R4, missing);
    a.compare(R3, R5, R1, R6);
    a.bnz(R3, found);
    a.addi(R5, R5, DEDUP_ENTRY);
    a.addi(R7, R7, 1);
    a.jump(scan);
    a.bind(found);
    a.st64(R5, R14, SCRATCH_ENTRY);
    a.ld64(R4, R5, 16);
    a.ld64(R6, R14, SCRATCH_SEQ);
    a.beq(R6, R4, retry);
    a.blt(R6, R4, stale);
    a.imm(R3, 0);
    a.ret();
    a.bind(retry);
    a.imm(R3, 1);
    a.ret();
    a.bind(stale);
    a.imm(R3, 2);
    a.ret();
    a.bind(missing);
    a.imm(R5, 0);
    a.st64(R5, R14, SCRATCH_ENTRY);
    a.imm(R6, dedup.max);
    a.bge(R4, R6, full);
    a.imm(R3, 0);
    a.ret();
    a.bind(full);
    a.imm(R3, 3);
    a.ret();
}

/// Emits the subroutine at `entry` that records the scratch request's seq as its client's
/// latest applied write (adding the client's entry if it has none; the check said there is
/// room). Uses R4..R8, R14.
pub(crate) fn emit_dedup_record(a: &mut Asm, entry: Label, dedup: DedupTable) {
    let have = a.label();
    a.bind(entry);
    a.imm(R14, SCRATCH);
    a.ld64(R5, R14, SCRATCH_ENTRY);
    a.bnz(R5, have);
    a.imm(R4, dedup.count);
    a.ld64(R6, R4, 0);
    a.muli(R5, R6, DEDUP_ENTRY);
    a.addi(R5, R5, dedup.table);
    a.addi(R6, R6, 1);
    a.st64(R6, R4, 0);
    a.ld64(R7, R14, SCRATCH_CLIENT);
    a.imm(R8, 16);
    a.copy(R5, R7, R8);
    a.bind(have);
    a.ld64(R6, R14, SCRATCH_SEQ);
    a.st64(R6, R5, 16);
    a.ret();
}

/// The client id and seq at `at` in `packet` (16 bytes, then u64 LE), if it is long enough.
pub(crate) fn read_id(packet: &[u8], at: usize) -> Option<([u8; 16], u64)> {
    let client = packet.get(at..at + 16)?.try_into().ok()?;
    Some((client, read_u64(packet, at + 16)?))
}

/// The u64 LE at `at` in `packet`.
pub(crate) fn read_u64(packet: &[u8], at: usize) -> Option<u64> {
    let bytes = packet.get(at..at.checked_add(8)?)?;
    Some(u64::from_le_bytes(bytes.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shared_areas_do_not_overlap() {
        const {
            assert!(SCRATCH + 0x100 <= TX);
            assert!(TX + MAX_PACKET as u64 <= RING);
            assert!(RING + RING_SLOTS * SLOT_SIZE <= GUEST_DATA);
            assert!(RING_SLOTS.is_power_of_two());
        }
        assert_eq!(read_id(&[7; 24], 0), Some(([7; 16], 0x0707_0707_0707_0707)));
        assert_eq!(read_id(&[7; 23], 0), None);
    }
}
