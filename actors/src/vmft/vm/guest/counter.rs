//! The counter guest: a counter kept on disk, whose replies depend on the timer, the clock and
//! the random source (every kind of non-deterministic input a backup must replay), and its
//! host-side codecs.
//!
//! Boot: read disk block 0 to [`DISK_IN`] and `Wait` until it arrives; the counter starts at its
//! first 8 bytes (u64 LE). Timer: ticks += 1, and every 8 ticks (once booted, and with no write
//! outstanding) write block 0 = the counter (u64 LE, then zeros) from [`DISK_OUT`].
//!
//! Memory (above the shared areas of [`super`]): globals: ticks `0x2010`, counter `0x2018`,
//! booted flag `0x2020`, write-outstanding flag `0x2028`, client count `0x2030`; `0xD000` the
//! disk read buffer, `0xD200` the disk write buffer (512 bytes each), `0xD400` the client table
//! (64 entries of `client [u8;16] | seq u64`). [`MIN_MEMORY`] bytes hold it all.
//!
//! Request: `op u8 (0 incr, 1 read) | client [u8;16] | seq u64 LE`, exactly 25 bytes; anything
//! else is dropped unanswered. An incr is deduplicated like a kv write (a retry, a stale seq
//! or a full client table increments nothing but is answered all the same). Reply: `client
//! [u8;16] | seq u64 | counter u64 | ticks u64 | clock u64 | nonce u64`, all LE, the clock and
//! nonce read while handling the request.

use super::{emit_dedup_check, emit_dedup_record, emit_enqueue, emit_request_loop, read_id};
use super::{read_u64, DedupTable, SCRATCH, SCRATCH_CLIENT, SCRATCH_SEQ, TX};
use crate::vmft::vm::asm::{Asm, Label};
use crate::vmft::vm::isa::{Program, R1, R14, R15, R2, R3, R4, R5, R6};
use crate::vmft::vm::{IRQ_DISK_READ, IRQ_DISK_WRITE, IRQ_KIND_ADDR, IRQ_PACKET, IRQ_TIMER};
use std::borrow::Borrow;
use std::sync::Arc;

/// Timer interrupts seen (u64).
pub const TICKS: u64 = 0x2010;
/// The counter (u64).
pub const COUNTER: u64 = 0x2018;
const BOOTED: u64 = 0x2020;
const WRITING: u64 = 0x2028;
const CLIENT_COUNT: u64 = 0x2030;
/// Where the boot read of block 0 lands.
pub const DISK_IN: u64 = 0xD000;
/// Where the periodic write of block 0 is built.
pub const DISK_OUT: u64 = 0xD200;
const CLIENTS: u64 = 0xD400;
/// The most clients whose increments are deduplicated.
pub const MAX_CLIENTS: u64 = 64;
/// The smallest memory the counter guest runs in.
pub const MIN_MEMORY: usize = 0xE000;
/// The length of a request.
pub const REQUEST_LEN: usize = 25;
/// The length of a reply.
pub const REPLY_LEN: usize = 56;
const S_OP: i32 = 24;

/// What a counter request asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CounterOp {
    /// Add one (once per seq).
    Incr,
    /// Read.
    Read,
}

/// A counter reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CounterReply {
    /// The requesting client.
    pub client: [u8; 16],
    /// Its seq.
    pub seq: u64,
    /// The counter after the request.
    pub counter: u64,
    /// Timer interrupts seen.
    pub ticks: u64,
    /// The clock, read while handling the request.
    pub clock: u64,
    /// A random value, read while handling the request.
    pub nonce: u64,
}

/// The request packet of `op` by `client` with `seq` (`op` by value or by reference).
pub fn encode_request(client: [u8; 16], seq: u64, op: impl Borrow<CounterOp>) -> Vec<u8> {
    let mut packet = Vec::with_capacity(REQUEST_LEN);
    packet.push(match op.borrow() {
        CounterOp::Incr => 0,
        CounterOp::Read => 1,
    });
    packet.extend_from_slice(&client);
    packet.extend_from_slice(&seq.to_le_bytes());
    packet
}

/// The reply a packet of the guest holds, if it is one.
pub fn decode_reply(packet: &[u8]) -> Option<CounterReply> {
    if packet.len() != REPLY_LEN {
        return None;
    }
    let (client, seq) = read_id(packet, 0)?;
    Some(CounterReply {
        client,
        seq,
        counter: read_u64(packet, 24)?,
        ticks: read_u64(packet, 32)?,
        clock: read_u64(packet, 40)?,
        nonce: read_u64(packet, 48)?,
    })
}

/// The (client, seq) of a request packet.
pub fn request_id(packet: &[u8]) -> Option<([u8; 16], u64)> {
    read_id(packet, 1)
}

/// The counter guest program.
pub fn counter() -> Arc<Program> {
    let mut a = Asm::new();
    let [handler, process, check, record, boot_wait, booted] = [(); 6].map(|_| a.label());
    let dedup = DedupTable {
        table: CLIENTS,
        count: CLIENT_COUNT,
        max: MAX_CLIENTS,
    };
    a.set_handler(handler);
    a.imm(R1, 0);
    a.imm(R2, DISK_IN);
    a.disk_read(R3, R1, R2);
    a.bind(boot_wait);
    a.di();
    a.imm(R1, BOOTED);
    a.ld64(R2, R1, 0);
    a.bnz(R2, booted);
    a.wait();
    a.jump(boot_wait);
    a.bind(booted);
    emit_request_loop(&mut a, process);
    emit_handler(&mut a, handler);
    emit_process(&mut a, process, check, record);
    emit_dedup_check(&mut a, check, dedup);
    emit_dedup_record(&mut a, record, dedup);
    Arc::new(a.finish().expect("the counter guest assembles"))
}

/// Dispatches on the interrupt's kind.
fn emit_handler(a: &mut Asm, handler: Label) {
    let [packet, timer, read_done, write_done, out] = [(); 5].map(|_| a.label());
    a.bind(handler);
    a.imm(R1, IRQ_KIND_ADDR);
    a.ld64(R2, R1, 0);
    for (kind, to) in [
        (IRQ_PACKET, packet),
        (IRQ_TIMER, timer),
        (IRQ_DISK_READ, read_done),
        (IRQ_DISK_WRITE, write_done),
    ] {
        a.imm(R3, kind);
        a.beq(R2, R3, to);
    }
    a.bind(out);
    a.iret();
    // The boot read: the counter starts at the block's first u64.
    a.bind(read_done);
    a.imm(R1, DISK_IN);
    a.ld64(R2, R1, 0);
    a.imm(R1, COUNTER);
    a.st64(R2, R1, 0);
    a.imm(R1, BOOTED);
    a.imm(R2, 1);
    a.st64(R2, R1, 0);
    a.iret();
    a.bind(write_done);
    a.imm(R1, WRITING);
    a.imm(R2, 0);
    a.st64(R2, R1, 0);
    a.iret();
    // The timer: a tick, and every 8 ticks the counter to disk.
    a.bind(timer);
    a.imm(R1, TICKS);
    a.ld64(R2, R1, 0);
    a.addi(R2, R2, 1);
    a.st64(R2, R1, 0);
    a.andi(R3, R2, 7);
    a.bnz(R3, out);
    a.imm(R1, BOOTED);
    a.ld64(R3, R1, 0);
    a.bz(R3, out);
    a.imm(R1, WRITING);
    a.ld64(R3, R1, 0);
    a.bnz(R3, out);
    a.imm(R3, 1);
    a.st64(R3, R1, 0);
    a.imm(R1, COUNTER);
    a.ld64(R3, R1, 0);
    a.imm(R4, DISK_OUT);
    a.st64(R3, R4, 0);
    a.imm(R5, 0);
    a.disk_write(R6, R5, R4);
    a.iret();
    a.bind(packet);
    emit_enqueue(a);
}

/// One request at R1 (length R2): maybe increment, then reply.
fn emit_process(a: &mut Asm, entry: Label, check: Label, record: Label) {
    let [reply, drop] = [(); 2].map(|_| a.label());
    a.bind(entry);
    a.imm(R3, REQUEST_LEN as u64);
    a.bne(R2, R3, drop);
    a.ld8(R5, R1, 0);
    a.imm(R3, 1);
    a.blt(R3, R5, drop);
    a.imm(R14, SCRATCH);
    a.addi(R3, R1, 1);
    a.st64(R3, R14, SCRATCH_CLIENT);
    a.ld64(R4, R1, 17);
    a.st64(R4, R14, SCRATCH_SEQ);
    a.st64(R5, R14, S_OP);
    a.bnz(R5, reply);
    a.call(check);
    a.bnz(R3, reply);
    a.imm(R1, COUNTER);
    a.ld64(R2, R1, 0);
    a.addi(R2, R2, 1);
    a.st64(R2, R1, 0);
    a.call(record);
    a.bind(reply);
    a.imm(R15, TX);
    a.imm(R14, SCRATCH);
    a.ld64(R3, R14, SCRATCH_CLIENT);
    a.imm(R4, 16);
    a.copy(R15, R3, R4);
    a.ld64(R3, R14, SCRATCH_SEQ);
    a.st64(R3, R15, 16);
    a.imm(R1, COUNTER);
    a.ld64(R3, R1, 0);
    a.st64(R3, R15, 24);
    a.imm(R1, TICKS);
    a.ld64(R3, R1, 0);
    a.st64(R3, R15, 32);
    a.clock(R3);
    a.st64(R3, R15, 40);
    a.random(R3);
    a.st64(R3, R15, 48);
    a.imm(R2, REPLY_LEN as u64);
    a.send(R15, R2);
    a.bind(drop);
    a.ret();
}

#[cfg(test)]
#[path = "counter_tests.rs"]
mod tests;
