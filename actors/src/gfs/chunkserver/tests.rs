//! The chunkserver in virtual time, against a fake master (see `harness`): data push and
//! record append across three replicas, leases, versions, read confirmation, corruption and
//! repair, clones, and chunks surviving a crash.

mod harness;

use super::{ChunkserverFiles, InjectCorruption};
use harness::{data_id, gfs, gfs_over, leader, record, Book, H, V1, V2};
use std::time::Duration;
use troupe_messages::gfs::{
    AppliedAt, ApplyMutation, ChunkAck, ChunkRefusal, ChunkVersion, CloneChunk, CreateChunk,
    Mutate, MutateReply, MutationKind, NewVersion, PushData, PushReply, ReadReply,
};
use troupe_messages::NodeId;
use troupe_runtime::testkit::simulate;
#[test]
fn a_record_append_lands_at_the_same_offset_on_every_replica() {
    simulate(1, |seed| async move {
        let g = gfs(seed, leader());
        g.chunk(2, &[2, 3, 4]).await;
        let (r1, r2) = (record(1, 100), record(2, 300));
        g.push(1, &r1, &[2, 3, 4]).await;
        g.push(2, &r2, &[3, 4, 2]).await;
        assert_eq!(g.append(2, 1).await, MutateReply::Appended { offset: 0 });
        let at = r1.len() as u64;
        assert_eq!(g.append(2, 2).await, MutateReply::Appended { offset: at });
        // Two appends at once are ordered: each gets its own offset.
        let (r3, r4) = (record(3, 50), record(4, 70));
        g.push(3, &r3, &[4, 3, 2]).await;
        g.push(4, &r4, &[2, 4, 3]).await;
        let (a3, a4) = tokio::join!(g.append(2, 3), g.append(2, 4));
        let (MutateReply::Appended { offset: o3 }, MutateReply::Appended { offset: o4 }) =
            (&a3, &a4)
        else {
            panic!("appends refused: {a3:?} {a4:?}");
        };
        let (o3, o4) = (*o3, *o4);
        assert_ne!(o3, o4);
        let whole = g.read_all(2).await;
        assert_eq!(whole.len(), r1.len() + r2.len() + r3.len() + r4.len());
        for n in [2, 3, 4] {
            g.wait_confirmed(n).await;
            let read = g.read(n, at, r2.len() as u64).await;
            assert_eq!(
                read,
                ReadReply::Data {
                    version: V2,
                    bytes: r2.clone()
                },
                "n{n}"
            );
            assert_eq!(g.read_all(n).await, whole, "n{n}");
        }
        let start = o3 as usize;
        assert_eq!(&whole[start..start + r3.len()], &r3[..]);
        let status = g.status(2).await;
        assert_eq!(status.leases.len(), 1);
        assert_eq!((status.leases[0].handle, status.leases[0].version), (H, V2));
        assert!(status.reads >= 1);
    });
}

#[test]
fn a_mutation_waits_for_a_pending_lease_and_checks_its_data() {
    simulate(10, |seed| async move {
        let g = gfs(seed, leader());
        g.push(1, &record(1, 100), &[2, 3, 4]).await;
        for n in [2, 3, 4] {
            let created = g
                .call(
                    n,
                    CreateChunk {
                        handle: H,
                        version: V1,
                    },
                )
                .await;
            assert_eq!(created, ChunkAck::Done);
        }
        for n in [3, 4] {
            let bumped = NewVersion {
                handle: H,
                version: V2,
                primary_of: None,
            };
            assert_eq!(g.call(n, bumped).await, ChunkAck::Done);
        }
        let secondaries = Some(vec![NodeId(3), NodeId(4)]);
        let named = NewVersion {
            handle: H,
            version: V2,
            primary_of: secondaries,
        };
        assert_eq!(g.call(2, named).await, ChunkAck::Done);
        // At once: the primary asks for its lease and waits for it.
        assert_eq!(g.append(2, 1).await, MutateReply::Appended { offset: 0 });
        assert_eq!(
            g.append(2, 99).await,
            MutateReply::Failed(ChunkRefusal::NoData)
        );
        let (max, big) = (256 * 1024, record(2, 256 * 1024));
        g.push(2, &big, &[2, 3, 4]).await;
        let too_large = ChunkRefusal::TooLarge {
            len: big.len() as u64,
            max,
        };
        assert_eq!(g.append(2, 2).await, MutateReply::Failed(too_large));
        // A write at an offset the client chose.
        g.push(3, b"written", &[4, 2, 3]).await;
        let write = Mutate {
            handle: H,
            version: V2,
            data: data_id(3),
            kind: MutationKind::Write { offset: 10 },
        };
        assert_eq!(g.call(2, write.clone()).await, MutateReply::Written);
        // The same request again (the network may deliver one twice): the same answer.
        assert_eq!(g.call(2, write.clone()).await, MutateReply::Written);
        // Other requests bring their own data (a mutation's data is its own).
        g.push(4, b"written", &[4, 2, 3]).await;
        let past_end = Mutate {
            data: data_id(4),
            kind: MutationKind::Write {
                offset: (1 << 20) - 3,
            },
            ..write
        };
        assert_eq!(
            g.call(2, past_end).await,
            MutateReply::Failed(ChunkRefusal::OutOfChunk)
        );
        g.push(5, b"written", &[4, 2, 3]).await;
        let wrong = Mutate {
            data: data_id(5),
            version: V1,
            ..write
        };
        let refused = ChunkRefusal::WrongVersion { have: V2, want: V1 };
        assert_eq!(g.call(2, wrong).await, MutateReply::Failed(refused));
        let whole = g.read_all(2).await;
        assert_eq!(&whole[10..17], b"written");
        for n in [3, 4] {
            g.wait_confirmed(n).await;
            assert_eq!(g.read_all(n).await, whole, "n{n}");
        }
    });
}

#[test]
fn a_push_to_a_down_replica_fails_at_it() {
    simulate(11, |seed| async move {
        let g = gfs(seed, leader());
        g.cluster.crash(4);
        let push = PushData {
            id: data_id(1),
            data: vec![1; 100],
            forward: vec![NodeId(3), NodeId(4)],
        };
        let failed = PushReply::Failed { at: NodeId(4) };
        assert_eq!(g.call(2, push.clone()).await, failed);
        let to_itself = PushData {
            forward: vec![NodeId(3)],
            ..push
        };
        assert_eq!(g.call(2, to_itself).await, PushReply::Stored);
    });
}

#[test]
fn a_mutation_without_a_started_lease_is_refused() {
    simulate(2, |seed| async move {
        let g = gfs(
            seed,
            Book {
                extend: false,
                ..leader()
            },
        );
        g.chunk(2, &[2, 3, 4]).await;
        g.push(1, &record(1, 10), &[2, 3, 4]).await;
        assert_eq!(
            g.append(2, 1).await,
            MutateReply::Failed(ChunkRefusal::NotPrimary)
        );
        // A secondary is never primary.
        assert_eq!(
            g.append(3, 1).await,
            MutateReply::Failed(ChunkRefusal::NotPrimary)
        );
        // The heartbeats asked for the lease.
        assert!(g
            .book
            .borrow()
            .heartbeats
            .iter()
            .any(|h| h.server == NodeId(2) && h.extend == vec![H]));
        assert!(g.status(2).await.leases.is_empty());
    });
}

#[test]
fn a_lease_that_ran_out_refuses_mutations() {
    simulate(3, |seed| async move {
        let g = gfs(seed, leader());
        g.chunk(2, &[2, 3, 4]).await;
        g.push(1, &record(1, 10), &[2, 3, 4]).await;
        assert_eq!(g.append(2, 1).await, MutateReply::Appended { offset: 0 });
        // A duplicate of that request gets the same answer, not a second record.
        assert_eq!(g.append(2, 1).await, MutateReply::Appended { offset: 0 });
        g.book.borrow_mut().extend = false;
        g.cluster.run_for(Duration::from_millis(2_500)).await;
        g.push(2, &record(2, 10), &[2, 3, 4]).await;
        assert_eq!(
            g.append(2, 2).await,
            MutateReply::Failed(ChunkRefusal::NotPrimary)
        );
        let status = g.status(2).await;
        assert_eq!(status.leases.len(), 1);
        assert!(status.leases[0].until_ns <= g.cluster.up(2).now_ns());
    });
}

#[test]
fn a_secondary_at_another_version_refuses() {
    simulate(4, |seed| async move {
        let g = gfs(seed, leader());
        for n in [2, 3, 4] {
            assert_eq!(
                g.call(
                    n,
                    CreateChunk {
                        handle: H,
                        version: V1
                    }
                )
                .await,
                ChunkAck::Done
            );
        }
        // n4 misses the new version.
        let secondaries = vec![NodeId(3), NodeId(4)];
        let named = NewVersion {
            handle: H,
            version: V2,
            primary_of: Some(secondaries),
        };
        assert_eq!(g.call(2, named).await, ChunkAck::Done);
        let bumped = NewVersion {
            handle: H,
            version: V2,
            primary_of: None,
        };
        assert_eq!(g.call(3, bumped).await, ChunkAck::Done);
        g.wait_for(2, "the lease to start", |s| !s.leases.is_empty())
            .await;
        g.push(1, &record(1, 10), &[2, 3, 4]).await;
        let refused = MutateReply::Failed(ChunkRefusal::SecondaryFailed(NodeId(4)));
        assert_eq!(g.append(2, 1).await, refused);
        let apply = ApplyMutation {
            handle: H,
            version: V2,
            data: data_id(1),
            at: AppliedAt::Append { offset: 0 },
        };
        let wrong = ChunkRefusal::WrongVersion { have: V1, want: V2 };
        assert_eq!(g.call(4, apply).await, ChunkAck::Failed(wrong.clone()));
        // Nor does it serve a read of the newer version, nor take an older one.
        g.wait_confirmed(4).await;
        assert_eq!(g.read(4, 0, 10).await, ReadReply::Failed(wrong));
        let older = NewVersion {
            handle: H,
            version: V1,
            primary_of: None,
        };
        let refused = ChunkAck::Failed(ChunkRefusal::WrongVersion { have: V2, want: V1 });
        assert_eq!(g.call(3, older).await, refused);
    });
}

#[test]
fn an_unconfirmed_server_refuses_reads() {
    simulate(5, |seed| async move {
        let g = gfs(
            seed,
            Book {
                leader: false,
                ..leader()
            },
        );
        assert_eq!(
            g.call(
                2,
                CreateChunk {
                    handle: H,
                    version: V2
                }
            )
            .await,
            ChunkAck::Done
        );
        g.cluster.run_for(Duration::from_millis(300)).await;
        assert_eq!(
            g.read(2, 0, 10).await,
            ReadReply::Failed(ChunkRefusal::Unconfirmed)
        );
        g.book.borrow_mut().leader = true;
        g.wait_confirmed(2).await;
        assert_eq!(
            g.read(2, 0, 10).await,
            ReadReply::Data {
                version: V2,
                bytes: Vec::new()
            }
        );
        // Cut off from the master, it stops serving within the serve time.
        g.book.borrow_mut().leader = false;
        g.cluster.run_for(Duration::from_millis(700)).await;
        assert_eq!(
            g.read(2, 0, 10).await,
            ReadReply::Failed(ChunkRefusal::Unconfirmed)
        );
    });
}

#[test]
fn a_corrupt_block_is_refused_and_repaired_from_another_replica() {
    simulate(6, |seed| async move {
        let g = gfs(seed, leader());
        g.chunk(2, &[2, 3, 4]).await;
        g.push(1, &record(1, 1000), &[2, 3, 4]).await;
        assert_eq!(g.append(2, 1).await, MutateReply::Appended { offset: 0 });
        let good = g.read_all(2).await;
        let addr = g
            .servers
            .borrow()
            .get(&NodeId(3))
            .cloned()
            .expect("n3 runs");
        let injected = addr
            .send(InjectCorruption {
                handle: H,
                offset: 10,
            })
            .await;
        assert_eq!(injected, Ok(Ok(())));
        g.wait_confirmed(3).await;
        assert_eq!(
            g.read(3, 0, 100).await,
            ReadReply::Failed(ChunkRefusal::Corrupt { block: 0 })
        );
        g.wait_for(3, "the block to be repaired", |s| s.repaired == 1)
            .await;
        assert_eq!(g.read_all(3).await, good);
        let status = g.status(3).await;
        assert_eq!((status.corrupt_found, status.repaired), (1, 1));
        let reports = &g.book.borrow().corrupt;
        assert_eq!(reports.len(), 1);
        assert_eq!(
            (reports[0].server, reports[0].handle, reports[0].block),
            (NodeId(3), H, 0)
        );
    });
}

#[test]
fn clone_copies_a_chunk() {
    simulate(7, |seed| async move {
        let g = gfs(seed, leader());
        g.chunk(2, &[2, 3]).await;
        g.push(1, &record(1, 200_000), &[2, 3]).await;
        assert_eq!(g.append(2, 1).await, MutateReply::Appended { offset: 0 });
        let good = g.read_all(2).await;
        let clone = CloneChunk {
            handle: H,
            version: V2,
            from: NodeId(2),
        };
        assert_eq!(g.call(4, clone.clone()).await, ChunkAck::Done);
        g.wait_confirmed(4).await;
        assert_eq!(g.read_all(4).await, good);
        let status = g.status(4).await;
        assert_eq!(status.cloned, 1);
        assert_eq!(status.chunks, vec![(H, V2, good.len() as u64)]);
        // From a source at another version, nothing is copied.
        let stale = CloneChunk {
            version: ChunkVersion(3),
            ..clone
        };
        let refused = ChunkAck::Failed(ChunkRefusal::WrongVersion {
            have: V2,
            want: ChunkVersion(3),
        });
        assert_eq!(g.call(4, stale).await, refused);
        assert_eq!(g.status(4).await.chunks, vec![(H, V2, good.len() as u64)]);
    });
}

/// A chunk written before n3 crashes is there, whole, after it restarts.
async fn survives_a_crash(g: harness::Gfs) {
    g.chunk(2, &[2, 3, 4]).await;
    g.push(1, &record(1, 40_000), &[2, 3, 4]).await;
    assert_eq!(g.append(2, 1).await, MutateReply::Appended { offset: 0 });
    let good = g.read_all(2).await;
    g.cluster.crash(3);
    g.cluster.run_for(Duration::from_millis(100)).await;
    g.cluster.restart(3).expect("n3 restarts");
    g.wait_confirmed(3).await;
    let status = g.status(3).await;
    assert_eq!(status.incarnation, 1);
    assert_eq!(status.chunks, vec![(H, V2, good.len() as u64)]);
    assert_eq!(g.read_all(3).await, good);
}

#[test]
fn a_chunk_survives_a_crash_and_restart() {
    simulate(8, |seed| async move {
        survives_a_crash(gfs(seed, leader())).await
    });
}

#[test]
fn a_chunk_in_a_directory_survives_a_crash_and_restart() {
    let base = std::env::temp_dir().join(format!("troupe-gfs-cs-{}", std::process::id()));
    let dirs = base.clone();
    simulate(8, |seed| async move {
        let files = move |n: NodeId| ChunkserverFiles::Dir(dirs.join(n.to_string()));
        survives_a_crash(gfs_over(seed, leader(), files)).await
    });
    let _ = std::fs::remove_dir_all(base);
}

#[test]
fn the_master_deletes_stale_replicas_through_the_heartbeat() {
    simulate(9, |seed| async move {
        let g = gfs(seed, leader());
        g.chunk(2, &[2, 3, 4]).await;
        g.book.borrow_mut().delete = vec![H];
        g.wait_for(4, "the replica to be deleted", |s| s.chunks.is_empty())
            .await;
        let reported = g
            .book
            .borrow()
            .heartbeats
            .iter()
            .any(|h| h.server == NodeId(4) && h.chunks == vec![(H, V2)]);
        assert!(reported);
    });
}

/// Each planted bug of the chunkserver fails a test above.
#[cfg(feature = "planted-bugs")]
#[test]
fn the_planted_bugs_are_caught() {
    use troupe_runtime::plant::{fails_with, Bug};
    assert!(fails_with(
        Bug::StaleReplicaServed,
        an_unconfirmed_server_refuses_reads
    ));
    assert!(fails_with(
        Bug::AckBeforeReplicas,
        a_secondary_at_another_version_refuses
    ));
}
