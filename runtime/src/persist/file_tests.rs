//! Tests of the file persister on the real filesystem: reopen, torn tails, damage before the
//! tail (refused, the file left as it was) and in the last record (truncated and reported),
//! compaction, and the running count of live bytes.

use super::*;
use crate::persist::format::HEADER;
use std::fs::{self, OpenOptions};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("troupe-fp-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    dir
}

fn log_of(dir: &Path) -> PathBuf {
    let mut logs: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.file_name().unwrap().to_str().unwrap().starts_with("log."))
        .collect();
    logs.sort();
    logs.pop().unwrap()
}

#[test]
fn batches_survive_a_reopen() {
    let dir = scratch("reopen");
    {
        let p = FilePersister::open(&dir).unwrap();
        p.write_batch(&[("a", b"1"), ("b", b"2")], &[]).unwrap();
        p.write_batch(&[("c", b"3")], &["a"]).unwrap();
    }
    let p = FilePersister::open(&dir).unwrap();
    assert_eq!(p.load("a").unwrap(), None);
    assert_eq!(p.load("b").unwrap().as_deref(), Some(&b"2"[..]));
    assert_eq!(p.keys("").unwrap(), ["b", "c"]);
    assert_eq!(
        p.recovery(),
        &Recovery {
            truncated_bytes: 0,
            reason: None,
            replayed: 2
        }
    );
    fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_torn_tail_is_truncated_and_reported() {
    let dir = scratch("torn");
    {
        let p = FilePersister::open(&dir).unwrap();
        p.save("a", b"first").unwrap();
        p.save("b", b"second, to be torn").unwrap();
    }
    let log = log_of(&dir);
    let len = fs::metadata(&log).unwrap().len();
    OpenOptions::new()
        .write(true)
        .open(&log)
        .unwrap()
        .set_len(len - 5)
        .unwrap();
    let p = FilePersister::open(&dir).unwrap();
    assert_eq!(p.load("a").unwrap().as_deref(), Some(&b"first"[..]));
    assert_eq!(p.load("b").unwrap(), None, "the torn batch is gone, whole");
    assert!(p.recovery().truncated_bytes > 0 && p.recovery().reason.is_some());
    // The log was cut back to its last good record and takes appends again.
    p.save("c", b"after").unwrap();
    drop(p);
    let p = FilePersister::open(&dir).unwrap();
    assert_eq!(p.recovery().truncated_bytes, 0);
    assert_eq!(p.keys("").unwrap(), ["a", "c"]);
    fs::remove_dir_all(&dir).ok();
}

#[test]
fn damage_before_the_tail_stops_the_start() {
    let dir = scratch("flip-middle");
    {
        let p = FilePersister::open(&dir).unwrap();
        p.save("a", b"first").unwrap();
        p.save("b", b"second").unwrap();
    }
    let log = log_of(&dir);
    let mut bytes = fs::read(&log).unwrap();
    bytes[HEADER + 2] ^= 0x01; // inside the first record's payload
    fs::write(&log, &bytes).unwrap();
    match FilePersister::open(&dir) {
        Err(Error::CorruptLog { offset, .. }) => assert_eq!(offset, 0),
        Err(other) => panic!("expected CorruptLog, got {other}"),
        Ok(_) => panic!("opened a log damaged in the middle"),
    }
    fs::remove_dir_all(&dir).ok();
}

/// A field of a record's frame.
#[derive(Debug, Clone, Copy)]
enum Field {
    Length,
    Checksum,
    Payload,
}

/// A log of three records (`a`, `b`, `c`) in a fresh directory `name`: the directory, the log,
/// and where each record starts and ends.
fn three_records(name: &str) -> (PathBuf, PathBuf, Vec<(usize, usize)>) {
    let dir = scratch(name);
    let p = FilePersister::open(&dir).unwrap();
    let mut bounds = Vec::new();
    let mut start = 0;
    for (key, value) in [
        ("a", &b"first"[..]),
        ("b", b"the second value"),
        ("c", b"third"),
    ] {
        p.save(key, value).unwrap();
        let end = fs::metadata(log_of(&dir)).unwrap().len() as usize;
        bounds.push((start, end));
        start = end;
    }
    drop(p);
    let log = log_of(&dir);
    (dir, log, bounds)
}

/// Flips bit `bit` of `field` of the record at `start..end`.
fn flip(bytes: &mut [u8], (start, end): (usize, usize), field: Field, bit: usize) {
    let at = match field {
        Field::Length => start + bit / 8 % 4,
        Field::Checksum => start + 4 + bit / 8 % 4,
        Field::Payload => start + HEADER + bit / 8 % (end - start - HEADER),
    };
    bytes[at] ^= 1 << (bit % 8);
}

/// Every bit of the length and the checksum, and one bit of every payload byte, of the middle
/// record: each is refused as damage, and the log is not touched. (The old reading took a
/// length flipped past the end of the file for a torn tail, and cut the last record off.)
#[test]
fn damage_in_a_middle_record_is_refused_and_nothing_is_cut() {
    let (dir, log, bounds) = three_records("middle");
    let good = fs::read(&log).unwrap();
    let payload_bits = 8 * (bounds[1].1 - bounds[1].0 - HEADER);
    let cases = [
        (Field::Length, 32),
        (Field::Checksum, 32),
        (Field::Payload, payload_bits),
    ];
    let mut tried = 0;
    for (field, bits) in cases {
        for bit in (0..bits).step_by(if matches!(field, Field::Payload) {
            9
        } else {
            1
        }) {
            let mut bytes = good.clone();
            flip(&mut bytes, bounds[1], field, bit);
            fs::write(&log, &bytes).unwrap();
            match FilePersister::open(&dir) {
                Err(Error::CorruptLog { offset, .. }) => {
                    assert_eq!(offset, bounds[1].0 as u64, "{field:?} bit {bit}")
                }
                Err(other) => panic!("{field:?} bit {bit}: expected CorruptLog, got {other}"),
                Ok(p) => panic!(
                    "{field:?} bit {bit}: opened a log damaged in the middle: {:?}, keys {:?}",
                    p.recovery(),
                    p.keys("")
                ),
            }
            assert_eq!(
                fs::read(&log).unwrap(),
                bytes,
                "{field:?} bit {bit}: file changed"
            );
            tried += 1;
        }
    }
    assert!(tried > 64 + 10, "{tried} cases");
    fs::remove_dir_all(&dir).ok();
}

/// The same flips in the last record: it is cut off and reported, the first two are kept.
#[test]
fn damage_in_the_last_record_is_truncated_and_reported() {
    let (dir, log, bounds) = three_records("last");
    let good = fs::read(&log).unwrap();
    let (start, end) = bounds[2];
    let payload_bits = 8 * (end - start - HEADER);
    for (field, bits) in [
        (Field::Length, 32),
        (Field::Checksum, 32),
        (Field::Payload, payload_bits),
    ] {
        for bit in 0..bits {
            let mut bytes = good.clone();
            flip(&mut bytes, bounds[2], field, bit);
            fs::write(&log, &bytes).unwrap();
            let p =
                FilePersister::open(&dir).unwrap_or_else(|e| panic!("{field:?} bit {bit}: {e}"));
            assert_eq!(p.keys("").unwrap(), ["a", "b"], "{field:?} bit {bit}");
            assert_eq!(
                p.recovery().truncated_bytes,
                (end - start) as u64,
                "{field:?} bit {bit}"
            );
            assert!(p.recovery().reason.is_some());
            drop(p);
            assert_eq!(
                fs::read(&log).unwrap(),
                good[..start],
                "{field:?} bit {bit}"
            );
        }
    }
    fs::remove_dir_all(&dir).ok();
}

/// The last record cut short at every byte, header included; then zeros where it was (a file
/// a crash extended but never wrote): all torn tails, cut off, the first two records kept.
#[test]
fn a_last_record_cut_short_or_zeroed_is_a_torn_tail() {
    let (dir, log, bounds) = three_records("cut");
    let good = fs::read(&log).unwrap();
    let (start, end) = bounds[2];
    let mut zeros = good[..start].to_vec();
    zeros.resize(end, 0);
    let cut_short = (start + 1..end).map(|len| good[..len].to_vec());
    for bytes in cut_short.chain([zeros]) {
        fs::write(&log, &bytes).unwrap();
        let p = FilePersister::open(&dir).unwrap();
        assert_eq!(p.keys("").unwrap(), ["a", "b"], "{} bytes", bytes.len());
        assert_eq!(p.recovery().truncated_bytes, (bytes.len() - start) as u64);
        drop(p);
        assert_eq!(fs::read(&log).unwrap(), good[..start]);
    }
    fs::remove_dir_all(&dir).ok();
}

#[test]
fn compaction_rotates_the_log_and_keeps_everything() {
    let dir = scratch("compact");
    {
        let p = FilePersister::open(&dir).unwrap();
        p.compact_after(1_000);
        for i in 0..500u32 {
            p.save(&format!("k{}", i % 10), &i.to_le_bytes()).unwrap();
        }
        assert!(dir.join("snapshot").exists());
        assert!(fs::metadata(log_of(&dir)).unwrap().len() <= 1_000 + 64);
    }
    let p = FilePersister::open(&dir).unwrap();
    for k in 0..10u32 {
        let last = (490 + k).to_le_bytes();
        assert_eq!(
            p.load(&format!("k{k}")).unwrap().as_deref(),
            Some(&last[..])
        );
    }
    let logs = fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("log."))
        .count();
    assert_eq!(logs, 1, "old logs are removed");
    fs::remove_dir_all(&dir).ok();
}

/// The running count of live bytes, which decides compaction, matches a walk of the map
/// after puts, overwrites with other sizes, removes, and a reopen.
#[test]
fn the_running_count_matches_the_map() {
    let dir = std::env::temp_dir().join(format!("troupe-live-bytes-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    let walk = |p: &FilePersister| -> u64 {
        let state = p.lock();
        state
            .values
            .iter()
            .map(|(k, v)| (k.len() + v.len()) as u64)
            .sum()
    };
    let p = FilePersister::open(&dir).unwrap();
    for i in 0..200usize {
        let value = vec![7u8; i % 13];
        p.write_batch(
            &[(&format!("k{}", i % 17), &value)],
            &[&format!("k{}", i % 5)],
        )
        .unwrap();
        let counted = p.lock().live_bytes;
        assert_eq!(counted, walk(&p), "after batch {i}");
    }
    drop(p);
    let p = FilePersister::open(&dir).unwrap();
    let counted = p.lock().live_bytes;
    assert_eq!(counted, walk(&p), "after a reopen");
    fs::remove_dir_all(&dir).ok();
}
