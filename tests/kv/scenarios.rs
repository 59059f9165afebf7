//! The 6.824 KV scenarios: basic, concurrent, unreliable, partitions, crashes, snapshots.

use crate::harness::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use troupe_actors::raft::storage::RaftStorage;
use troupe_runtime::testkit::simulate;

/// Partitions the servers at random every 0.5-1 s, as 6.824's partitioner does.
async fn partitioner(h: &KvHarness, seed: u64, until: std::time::Duration) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let start = tokio::time::Instant::now();
    while start.elapsed() + ms(1_000) < until {
        let mut ids = h.servers.clone();
        rand::seq::SliceRandom::shuffle(ids.as_mut_slice(), &mut rng);
        let cut = rng.gen_range(1..ids.len());
        let clients: Vec<_> = h
            .cluster
            .ids()
            .into_iter()
            .filter(|id| !h.servers.contains(id))
            .collect();
        let (a, b) = ids.split_at(cut);
        // Clients land on either side.
        let (mut left, mut right) = (a.to_vec(), b.to_vec());
        for c in clients {
            if rng.gen_bool(0.5) {
                left.push(c)
            } else {
                right.push(c)
            }
        }
        h.cluster.net().partition(&[&left, &right]);
        tokio::time::sleep(ms(rng.gen_range(500..1_000))).await;
    }
    h.cluster.heal();
}

#[test]
fn basic() {
    simulate(201, |seed| async move {
        let h = KvHarness::new(seed, 5, 1, true, None);
        h.run_clients(ms(3_000), async {}).await;
        h.finish().await;
    });
}

#[test]
fn concurrent() {
    simulate(202, |seed| async move {
        let h = KvHarness::new(seed, 5, 5, true, None);
        h.run_clients(ms(3_000), async {}).await;
        h.finish().await;
    });
}

#[test]
fn unreliable() {
    simulate(203, |seed| async move {
        let h = KvHarness::new(seed, 5, 5, false, None);
        h.run_clients(ms(5_000), async {}).await;
        h.finish().await;
    });
}

#[test]
fn one_partition() {
    simulate(204, |seed| async move {
        let h = KvHarness::new(seed, 5, 3, true, None);
        // Clients run while the servers are split 3 / 2 (clients with the majority); the
        // majority must keep serving, and the history stays linearizable across the heal.
        let during = async {
            tokio::time::sleep(ms(500)).await;
            let ids = &h.servers;
            let clients: Vec<_> = h
                .cluster
                .ids()
                .into_iter()
                .filter(|id| !ids.contains(id))
                .collect();
            let majority: Vec<_> = ids[..3].iter().copied().chain(clients).collect();
            h.cluster.net().partition(&[&majority, &ids[3..]]);
            let before = h.recorder.borrow().ok;
            tokio::time::sleep(ms(2_000)).await;
            assert!(
                h.recorder.borrow().ok > before,
                "the majority side made no progress"
            );
            h.cluster.heal();
        };
        h.run_clients(ms(4_000), during).await;
        h.finish().await;
    });
}

#[test]
fn many_partitions() {
    simulate(205, |seed| async move {
        let h = KvHarness::new(seed, 5, 5, true, None);
        h.run_clients(ms(8_000), partitioner(&h, seed, ms(8_000)))
            .await;
        h.finish().await;
    });
}

#[test]
fn many_partitions_unreliable() {
    simulate(206, |seed| async move {
        let h = KvHarness::new(seed, 5, 5, false, None);
        h.run_clients(ms(8_000), partitioner(&h, seed, ms(8_000)))
            .await;
        h.finish().await;
    });
}

#[test]
fn persist_with_crashes() {
    simulate(207, |seed| async move {
        let h = KvHarness::new(seed, 5, 5, true, None);
        for _round in 0..3 {
            h.run_clients(ms(2_000), async {}).await;
            // Everyone crashes and comes back from what it persisted.
            for id in h.servers.clone() {
                h.cluster.net().crash(id);
            }
            for id in h.servers.clone() {
                h.cluster.net().restart(id);
            }
        }
        h.run_clients(ms(2_000), async {}).await;
        h.finish().await;
    });
}

#[test]
fn persist_with_crashes_and_partitions_unreliable() {
    simulate(208, |seed| async move {
        let h = KvHarness::new(seed, 5, 5, false, None);
        for round in 0..3u64 {
            h.run_clients(ms(3_000), partitioner(&h, seed + round, ms(3_000)))
                .await;
            for id in h.servers.clone() {
                h.cluster.net().crash(id);
            }
            for id in h.servers.clone() {
                h.cluster.net().restart(id);
            }
        }
        h.finish().await;
    });
}

#[test]
fn snapshot_size_bound() {
    simulate(209, |seed| async move {
        let max_raft_state = 1_000;
        let h = KvHarness::new(seed, 3, 3, true, Some(max_raft_state));
        let during = async {
            for _ in 0..20 {
                tokio::time::sleep(ms(200)).await;
                for &id in &h.servers {
                    let persister = h.cluster.net().persister(id).expect("a server");
                    let size = RaftStorage::state_size(persister.as_ref()).expect("reads");
                    assert!(
                        size <= 8 * max_raft_state,
                        "raft state of {id} is {size} bytes"
                    );
                }
            }
        };
        h.run_clients(ms(4_000), during).await;
        assert!(
            h.recorder.borrow().ok > 200,
            "too few operations to exercise snapshots"
        );
        // Crash and restart from the snapshots.
        for id in h.servers.clone() {
            h.cluster.net().crash(id);
            h.cluster.net().restart(id);
        }
        h.run_clients(ms(1_000), async {}).await;
        h.finish().await;
    });
}

#[test]
fn a_crashed_raft_actor_is_restarted_by_its_supervisor() {
    use troupe_messages::raft::GetStatus;
    use troupe_runtime::{ActorPath, ExitReason};
    use troupe_supervisors::WhichChildren;
    simulate(210, |seed| async move {
        let h = KvHarness::supervised(seed, 5, 3);
        let during = async {
            tokio::time::sleep(ms(1_000)).await;
            // Find the leader and crash its Raft actor (not its node), as a panic would.
            let mut leader = None;
            for &id in &h.servers {
                let node = h.cluster.net().node(id).expect("up");
                let status = node
                    .call(&ActorPath::new(id, "raft"), GetStatus, ms(100))
                    .await;
                if status.is_ok_and(|s| s.is_leader) {
                    leader = Some(node);
                }
            }
            let node = leader.expect("a leader after 1 s");
            let raft = node.handle("raft").expect("the peer runs");
            raft.kill(ExitReason::Panic("injected".into()));
            tokio::time::sleep(ms(1_500)).await;
            // The supervisor restarted the replica; the restarted peer rejoined with its state.
            let children = node
                .call(
                    &node.path(troupe_supervisors::failover::raft::NAME),
                    WhichChildren,
                    ms(100),
                )
                .await
                .expect("the supervisor answers");
            assert_eq!(
                (children[0].alive, children[0].restarts),
                (true, 1),
                "{children:?}"
            );
            let status = node
                .call(&node.path("raft"), GetStatus, ms(100))
                .await
                .expect("peer back");
            assert!(
                status.commit_index > 0,
                "the restarted peer lost its log: {status:?}"
            );
        };
        h.run_clients(ms(4_000), during).await;
        h.finish().await;
    });
}
