//! The master core's rules, one test (or a few) each.

use super::*;
use troupe_messages::NodeId;

const S: u64 = 1_000_000_000;

fn n(i: u32) -> NodeId {
    NodeId(i)
}

/// A master with live servers `1..=servers` at time 0 and a file `/f` with one chunk on the
/// three emptiest.
fn master_with_chunk(servers: u32) -> (MasterCore, ChunkHandle) {
    let mut m = MasterCore::new(Config::default());
    for i in 1..=servers {
        assert!(m.heartbeat(n(i), vec![], 0).is_empty());
    }
    m.create("/f").unwrap();
    let (h, _) = m.add_chunk("/f", 0).unwrap();
    (m, h)
}

/// Every server in `servers` reports what the master thinks it holds, at `now`.
fn beat(m: &mut MasterCore, servers: &[u32], report: &[(ChunkHandle, ChunkVersion)], now: u64) {
    for &i in servers {
        m.heartbeat(n(i), report.to_vec(), now);
    }
}

#[test]
fn paths_are_absolute_and_unique() {
    let mut m = MasterCore::new(Config::default());
    for bad in ["", "a", "/", "/a/", "//a", "/a//b"] {
        assert_eq!(m.create(bad), Err(MasterError::NotAbsolute(bad.into())));
    }
    assert_eq!(
        m.create("/a/b"),
        Ok(OpRecord::CreateFile {
            path: "/a/b".into()
        })
    );
    assert_eq!(m.create("/a/b"), Err(MasterError::Exists("/a/b".into())));
}

#[test]
fn list_gives_the_files_under_a_prefix_without_deleted_ones() {
    let mut m = MasterCore::new(Config::default());
    for p in ["/a/x", "/a/y", "/ab", "/b/z"] {
        m.create(p).unwrap();
    }
    m.delete("/a/y", 5).unwrap();
    assert_eq!(m.list("/a"), vec!["/a/x".to_string()]);
    assert_eq!(m.list("/"), vec!["/a/x", "/ab", "/b/z"]);
}

#[test]
fn chunks_get_handles_from_a_counter_in_file_order() {
    let (mut m, h0) = master_with_chunk(3);
    let (h1, effects) = m.add_chunk("/f", 0).unwrap();
    assert_eq!((h0, h1), (ChunkHandle(0), ChunkHandle(1)));
    assert_eq!(m.chunks_of("/f"), Ok(vec![h0, h1]));
    assert!(matches!(
        effects[0],
        Effect::Persist(OpRecord::AddChunk { .. })
    ));
    assert_eq!(effects.len(), 4, "persist, then create on three servers");
    assert_eq!(
        m.add_chunk("/nope", 0),
        Err(MasterError::NoSuchFile("/nope".into()))
    );
}

#[test]
fn new_chunks_go_to_the_emptiest_servers() {
    let (mut m, _) = master_with_chunk(4);
    let (h, effects) = m.add_chunk("/f", 0).unwrap();
    let on: Vec<NodeId> = effects
        .iter()
        .filter_map(|e| match e {
            Effect::Create { server, .. } => Some(*server),
            _ => None,
        })
        .collect();
    // n1..n3 hold the first chunk: n4 is emptiest, then n1, n2 by id.
    assert_eq!(on, vec![n(4), n(1), n(2)]);
    assert_eq!(m.version(h), Some(ChunkVersion(1)));
}

#[test]
fn deletion_is_lazy_and_reclaimed_after_the_grace_period() {
    let (mut m, h) = master_with_chunk(3);
    let grace = m.config().grace;
    let record = m.delete("/f", 10).unwrap();
    let hidden = namespace::hidden_name("/f", 10);
    assert_eq!(
        record,
        OpRecord::DeleteFile {
            path: "/f".into(),
            hidden: hidden.clone(),
            at: 10
        }
    );
    assert!(m.list("/").is_empty());
    assert_eq!(m.locations("/f", 0, 0), Err(Refusal::NoSuchFile));
    assert_eq!(
        m.chunks_of(&hidden),
        Ok(vec![h]),
        "kept under its hidden name"
    );
    assert!(
        m.gc(10 + grace - 1).is_empty(),
        "not before the grace period"
    );
    assert_eq!(
        m.gc(10 + grace),
        vec![Effect::Persist(OpRecord::Reclaim {
            hidden: hidden.clone()
        })]
    );
    assert!(m.chunks_of(&hidden).is_err());
    assert_eq!(m.version(h), None);
    // Its replicas are orphans now: the next heartbeat deletes them.
    let effects = m.heartbeat(n(1), vec![(h, ChunkVersion(1))], 10 + grace);
    assert_eq!(
        effects,
        vec![Effect::Delete {
            server: n(1),
            handle: h
        }]
    );
}

#[test]
fn orphaned_chunks_are_deleted() {
    let mut m = MasterCore::new(Config::default());
    let effects = m.heartbeat(n(1), vec![(ChunkHandle(42), ChunkVersion(3))], 0);
    assert_eq!(
        effects,
        vec![Effect::Delete {
            server: n(1),
            handle: ChunkHandle(42)
        }]
    );
}

#[test]
fn a_lease_names_a_live_primary_and_bumps_the_version() {
    let (mut m, h) = master_with_chunk(3);
    beat(&mut m, &[1, 2, 3], &[(h, ChunkVersion(1))], 0);
    let (lease, effects) = m.lease(h, S).unwrap();
    assert_eq!(lease.primary, n(1));
    assert_eq!(lease.secondaries, vec![n(2), n(3)]);
    assert_eq!(lease.version, ChunkVersion(2));
    assert_eq!(lease.expiry, S + 60 * S);
    assert_eq!(
        effects[0],
        Effect::Persist(OpRecord::SetVersion {
            handle: h,
            version: ChunkVersion(2)
        })
    );
    for (i, e) in effects[1..].iter().enumerate() {
        assert_eq!(
            *e,
            Effect::SetVersion {
                server: n(i as u32 + 1),
                handle: h,
                version: ChunkVersion(2)
            }
        );
    }
    // While it runs, the same lease, no new version.
    let (again, effects) = m.lease(h, 2 * S).unwrap();
    assert_eq!(again, lease);
    assert!(effects.is_empty());
}

#[test]
fn failover_sees_a_silent_server_its_chunks_and_then_its_expired_leases() {
    let (mut m, h) = master_with_chunk(3);
    let (lease, _) = m.lease(h, 0).unwrap();
    assert_eq!(lease.primary, n(1));
    let v2 = [(h, ChunkVersion(2))];
    beat(&mut m, &[2, 3], &v2, 40 * S);
    assert_eq!(m.down_servers(40 * S), vec![n(1)]);
    assert_eq!(m.below_target(40 * S), vec![h]);
    // Not while the lease may run, however dead its primary looks.
    assert!(m.leases_to_move(40 * S).is_empty());
    beat(&mut m, &[2, 3], &v2, 60 * S);
    assert_eq!(m.leases_to_move(60 * S), vec![(h, n(1))]);
    // Moved: nothing more to move.
    let (new, _) = m.lease(h, 60 * S).unwrap();
    assert_eq!(new.primary, n(2));
    assert!(m.leases_to_move(60 * S).is_empty());
    // A lease that ran out a lease length ago belongs to a chunk nobody uses: left alone.
    let (mut m, h) = master_with_chunk(3);
    m.lease(h, 0).unwrap();
    beat(&mut m, &[2, 3], &v2, 120 * S);
    assert!(m.leases_to_move(120 * S).is_empty());
}

#[test]
fn lease_refusals_are_typed() {
    let (mut m, h) = master_with_chunk(3);
    assert_eq!(m.lease(ChunkHandle(99), 0), Err(Refusal::NoSuchChunk));
    let late = m.config().dead_after;
    assert_eq!(m.lease(h, late), Err(Refusal::NoLiveReplica));
}

#[test]
fn no_second_primary_before_expiry_even_if_the_primary_is_dead() {
    let (mut m, h) = master_with_chunk(3);
    let (lease, _) = m.lease(h, 0).unwrap();
    assert_eq!(lease.primary, n(1));
    // n1 falls silent; n2 and n3 keep beating.
    let v2 = [(h, ChunkVersion(2))];
    beat(&mut m, &[2, 3], &v2, 40 * S);
    assert!(!m.is_live(n(1), 40 * S));
    assert_eq!(
        m.lease(h, 40 * S),
        Err(Refusal::WaitForLease { until: 60 * S })
    );
    beat(&mut m, &[2, 3], &v2, 59 * S);
    assert_eq!(
        m.lease(h, 60 * S - 1),
        Err(Refusal::WaitForLease { until: 60 * S })
    );
    // After expiry: a new primary, and a bumped version.
    let (new, effects) = m.lease(h, 60 * S).unwrap();
    assert_eq!(new.primary, n(2));
    assert_eq!(new.secondaries, vec![n(3)]);
    assert_eq!(new.version, ChunkVersion(3));
    assert!(matches!(
        effects[0],
        Effect::Persist(OpRecord::SetVersion { .. })
    ));
    assert_eq!(
        effects.len(),
        3,
        "n2 and n3 told the new version, not dead n1"
    );
}

#[cfg(feature = "planted-bugs")]
#[test]
fn the_planted_bug_names_a_second_primary_and_the_test_catches_it() {
    use troupe_runtime::plant::{fails_with, Bug};
    assert!(fails_with(
        Bug::NewPrimaryBeforeLeaseExpiry,
        no_second_primary_before_expiry_even_if_the_primary_is_dead
    ));
}

#[test]
fn extend_lease_renews_only_the_primarys_running_lease() {
    let (mut m, h) = master_with_chunk(3);
    let (lease, _) = m.lease(h, 0).unwrap();
    assert_eq!(m.extend_lease(h, n(2), S), Err(Refusal::NotPrimary));
    let renewed = m.extend_lease(h, lease.primary, 30 * S).unwrap();
    assert_eq!(renewed.expiry, 90 * S);
    assert_eq!(renewed.version, lease.version);
    assert_eq!(
        m.extend_lease(h, lease.primary, 90 * S),
        Err(Refusal::NotPrimary)
    );
    assert_eq!(
        m.extend_lease(ChunkHandle(7), n(1), 0),
        Err(Refusal::NoSuchChunk)
    );
}

#[test]
fn a_stale_replica_is_never_returned_never_primary_and_told_to_delete() {
    let (mut m, h) = master_with_chunk(3);
    beat(&mut m, &[1, 2, 3], &[(h, ChunkVersion(1))], 0);
    // n3 misses the new lease's version (it was down).
    m.heartbeat(n(3), vec![], 0);
    m.lease(h, 0).unwrap();
    beat(&mut m, &[1, 2], &[(h, ChunkVersion(2))], 61 * S);
    let effects = m.heartbeat(n(3), vec![(h, ChunkVersion(1))], 61 * S);
    assert_eq!(
        effects,
        vec![Effect::Delete {
            server: n(3),
            handle: h
        }]
    );
    let (_, _, servers) = m.locations("/f", 0, 61 * S).unwrap();
    assert_eq!(servers, vec![n(1), n(2)]);
    // Only n3 is live now: it holds a stale copy, so it can't be primary.
    let late = 61 * S + m.config().dead_after;
    m.heartbeat(n(3), vec![(h, ChunkVersion(1))], late);
    assert_eq!(m.lease(h, late), Err(Refusal::NoLiveReplica));
    assert_eq!(m.locations("/f", 0, late), Err(Refusal::NoLiveReplica));
}

#[test]
fn a_higher_reported_version_is_taken_and_logged() {
    let (mut m, h) = master_with_chunk(3);
    let effects = m.heartbeat(n(1), vec![(h, ChunkVersion(5))], 0);
    assert_eq!(
        effects,
        vec![Effect::Persist(OpRecord::SetVersion {
            handle: h,
            version: ChunkVersion(5)
        })]
    );
    assert_eq!(m.version(h), Some(ChunkVersion(5)));
    let (_, v, servers) = m.locations("/f", 0, 0).unwrap();
    assert_eq!((v, servers), (ChunkVersion(5), vec![n(1)]));
}

#[test]
fn locations_are_only_live_up_to_date_replicas() {
    let (mut m, h) = master_with_chunk(3);
    assert_eq!(m.locations("/nope", 0, 0), Err(Refusal::NoSuchFile));
    assert_eq!(
        m.locations("/f", 1, 0),
        Err(Refusal::NoChunkAt { index: 1 })
    );
    beat(&mut m, &[1, 2], &[(h, ChunkVersion(1))], 20 * S);
    let dead_after = m.config().dead_after;
    let (handle, v, servers) = m.locations("/f", 0, dead_after).unwrap();
    assert_eq!((handle, v), (h, ChunkVersion(1)));
    assert_eq!(servers, vec![n(1), n(2)], "n3 is dead");
}

#[test]
fn re_replication_restores_the_target_after_a_server_dies() {
    let (mut m, h) = master_with_chunk(5);
    let v = [(h, ChunkVersion(1))];
    beat(&mut m, &[1, 2, 3], &v, 0);
    beat(&mut m, &[4], &[], 0);
    beat(&mut m, &[5], &[(ChunkHandle(77), ChunkVersion(1))], 0);
    assert!(m.tick(0).is_empty(), "three replicas: nothing to do");
    // n3 dies; n5 holds an orphan, which doesn't count as load once deleted, n4 is emptiest.
    let t = 40 * S;
    beat(&mut m, &[1, 2], &v, t);
    beat(&mut m, &[4, 5], &[], t);
    let effects = m.tick(t);
    assert_eq!(
        effects,
        vec![Effect::Replicate {
            handle: h,
            version: ChunkVersion(1),
            from: n(1),
            to: n(4)
        }]
    );
    assert!(m.tick(t + S).is_empty(), "one in flight per chunk");
    m.replicated(h, n(4), t);
    assert_eq!(m.locations("/f", 0, t).unwrap().2, vec![n(1), n(2), n(4)]);
    assert!(m.tick(t + 2 * S).is_empty());
}

#[test]
fn a_replication_in_flight_is_forgotten_after_the_timeout() {
    let (mut m, h) = master_with_chunk(4);
    // Past the time a heartbeat could predate the creation: n3 lost its replica.
    let t = m.config().dead_after;
    beat(&mut m, &[1, 2], &[(h, ChunkVersion(1))], t);
    beat(&mut m, &[3, 4], &[], t);
    let first = m.tick(t);
    assert_eq!(first.len(), 1);
    let timeout = t + m.config().replication_timeout;
    beat(&mut m, &[1, 2], &[(h, ChunkVersion(1))], timeout - 1);
    beat(&mut m, &[3, 4], &[], timeout - 1);
    assert!(m.tick(timeout - 1).is_empty());
    assert_eq!(m.tick(timeout).len(), 1, "asked again after the timeout");
}

#[test]
fn a_recovered_master_equals_the_original_in_everything_persisted() {
    let (mut m, h) = master_with_chunk(3);
    let checkpoint = m.checkpoint();
    let mut log = Vec::new();
    log.push(m.create("/g").unwrap());
    let (_, effects) = m.add_chunk("/g", 0).unwrap();
    let (_, lease_effects) = m.lease(h, 0).unwrap();
    log.push(m.delete("/g", 5).unwrap());
    let more = m.heartbeat(n(2), vec![(h, ChunkVersion(9))], 1);
    log.extend(
        effects
            .into_iter()
            .chain(lease_effects)
            .chain(more)
            .filter_map(|e| match e {
                Effect::Persist(r) => Some(r),
                _ => None,
            }),
    );
    // The log's order is the calls' order: create, add, lease, delete, heartbeat.
    let ordered = vec![
        log[0].clone(),
        log[2].clone(),
        log[3].clone(),
        log[1].clone(),
        log[4].clone(),
    ];
    let json = serde_json::to_string(&(checkpoint, ordered)).unwrap();
    let (checkpoint, ordered): (Checkpoint, Vec<OpRecord>) = serde_json::from_str(&json).unwrap();
    let r = MasterCore::recover(Config::default(), checkpoint, &ordered, 2).unwrap();
    assert_eq!(r.persisted(), m.persisted());
    assert_eq!(r.version(h), Some(ChunkVersion(9)));
    let again = MasterCore::recover(Config::default(), m.checkpoint(), &[], 2).unwrap();
    assert_eq!(again.persisted(), m.persisted());
}

#[test]
fn a_log_that_does_not_fit_is_refused() {
    let bad = [OpRecord::SetVersion {
        handle: ChunkHandle(3),
        version: ChunkVersion(1),
    }];
    assert!(matches!(
        MasterCore::recover(Config::default(), Checkpoint::default(), &bad, 0),
        Err(MasterError::BadRecord(_))
    ));
}

#[test]
fn a_recovered_master_grants_no_lease_before_a_lease_length() {
    // The chunk had a lease (at v2), which may still run when the master recovers.
    let (mut m, h) = master_with_chunk(3);
    let (had, _) = m.lease(h, 0).unwrap();
    let mut r = MasterCore::recover(Config::default(), m.checkpoint(), &[], 100 * S).unwrap();
    beat(&mut r, &[1, 2, 3], &[(h, had.version)], 100 * S);
    assert_eq!(
        r.lease(h, 100 * S),
        Err(Refusal::WaitForLease { until: 160 * S })
    );
    beat(&mut r, &[1, 2, 3], &[(h, had.version)], 160 * S);
    assert_eq!(r.lease(h, 160 * S).unwrap().0.version, ChunkVersion(3));
}

/// Four live servers at time 0, `/f`'s chunk on n1..n3 at v1, n4 free to take a clone.
fn master_with_a_spare() -> (MasterCore, ChunkHandle) {
    let (mut m, h) = master_with_chunk(4);
    beat(&mut m, &[1, 2, 3], &[(h, ChunkVersion(1))], 0);
    beat(&mut m, &[4], &[], 0);
    (m, h)
}

/// n3 fell silent: at `t` the others report the chunk at `v`.
fn lose_n3(m: &mut MasterCore, h: ChunkHandle, v: ChunkVersion, t: u64) {
    beat(m, &[1, 2], &[(h, v)], t);
    beat(m, &[4], &[], t);
}

#[test]
fn no_clone_starts_while_a_lease_runs() {
    let (mut m, h) = master_with_a_spare();
    let (lease, _) = m.lease(h, 0).unwrap();
    let t = 40 * S;
    lose_n3(&mut m, h, ChunkVersion(2), t);
    assert!(m.could_clone(h, t));
    assert!(m.tick(t).is_empty(), "the lease runs");
    let after = lease.expiry;
    lose_n3(&mut m, h, ChunkVersion(2), after);
    assert_eq!(
        m.tick(after),
        vec![Effect::Replicate {
            handle: h,
            version: ChunkVersion(2),
            from: n(1),
            to: n(4)
        }]
    );
}

#[test]
fn no_lease_while_a_clone_could_start_or_is_in_flight() {
    let (mut m, h) = master_with_a_spare();
    let t = 40 * S;
    lose_n3(&mut m, h, ChunkVersion(1), t);
    assert_eq!(m.lease(h, t), Err(Refusal::BelowTarget));
    assert_eq!(m.tick(t).len(), 1);
    let timeout = m.config().replication_timeout;
    assert_eq!(
        m.lease(h, t + S),
        Err(Refusal::WaitForLease { until: t + timeout })
    );
    m.replicated(h, n(4), t + S);
    let (lease, _) = m.lease(h, t + S).unwrap();
    assert_eq!(lease.secondaries, vec![n(2), n(4)]);
}

#[test]
fn a_lease_below_the_target_is_not_extended_while_a_clone_could_start() {
    let (mut m, h) = master_with_a_spare();
    let (lease, _) = m.lease(h, 0).unwrap();
    // n3 and n4 fell silent: below the target, but no server could take a clone.
    let t = 31 * S;
    beat(&mut m, &[1, 2], &[(h, ChunkVersion(2))], t);
    assert!(!m.could_clone(h, t));
    assert!(m.extend_lease(h, lease.primary, t).is_ok());
    // n4 is back: a clone could start, so the lease is left to run out.
    beat(&mut m, &[4], &[], t + S);
    assert!(m.could_clone(h, t + S));
    assert_eq!(
        m.extend_lease(h, lease.primary, t + S),
        Err(Refusal::NotPrimary)
    );
}

#[test]
fn a_new_leader_clones_nothing_while_its_predecessors_lease_may_run() {
    let (mut m, h) = master_with_a_spare();
    m.lease(h, 0).unwrap();
    // A new leader at 10 s: it knows no lease, but one granted before may run until 70 s.
    let mut r = m.rebuilt(10 * S);
    lose_n3(&mut r, h, ChunkVersion(2), 10 * S);
    assert!(r.could_clone(h, 10 * S));
    assert!(
        r.tick(10 * S).is_empty(),
        "a clone now could miss the old primary's appends"
    );
    lose_n3(&mut r, h, ChunkVersion(2), 70 * S);
    assert_eq!(r.tick(70 * S).len(), 1);
}

#[test]
fn a_new_leader_never_reuses_a_version_or_handle_its_predecessor_may_have_sent() {
    // The leader of term 1 bumps the chunk to v2 and creates another chunk; neither record
    // commits, but the orders reached some chunkservers.
    let (mut m, h) = master_with_chunk(3);
    beat(&mut m, &[1, 2, 3], &[(h, ChunkVersion(1))], S);
    let committed = m.rebuilt(S);
    let (lost, _) = m.lease(h, S).unwrap();
    let (lost_chunk, _) = m.add_chunk("/f", S).unwrap();
    // The leader of term 2 serves from the committed state.
    let mut r = committed.in_term(2);
    let t = 100 * S;
    beat(&mut r, &[1, 2, 3], &[(h, ChunkVersion(1))], t);
    let (lease, _) = r.lease(h, t).unwrap();
    assert!(lease.version > lost.version, "{} reused", lost.version);
    let (chunk, _) = r.add_chunk("/f", t).unwrap();
    assert!(chunk > lost_chunk, "{lost_chunk} reused");
    // A replica that took the lost bump is now behind: stale.
    assert_eq!(
        r.heartbeat(n(2), vec![(h, lost.version)], t + r.config().dead_after),
        vec![Effect::Delete {
            server: n(2),
            handle: h
        }]
    );
}

#[test]
fn a_new_leader_grants_no_lease_before_a_lease_length() {
    let (mut m, h) = master_with_chunk(3);
    let (had, _) = m.lease(h, 0).unwrap();
    beat(&mut m, &[1, 2, 3], &[(h, had.version)], 10 * S);
    let mut r = m.rebuilt(10 * S);
    assert_eq!(r.persisted(), m.persisted());
    assert_eq!(r.config(), m.config());
    assert!(r.live_servers(10 * S).is_empty(), "no volatile state");
    beat(&mut r, &[1, 2, 3], &[(h, had.version)], 10 * S);
    assert_eq!(
        r.lease(h, 10 * S),
        Err(Refusal::WaitForLease { until: 70 * S })
    );
    m.became_leader(20 * S);
    assert_eq!(
        m.lease(h, 79 * S),
        Err(Refusal::WaitForLease { until: 80 * S })
    );
    beat(&mut r, &[1, 2, 3], &[(h, had.version)], 70 * S);
    assert!(r.lease(h, 70 * S).is_ok());
}

#[test]
fn counts_for_inspection() {
    let (mut m, _) = master_with_chunk(3);
    m.create("/g").unwrap();
    m.delete("/g", 1).unwrap();
    assert_eq!((m.file_count(), m.chunk_count()), (1, 1));
    assert_eq!(m.live_servers(0), vec![n(1), n(2), n(3)]);
    assert_eq!(m.last_heard(n(2)), Some(0));
    assert_eq!(m.under_replicated(0), 0);
    assert_eq!(m.under_replicated(m.config().dead_after), 1);
}

#[test]
fn a_heartbeat_sent_before_an_order_arrived_does_not_undo_it() {
    let (mut m, h) = master_with_chunk(3);
    let v1 = [(h, ChunkVersion(1))];
    beat(&mut m, &[1, 2, 3], &v1, S);
    let (lease, _) = m.lease(h, S).unwrap();
    // n2's heartbeat, sent before it heard of v2, arrives after the grant: not stale yet.
    assert!(m.heartbeat(n(2), v1.to_vec(), S + 1).is_empty());
    assert_eq!(m.up_to_date(h, S + 1), vec![n(1), n(2), n(3)]);
    // Still at v1 a while later, it missed the new version: stale.
    let late = S + m.config().dead_after;
    assert_eq!(
        m.heartbeat(n(2), v1.to_vec(), late),
        vec![Effect::Delete {
            server: n(2),
            handle: h
        }]
    );
    assert_eq!(lease.version, ChunkVersion(2));
    // A heartbeat from before a chunk was created keeps the chosen replica too.
    beat(&mut m, &[1, 3], &[(h, ChunkVersion(2))], late);
    let (h2, _) = m.add_chunk("/f", late).unwrap();
    m.heartbeat(n(1), vec![], late + 1);
    assert!(m.up_to_date(h2, late + 1).contains(&n(1)));
}

#[test]
fn a_server_that_did_not_take_an_order_no_longer_counts() {
    let (mut m, h) = master_with_chunk(3);
    let v1 = [(h, ChunkVersion(1))];
    beat(&mut m, &[1, 2, 3], &v1, S);
    m.lease(h, S).unwrap();
    m.not_told(h, n(3));
    assert_eq!(m.up_to_date(h, S), vec![n(1), n(2)]);
    assert_eq!(
        m.heartbeat(n(3), v1.to_vec(), S + 1),
        vec![Effect::Delete {
            server: n(3),
            handle: h
        }],
        "stale at once"
    );
}

mod leases;
