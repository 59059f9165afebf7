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
        let largest = std::cell::Cell::new(0);
        let during = async {
            for _ in 0..80 {
                tokio::time::sleep(ms(50)).await;
                for &id in &h.servers {
                    let persister = h.cluster.net().persister(id).expect("a server");
                    let size = RaftStorage::state_size(persister.as_ref()).expect("reads");
                    assert!(
                        size <= 8 * max_raft_state,
                        "raft state of {id} is {size} bytes"
                    );
                    largest.set(largest.get().max(size));
                }
            }
        };
        h.run_clients(ms(4_000), during).await;
        // Tighter than 6.824's bound: a server snapshots after about half of max_raft_state
        // bytes of commands, so its Raft state stays under max_raft_state, and it does not
        // snapshot needlessly often either (the largest state seen is about 370 bytes).
        let largest = largest.get();
        assert!(
            (max_raft_state / 5..=max_raft_state).contains(&largest),
            "the largest raft state seen is {largest} bytes; snapshots are taken at the wrong pace"
        );
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

/// A leader cut off from the majority still takes commands it can never commit. When it
/// rejoins, the new leader's entries (a no-op, then other clerks' commands) take those indices,
/// and the old leader applies them: each waiter must hear NotCommitted, never Ok, because its
/// own command was not applied. The partition is short so that the replies come before the
/// server's commit timeout; clerks 100.. and 200 all start at sequence number 1, so a check of
/// the index, the clerk or the sequence number alone does not suffice.
#[test]
fn a_deposed_leader_does_not_acknowledge_commands_that_lost_their_index() {
    use troupe_actors::client::Outcome;
    use troupe_actors::kv::clerk::Clerk;
    use troupe_messages::kv::{KvOp, KvReply, KvRequest};
    use troupe_messages::raft::GetStatus;
    use troupe_runtime::{ActorPath, NodeId};
    simulate(211, |seed| async move {
        let h = KvHarness::new(seed, 3, 2, true, None);
        tokio::time::sleep(ms(1_000)).await;
        let mut leader = None;
        for &id in &h.servers {
            let node = h.cluster.net().node(id).expect("up");
            let status = node
                .call(&ActorPath::new(id, "raft"), GetStatus, ms(100))
                .await;
            if status.is_ok_and(|s| s.is_leader) {
                leader = Some(id);
            }
        }
        let leader = leader.expect("a leader after 1 s");
        let rest: Vec<NodeId> = h
            .servers
            .iter()
            .copied()
            .filter(|&id| id != leader)
            .collect();
        let (cut_off, majority) = (h.cluster.up(4), h.cluster.up(5));
        let old_side = vec![leader, cut_off.id()];
        let new_side: Vec<NodeId> = rest.iter().copied().chain([majority.id()]).collect();
        h.cluster.net().partition(&[&old_side, &new_side]);
        let lost = (0..4u64).map(|i| {
            let node = cut_off.clone();
            async move {
                let request = KvRequest {
                    client: (100 + i).into(),
                    seq: 1,
                    op: KvOp::Append {
                        key: "v".into(),
                        value: format!("lost{i};"),
                    },
                };
                let sent = tokio::time::Instant::now();
                let reply = node
                    .call(&ActorPath::new(leader, "kv"), request, ms(3_000))
                    .await;
                (reply, sent.elapsed())
            }
        });
        let won = async {
            let mut clerk = Clerk::new(majority.clone(), rest.clone(), 200);
            for i in 0..4 {
                let op = KvOp::Append {
                    key: "v".into(),
                    value: format!("won{i};"),
                };
                assert_eq!(clerk.run(op, ms(2_000)).await, Outcome::Done(None));
            }
            h.cluster.heal();
        };
        let (replies, ()) = tokio::join!(futures_util::future::join_all(lost), won);
        for (reply, took) in &replies {
            assert!(
                !matches!(reply, Ok(KvReply::Ok { .. })),
                "a command that was never committed was acknowledged: {replies:?}"
            );
            // Answered when the new leader's entries were applied, not by the commit timeout
            // (1 s): otherwise this test would not look at the answer it is about.
            assert!(
                reply.is_ok() && *took < ms(900),
                "not answered on the apply: {replies:?}"
            );
        }
        let mut reader = Clerk::new(majority.clone(), h.servers.clone(), 300);
        let read = reader.run(KvOp::Get { key: "v".into() }, ms(2_000)).await;
        assert_eq!(read, Outcome::Done(Some("won0;won1;won2;won3;".into())));
    });
}

/// On a reliable network a leader answers Ok to every request it takes, also when many are in
/// flight at once: a waiter is answered when its own index is applied, not before.
#[test]
fn a_leader_acknowledges_every_concurrent_request_on_a_reliable_network() {
    use troupe_messages::kv::{KvOp, KvReply, KvRequest};
    use troupe_messages::raft::GetStatus;
    use troupe_runtime::ActorPath;
    simulate(212, |seed| async move {
        let h = KvHarness::new(seed, 3, 1, true, None);
        tokio::time::sleep(ms(1_000)).await;
        let mut leader = None;
        for &id in &h.servers {
            let node = h.cluster.net().node(id).expect("up");
            let status = node
                .call(&ActorPath::new(id, "raft"), GetStatus, ms(100))
                .await;
            if status.is_ok_and(|s| s.is_leader) {
                leader = Some(id);
            }
        }
        let leader = leader.expect("a leader after 1 s");
        let client = h.cluster.up(4);
        let requests = (0..8u64).map(|i| {
            let node = client.clone();
            async move {
                let request = KvRequest {
                    client: (100 + i).into(),
                    seq: 1,
                    op: KvOp::Append {
                        key: "v".into(),
                        value: "x".into(),
                    },
                };
                node.call(&ActorPath::new(leader, "kv"), request, ms(3_000))
                    .await
            }
        });
        let replies = futures_util::future::join_all(requests).await;
        for reply in &replies {
            assert!(
                matches!(reply, Ok(KvReply::Ok { value: None })),
                "{replies:?}"
            );
        }
    });
}

/// A deposed leader that still believes it leads must not answer a get from its own state: the
/// majority has moved on without it. (Without CheckQuorum it believes so for as long as the
/// partition lasts, which makes the stale read certain rather than a race.)
#[test]
fn a_leader_cut_off_from_the_majority_serves_no_stale_reads() {
    use troupe_actors::client::Outcome;
    use troupe_actors::kv::clerk::Clerk;
    use troupe_messages::kv::{KvOp, KvReply, KvRequest};
    use troupe_messages::raft::GetStatus;
    use troupe_runtime::{ActorPath, NodeId};
    simulate(213, |seed| async move {
        let h = KvHarness::without_check_quorum(seed, 3, 2);
        let (cut_off, majority) = (h.cluster.up(4), h.cluster.up(5));
        let put = |value: &str| KvOp::Put {
            key: "k".into(),
            value: value.into(),
        };
        let mut clerk = Clerk::new(majority.clone(), h.servers.clone(), 200);
        assert_eq!(clerk.run(put("old"), ms(2_000)).await, Outcome::Done(None));
        let mut leader = None;
        for &id in &h.servers {
            let node = h.cluster.net().node(id).expect("up");
            let status = node
                .call(&ActorPath::new(id, "raft"), GetStatus, ms(100))
                .await;
            if status.is_ok_and(|s| s.is_leader) {
                leader = Some(id);
            }
        }
        let leader = leader.expect("a leader after a committed put");
        let rest: Vec<NodeId> = h
            .servers
            .iter()
            .copied()
            .filter(|&id| id != leader)
            .collect();
        let new_side: Vec<NodeId> = rest.iter().copied().chain([majority.id()]).collect();
        h.cluster
            .net()
            .partition(&[&[leader, cut_off.id()], &new_side]);
        let mut clerk = Clerk::new(majority.clone(), rest, 201);
        assert_eq!(clerk.run(put("new"), ms(2_000)).await, Outcome::Done(None));
        let get = KvRequest {
            client: 100.into(),
            seq: 1,
            op: KvOp::Get { key: "k".into() },
        };
        let reply = cut_off
            .call(&ActorPath::new(leader, "kv"), get, ms(2_000))
            .await;
        assert!(
            !matches!(&reply, Ok(KvReply::Ok { value: Some(v) }) if v.as_str() == "old"),
            "a stale read from the cut-off leader: {reply:?}"
        );
        assert!(matches!(reply, Ok(KvReply::NotCommitted)), "{reply:?}");
    });
}
