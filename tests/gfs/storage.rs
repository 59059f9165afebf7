//! Replicas: a stale one coming back, a corrupt block, and a chunkserver that stays down.

use crate::harness::{ms, GfsHarness};
use troupe::systems::gfs::CHUNKSERVER;
use troupe_messages::gfs::{ChunkRefusal, ReadChunk, ReadReply};
use troupe_runtime::testkit::simulate;
use troupe_runtime::ActorPath;

#[test]
fn a_stale_replica_that_comes_back_is_never_served() {
    bring_back_a_stale_replica();
}

/// A chunkserver that serves without a confirmed, current version: the test must catch it.
#[cfg(feature = "planted-bugs")]
#[test]
fn a_stale_replica_served_is_caught() {
    use troupe_runtime::plant::{fails_with, Bug};
    assert!(
        fails_with(Bug::StaleReplicaServed, bring_back_a_stale_replica),
        "a stale replica served a read and the test did not notice"
    );
}

fn bring_back_a_stale_replica() {
    simulate(144, |seed| async move {
        let h = GfsHarness::new(seed, 2);
        h.serving_master(ms(5_000)).await;
        let mut client = h.client();
        client.create("/log", ms(5_000)).await.expect("create");
        client
            .record_append("/log", b"first", ms(5_000))
            .await
            .expect("append");
        let before = h.locate("/log", 0).await;
        let lease = h.lease(&before, ms(5_000)).await;
        let stale = *lease.secondaries.first().expect("a secondary");
        h.cluster.crash(stale.0);
        // Appends go on without it; the lease it missed gives the chunk a new version.
        let appends = h
            .append_for("/log", ms(4_000), async {
                tokio::time::sleep(ms(3_000)).await;
            })
            .await;
        let after = h.locate("/log", 0).await;
        assert!(after.version > before.version, "{before:?} -> {after:?}");
        assert!(!after.replicas.contains(&stale));
        h.cluster.restart(stale.0);
        // From the moment it is back, it never serves the chunk: not at the version it has,
        // not at the current one.
        let node = h.own_node();
        let path = ActorPath::new(stale, CHUNKSERVER);
        let end = tokio::time::Instant::now() + ms(2_000);
        while tokio::time::Instant::now() < end {
            for version in [before.version, after.version] {
                let read = ReadChunk {
                    handle: before.handle,
                    version,
                    offset: 0,
                    len: 1 << 20,
                };
                if let Ok(reply) = node.call(&path, read, ms(100)).await {
                    assert!(
                        matches!(reply, ReadReply::Failed(_)),
                        "the stale replica served {version}: {reply:?}"
                    );
                }
            }
            tokio::time::sleep(ms(20)).await;
        }
        // Its stale copy is gone (or replaced by a clone at the current version).
        let status = h.chunkserver(stale).await.expect("it answers");
        assert!(
            status
                .chunks
                .iter()
                .all(|&(handle, version, _)| handle != before.handle || version >= after.version),
            "{status:?}"
        );
        h.check_acked(&appends).await;
    });
}

#[test]
fn a_chunkserver_that_stays_down_has_its_chunks_cloned_to_the_target_count() {
    simulate(145, |seed| async move {
        let h = GfsHarness::new(seed, 2);
        h.serving_master(ms(5_000)).await;
        let mut client = h.client();
        for f in 0..3 {
            let path = format!("/f{f}");
            client.create(&path, ms(5_000)).await.expect("create");
            client
                .record_append(&path, b"data", ms(5_000))
                .await
                .expect("append");
        }
        let location = h.locate("/f0", 0).await;
        assert_eq!(location.replicas.len(), 3);
        let gone = location.replicas[0];
        h.cluster.crash(gone.0);
        let end = tokio::time::Instant::now() + ms(15_000);
        loop {
            if let Some((_, status)) = h.master_status().await {
                if status.under_replicated == 0 && !status.live_servers.contains(&gone) {
                    break;
                }
            }
            assert!(
                tokio::time::Instant::now() < end,
                "chunks stayed under-replicated"
            );
            tokio::time::sleep(ms(100)).await;
        }
        for f in 0..3 {
            let location = h.locate(&format!("/f{f}"), 0).await;
            assert_eq!(location.replicas.len(), 3, "{location:?}");
            assert!(!location.replicas.contains(&gone));
        }
        let mut reader = h.client();
        let found = reader.records("/f0", ms(5_000)).await.expect("read");
        assert_eq!(found.records.len(), 1);
    });
}

#[test]
fn a_corrupt_block_is_found_on_read_and_repaired_from_another_replica() {
    simulate(146, |seed| async move {
        let h = GfsHarness::new(seed, 2);
        h.serving_master(ms(5_000)).await;
        let mut client = h.client();
        client.create("/log", ms(5_000)).await.expect("create");
        for i in 0..20 {
            client
                .record_append("/log", format!("record {i}").as_bytes(), ms(5_000))
                .await
                .expect("append");
        }
        let location = h.locate("/log", 0).await;
        let victim = location.replicas[0];
        crate::harness::corrupt_first_block(&h, victim, location.handle);
        let read = ReadChunk {
            handle: location.handle,
            version: location.version,
            offset: 0,
            len: 1 << 16,
        };
        let path = ActorPath::new(victim, CHUNKSERVER);
        let reply = h
            .own_node()
            .call(&path, read.clone(), ms(500))
            .await
            .expect("the replica answers");
        assert!(
            matches!(reply, ReadReply::Failed(ChunkRefusal::Corrupt { block: 0 })),
            "{reply:?}"
        );
        // Readers never see the corruption: they read another replica.
        let mut reader = h.client();
        let found = reader.records("/log", ms(5_000)).await.expect("read");
        assert_eq!(found.records.len(), 20);
        // The replica repairs the block from a good copy.
        let end = tokio::time::Instant::now() + ms(5_000);
        loop {
            let reply = h.own_node().call(&path, read.clone(), ms(500)).await;
            if matches!(reply, Ok(ReadReply::Data { .. })) {
                break;
            }
            assert!(tokio::time::Instant::now() < end, "not repaired: {reply:?}");
            tokio::time::sleep(ms(50)).await;
        }
        let status = h.chunkserver(victim).await.expect("it answers");
        assert!(
            status.corrupt_found >= 1 && status.repaired >= 1,
            "{status:?}"
        );
    });
}
