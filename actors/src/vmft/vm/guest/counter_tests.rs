//! Tests of the counter guest: boot from disk, increments with dedup, ticks and the periodic
//! disk write, and the fields of its replies.

use super::*;
use crate::vmft::vm::guest::harness::Host;
use crate::vmft::vm::{DiskRequest, Interrupt, BLOCK_SIZE};

/// A counter guest booted from a disk whose block 0 holds `start`.
fn booted(start: u64) -> Host {
    let mut host = Host::new(counter(), MIN_MEMORY);
    let mut block = vec![0; BLOCK_SIZE];
    block[..8].copy_from_slice(&start.to_le_bytes());
    host.disk.insert(0, block);
    assert!(host.settle().is_empty());
    assert_eq!(host.issued, vec![(0, DiskRequest::Read { block: 0 })]);
    assert!(host.complete_disk().is_empty());
    host
}

fn ask(host: &mut Host, client: u8, seq: u64, op: CounterOp) -> CounterReply {
    let packet = encode_request([client; 16], seq, op);
    assert_eq!(request_id(&packet), Some(([client; 16], seq)));
    let sent = host.deliver(Interrupt::Packet(packet));
    assert_eq!(sent.len(), 1, "one reply per request");
    let reply = decode_reply(&sent[0]).expect("a counter reply");
    assert_eq!((reply.client, reply.seq), ([client; 16], seq));
    reply
}

#[test]
fn boots_from_disk_and_waits_for_the_read() {
    let mut host = Host::new(counter(), MIN_MEMORY);
    host.disk
        .insert(0, [41u64.to_le_bytes().to_vec(), vec![0; 504]].concat());
    host.settle();
    assert!(host.vm.is_idle());
    // A request before the read completes is queued, answered once booted.
    let early = encode_request([1; 16], 1, CounterOp::Read);
    assert!(host.deliver(Interrupt::Packet(early)).is_empty());
    let sent = host.complete_disk();
    assert_eq!(decode_reply(&sent[0]).expect("a reply").counter, 41);
    assert_eq!(ask(&mut host, 1, 2, CounterOp::Read).counter, 41);
}

#[test]
fn increments_are_deduplicated_per_client() {
    let mut host = booted(10);
    assert_eq!(ask(&mut host, 1, 1, CounterOp::Incr).counter, 11);
    assert_eq!(ask(&mut host, 1, 1, CounterOp::Incr).counter, 11, "a retry");
    assert_eq!(ask(&mut host, 1, 0, CounterOp::Incr).counter, 11, "stale");
    assert_eq!(ask(&mut host, 2, 1, CounterOp::Incr).counter, 12);
    assert_eq!(ask(&mut host, 1, 2, CounterOp::Incr).counter, 13);
    assert_eq!(ask(&mut host, 1, 2, CounterOp::Read).counter, 13);
    for client in 3..=MAX_CLIENTS as u8 {
        ask(&mut host, client, 1, CounterOp::Incr);
    }
    let full = ask(&mut host, 200, 1, CounterOp::Incr);
    assert_eq!(
        full.counter,
        13 + MAX_CLIENTS - 2,
        "no room for one more client"
    );
    let undecodable = encode_request([1; 16], 3, CounterOp::Read);
    assert!(host
        .deliver(Interrupt::Packet(undecodable[..24].to_vec()))
        .is_empty());
}

#[test]
fn every_eighth_tick_writes_the_counter_with_one_write_at_a_time() {
    let mut host = booted(5);
    ask(&mut host, 1, 1, CounterOp::Incr);
    for _ in 0..7 {
        host.deliver(Interrupt::Timer);
    }
    assert!(host.issued.is_empty());
    host.deliver(Interrupt::Timer);
    let [(tag, DiskRequest::Write { block: 0, data })] = host.issued.as_slice() else {
        panic!("one write of block 0: {:?}", host.issued);
    };
    assert_eq!(*tag, 1, "the boot read had tag 0");
    assert_eq!(data[..8], 6u64.to_le_bytes());
    assert!(data[8..].iter().all(|&b| b == 0));
    assert_eq!(host.vm.outstanding_disk().len(), 1);
    // Eight more ticks with the write outstanding: no second write.
    ask(&mut host, 1, 2, CounterOp::Incr);
    for _ in 0..8 {
        host.deliver(Interrupt::Timer);
    }
    assert_eq!(host.issued.len(), 1);
    host.complete_disk();
    assert_eq!(host.disk[&0][..8], 6u64.to_le_bytes());
    for _ in 0..8 {
        host.deliver(Interrupt::Timer);
    }
    assert_eq!(host.issued.len(), 1);
    host.complete_disk();
    assert_eq!(host.disk[&0][..8], 7u64.to_le_bytes());
    assert_eq!(ask(&mut host, 1, 3, CounterOp::Read).ticks, 24);
}

#[test]
fn replies_carry_the_counter_ticks_clock_and_nonce() {
    let mut host = booted(0);
    for _ in 0..3 {
        host.deliver(Interrupt::Timer);
    }
    let reply = ask(&mut host, 9, 4, CounterOp::Incr);
    assert_eq!((reply.counter, reply.ticks), (1, 3));
    assert_eq!((reply.clock, reply.nonce), (host.clock, host.nonce));
    let again = ask(&mut host, 9, 5, CounterOp::Read);
    assert_eq!(again.clock, reply.clock + 1000);
    assert_ne!(again.nonce, reply.nonce);
    assert_eq!(decode_reply(&[0; 55]), None);
}

#[test]
fn timers_before_the_boot_read_write_nothing() {
    let mut host = Host::new(counter(), MIN_MEMORY);
    host.settle();
    for _ in 0..8 {
        host.deliver(Interrupt::Timer);
    }
    assert_eq!(host.issued, vec![(0, DiskRequest::Read { block: 0 })]);
}
