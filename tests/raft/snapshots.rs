//! Snapshots: the service snapshots every 10 entries; the log stays small, lagging and
//! restarted peers catch up through InstallSnapshot, and a restarted cluster starts from its
//! snapshots.

use crate::harness::*;
use troupe_runtime::testkit::simulate;

const SNAPSHOT_EVERY: u64 = 10;
/// The persisted Raft state must stay under this many bytes (6.824's MAXLOGSIZE).
const MAX_LOG_SIZE: usize = 2_000;

async fn snap_common(seed: u64, disconnect: bool, reliable: bool, crash: bool) {
    let n = 3;
    let h = Harness::new(seed, n, reliable, Some(SNAPSHOT_EVERY));
    h.one(h.random(), n as usize, true).await;
    let mut leader = h.check_one_leader().await;
    for i in 0..30 {
        let (victim, sender) = if i % 3 == 1 {
            (leader, leader % n + 1)
        } else {
            (leader % n + 1, leader)
        };
        if disconnect {
            h.disconnect(victim);
            h.one(h.random(), n as usize - 1, true).await;
        }
        if crash {
            h.crash(victim);
            h.one(h.random(), n as usize - 1, true).await;
        }
        // Enough commands to force a snapshot, without waiting for them.
        for _ in 0..=SNAPSHOT_EVERY {
            let _ = h.start(sender, h.random()).await;
        }
        // Let the applier threads catch up and snapshot.
        let expected = if disconnect || crash {
            n as usize - 1
        } else {
            n as usize
        };
        h.one(h.random(), expected, true).await;
        let size = h.max_state_size();
        assert!(
            size < MAX_LOG_SIZE,
            "the log is {size} bytes: snapshots do not trim it"
        );
        if disconnect {
            // The victim is far behind: it needs the snapshot.
            h.connect(victim);
            h.one(h.random(), n as usize, true).await;
            leader = h.check_one_leader().await;
        }
        if crash {
            h.restart(victim);
            h.one(h.random(), n as usize, true).await;
            leader = h.check_one_leader().await;
        }
    }
    h.check_errors();
}

#[test]
fn snapshot_basic() {
    simulate(151, |seed| snap_common(seed, false, true, false));
}

#[test]
fn snapshot_install() {
    simulate(152, |seed| snap_common(seed, true, true, false));
}

#[test]
fn snapshot_install_unreliable() {
    simulate(153, |seed| snap_common(seed, true, false, false));
}

#[test]
fn snapshot_install_crash() {
    simulate(154, |seed| snap_common(seed, false, true, true));
}

#[test]
fn snapshot_init() {
    simulate(155, |seed| async move {
        let n = 3;
        let h = Harness::new(seed, n, true, Some(SNAPSHOT_EVERY));
        h.one(h.random(), n as usize, true).await;
        for _ in 0..=SNAPSHOT_EVERY {
            h.one(h.random(), n as usize, true).await;
        }
        // Everyone restarts from a snapshot...
        for i in 1..=n {
            h.crash(i);
        }
        for i in 1..=n {
            h.restart(i);
        }
        h.one(h.random(), n as usize, true).await;
        // ...and again, with the snapshot and a log tail.
        for i in 1..=n {
            h.crash(i);
        }
        for i in 1..=n {
            h.restart(i);
        }
        h.one(h.random(), n as usize, true).await;
        h.check_errors();
    });
}
