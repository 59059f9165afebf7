//! The master actor in virtual time, on the deployment of [`super::harness`].

use super::harness::{ms, sorted, start, CLIENT, MASTERS, SERVERS};
use super::MasterOptions;
use crate::gfs::MASTER;
use crate::raft::peer::NAME as RAFT;
use std::time::Duration;
use troupe_messages::gfs::{
    ChunkVersion, CreateChunk, MasterOp, MasterRefusal, MasterReply, MasterRequest, NewVersion,
    RepairFrom, ReportCorrupt,
};
use troupe_messages::raft::GetStatus;
use troupe_messages::{ActorPath, NodeId};
use troupe_runtime::testkit::simulate;

#[test]
fn create_add_chunk_and_locate_through_whoever_leads() {
    simulate(1401, |seed| async move {
        let gfs = start(seed, 1000);
        let leader = gfs.serving(&SERVERS).await;
        let follower = MASTERS.iter().copied().find(|&m| m != leader).unwrap();
        let path = ActorPath::new(NodeId(follower), MASTER);
        let list = MasterRequest {
            op: MasterOp::List { dir: "/".into() },
        };
        let reply = gfs.cluster.up(CLIENT).call(&path, list, ms(500)).await;
        assert_eq!(
            reply.unwrap(),
            MasterReply::Refused(MasterRefusal::NotLeader {
                leader: Some(NodeId(leader))
            })
        );
        let chunk = gfs.file_with_chunk("/logs/a").await;
        assert_eq!((chunk.index, chunk.version), (0, ChunkVersion(1)));
        assert_eq!(chunk.replicas.len(), 3);
        for &server in &chunk.replicas {
            let created = gfs.disk(server).created.clone();
            assert_eq!(
                created,
                vec![CreateChunk {
                    handle: chunk.handle,
                    version: ChunkVersion(1)
                }]
            );
        }
        // At once, before any heartbeat reports the new chunk.
        let locate = MasterOp::Locate {
            path: "/logs/a".into(),
            index: 0,
        };
        match gfs.ask(locate).await {
            MasterReply::Located(at) => {
                assert_eq!((at.handle, at.version), (chunk.handle, chunk.version));
                assert_eq!(at.replicas, sorted(chunk.replicas.clone()));
            }
            other => panic!("not located: {other:?}"),
        }
        let again = MasterOp::AddChunk {
            path: "/logs/a".into(),
            index: 0,
        };
        match gfs.ask(again).await {
            MasterReply::Located(at) => assert_eq!(at.handle, chunk.handle, "the same chunk"),
            other => panic!("not located: {other:?}"),
        }
        let beyond = MasterOp::AddChunk {
            path: "/logs/a".into(),
            index: 2,
        };
        assert_eq!(
            gfs.ask(beyond).await,
            MasterReply::Refused(MasterRefusal::NoChunkAt { index: 2 })
        );
        let stat = MasterOp::Stat {
            path: "/logs/a".into(),
        };
        assert_eq!(gfs.ask(stat).await, MasterReply::Stat { chunks: 1 });
        let create = MasterOp::Create {
            path: "/logs/a".into(),
        };
        assert_eq!(
            gfs.ask(create).await,
            MasterReply::Refused(MasterRefusal::Exists("/logs/a".into()))
        );
        let bad = MasterOp::Create { path: "rel".into() };
        assert_eq!(
            gfs.ask(bad).await,
            MasterReply::Refused(MasterRefusal::BadPath("rel".into()))
        );
        let listed = gfs.ask(MasterOp::List { dir: "/".into() }).await;
        assert_eq!(listed, MasterReply::Listed(vec!["/logs/a".into()]));
        let delete = MasterOp::Delete {
            path: "/logs/a".into(),
        };
        assert_eq!(gfs.ask(delete).await, MasterReply::Done);
        let listed = gfs.ask(MasterOp::List { dir: "/".into() }).await;
        assert_eq!(listed, MasterReply::Listed(vec![]));
        let status = gfs.inspect(leader).await.unwrap();
        assert_eq!((status.files, status.chunks), (0, 1), "reclaimed later");
        // After the grace period the file is reclaimed, and its chunk's replicas deleted.
        let disks = gfs.disks.clone();
        let replicas = chunk.replicas.clone();
        let grace = gfs.plan.timing.grace;
        gfs.cluster
            .wait_until("the replicas are deleted", grace * 2, || {
                replicas
                    .iter()
                    .all(|s| disks[&s.0].borrow().deleted.contains(&chunk.handle))
            })
            .await
            .expect("the orphaned replicas deleted");
        let status = gfs.inspect(leader).await.unwrap();
        assert_eq!(status.chunks, 0);
    });
}

#[test]
fn a_new_lease_bumps_the_version_tells_every_replica_and_the_primary_extend_starts_it() {
    simulate(1402, |seed| async move {
        let gfs = start(seed, 1000);
        gfs.serving(&SERVERS).await;
        let chunk = gfs.file_with_chunk("/f").await;
        let (lease, _) = gfs.lease(chunk.handle).await;
        assert!(
            lease.version > chunk.version,
            "a new lease bumps the version"
        );
        let mut all = lease.secondaries.clone();
        all.push(lease.primary);
        assert_eq!(sorted(all), sorted(chunk.replicas.clone()));
        for &server in &chunk.replicas {
            let disk = gfs.disk(server);
            let primary_of = (server == lease.primary).then(|| lease.secondaries.clone());
            assert_eq!(
                disk.versions,
                vec![NewVersion {
                    handle: chunk.handle,
                    version: lease.version,
                    primary_of
                }],
                "{server} told the new version"
            );
            assert_eq!(disk.chunks[&chunk.handle], lease.version);
        }
        gfs.started(lease.primary, chunk.handle).await;
        for &server in &lease.secondaries {
            assert!(gfs.disk(server).extended.is_empty(), "only the primary");
        }
        // While it runs: the same lease, no new version.
        let (again, _) = gfs.lease(chunk.handle).await;
        assert_eq!(again, lease);
        let locate = MasterOp::Locate {
            path: "/f".into(),
            index: 0,
        };
        match gfs.ask(locate).await {
            MasterReply::Located(at) => assert_eq!(at.version, lease.version),
            other => panic!("not located: {other:?}"),
        }
        // A corrupt block is repaired from the other up-to-date replicas; only the leader says.
        let reporter = lease.secondaries[0];
        let report = ReportCorrupt {
            server: reporter,
            handle: chunk.handle,
            block: 3,
        };
        let client = gfs.cluster.up(CLIENT);
        let mut answers = Vec::new();
        for m in MASTERS {
            let path = ActorPath::new(NodeId(m), MASTER);
            answers.push(client.call(&path, report.clone(), ms(500)).await.unwrap());
        }
        let mut others: Vec<NodeId> = chunk.replicas.clone();
        others.retain(|&s| s != reporter);
        let repair = RepairFrom::Replicas {
            version: lease.version,
            replicas: sorted(others),
        };
        assert_eq!(answers.iter().filter(|&a| *a == repair).count(), 1);
        assert_eq!(
            answers
                .iter()
                .filter(|&a| *a == RepairFrom::Unknown)
                .count(),
            2
        );
    });
}

#[test]
fn a_replica_that_misses_the_new_version_holds_the_lease_back_until_it_stops_serving() {
    simulate(1407, |seed| async move {
        let gfs = start(seed, 1000);
        gfs.serving(&SERVERS).await;
        let chunk = gfs.file_with_chunk("/m").await;
        // A new leader names no primary for a lease length and then some: let that pass.
        let deposed = MasterOptions::new(gfs.plan.clone()).deposed_within();
        gfs.cluster.run_for(gfs.plan.timing.lease + deposed).await;
        let missing = chunk.replicas[1];
        gfs.disks[&missing.0].borrow_mut().refuse_versions = true;
        let asked = gfs.now();
        let wait = match gfs
            .ask(MasterOp::Lease {
                handle: chunk.handle,
            })
            .await
        {
            MasterReply::Refused(MasterRefusal::WaitForLease { ms }) => ms,
            other => panic!("a lease one replica missed: {other:?}"),
        };
        gfs.disks[&missing.0].borrow_mut().refuse_versions = false;
        // The version the other replicas took with that lease.
        let told = gfs.disk(chunk.replicas[0]).chunks[&chunk.handle];
        assert!(told > chunk.version);
        let dead_after = gfs.plan.timing.dead_after.as_millis() as u64;
        assert!(wait > 0 && wait <= dead_after, "waits {wait} ms");
        // Still at the old version, the replica is stale and told to delete it.
        let disks = gfs.disks.clone();
        gfs.cluster
            .wait_until("the stale replica goes", Duration::from_secs(3), || {
                disks[&missing.0].borrow().deleted.contains(&chunk.handle)
            })
            .await
            .expect("the stale replica deleted");
        // Below the target, the lease is not extended but runs out; a clone restores the
        // target, and the next lease starts.
        let lease = loop {
            let (lease, _) = gfs.lease(chunk.handle).await;
            if lease.version > told {
                break lease;
            }
            gfs.cluster.run_for(ms(100)).await;
        };
        assert_eq!(lease.secondaries.len(), 2);
        gfs.started(lease.primary, chunk.handle).await;
        let started: Vec<u64> = SERVERS
            .iter()
            .flat_map(|&s| gfs.disk(NodeId(s)).extended_at.clone())
            .map(|(_, at)| at)
            .collect();
        let due = asked + (wait - 1) * 1_000_000;
        assert!(
            started.iter().all(|&at| at >= due),
            "a lease started before the stale replica stopped serving"
        );
    });
}

#[test]
fn after_the_leader_crashes_another_serves_the_same_state_and_waits_a_lease_length() {
    simulate(1403, |seed| async move {
        let gfs = start(seed, 1000);
        let old = gfs.serving(&SERVERS).await;
        let chunk = gfs.file_with_chunk("/a").await;
        assert_eq!(
            gfs.ask(MasterOp::Create { path: "/b".into() }).await,
            MasterReply::Done
        );
        let (lease, _) = gfs.lease(chunk.handle).await;
        gfs.started(lease.primary, chunk.handle).await;
        gfs.cluster.crash(old);
        let crashed = gfs.now();
        let new = gfs.serving(&SERVERS).await;
        assert_ne!(new, old);
        let listed = gfs.ask(MasterOp::List { dir: "/".into() }).await;
        assert_eq!(listed, MasterReply::Listed(vec!["/a".into(), "/b".into()]));
        let locate = MasterOp::Locate {
            path: "/a".into(),
            index: 0,
        };
        match gfs.ask(locate).await {
            MasterReply::Located(at) => {
                assert_eq!((at.handle, at.version), (chunk.handle, lease.version));
                assert_eq!(at.replicas, sorted(chunk.replicas.clone()));
            }
            other => panic!("not located: {other:?}"),
        }
        // Until a new lease is asked for, only the old leader extended the old one.
        let last_sent = gfs
            .disk(lease.primary)
            .extended
            .iter()
            .map(|&(_, sent)| sent)
            .max()
            .unwrap();
        assert!(last_sent <= crashed, "extended after the leader crashed");
        let (next, granted) = gfs.lease(chunk.handle).await;
        assert!(
            granted >= crashed + gfs.lease_ns(),
            "a lease {} ms after the leader crashed",
            (granted - crashed) / 1_000_000
        );
        assert!(next.version > lease.version, "a new lease, a new version");
    });
}

#[test]
fn all_masters_restart_and_recover_from_snapshot_and_log() {
    simulate(1404, |seed| async move {
        let gfs = start(seed, 3);
        gfs.serving(&SERVERS).await;
        let mut chunks = Vec::new();
        for i in 0..4 {
            chunks.push(gfs.file_with_chunk(&format!("/d/{i}")).await);
        }
        let (lease, _) = gfs.lease(chunks[0].handle).await;
        assert_eq!(
            gfs.ask(MasterOp::Delete {
                path: "/d/3".into()
            })
            .await,
            MasterReply::Done
        );
        let client = gfs.cluster.up(CLIENT);
        let raft = ActorPath::new(NodeId(1), RAFT);
        let status = client.call(&raft, GetStatus, ms(100)).await.unwrap();
        assert!(
            status.snapshot_index > 0,
            "a snapshot was taken: {status:?}"
        );
        for m in MASTERS {
            gfs.cluster.crash(m);
        }
        gfs.cluster.run_for(ms(100)).await;
        for m in MASTERS {
            gfs.cluster.restart(m);
        }
        gfs.serving(&SERVERS).await;
        let listed = gfs.ask(MasterOp::List { dir: "/d".into() }).await;
        let want: Vec<String> = (0..3).map(|i| format!("/d/{i}")).collect();
        assert_eq!(listed, MasterReply::Listed(want));
        for (i, chunk) in chunks.iter().enumerate().take(3) {
            let locate = MasterOp::Locate {
                path: format!("/d/{i}"),
                index: 0,
            };
            let version = if i == 0 {
                lease.version
            } else {
                ChunkVersion(1)
            };
            match gfs.ask(locate).await {
                MasterReply::Located(at) => {
                    assert_eq!((at.handle, at.version), (chunk.handle, version))
                }
                other => panic!("not located: {other:?}"),
            }
        }
        // Handles are never handed out twice.
        let more = gfs.file_with_chunk("/d/new").await;
        assert!(chunks.iter().all(|c| c.handle < more.handle));
    });
}

#[test]
fn a_dead_chunkservers_chunks_are_cloned_to_reach_the_target() {
    simulate(1405, |seed| async move {
        let gfs = start(seed, 1000);
        let leader = gfs.serving(&SERVERS).await;
        let chunk = gfs.file_with_chunk("/c").await;
        let spare = SERVERS
            .iter()
            .map(|&s| NodeId(s))
            .find(|s| !chunk.replicas.contains(s))
            .unwrap();
        let dead = chunk.replicas[0];
        gfs.cluster.crash(dead.0);
        let disks = gfs.disks.clone();
        gfs.cluster
            .wait_until("the chunk is cloned", Duration::from_secs(5), || {
                disks[&spare.0].borrow().chunks.contains_key(&chunk.handle)
            })
            .await
            .expect("a clone");
        gfs.cluster
            .wait_for(
                "the clone is counted",
                Duration::from_secs(5),
                ms(5),
                || async {
                    gfs.inspect(leader)
                        .await
                        .is_some_and(|s| s.under_replicated == 0)
                },
            )
            .await
            .expect("the target reached");
        let clones = gfs.disk(spare).clones.clone();
        assert_eq!(clones.len(), 1);
        assert_eq!(
            (clones[0].handle, clones[0].version),
            (chunk.handle, chunk.version)
        );
        assert!(chunk.replicas.contains(&clones[0].from) && clones[0].from != dead);
        let locate = MasterOp::Locate {
            path: "/c".into(),
            index: 0,
        };
        match gfs.ask(locate).await {
            MasterReply::Located(at) => {
                assert_eq!(at.replicas.len(), 3);
                assert!(at.replicas.contains(&spare) && !at.replicas.contains(&dead));
            }
            other => panic!("not located: {other:?}"),
        }
    });
}

#[test]
fn a_lease_whose_primary_stops_heartbeating_is_not_moved_before_it_expires() {
    simulate(1406, |seed| async move {
        let gfs = start(seed, 1000);
        gfs.serving(&SERVERS).await;
        // A new leader names no primary for a lease length (its predecessor's may run): past
        // that, and with no server to clone to, nothing but the lease's expiry holds a new
        // primary back.
        gfs.cluster.run_for(gfs.plan.timing.lease).await;
        let chunk = gfs.file_with_chunk("/p").await;
        let spare = SERVERS
            .iter()
            .copied()
            .find(|&s| !chunk.replicas.contains(&NodeId(s)))
            .unwrap();
        gfs.cluster.crash(spare);
        let (lease, _) = gfs.lease(chunk.handle).await;
        gfs.started(lease.primary, chunk.handle).await;
        // The primary is cut off from the masters, alive and acting on its lease.
        gfs.cluster.cut_off(lease.primary.0, &MASTERS);
        let (next, granted) = loop {
            let (now, at) = gfs.lease(chunk.handle).await;
            if now.primary != lease.primary {
                break (now, at);
            }
            assert_eq!(now, lease, "the same lease while it may run");
            tokio::time::sleep(ms(50)).await;
        };
        let last_sent = gfs
            .disk(lease.primary)
            .extended
            .iter()
            .filter(|&&(h, _)| h == chunk.handle)
            .map(|&(_, sent)| sent)
            .max()
            .unwrap();
        assert_ne!(next.primary, lease.primary);
        assert!(next.version > lease.version);
        assert!(
            granted >= last_sent + gfs.lease_ns(),
            "a new primary {} ms before the old lease ran out",
            (last_sent + gfs.lease_ns()).saturating_sub(granted) / 1_000_000
        );
    });
}

#[cfg(feature = "planted-bugs")]
#[test]
fn the_planted_bug_moves_a_lease_early_and_the_test_catches_it() {
    use troupe_runtime::plant::{fails_with, Bug};
    assert!(fails_with(
        Bug::NewPrimaryBeforeLeaseExpiry,
        a_lease_whose_primary_stops_heartbeating_is_not_moved_before_it_expires
    ));
}

#[test]
fn a_leader_cut_off_from_its_group_refuses_its_pending_calls_and_their_changes_are_lost() {
    simulate(1408, |seed| async move {
        let gfs = start(seed, 1000);
        let old = gfs.serving(&SERVERS).await;
        let others: Vec<u32> = MASTERS.iter().copied().filter(|&m| m != old).collect();
        gfs.cluster.cut_off(old, &others);
        let path = ActorPath::new(NodeId(old), MASTER);
        let create = MasterRequest {
            op: MasterOp::Create {
                path: "/lost".into(),
            },
        };
        let client = gfs.cluster.up(CLIENT);
        let reply = client.call(&path, create, Duration::from_secs(3)).await;
        assert!(
            matches!(
                reply,
                Ok(MasterReply::Refused(MasterRefusal::NotLeader { .. }))
            ),
            "{reply:?}"
        );
        let status = gfs.inspect(old).await.unwrap();
        assert!(!status.serving);
        let new = gfs.serving(&SERVERS).await;
        assert_ne!(new, old);
        assert_eq!(
            gfs.ask(MasterOp::Create {
                path: "/kept".into()
            })
            .await,
            MasterReply::Done
        );
        gfs.cluster.heal();
        gfs.cluster.run_for(Duration::from_secs(1)).await;
        let listed = gfs.ask(MasterOp::List { dir: "/".into() }).await;
        assert_eq!(listed, MasterReply::Listed(vec!["/kept".into()]));
        // The old leader, a follower again, applied the new leader's entries, not its own.
        let status = gfs.inspect(old).await.unwrap();
        assert_eq!((status.serving, status.files), (false, 1));
    });
}
