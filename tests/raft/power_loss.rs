//! Power loss: Raft peers on the file persister over disks that lose power ([`PowerLossFs`]).
//! While commands are committed, peers lose power (every write not fsynced is dropped) and
//! restart from what is left, one at a time and all at once; at the end all lose power
//! together, and every acknowledged command must still be in every peer's log at its index.
//! With the `planted-bugs` feature, a persister that skips its fsync is caught.

use crate::harness::*;
use std::cell::{Cell, RefCell};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use troupe_messages::raft::Index;
use troupe_runtime::testkit::simulate;
use troupe_runtime::{FilePersister, FileSystem, NodeId, Persister, PowerLossFs};

const PEERS: u32 = 3;

/// Each peer's storage: a file persister reopened at every start on its own disk, compacting
/// often; `plant` may give it a bug.
fn storage(
    disks: Vec<PowerLossFs>,
    plant: fn(&FilePersister),
) -> impl Fn(NodeId) -> Arc<dyn Persister> {
    move |id| {
        let disk = disks[id.0 as usize - 1].clone();
        let p = FilePersister::open_on(Arc::new(disk), "/raft")
            .unwrap_or_else(|e| panic!("{id}: its storage does not open: {e}"));
        p.compact_after(4_096);
        plant(&p);
        Arc::new(p)
    }
}

/// Peer `i` loses power: it stops at once, its disk drops what was not fsynced, and it
/// restarts from what is left.
fn power_loss(h: &Harness, disks: &[PowerLossFs], i: u32) {
    h.crash(i);
    disks[i as usize - 1].power_loss();
    h.restart(i);
}

/// Offers `cmd` to the peers until a leader takes it and some peer applies it at the index the
/// leader gave (then it is committed: a client would hear it succeeded); `None` if that does
/// not happen within 5 s of virtual time.
async fn commit(h: &Harness, cmd: u64) -> Option<Index> {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(5) {
        for i in 1..=h.n {
            let Some(started) = h.start(i, cmd).await.filter(|s| s.is_leader) else {
                continue;
            };
            for _ in 0..50 {
                if h.applied(started.index, &command(cmd)) {
                    return Some(started.index);
                }
                tokio::time::sleep(ms(20)).await;
            }
        }
        tokio::time::sleep(ms(50)).await;
    }
    None
}

/// What a scenario did and found.
struct Outcome {
    /// Commands acknowledged.
    acked: usize,
    /// Peers that lost power, counting each peer of an all-at-once loss.
    power_losses: u64,
    /// Every acknowledged command a peer no longer holds, and any other broken promise.
    problems: Vec<String>,
    /// Every peer's file persister compacted its log into a snapshot file.
    compacted: bool,
}

/// Commits commands while peers lose power, then all lose power at once and one more command
/// is committed; then every peer must hold every acknowledged command.
async fn scenario(seed: u64, plant: fn(&FilePersister)) -> Outcome {
    let disks: Vec<PowerLossFs> = (0..PEERS).map(|_| PowerLossFs::new()).collect();
    let h = Harness::with_storage(seed, PEERS, Some(25), storage(disks.clone(), plant));
    let acked: RefCell<Vec<(Index, Vec<u8>)>> = RefCell::new(Vec::new());
    let done = Cell::new(false);
    let clients = async {
        for _ in 0..80 {
            let cmd = h.random();
            if let Some(index) = commit(&h, cmd).await {
                acked.borrow_mut().push((index, command(cmd)));
            }
            tokio::time::sleep(ms(10 + h.random() % 40)).await;
        }
        done.set(true);
    };
    let nemesis = async {
        let (mut round, mut losses) = (0u64, 0u64);
        while !done.get() {
            tokio::time::sleep(ms(50 + h.random() % 200)).await;
            round += 1;
            if round % 4 == 0 {
                for i in 1..=PEERS {
                    power_loss(&h, &disks, i);
                }
                losses += u64::from(PEERS);
            } else {
                power_loss(&h, &disks, 1 + (h.random() % u64::from(PEERS)) as u32);
                losses += 1;
            }
        }
        losses
    };
    let ((), power_losses) = tokio::join!(clients, nemesis);
    for i in 1..=PEERS {
        power_loss(&h, &disks, i);
    }
    let acked = acked.into_inner();
    let mut problems = h.errors();
    let compacted = disks.iter().all(|d| {
        d.read(Path::new("/raft/snapshot"))
            .is_ok_and(|s| s.is_some())
    });
    let outcome = |problems| Outcome {
        acked: acked.len(),
        power_losses: power_losses + u64::from(PEERS),
        problems,
        compacted,
    };
    let Some(last) = commit(&h, h.random()).await else {
        problems.push("nothing committed after the last power loss".into());
        return outcome(problems);
    };
    // Every peer applies up to the new command, so its log (or snapshot) must hold them all.
    for _ in 0..250 {
        if (1..=PEERS).all(|i| h.current(i).contains_key(&last)) {
            break;
        }
        tokio::time::sleep(ms(20)).await;
    }
    for i in 1..=PEERS {
        let current = h.current(i);
        for (index, cmd) in &acked {
            if current.get(index) != Some(cmd) {
                problems.push(format!(
                    "peer {i} lost the acknowledged command at index {index}: it holds {:?}",
                    current.get(index)
                ));
            }
        }
    }
    outcome(problems)
}

#[test]
fn acknowledged_commands_survive_power_losses() {
    simulate(141, |seed| async move {
        let outcome = scenario(seed, |_| {}).await;
        assert!(outcome.problems.is_empty(), "{:#?}", outcome.problems);
        assert!(outcome.acked >= 60, "only {} acknowledged", outcome.acked);
        assert!(
            outcome.power_losses >= 20,
            "{} power losses",
            outcome.power_losses
        );
        assert!(outcome.compacted, "the persisters never compacted");
    });
}

/// A persister that acknowledges before its fsync: the same scenario finds lost commands.
#[cfg(feature = "planted-bugs")]
#[test]
fn a_skipped_fsync_loses_acknowledged_commands_and_is_caught() {
    use troupe_runtime::PlantedBug;
    simulate(141, |seed| async move {
        let outcome = scenario(seed, |p| p.plant(PlantedBug::SkipLogFsync)).await;
        assert!(outcome.acked > 0, "nothing acknowledged");
        assert!(
            outcome
                .problems
                .iter()
                .any(|p| p.contains("lost the acknowledged")),
            "the planted bug went unseen: {:#?}",
            outcome.problems
        );
    });
}
