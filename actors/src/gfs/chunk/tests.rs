//! The store's rules, over both file implementations where files matter.

use super::record::{encode_record, records, unique_records, PAD_BYTE};
use super::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::path::PathBuf;

const CHUNK: u64 = 256 * 1024;
const H: ChunkHandle = ChunkHandle(1);

fn mem_store() -> ChunkStore<MemChunkFiles> {
    ChunkStore::open(MemChunkFiles::new(), ChunkConfig::new(CHUNK)).expect("open")
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("troupe-gfs-chunk-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn data(store: &ChunkStore<impl ChunkFiles>, offset: u64, len: u64) -> Vec<u8> {
    match store.read(H, offset, len).expect("read") {
        ReadOutcome::Data(bytes) => bytes,
        other => panic!("expected data, got {other:?}"),
    }
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

#[test]
fn create_version_report_and_delete() {
    let mut store = mem_store();
    store.create(H, ChunkVersion(1)).unwrap();
    assert!(
        matches!(store.create(H, ChunkVersion(1)), Err(ChunkError::AlreadyExists(h)) if h == H)
    );
    store.write_at(H, 0, b"abc").unwrap();
    store.set_version(H, ChunkVersion(4)).unwrap();
    assert_eq!(store.version(H).unwrap(), ChunkVersion(4));
    assert_eq!(store.report(), vec![(H, ChunkVersion(4), 3)]);
    store.delete(H).unwrap();
    assert!(store.report().is_empty());
    assert!(matches!(store.version(H), Err(ChunkError::NoSuchChunk(_))));
    assert!(matches!(
        store.read(H, 0, 1),
        Err(ChunkError::NoSuchChunk(_))
    ));
}

#[test]
fn a_write_may_not_cross_the_chunk_size() {
    let mut store = mem_store();
    store.create(H, ChunkVersion(1)).unwrap();
    let err = store.write_at(H, CHUNK - 2, b"abc").unwrap_err();
    assert!(
        matches!(err, ChunkError::OutOfChunk { offset, len: 3, chunk_size: CHUNK } if offset == CHUNK - 2)
    );
    store.write_at(H, CHUNK - 3, b"abc").unwrap();
    assert_eq!(store.len(H).unwrap(), CHUNK);
}

#[test]
fn reads_cross_block_boundaries_and_stop_at_the_end() {
    let mut store = mem_store();
    store.create(H, ChunkVersion(1)).unwrap();
    let bytes = pattern(3 * BLOCK_SIZE as usize + 100, 7);
    store.write_at(H, 0, &bytes).unwrap();
    let from = BLOCK_SIZE - 10;
    assert_eq!(
        data(&store, from, BLOCK_SIZE + 20),
        bytes[from as usize..][..BLOCK_SIZE as usize + 20]
    );
    assert_eq!(
        data(&store, 3 * BLOCK_SIZE, 1000),
        bytes[3 * BLOCK_SIZE as usize..]
    );
    assert!(data(&store, 10 * BLOCK_SIZE, 5).is_empty());
}

#[test]
fn a_corrupt_byte_fails_exactly_its_block_and_repair_restores_it() {
    let mut store = mem_store();
    store.create(H, ChunkVersion(1)).unwrap();
    let bytes = pattern(CHUNK as usize - 500, 3);
    store.write_at(H, 0, &bytes).unwrap();
    let bad = 2 * BLOCK_SIZE + 1234;
    store.corrupt_for_test(H, bad).unwrap();
    assert_eq!(store.scan(H).unwrap(), vec![2]);
    // Reads of other blocks are fine; any read touching block 2 is refused.
    assert_eq!(
        data(&store, 0, 2 * BLOCK_SIZE),
        bytes[..2 * BLOCK_SIZE as usize]
    );
    assert_eq!(
        data(&store, 3 * BLOCK_SIZE, 10),
        bytes[3 * BLOCK_SIZE as usize..][..10]
    );
    assert_eq!(
        store.read(H, 2 * BLOCK_SIZE - 5, 10).unwrap(),
        ReadOutcome::Corrupt { block: 2 }
    );
    assert_eq!(
        store.read(H, bad, 1).unwrap(),
        ReadOutcome::Corrupt { block: 2 }
    );
    // A partial write that keeps the bad block's other bytes is refused.
    assert!(matches!(
        store.write_at(H, bad + 5, b"x"),
        Err(ChunkError::Corrupt { block: 2, .. })
    ));
    // Repair wants the whole block.
    assert!(matches!(
        store.repair_block(H, 2, b"short"),
        Err(ChunkError::BadRepair { .. })
    ));
    assert!(matches!(
        store.repair_block(H, 9, b"x"),
        Err(ChunkError::NoSuchBlock { block: 9, .. })
    ));
    let good = &bytes[2 * BLOCK_SIZE as usize..3 * BLOCK_SIZE as usize];
    store.repair_block(H, 2, good).unwrap();
    assert!(store.scan(H).unwrap().is_empty());
    assert_eq!(data(&store, 0, CHUNK), bytes);
}

#[test]
fn a_corrupt_last_partial_block_is_caught() {
    let mut store = mem_store();
    store.create(H, ChunkVersion(1)).unwrap();
    store
        .write_at(H, 0, &pattern(BLOCK_SIZE as usize + 10, 1))
        .unwrap();
    store.corrupt_for_test(H, BLOCK_SIZE + 9).unwrap();
    assert_eq!(
        store.read(H, BLOCK_SIZE, 10).unwrap(),
        ReadOutcome::Corrupt { block: 1 }
    );
    assert!(matches!(
        store.corrupt_for_test(H, BLOCK_SIZE + 10),
        Err(ChunkError::PastEnd { .. })
    ));
    // Appending to the corrupt partial block would recompute its checksum: refused.
    assert!(matches!(
        store.write_at(H, BLOCK_SIZE + 10, b"more"),
        Err(ChunkError::Corrupt { block: 1, .. })
    ));
}

fn versions_and_data_survive_reopen<F: ChunkFiles>(files: F, reopen: impl Fn(F) -> F) {
    let mut store = ChunkStore::open(files, ChunkConfig::new(CHUNK)).unwrap();
    store.create(H, ChunkVersion(1)).unwrap();
    store.create(ChunkHandle(2), ChunkVersion(3)).unwrap();
    store.create(ChunkHandle(3), ChunkVersion(1)).unwrap();
    let bytes = pattern(BLOCK_SIZE as usize + 77, 9);
    store.write_at(H, 0, &bytes).unwrap();
    store.set_version(H, ChunkVersion(2)).unwrap();
    store.delete(ChunkHandle(3)).unwrap();
    let store = ChunkStore::open(reopen(store.into_files()), ChunkConfig::new(CHUNK)).unwrap();
    assert_eq!(
        store.report(),
        vec![
            (H, ChunkVersion(2), bytes.len() as u64),
            (ChunkHandle(2), ChunkVersion(3), 0)
        ]
    );
    assert_eq!(data(&store, 0, CHUNK), bytes);
    assert!(store.dropped().is_empty());
}

#[test]
fn versions_and_data_survive_reopen_in_memory() {
    versions_and_data_survive_reopen(MemChunkFiles::new(), |f| f);
}

#[test]
fn versions_and_data_survive_reopen_in_a_directory() {
    let dir = temp_dir("reopen");
    let files = DirChunkFiles::open(&dir).unwrap();
    versions_and_data_survive_reopen(files, |f| DirChunkFiles::open(f.dir()).unwrap());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_torn_metadata_write_is_cleaned_and_a_bad_one_dropped() {
    let dir = temp_dir("torn");
    let mut store =
        ChunkStore::open(DirChunkFiles::open(&dir).unwrap(), ChunkConfig::new(CHUNK)).unwrap();
    store.create(H, ChunkVersion(5)).unwrap();
    store.write_at(H, 0, b"kept").unwrap();
    store.create(ChunkHandle(2), ChunkVersion(1)).unwrap();
    drop(store);
    // A crash mid-write of c1's metadata leaves its temporary file; c2's metadata is garbage.
    std::fs::write(dir.join("c1.meta.tmp"), b"GFSM half").unwrap();
    std::fs::write(dir.join("c2.meta"), b"GFSM not a whole metadata file").unwrap();
    let store =
        ChunkStore::open(DirChunkFiles::open(&dir).unwrap(), ChunkConfig::new(CHUNK)).unwrap();
    assert!(!dir.join("c1.meta.tmp").exists());
    assert_eq!(store.report(), vec![(H, ChunkVersion(5), 4)]);
    assert_eq!(store.dropped(), &[ChunkHandle(2)]);
    assert_eq!(data(&store, 0, 10), b"kept");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn appends_fill_a_chunk_then_pad() {
    let mut store = mem_store();
    let max = store.config().max_record();
    assert_eq!(max, CHUNK / 4);
    store.create(H, ChunkVersion(1)).unwrap();
    let record = encode_record(0, &vec![0xAB; 50_000]);
    let mut offsets = Vec::new();
    let from = loop {
        match store.append_record(H, &record, max).unwrap() {
            AppendOutcome::Appended { offset } => offsets.push(offset),
            AppendOutcome::Padded { from } => break from,
        }
    };
    let n = CHUNK / record.len() as u64;
    assert_eq!(
        offsets,
        (0..n).map(|i| i * record.len() as u64).collect::<Vec<_>>()
    );
    assert_eq!(from, n * record.len() as u64);
    assert_eq!(store.len(H).unwrap(), CHUNK);
    assert!(data(&store, from, CHUNK).iter().all(|b| *b == PAD_BYTE));
    assert_eq!(records(&data(&store, 0, CHUNK)).count() as u64, n);
    // Too large a record is refused whatever room is left.
    let big = vec![1; max as usize + 1];
    let err = store.append_record(ChunkHandle(9), &big, max).unwrap_err();
    assert!(
        matches!(err, ChunkError::RecordTooLarge { len, max: m } if len == max + 1 && m == max)
    );
}

#[test]
fn a_secondary_pads_a_gap_and_the_reader_skips_it_and_duplicates() {
    let mut primary = mem_store();
    let mut secondary = mem_store();
    primary.create(H, ChunkVersion(1)).unwrap();
    secondary.create(H, ChunkVersion(1)).unwrap();
    let max = CHUNK / 4;
    let a = encode_record(1, b"first");
    let b = encode_record(2, b"second");
    // Record 1 reached the primary only; the retry appends it again at both.
    let AppendOutcome::Appended { offset: at_a } = primary.append_record(H, &a, max).unwrap()
    else {
        panic!("fits")
    };
    let AppendOutcome::Appended { offset: at_retry } = primary.append_record(H, &a, max).unwrap()
    else {
        panic!("fits")
    };
    secondary.apply_append_at(H, at_retry, &a).unwrap();
    let AppendOutcome::Appended { offset: at_b } = primary.append_record(H, &b, max).unwrap()
    else {
        panic!("fits")
    };
    secondary.apply_append_at(H, at_b, &b).unwrap();
    assert_eq!(at_a, 0);
    assert_eq!(secondary.len(H).unwrap(), primary.len(H).unwrap());
    let gap = data(&secondary, 0, at_retry);
    assert!(gap.iter().all(|x| *x == PAD_BYTE));
    for store in [&primary, &secondary] {
        let bytes = data(store, 0, CHUNK);
        let unique: Vec<_> = unique_records(&bytes)
            .iter()
            .map(|r| (r.id, r.payload.to_vec()))
            .collect();
        assert_eq!(
            unique,
            vec![(1, b"first".to_vec()), (2, b"second".to_vec())]
        );
    }
    assert_eq!(records(&data(&primary, 0, CHUNK)).count(), 3);
    // The primary padded; the secondary pads the same way.
    let end = at_b + b.len() as u64;
    primary.pad_from(H, end).unwrap();
    secondary.pad_from(H, end).unwrap();
    assert_eq!(secondary.len(H).unwrap(), CHUNK);
    assert_eq!(data(&primary, end, CHUNK), data(&secondary, end, CHUNK));
}

#[test]
fn random_writes_and_reads_match_a_model() {
    for seed in 0..4u64 {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut store = mem_store();
        store.create(H, ChunkVersion(1)).unwrap();
        let mut model: Vec<u8> = Vec::new();
        for _ in 0..200 {
            if rng.gen_bool(0.5) {
                let offset = rng.gen_range(0..CHUNK);
                let len = rng.gen_range(0..=(CHUNK - offset).min(3 * BLOCK_SIZE / 2));
                let bytes: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
                store.write_at(H, offset, &bytes).unwrap();
                if !bytes.is_empty() {
                    let end = (offset + len) as usize;
                    if model.len() < end {
                        model.resize(end, PAD_BYTE);
                    }
                    model[offset as usize..end].copy_from_slice(&bytes);
                }
            } else {
                let offset = rng.gen_range(0..CHUNK + 10);
                let len = rng.gen_range(0..2 * BLOCK_SIZE);
                let from = (offset as usize).min(model.len());
                let to = (offset + len).min(model.len() as u64) as usize;
                assert_eq!(
                    data(&store, offset, len),
                    model[from..to.max(from)],
                    "seed {seed}"
                );
            }
            assert_eq!(store.len(H).unwrap(), model.len() as u64);
        }
        assert!(store.scan(H).unwrap().is_empty());
    }
}
