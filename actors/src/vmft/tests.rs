//! The hypervisors on their own, without actors or a network: a primary runs a guest with
//! timers, packets, clock and random reads and disk completions; a backup replays its log.
//! These tests check the paper's mechanism: events delivered at their recorded instruction
//! counts (state hashes agree), the output rule, why it includes the output's own entry, the
//! bounded log buffer, the state transfer, and divergence detection.

use super::backup::BackupCore;
use super::primary::{Backup, PrimaryCore, Sources};
use super::vm::guest::counter::{self, CounterOp};
use super::vm::{DiskRequest, Interrupt, Vm, BLOCK_SIZE};
use super::Guest;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;
use troupe_messages::vmft::{LogEntry, LoggedEvent};
use troupe_messages::NodeId;

const MEMORY: usize = 1 << 16;
const CLIENT: [u8; 16] = [7; 16];

/// A seeded clock and random source.
struct Seeded {
    rng: ChaCha8Rng,
    now: u64,
}

impl Seeded {
    fn new(seed: u64) -> Self {
        Seeded {
            rng: ChaCha8Rng::seed_from_u64(seed),
            now: 1_000,
        }
    }
}

impl Sources for Seeded {
    fn clock(&mut self) -> u64 {
        self.now += self.rng.gen_range(1..1_000);
        self.now
    }

    fn random(&mut self) -> u64 {
        self.rng.gen()
    }
}

/// A disk in memory that completes requests when asked.
#[derive(Default)]
struct Disk {
    blocks: BTreeMap<u64, Vec<u8>>,
    waiting: Vec<(u64, DiskRequest)>,
}

impl Disk {
    fn complete_all(&mut self, primary: &mut PrimaryCore) {
        for (tag, request) in std::mem::take(&mut self.waiting) {
            let interrupt = match request {
                DiskRequest::Read { block } => Interrupt::DiskRead {
                    tag,
                    data: self
                        .blocks
                        .get(&block)
                        .cloned()
                        .unwrap_or_else(|| vec![0; BLOCK_SIZE]),
                },
                DiskRequest::Write { block, data } => {
                    self.blocks.insert(block, data);
                    Interrupt::DiskWrite { tag }
                }
            };
            primary.queue(interrupt);
        }
    }
}

fn counter_primary(buffer: u64) -> PrimaryCore {
    let vm = Vm::boot(Guest::Counter.program(), MEMORY);
    PrimaryCore::new(vm, 0, buffer, 4)
}

/// A counter primary that has booted: its first disk read issued, completed and delivered.
fn booted_counter_primary(buffer: u64, sources: &mut Seeded) -> PrimaryCore {
    let mut primary = counter_primary(buffer);
    let mut disk = Disk::default();
    let effects = primary.run(10_000, sources);
    disk.waiting.extend(effects.disk);
    disk.complete_all(&mut primary);
    primary.run(10_000, sources);
    primary
}

/// Runs the primary through `steps` random steps (packets, timer ticks, disk completions,
/// slices of execution), acknowledging everything at once, and returns its log and outputs.
fn record_run(seed: u64, steps: usize) -> (PrimaryCore, Vec<LogEntry>, Vec<Vec<u8>>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut sources = Seeded::new(seed);
    let mut primary = counter_primary(u64::MAX);
    let (_, _) = primary.start_backup(NodeId(2));
    let mut disk = Disk::default();
    let mut log = Vec::new();
    let mut outputs = Vec::new();
    let mut seq = 0;
    for _ in 0..steps {
        match rng.gen_range(0..4) {
            0 => {
                seq += 1;
                let op = if rng.gen_bool(0.5) {
                    CounterOp::Incr
                } else {
                    CounterOp::Read
                };
                primary.queue(Interrupt::Packet(counter::encode_request(CLIENT, seq, op)));
            }
            1 => primary.queue(Interrupt::Timer),
            2 => disk.complete_all(&mut primary),
            _ => {}
        }
        let effects = primary.run(rng.gen_range(1..500), &mut sources);
        assert!(effects.fault.is_none(), "{:?}", effects.fault);
        disk.waiting.extend(effects.disk);
        outputs.extend(effects.released);
        let entries = primary.take_unsent();
        let last = entries.last().map(|e| e.index);
        log.extend(entries);
        if let Some(last) = last {
            outputs.extend(primary.on_ack(last, last, sources.now));
        }
    }
    (primary, log, outputs)
}

fn counter_backup() -> BackupCore {
    BackupCore::new(Vm::boot(Guest::Counter.program(), MEMORY), 0, u64::MAX)
}

#[test]
fn the_backup_replays_every_event_at_its_recorded_count() {
    for seed in 0..10 {
        let (primary, log, outputs) = record_run(seed, 400);
        let kinds = |f: fn(&LoggedEvent) -> bool| log.iter().filter(|e| f(&e.event)).count();
        assert!(
            kinds(|e| matches!(e, LoggedEvent::Packet(_))) > 20,
            "seed {seed}"
        );
        assert!(
            kinds(|e| matches!(e, LoggedEvent::Timer)) > 20,
            "seed {seed}"
        );
        assert!(
            kinds(|e| matches!(e, LoggedEvent::Clock(_))) > 5,
            "seed {seed}"
        );
        assert!(
            kinds(|e| matches!(e, LoggedEvent::DiskRead { .. })) >= 1,
            "seed {seed}"
        );
        assert!(
            kinds(|e| matches!(e, LoggedEvent::DiskWrite { .. })) >= 1,
            "seed {seed}"
        );
        assert!(log.iter().filter(|e| e.state_hash.is_some()).count() > 20);
        let mut backup = counter_backup();
        assert_eq!(backup.receive(log.clone()), log.len() as u64);
        backup.replay(u64::MAX).expect("no divergence");
        assert_eq!(backup.replayed(), log.len() as u64);
        // At the last entry both VMs are in the same state; the primary may have run on.
        let last = log.last().expect("a log");
        // A clock or random read retires the instruction it answers; an interrupt does not.
        let retired = u64::from(matches!(
            last.event,
            LoggedEvent::Clock(_) | LoggedEvent::Random(_)
        ));
        assert_eq!(
            backup.vm().count(),
            last.count + retired,
            "the backup never runs past its last entry"
        );
        assert!(primary.vm().count() >= backup.vm().count());
        assert!(!outputs.is_empty());
        assert!(
            backup.dropped_outputs() > 0,
            "the backup's outputs are dropped"
        );
    }
}

#[test]
fn an_event_one_instruction_late_is_caught_as_a_divergence() {
    let (_, mut log, _) = record_run(3, 300);
    // Deliver one timer interrupt an instruction later than the primary did.
    let at = log
        .iter()
        .position(|e| e.event == LoggedEvent::Timer && e.index > 10)
        .expect("a timer entry");
    log[at].count += 1;
    let mut backup = counter_backup();
    backup.receive(log.clone());
    let divergence = backup.replay(u64::MAX).expect_err("caught");
    assert!(divergence.index >= log[at].index, "{divergence}");
    assert!(divergence.last_agreed < log[at].index, "{divergence}");
    assert!(
        divergence.index < log[at].index + 8,
        "caught within two hash intervals: {divergence}"
    );
}

#[test]
fn a_clock_value_that_differs_from_the_log_is_caught_at_the_next_hash() {
    let (_, mut log, _) = record_run(4, 300);
    let at = log
        .iter()
        .position(|e| matches!(e.event, LoggedEvent::Clock(_)) && e.index > 10)
        .expect("a clock entry");
    if let LoggedEvent::Clock(value) = &mut log[at].event {
        *value += 1; // the planted non-determinism: the backup reads a different clock
    }
    let mut backup = counter_backup();
    backup.receive(log.clone());
    let divergence = backup.replay(u64::MAX).expect_err("caught");
    assert!(divergence.index >= log[at].index && divergence.index <= log[at].index + 4);
    assert!(divergence.what.contains("hash"), "{divergence}");
}

#[test]
fn an_output_waits_for_the_ack_of_the_entry_that_produced_it() {
    let mut sources = Seeded::new(1);
    let mut primary = booted_counter_primary(u64::MAX, &mut sources);
    primary.start_backup(NodeId(2));
    assert_eq!(primary.backup(), Backup::Syncing(NodeId(2)));
    let start = primary.last_index();
    // The backup acknowledges the transfer: in sync.
    assert!(primary.on_ack(start, start, 0).is_empty());
    assert_eq!(primary.backup(), Backup::InSync(NodeId(2)));
    primary.queue(Interrupt::Packet(counter::encode_request(
        CLIENT,
        1,
        CounterOp::Read,
    )));
    let effects = primary.run(10_000, &mut sources);
    assert!(effects.released.is_empty(), "held for the backup");
    assert_eq!(primary.held(), 1);
    let produced_by = primary.last_index();
    assert!(produced_by >= start + 3, "packet, clock and random entries");
    assert!(
        primary.on_ack(produced_by - 1, 0, 0).is_empty(),
        "one entry short"
    );
    assert_eq!(primary.on_ack(produced_by, 0, 0).len(), 1);
}

#[test]
fn going_live_one_entry_early_can_contradict_a_released_output() {
    // The reply to a read carries a random nonce read just before the send: the random read's
    // entry is the one that produced the output.
    let mut sources = Seeded::new(9);
    let mut primary = booted_counter_primary(u64::MAX, &mut sources);
    let (index, snapshot) = primary.start_backup(NodeId(2));
    primary.on_ack(index, index, 0);
    primary.queue(Interrupt::Packet(counter::encode_request(
        CLIENT,
        1,
        CounterOp::Read,
    )));
    primary.run(10_000, &mut sources);
    let log = primary.take_unsent();
    let last = primary.last_index();
    let output = primary.on_ack(last, last, 0).pop().expect("released");
    let seen = counter::decode_reply(&output).expect("a reply");
    let take_over = |entries: usize| {
        let vm = Vm::restore(Guest::Counter.program(), snapshot.clone()).unwrap();
        let mut backup = BackupCore::new(vm, index, u64::MAX);
        backup.receive(log[..entries].to_vec());
        let (mut live, _) = backup.go_live(u64::MAX, 4).expect("no divergence");
        let effects = live.run(10_000, &mut Seeded::new(1234));
        effects
            .released
            .first()
            .and_then(|p| counter::decode_reply(p))
    };
    // With every entry up to the one that produced the output, the new primary is where the
    // old one was when it sent the output: it sends the same output again, which the client's
    // request id makes harmless.
    let repeated = take_over(log.len()).expect("the same output again");
    assert_eq!((repeated.seq, repeated.nonce), (seen.seq, seen.nonce));
    // One entry early, it finishes the request on its own random value: a different answer.
    let contradicting = take_over(log.len() - 1).expect("the request is answered again");
    assert_eq!(contradicting.seq, seen.seq);
    assert_ne!(
        contradicting.nonce, seen.nonce,
        "the client saw another answer"
    );
}

#[test]
fn the_primary_stops_when_the_backups_buffer_is_full() {
    let mut sources = Seeded::new(2);
    let mut primary = booted_counter_primary(8, &mut sources);
    let (index, _) = primary.start_backup(NodeId(2));
    primary.on_ack(index, index, 0);
    for seq in 1..=20 {
        primary.queue(Interrupt::Packet(counter::encode_request(
            CLIENT,
            seq,
            CounterOp::Incr,
        )));
    }
    // Received but not replayed: the buffer fills and the primary stops.
    let effects = primary.run(1_000_000, &mut sources);
    assert!(!effects.more);
    assert_eq!(primary.last_index(), index + 8);
    assert!(primary.throttled());
    assert!(primary.queued() > 0, "packets wait in the bounce buffer");
    primary.on_ack(index + 8, index + 8, 0);
    primary.run(1_000_000, &mut sources);
    assert!(
        primary.last_index() > index + 8,
        "it runs again once the backup replayed"
    );
}

#[test]
fn a_backup_started_by_state_transfer_follows_a_running_primary() {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let mut sources = Seeded::new(5);
    let mut primary = counter_primary(u64::MAX);
    let mut disk = Disk::default();
    let mut backup = None;
    let mut seq = 0;
    for step in 0..300 {
        if step == 150 {
            let (index, snapshot) = primary.start_backup(NodeId(3));
            let vm = Vm::restore(Guest::Counter.program(), snapshot).unwrap();
            backup = Some(BackupCore::new(vm, index, 64));
        }
        if rng.gen_bool(0.3) {
            seq += 1;
            primary.queue(Interrupt::Packet(counter::encode_request(
                CLIENT,
                seq,
                CounterOp::Incr,
            )));
        }
        if rng.gen_bool(0.3) {
            primary.queue(Interrupt::Timer);
        }
        disk.complete_all(&mut primary);
        let effects = primary.run(rng.gen_range(1..2_000), &mut sources);
        disk.waiting.extend(effects.disk);
        if let Some(backup) = backup.as_mut() {
            let received = backup.receive(primary.take_unsent());
            backup.replay(u64::MAX).expect("no divergence");
            primary.on_ack(received, backup.replayed(), 0);
        }
    }
    let backup = backup.expect("started");
    assert_eq!(backup.replayed(), primary.last_index());
    assert!(backup.replayed() > 100);
}

#[test]
fn a_new_backup_may_take_over_only_once_it_has_what_was_released_without_it() {
    let mut sources = Seeded::new(3);
    let mut primary = booted_counter_primary(u64::MAX, &mut sources);
    let (index, _) = primary.start_backup(NodeId(2));
    // While the state travels, the primary serves on its own: this output leaves at once.
    primary.queue(Interrupt::Packet(counter::encode_request(
        CLIENT,
        1,
        CounterOp::Incr,
    )));
    let effects = primary.run(10_000, &mut sources);
    assert_eq!(effects.released.len(), 1, "not held during the transfer");
    let released_alone = primary.last_index();
    assert!(released_alone > index);
    // The backup acknowledges the state: outputs wait for it from now on...
    primary.on_ack(index, index, 0);
    assert_eq!(primary.backup(), Backup::InSync(NodeId(2)));
    primary.queue(Interrupt::Packet(counter::encode_request(
        CLIENT,
        2,
        CounterOp::Incr,
    )));
    assert!(
        primary.run(10_000, &mut sources).released.is_empty(),
        "held"
    );
    // ...but it may not take over before it has the entries behind the output it never saw.
    assert!(!primary.backup_may_take_over());
    primary.on_ack(released_alone - 1, index, 0);
    assert!(!primary.backup_may_take_over());
    primary.on_ack(released_alone, index, 0);
    assert!(primary.backup_may_take_over());
}
