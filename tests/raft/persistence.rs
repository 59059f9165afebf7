//! Persistence: peers that crash and restart keep term, vote and log; Figure 8; concurrent
//! starts, rejoin and fast backup.

use crate::harness::*;
use troupe_runtime::testkit::simulate;

#[test]
fn concurrent_starts() {
    simulate(121, |seed| async move {
        let h = Harness::new(seed, 3, true, None);
        'attempt: for _ in 0..5 {
            let leader = h.check_one_leader().await;
            let Some(first) = h.start(leader, 1).await.filter(|s| s.is_leader) else {
                continue;
            };
            // Five commands offered at once, from concurrent tasks.
            let mut tasks = Vec::new();
            for i in 0..5u64 {
                let node = h.cluster.up(leader);
                tasks.push(actix_rt::spawn(async move {
                    let path = troupe_runtime::ActorPath::new(node.id(), "raft");
                    let start = troupe_messages::raft::Start {
                        command: command(100 + i),
                    };
                    node.call(&path, start, ms(1_000)).await.ok()
                }));
            }
            let mut indices = Vec::new();
            for task in tasks {
                match task.await.ok().flatten() {
                    Some(s) if s.is_leader && s.term == first.term => indices.push(s.index),
                    _ => continue 'attempt,
                }
            }
            let mut got = Vec::new();
            for index in indices {
                match h.wait(index, 3, Some(first.term)).await {
                    Some(cmd) => got.push(u64::from_be_bytes(cmd.try_into().expect("8 bytes"))),
                    None => continue 'attempt, // the term moved on
                }
            }
            got.sort_unstable();
            assert_eq!(got, [100, 101, 102, 103, 104]);
            return;
        }
        panic!("the term changed too often");
    });
}

#[test]
fn rejoin_of_a_partitioned_leader() {
    simulate(122, |seed| async move {
        let h = Harness::new(seed, 3, true, None);
        h.one(101, 3, true).await;
        let leader1 = h.check_one_leader().await;
        h.disconnect(leader1);
        // The old leader takes commands it can never commit.
        for cmd in [102, 103, 104] {
            let _ = h.start(leader1, cmd).await;
        }
        h.one(103, 2, true).await;
        let leader2 = h.check_one_leader().await;
        h.disconnect(leader2);
        h.connect(leader1);
        h.one(104, 2, true).await;
        h.connect(leader2);
        h.one(105, 3, true).await;
        h.check_errors();
    });
}

#[test]
fn backup_past_many_incorrect_entries() {
    simulate(123, |seed| async move {
        let n = 5;
        let h = Harness::new(seed, n, true, None);
        let next = |i: u32, k: u32| (i + k - 1) % n + 1;
        h.one(h.random(), 5, true).await;
        // A leader in a minority takes 50 commands it cannot commit.
        let leader1 = h.check_one_leader().await;
        for k in 2..=4 {
            h.disconnect(next(leader1, k));
        }
        for _ in 0..50 {
            let _ = h.start(leader1, h.random()).await;
        }
        tokio::time::sleep(ms(500)).await;
        h.disconnect(leader1);
        h.disconnect(next(leader1, 1));
        // The other three commit 50 commands of their own.
        for k in 2..=4 {
            h.connect(next(leader1, k));
        }
        for _ in 0..50 {
            h.one(h.random(), 3, true).await;
        }
        // Their leader loses a follower and takes 50 uncommitted commands too.
        let leader2 = h.check_one_leader().await;
        let other = (2..=4)
            .map(|k| next(leader1, k))
            .find(|&p| p != leader2)
            .expect("a follower");
        h.disconnect(other);
        for _ in 0..50 {
            let _ = h.start(leader2, h.random()).await;
        }
        tokio::time::sleep(ms(500)).await;
        // The first leader's group comes back with `other` and must overwrite its 50 entries.
        for i in 1..=n {
            h.disconnect(i);
        }
        h.connect(leader1);
        h.connect(next(leader1, 1));
        h.connect(other);
        for _ in 0..50 {
            h.one(h.random(), 3, true).await;
        }
        for i in 1..=n {
            h.connect(i);
        }
        h.one(h.random(), 5, true).await;
    });
}

#[test]
fn persist_1() {
    simulate(131, |seed| async move {
        let h = Harness::new(seed, 3, true, None);
        h.one(11, 3, true).await;
        for i in 1..=3 {
            h.crash(i);
        }
        for i in 1..=3 {
            h.restart(i);
        }
        h.one(12, 3, true).await;
        let leader1 = h.check_one_leader().await;
        h.crash_and_restart(leader1);
        h.one(13, 3, true).await;
        let leader2 = h.check_one_leader().await;
        h.disconnect(leader2);
        let index = h.one(14, 2, true).await;
        h.crash(leader2);
        h.restart(leader2);
        h.connect(leader2);
        h.wait(index, 3, None).await;
        let i3 = leader2 % 3 + 1;
        h.disconnect(i3);
        h.one(15, 2, true).await;
        h.crash_and_restart(i3);
        h.connect(i3);
        h.one(16, 3, true).await;
    });
}

#[test]
fn persist_2() {
    simulate(132, |seed| async move {
        let n = 5;
        let h = Harness::new(seed, n, true, None);
        let next = |i: u32, k: u32| (i + k - 1) % n + 1;
        for round in 0..5u64 {
            h.one(10 + round, 5, true).await;
            let leader = h.check_one_leader().await;
            h.disconnect(next(leader, 1));
            h.disconnect(next(leader, 2));
            h.one(20 + round, 3, true).await;
            for k in [0, 3, 4] {
                h.disconnect(next(leader, k));
            }
            for k in [1, 2] {
                h.crash_and_restart(next(leader, k));
                h.connect(next(leader, k));
            }
            tokio::time::sleep(ms(1_000)).await;
            h.crash_and_restart(next(leader, 3));
            h.connect(next(leader, 3));
            h.one(30 + round, 3, true).await;
            for k in [4, 0] {
                h.crash_and_restart(next(leader, k));
                h.connect(next(leader, k));
            }
        }
        h.one(1000, 5, true).await;
    });
}

#[test]
fn persist_3() {
    simulate(133, |seed| async move {
        let h = Harness::new(seed, 3, true, None);
        h.one(101, 3, true).await;
        let leader = h.check_one_leader().await;
        let third = (leader + 1) % 3 + 1;
        h.disconnect(third);
        h.one(102, 2, true).await;
        h.crash(leader % 3 + 1);
        h.crash(leader);
        h.connect(third);
        h.restart(leader);
        h.one(103, 2, true).await;
        h.restart(leader % 3 + 1);
        h.one(104, 3, true).await;
    });
}

/// Leaders crash right after taking commands, again and again, so that entries of old terms
/// pile up on minorities: Figure 8 of the Raft paper says a leader must not count replicas of
/// an older term's entry to commit it.
#[test]
fn figure_8() {
    simulate(134, |seed| async move {
        let n = 5;
        let h = Harness::new(seed, n, true, None);
        h.one(h.random(), 1, true).await;
        let mut up = n;
        for _ in 0..1000 {
            let mut leader = None;
            for i in 1..=n {
                if let Some(s) = h.start(i, h.random()).await {
                    if s.is_leader {
                        leader = Some(i);
                    }
                }
            }
            let pause = if h.random() % 1000 < 100 {
                h.random() % 500
            } else {
                h.random() % 13
            };
            tokio::time::sleep(ms(pause)).await;
            if let Some(l) = leader {
                if h.cluster.node(l).is_some() {
                    h.crash(l);
                    up -= 1;
                }
            }
            if up < 3 {
                let s = (h.random() % n as u64) as u32 + 1;
                if h.cluster.node(s).is_none() {
                    h.restart(s);
                    up += 1;
                }
            }
        }
        for i in 1..=n {
            if h.cluster.node(i).is_none() {
                h.restart(i);
            }
        }
        h.one(h.random(), n as usize, true).await;
    });
}

/// A follower whose stored log lost its last entries (as a damaged tail truncated at start-up
/// leaves it) catches up after its restart: its refusal carries a new boot, so the leader knows
/// the entries it counted as matched are gone and sends them again.
#[test]
fn a_follower_that_lost_its_log_tail_catches_up() {
    simulate(131, |seed| async move {
        use troupe_actors::raft::storage::ENTRY_PREFIX;
        use troupe_runtime::{NodeId, Persister};
        let h = Harness::new(seed, 3, true, None);
        let leader = h.check_one_leader().await;
        for i in 0..10 {
            h.one(100 + i, 3, true).await;
        }
        let follower = (1..=3).find(|&i| i != leader).expect("a follower");
        h.crash(follower);
        let persister = h
            .cluster
            .net()
            .persister(NodeId(follower))
            .expect("its storage");
        let mut keys = persister.keys(ENTRY_PREFIX).expect("keys");
        keys.sort();
        assert!(keys.len() >= 10, "{keys:?}");
        for key in keys.iter().rev().take(3) {
            persister.remove(key).expect("remove");
        }
        h.restart(follower);
        // A new command commits on all three: the follower got its lost entries back.
        h.one(200, 3, true).await;
        h.check_errors();
    });
}
