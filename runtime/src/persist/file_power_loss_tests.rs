//! The file persister on a disk that loses power ([`PowerLossFs`]): every acknowledged write (a
//! `write_batch` that returned `Ok`) survives a power loss at any point, in the middle of a
//! compaction too, and the batch in flight when the power went off is there whole or not at
//! all. With the `planted-bugs` feature, the same checks catch a persister that skips an
//! fsync, and pass on the same runs without it.

use super::file::FilePersister;
use super::power_loss::PowerLossFs;
use super::Persister;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;
use std::sync::Arc;

type Map = BTreeMap<String, Vec<u8>>;

const DIR: &str = "/data/node";
/// Small enough that a few dozen batches compact several times.
const COMPACT_AFTER: u64 = 300;

/// A batch of the workload.
struct TestBatch {
    puts: Vec<(String, Vec<u8>)>,
    removes: Vec<String>,
}

impl TestBatch {
    fn random(rng: &mut ChaCha8Rng) -> TestBatch {
        let key = |rng: &mut ChaCha8Rng| format!("k{}", rng.gen_range(0..8));
        let puts = (0..rng.gen_range(1..=3))
            .map(|_| {
                let len = rng.gen_range(0..40);
                (key(rng), (0..len).map(|_| rng.gen()).collect())
            })
            .collect();
        let removes = (0..rng.gen_range(0..=1)).map(|_| key(rng)).collect();
        TestBatch { puts, removes }
    }

    fn write(&self, p: &FilePersister) -> crate::Result<()> {
        let puts: Vec<(&str, &[u8])> = self
            .puts
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_slice()))
            .collect();
        let removes: Vec<&str> = self.removes.iter().map(String::as_str).collect();
        p.write_batch(&puts, &removes)
    }

    fn applied_to(&self, map: &Map) -> Map {
        let mut map = map.clone();
        for key in &self.removes {
            map.remove(key);
        }
        for (key, value) in &self.puts {
            map.insert(key.clone(), value.clone());
        }
        map
    }
}

/// One run of the persister, between two power losses.
#[derive(Debug, Clone, Copy)]
struct Life {
    /// Batches it tries to write.
    batches: usize,
    /// The power goes off after this many disk operations (opening included), if set.
    cut: Option<u64>,
    /// The power loss keeps a torn prefix of unsynced appends, drawn from this seed, if set.
    tear: Option<u64>,
}

/// What a run did.
#[derive(Debug, Default)]
struct Stats {
    acked: u64,
    /// Disk operations of the first life, and the ranges of them that compactions took.
    ops: u64,
    compactions: Vec<(u64, u64)>,
}

/// What the disk must hold: every acknowledged batch, and perhaps the one in flight at the cut.
struct Expected {
    acked: Map,
    in_doubt: Option<Map>,
}

impl Expected {
    /// Compares what a reopened persister holds; the batch in doubt is decided by it.
    fn check(&mut self, p: &FilePersister, when: &str) -> Result<(), String> {
        let keys = p.keys("").map_err(|e| e.to_string())?;
        let mut held = Map::new();
        for key in keys {
            let value = p.load(&key).map_err(|e| e.to_string())?.unwrap_or_default();
            held.insert(key, value);
        }
        if held != self.acked && Some(&held) != self.in_doubt.as_ref() {
            let lost: Vec<_> = self
                .acked
                .iter()
                .filter(|(k, v)| held.get(*k) != Some(*v))
                .map(|(k, _)| k)
                .collect();
            return Err(format!(
                "{when}: acknowledged writes lost or changed under keys {lost:?} \
                 (held {} keys, acknowledged {})",
                held.len(),
                self.acked.len()
            ));
        }
        self.acked = held;
        self.in_doubt = None;
        Ok(())
    }
}

/// Runs `lives` on one disk, each ended by a power loss, with workload `seed`; every reopen, and
/// a last one, checks that the persister holds every acknowledged batch. `plant` is called on
/// every persister opened (to give it a bug). Returns the first broken promise.
fn run(seed: u64, lives: &[Life], plant: &dyn Fn(&FilePersister)) -> Result<Stats, String> {
    let fs = PowerLossFs::new();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut expected = Expected {
        acked: Map::new(),
        in_doubt: None,
    };
    let mut stats = Stats::default();
    for (n, life) in lives.iter().enumerate() {
        if let Some(cut) = life.cut {
            fs.cut_after(cut);
        }
        match FilePersister::open_on(Arc::new(fs.clone()), DIR) {
            Err(e) if !fs.is_off() => return Err(format!("life {n}: open failed: {e}")),
            Err(_) => {} // the power went off while it opened
            Ok(p) => {
                expected.check(&p, &format!("life {n} opening"))?;
                p.compact_after(COMPACT_AFTER);
                plant(&p);
                for _ in 0..life.batches {
                    let batch = TestBatch::random(&mut rng);
                    let before = fs.operations();
                    match batch.write(&p) {
                        Ok(()) => {
                            expected.acked = batch.applied_to(&expected.acked);
                            stats.acked += 1;
                        }
                        Err(e) if !fs.is_off() => {
                            return Err(format!("life {n}: a write failed: {e}"))
                        }
                        Err(_) => {
                            expected.in_doubt = Some(batch.applied_to(&expected.acked));
                            break;
                        }
                    }
                    // An append and its fsync are two operations; more is a compaction.
                    if fs.operations() > before + 2 {
                        stats.compactions.push((before + 2, fs.operations()));
                    }
                }
            }
        }
        if n == 0 {
            stats.ops = fs.operations();
        }
        match life.tear {
            Some(seed) => fs.power_loss_tearing(seed),
            None => fs.power_loss(),
        }
    }
    let p = FilePersister::open_on(Arc::new(fs.clone()), DIR)
        .map_err(|e| format!("the last open failed: {e}"))?;
    expected.check(&p, "the last open")?;
    Ok(stats)
}

/// Cuts the power at every disk operation of a life of `batches` batches (with a torn tail at
/// every other cut), then lives once more and checks. Returns the run without a cut (and
/// without `plant`: it sizes the sweep), how many cuts were tried, and every broken promise.
fn sweep(seed: u64, batches: usize, plant: &dyn Fn(&FilePersister)) -> (Stats, u64, Vec<String>) {
    let whole = Life {
        batches,
        cut: None,
        tear: None,
    };
    let after = Life {
        batches: 10,
        cut: None,
        tear: None,
    };
    let uncut = run(seed, &[whole, after], &|_| {}).unwrap_or_else(|e| panic!("uncut: {e}"));
    let mut failures = Vec::new();
    let mut cuts = 0;
    for cut in 0..=uncut.ops {
        let tear = (cut % 2 == 1).then_some(cut);
        let cut_life = Life {
            cut: Some(cut),
            tear,
            ..whole
        };
        if let Err(e) = run(seed, &[cut_life, after], plant) {
            failures.push(format!("cut after {cut} operations: {e}"));
        }
        cuts += 1;
    }
    (uncut, cuts, failures)
}

#[test]
fn acknowledged_writes_survive_a_power_loss_at_every_operation() {
    let (uncut, cuts, failures) = sweep(1, 60, &|_| {});
    assert!(failures.is_empty(), "{failures:#?}");
    // The cuts fell inside compactions too.
    let in_compaction = (0..cuts)
        .filter(|&c| uncut.compactions.iter().any(|&(a, b)| a <= c && c < b))
        .count();
    assert!(uncut.compactions.len() >= 3, "{uncut:?}");
    assert!(in_compaction >= 10, "{in_compaction} cuts in compactions");
}

#[test]
fn acknowledged_writes_survive_random_power_losses() {
    let mut acked = 0;
    for seed in 0..150u64 {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed);
        let lives: Vec<Life> = (0..rng.gen_range(2..6))
            .map(|_| Life {
                batches: rng.gen_range(0..40),
                cut: rng.gen_bool(0.8).then(|| rng.gen_range(0..120)),
                tear: rng.gen_bool(0.5).then(|| rng.gen()),
            })
            .collect();
        match run(seed, &lives, &|_| {}) {
            Ok(stats) => acked += stats.acked,
            Err(e) => panic!("seed {seed}, lives {lives:?}: {e}"),
        }
    }
    assert!(acked > 1_000, "{acked} acknowledged batches");
}

/// The planted bugs: the same sweep catches each, and passes on the same runs without it.
#[cfg(feature = "planted-bugs")]
mod planted {
    use super::*;
    use crate::persist::file::PlantedBug;

    fn caught(bug: PlantedBug) -> (u64, usize) {
        let (_, cuts, failures) = sweep(2, 60, &|p| p.plant(bug));
        if let Some(first) = failures.first() {
            tracing::info!(
                ?bug,
                "{} of {cuts} cuts caught it; first: {first}",
                failures.len()
            );
        }
        (cuts, failures.len())
    }

    #[test]
    fn without_a_planted_bug_the_sweep_passes() {
        assert_eq!(caught(PlantedBug::None).1, 0);
    }

    #[test]
    fn a_skipped_log_fsync_is_caught() {
        let (cuts, failures) = caught(PlantedBug::SkipLogFsync);
        assert!(failures * 2 > cuts as usize, "{failures} of {cuts}");
    }

    #[test]
    fn a_skipped_directory_fsync_in_compaction_is_caught() {
        let (cuts, failures) = caught(PlantedBug::SkipCompactionDirFsync);
        assert!(failures > 0, "{failures} of {cuts}");
    }
}
