//! The kv guest: a key/value store with get, put and append, deduplicating writes by (client,
//! seq), and its host-side codecs.
//!
//! Memory (above the shared areas of [`super`]):
//! - globals: uptime (timer interrupts seen) at `0x2010`, client count `0x2018`, key count
//!   `0x2020`, heap bump pointer `0x2028`; scratch `0x2100`: client ptr, seq, dedup entry, op,
//!   key ptr, key len, value ptr, value len.
//! - `0xD000` the client table: 256 entries of `client [u8;16] | seq u64`.
//! - `0xF000` the key table: 256 entries of 96 bytes, `key_len u64 | key [u8;64] | value_ptr
//!   u64 | value_len u64 | value_cap u64`, scanned linearly.
//! - [`HEAP`] to the end of memory: values, bump-allocated; an append past a value's capacity
//!   moves it to a block of doubled capacity (the old one is not reused). [`MIN_MEMORY`] bytes
//!   hold everything but the heap.
//!
//! Request: `op u8 (0 get, 1 put, 2 append) | client [u8;16] | seq u64 LE | key_len u16 LE |
//! key | value_len u32 LE | value` (a get has value_len 0), exactly that long. Reply: `client
//! [u8;16] | seq u64 LE | status u8 | value_len u32 LE | value`. Keys up to 64 bytes; a value up
//! to [`MAX_VALUE`] bytes (so a reply fits a packet): an append past it is OutOfMemory. A
//! request too short to hold an id is answered Malformed with a zero id.

use super::{emit_dedup_check, emit_dedup_record, emit_enqueue, emit_request_loop, read_id};
use super::{DedupTable, SCRATCH, TX};
use crate::vmft::vm::asm::{Asm, Label};
use crate::vmft::vm::isa::{Program, R1, R10, R11, R12, R13, R14, R15, R2, R3, R4, R5};
use crate::vmft::vm::isa::{R6, R7, R8, R9};
use crate::vmft::vm::{IRQ_KIND_ADDR, IRQ_PACKET, IRQ_TIMER, MAX_PACKET};
use std::sync::Arc;

/// Timer interrupts seen (u64).
pub const UPTIME: u64 = 0x2010;
const CLIENT_COUNT: u64 = 0x2018;
const KEY_COUNT: u64 = 0x2020;
const BUMP: u64 = 0x2028;
const CLIENTS: u64 = 0xD000;
const KEYS: u64 = 0xF000;
/// The first byte of the value heap.
pub const HEAP: u64 = 0x15000;
/// The smallest memory the kv guest runs in (with an empty heap).
pub const MIN_MEMORY: usize = HEAP as usize;
/// The most keys.
pub const MAX_KEYS: u64 = 256;
/// The longest key.
pub const MAX_KEY: u64 = 64;
/// The most clients whose writes are deduplicated.
pub const MAX_CLIENTS: u64 = 256;
/// The longest value: a reply holding it is one packet.
pub const MAX_VALUE: u64 = MAX_PACKET as u64 - REPLY_HEADER as u64;
const REPLY_HEADER: usize = 16 + 8 + 1 + 4;
const REQUEST_HEADER: usize = 1 + 16 + 8 + 2;
const ENTRY: u64 = 96;
// A key entry: key length, key, value pointer, value length, value capacity.
const K_LEN: i32 = 0;
const K_KEY: i32 = 8;
const K_PTR: i32 = 72;
const K_VLEN: i32 = 80;
const K_CAP: i32 = 88;
// The scratch, after the shared fields: op, key pointer and length, value pointer and length.
const S_OP: i32 = 24;
const S_KEY: i32 = 32;
const S_KEYLEN: i32 = 40;
const S_VAL: i32 = 48;
const S_VALLEN: i32 = 56;

/// What a kv request asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KvGuestOp {
    /// Read `key` ("" if missing).
    Get {
        /// The key.
        key: Vec<u8>,
    },
    /// Set `key` to `value`.
    Put {
        /// The key.
        key: Vec<u8>,
        /// The value.
        value: Vec<u8>,
    },
    /// Append `value` to `key`'s value (creating it).
    Append {
        /// The key.
        key: Vec<u8>,
        /// What to append.
        value: Vec<u8>,
    },
}

/// The outcome of a kv request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KvGuestStatus {
    /// A put or append was applied (now or earlier, for a retry).
    Done,
    /// A get's value.
    Value,
    /// The seq is older than the client's latest applied write: nothing done.
    Stale,
    /// No room (keys, heap, clients, or the value's length): nothing done.
    OutOfMemory,
    /// The request could not be parsed.
    Malformed,
}

/// A kv reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvGuestReply {
    /// The requesting client.
    pub client: [u8; 16],
    /// Its seq.
    pub seq: u64,
    /// The outcome.
    pub status: KvGuestStatus,
    /// A get's value (else empty).
    pub value: Vec<u8>,
}

/// The request packet of `op` by `client` with `seq`.
pub fn encode_request(client: [u8; 16], seq: u64, op: &KvGuestOp) -> Vec<u8> {
    let (code, key, value): (u8, &[u8], &[u8]) = match op {
        KvGuestOp::Get { key } => (0, key, &[]),
        KvGuestOp::Put { key, value } => (1, key, value),
        KvGuestOp::Append { key, value } => (2, key, value),
    };
    let mut packet = Vec::with_capacity(REQUEST_HEADER + key.len() + 4 + value.len());
    packet.push(code);
    packet.extend_from_slice(&client);
    packet.extend_from_slice(&seq.to_le_bytes());
    packet.extend_from_slice(&(key.len() as u16).to_le_bytes());
    packet.extend_from_slice(key);
    packet.extend_from_slice(&(value.len() as u32).to_le_bytes());
    packet.extend_from_slice(value);
    packet
}

/// The reply a packet of the guest holds, if it is one.
pub fn decode_reply(packet: &[u8]) -> Option<KvGuestReply> {
    let (client, seq) = read_id(packet, 0)?;
    let status = match packet.get(24)? {
        0 => KvGuestStatus::Done,
        1 => KvGuestStatus::Value,
        2 => KvGuestStatus::Stale,
        3 => KvGuestStatus::OutOfMemory,
        4 => KvGuestStatus::Malformed,
        _ => return None,
    };
    let len = u32::from_le_bytes(packet.get(25..29)?.try_into().ok()?) as usize;
    let value = packet.get(REPLY_HEADER..)?;
    (value.len() == len).then(|| KvGuestReply {
        client,
        seq,
        status,
        value: value.to_vec(),
    })
}

/// The (client, seq) of a request packet.
pub fn request_id(packet: &[u8]) -> Option<([u8; 16], u64)> {
    read_id(packet, 1)
}

/// The kv guest program.
pub fn kv() -> Arc<Program> {
    let mut a = Asm::new();
    let [handler, process, find_key, alloc, put, append, new_entry, check, record] =
        [(); 9].map(|_| a.label());
    let dedup = DedupTable {
        table: CLIENTS,
        count: CLIENT_COUNT,
        max: MAX_CLIENTS,
    };
    a.set_handler(handler);
    a.imm(R1, HEAP);
    a.imm(R2, BUMP);
    a.st64(R1, R2, 0);
    emit_request_loop(&mut a, process);
    emit_handler(&mut a, handler);
    emit_process(&mut a, process, [find_key, put, append, check, record]);
    emit_find_key(&mut a, find_key);
    emit_alloc(&mut a, alloc);
    emit_put(&mut a, put, find_key, alloc, new_entry);
    emit_append(&mut a, append, find_key, alloc, new_entry);
    emit_new_entry(&mut a, new_entry, alloc);
    emit_dedup_check(&mut a, check, dedup);
    emit_dedup_record(&mut a, record, dedup);
    Arc::new(a.finish().expect("the kv guest assembles"))
}

/// Packets are queued; timers bump the uptime.
fn emit_handler(a: &mut Asm, handler: Label) {
    let (packet, out) = (a.label(), a.label());
    a.bind(handler);
    a.imm(R1, IRQ_KIND_ADDR);
    a.ld64(R2, R1, 0);
    a.imm(R3, IRQ_PACKET);
    a.beq(R2, R3, packet);
    a.imm(R3, IRQ_TIMER);
    a.bne(R2, R3, out);
    a.imm(R1, UPTIME);
    a.ld64(R2, R1, 0);
    a.addi(R2, R2, 1);
    a.st64(R2, R1, 0);
    a.bind(out);
    a.iret();
    a.bind(packet);
    emit_enqueue(a);
}

/// One request at R1 (length R2): parse into the scratch, dispatch, reply.
fn emit_process(a: &mut Asm, entry: Label, [find_key, put, append, check, record]: [Label; 5]) {
    let [has_id, malformed, get, reply_status, found, write, applied, done, stale, oom] =
        [(); 10].map(|_| a.label());
    a.bind(entry);
    a.imm(R15, TX);
    a.imm(R14, SCRATCH);
    a.imm(R3, 25);
    a.bge(R2, R3, has_id);
    a.imm(R3, 0);
    for at in [0, 8, 16] {
        a.st64(R3, R15, at);
    }
    a.jump(malformed);
    a.bind(has_id);
    a.addi(R3, R1, 1);
    a.imm(R4, 24);
    a.copy(R15, R3, R4);
    a.st64(R3, R14, super::SCRATCH_CLIENT);
    a.ld64(R4, R1, 17);
    a.st64(R4, R14, super::SCRATCH_SEQ);
    a.ld8(R5, R1, 0);
    a.st64(R5, R14, S_OP);
    a.imm(R3, 2);
    a.blt(R3, R5, malformed);
    a.imm(R3, REQUEST_HEADER as u64);
    a.blt(R2, R3, malformed);
    // key_len: the u16 at 25 (a u64 load, masked; the slot is longer than any packet).
    a.ld64(R6, R1, 25);
    a.andi(R6, R6, 0xFFFF);
    a.imm(R3, MAX_KEY);
    a.blt(R3, R6, malformed);
    a.addi(R7, R6, REQUEST_HEADER as u64 + 4);
    a.blt(R2, R7, malformed);
    a.add(R8, R1, R6);
    a.ld64(R8, R8, REQUEST_HEADER as i32);
    a.andi(R8, R8, 0xFFFF_FFFF);
    a.add(R9, R7, R8);
    a.bne(R9, R2, malformed);
    a.addi(R3, R1, REQUEST_HEADER as u64);
    a.st64(R3, R14, S_KEY);
    a.st64(R6, R14, S_KEYLEN);
    a.add(R3, R1, R7);
    a.st64(R3, R14, S_VAL);
    a.st64(R8, R14, S_VALLEN);
    a.bz(R5, get);
    // put or append: dedup first, then apply, then record the seq.
    a.call(check);
    a.imm(R4, 1);
    a.beq(R3, R4, done);
    a.imm(R4, 2);
    a.beq(R3, R4, stale);
    a.imm(R4, 3);
    a.beq(R3, R4, oom);
    a.ld64(R5, R14, S_OP);
    a.imm(R4, 1);
    a.beq(R5, R4, write);
    a.call(append);
    a.jump(applied);
    a.bind(write);
    a.call(put);
    a.bind(applied);
    a.bz(R3, oom);
    a.call(record);
    a.bind(done);
    a.imm(R4, 0);
    a.jump(reply_status);
    a.bind(stale);
    a.imm(R4, 2);
    a.jump(reply_status);
    a.bind(oom);
    a.imm(R4, 3);
    a.jump(reply_status);
    a.bind(malformed);
    a.imm(R4, 4);
    a.bind(reply_status);
    a.imm(R15, TX);
    a.st8(R4, R15, 24);
    a.imm(R3, 0);
    a.st64(R3, R15, 25);
    a.imm(R2, REPLY_HEADER as u64);
    a.send(R15, R2);
    a.ret();
    // get: the value, or "" for a missing key.
    a.bind(get);
    a.call(find_key);
    a.imm(R4, 1);
    a.bz(R3, reply_status);
    a.bind(found);
    a.st8(R4, R15, 24);
    a.ld64(R5, R3, K_PTR);
    a.ld64(R6, R3, K_VLEN);
    a.st64(R6, R15, 25);
    a.addi(R7, R15, REPLY_HEADER as u64);
    a.copy(R7, R5, R6);
    a.addi(R2, R6, REPLY_HEADER as u64);
    a.send(R15, R2);
    a.ret();
}

/// R3 = the entry of the scratch key, or 0. Uses R3..R9.
fn emit_find_key(a: &mut Asm, entry: Label) {
    let [scan, next, found, missing] = [(); 4].map(|_| a.label());
    a.bind(entry);
    a.ld64(R4, R14, S_KEY);
    a.ld64(R5, R14, S_KEYLEN);
    a.imm(R6, KEY_COUNT);
    a.ld64(R6, R6, 0);
    a.imm(R7, KEYS);
    a.imm(R8, 0);
    a.bind(scan);
    a.bge(R8, R6, missing);
    a.ld64(R9, R7, K_LEN);
    a.bne(R9, R5, next);
    a.addi(R9, R7, K_KEY as u64);
    a.compare(R3, R9, R4, R5);
    a.bnz(R3, found);
    a.bind(next);
    a.addi(R7, R7, ENTRY);
    a.addi(R8, R8, 1);
    a.jump(scan);
    a.bind(found);
    a.mov(R3, R7);
    a.ret();
    a.bind(missing);
    a.imm(R3, 0);
    a.ret();
}

/// R3 = a block of R1 bytes from the heap, or 0 if it does not fit. Uses R3..R6.
fn emit_alloc(a: &mut Asm, entry: Label) {
    let fail = a.label();
    a.bind(entry);
    a.imm(R4, BUMP);
    a.ld64(R3, R4, 0);
    a.add(R5, R3, R1);
    a.blt(R5, R3, fail);
    a.mem_size(R6);
    a.blt(R6, R5, fail);
    a.st64(R5, R4, 0);
    a.ret();
    a.bind(fail);
    a.imm(R3, 0);
    a.ret();
}

/// Sets the scratch key to the scratch value: R3 = 1, or 0 if out of memory.
fn emit_put(a: &mut Asm, entry: Label, find_key: Label, alloc: Label, new_entry: Label) {
    let [grow, fresh, fail] = [(); 3].map(|_| a.label());
    a.bind(entry);
    a.call(find_key);
    a.bz(R3, fresh);
    a.mov(R10, R3);
    a.ld64(R11, R14, S_VALLEN);
    a.ld64(R12, R10, K_CAP);
    a.blt(R12, R11, grow);
    a.ld64(R4, R10, K_PTR);
    a.ld64(R5, R14, S_VAL);
    a.copy(R4, R5, R11);
    a.st64(R11, R10, K_VLEN);
    a.imm(R3, 1);
    a.ret();
    a.bind(grow);
    a.mov(R1, R11);
    a.call(alloc);
    a.bz(R3, fail);
    a.st64(R3, R10, K_PTR);
    a.st64(R11, R10, K_CAP);
    a.ld64(R5, R14, S_VAL);
    a.copy(R3, R5, R11);
    a.st64(R11, R10, K_VLEN);
    a.imm(R3, 1);
    a.ret();
    a.bind(fresh);
    a.call(new_entry);
    a.bz(R3, fail);
    a.imm(R3, 1);
    a.ret();
    a.bind(fail);
    a.imm(R3, 0);
    a.ret();
}

/// Appends the scratch value to the scratch key: R3 = 1, or 0 if out of memory.
fn emit_append(a: &mut Asm, entry: Label, find_key: Label, alloc: Label, new_entry: Label) {
    let [grow, double, sized, fresh, fail] = [(); 5].map(|_| a.label());
    a.bind(entry);
    a.call(find_key);
    a.bz(R3, fresh);
    a.mov(R10, R3);
    a.ld64(R11, R10, K_VLEN);
    a.ld64(R4, R14, S_VALLEN);
    a.add(R12, R11, R4);
    a.imm(R5, MAX_VALUE);
    a.blt(R5, R12, fail);
    a.ld64(R13, R10, K_CAP);
    a.blt(R13, R12, grow);
    a.ld64(R5, R10, K_PTR);
    a.add(R5, R5, R11);
    a.ld64(R6, R14, S_VAL);
    a.copy(R5, R6, R4);
    a.st64(R12, R10, K_VLEN);
    a.imm(R3, 1);
    a.ret();
    a.bind(grow);
    a.bnz(R13, double);
    a.imm(R13, 8);
    a.bind(double);
    a.bge(R13, R12, sized);
    a.add(R13, R13, R13);
    a.jump(double);
    a.bind(sized);
    a.mov(R1, R13);
    a.call(alloc);
    a.bz(R3, fail);
    a.ld64(R5, R10, K_PTR);
    a.copy(R3, R5, R11);
    a.add(R5, R3, R11);
    a.ld64(R6, R14, S_VAL);
    a.ld64(R4, R14, S_VALLEN);
    a.copy(R5, R6, R4);
    a.st64(R3, R10, K_PTR);
    a.st64(R12, R10, K_VLEN);
    a.st64(R13, R10, K_CAP);
    a.imm(R3, 1);
    a.ret();
    a.bind(fresh);
    a.call(new_entry);
    a.bz(R3, fail);
    a.imm(R3, 1);
    a.ret();
    a.bind(fail);
    a.imm(R3, 0);
    a.ret();
}

/// Adds the scratch key with the scratch value (capacity at least 8): R3 = its entry, or 0
/// if there is no room. Uses R1, R3..R7, R10..R12.
fn emit_new_entry(a: &mut Asm, entry: Label, alloc: Label) {
    let [sized, fail] = [(); 2].map(|_| a.label());
    a.bind(entry);
    a.imm(R4, KEY_COUNT);
    a.ld64(R10, R4, 0);
    a.imm(R5, MAX_KEYS);
    a.bge(R10, R5, fail);
    a.ld64(R11, R14, S_VALLEN);
    a.mov(R1, R11);
    a.imm(R5, 8);
    a.bge(R1, R5, sized);
    a.mov(R1, R5);
    a.bind(sized);
    a.mov(R12, R1);
    a.call(alloc);
    a.bz(R3, fail);
    a.muli(R4, R10, ENTRY);
    a.addi(R4, R4, KEYS);
    a.st64(R3, R4, K_PTR);
    a.st64(R11, R4, K_VLEN);
    a.st64(R12, R4, K_CAP);
    a.ld64(R5, R14, S_VAL);
    a.copy(R3, R5, R11);
    a.ld64(R5, R14, S_KEYLEN);
    a.st64(R5, R4, K_LEN);
    a.addi(R6, R4, K_KEY as u64);
    a.ld64(R7, R14, S_KEY);
    a.copy(R6, R7, R5);
    a.addi(R10, R10, 1);
    a.imm(R5, KEY_COUNT);
    a.st64(R10, R5, 0);
    a.mov(R3, R4);
    a.ret();
    a.bind(fail);
    a.imm(R3, 0);
    a.ret();
}

#[cfg(test)]
#[path = "kv_tests.rs"]
mod tests;
