//! The master core's rules for leases and versions across failures: revocation when a
//! replica of the lease group is lost, a version bump nobody took, a chunk nobody created,
//! and what a new leader may do at once (lease a never-leased chunk, keep a running lease its
//! primary reports).

use super::*;

#[test]
fn a_lease_that_lost_a_replica_is_revoked_and_the_clone_starts_at_once() {
    let (mut m, h) = master_with_a_spare();
    let (lease, _) = m.lease(h, 0).unwrap();
    let t = 40 * S;
    lose_n3(&mut m, h, lease.version, t);
    assert_eq!(m.to_revoke(t), vec![(h, lease.primary)]);
    assert!(m.tick(t).is_empty(), "no clone while the lease runs");
    m.revoked(h, lease.primary);
    assert!(m.to_revoke(t).is_empty());
    assert_eq!(
        m.tick(t),
        vec![Effect::Replicate {
            handle: h,
            version: lease.version,
            from: n(1),
            to: n(4)
        }]
    );
    m.replicated(h, n(4), t);
    // Before the revoked lease would have ended, only its primary is named again.
    let (again, _) = m.lease(h, t).unwrap();
    assert_eq!(again.primary, lease.primary);
    assert!(again.version > lease.version);
}

#[test]
fn a_revoked_lease_whose_primary_is_gone_is_waited_out() {
    let (mut m, h) = master_with_a_spare();
    let (lease, _) = m.lease(h, 0).unwrap();
    m.revoked(h, lease.primary);
    // The primary falls silent; the others still report.
    let t = 40 * S;
    beat(&mut m, &[2, 3], &[(h, lease.version)], t);
    beat(&mut m, &[4], &[], t);
    assert_eq!(
        m.lease(h, t),
        Err(Refusal::WaitForLease {
            until: lease.expiry
        })
    );
}

#[test]
fn a_version_no_replica_took_is_undone_and_never_handed_out_again() {
    let (mut m, h) = master_with_chunk(3);
    beat(&mut m, &[1, 2, 3], &[(h, ChunkVersion(1))], S);
    let (lease, _) = m.lease(h, S).unwrap();
    assert!(m.undo_version(h, lease.version, ChunkVersion(1)));
    assert_eq!(m.version(h), Some(ChunkVersion(1)));
    assert_eq!(m.up_to_date(h, S), vec![n(1), n(2), n(3)]);
    assert!(
        m.heartbeat(n(2), vec![(h, ChunkVersion(1))], 2 * S)
            .is_empty(),
        "the replicas at the old version are not stale"
    );
    let (next, _) = m.lease(h, 2 * S).unwrap();
    assert!(next.version > lease.version);
    assert!(
        !m.undo_version(h, lease.version, ChunkVersion(1)),
        "not the current version"
    );
}

#[test]
fn a_chunk_no_server_created_is_created_again() {
    let mut m = MasterCore::new(Config::default());
    for i in 1..=4 {
        m.heartbeat(n(i), vec![], 0);
    }
    m.create("/f").unwrap();
    let (h, effects) = m.add_chunk("/f", 0).unwrap();
    for effect in effects {
        if let Effect::Create { server, .. } = effect {
            m.not_told(h, server);
        }
    }
    let creates = m
        .tick(S)
        .into_iter()
        .filter(|e| matches!(e, Effect::Create { handle, .. } if *handle == h))
        .count();
    assert_eq!(creates, 3);
    assert!(m.tick(S).is_empty(), "once");
}

#[test]
fn a_new_leader_leases_a_chunk_that_never_had_a_lease_at_once() {
    let (m, h) = master_with_chunk(3);
    let mut r = m.rebuilt(10 * S);
    beat(&mut r, &[1, 2, 3], &[(h, ChunkVersion(1))], 10 * S);
    assert!(r.lease(h, 10 * S).is_ok());
}

#[test]
fn a_new_leader_keeps_the_running_lease_its_primary_reports() {
    let (mut m, h) = master_with_chunk(3);
    beat(&mut m, &[1, 2, 3], &[(h, ChunkVersion(1))], 0);
    let (lease, _) = m.lease(h, 0).unwrap();
    let t = 10 * S;
    let mut r = m.rebuilt(t);
    beat(&mut r, &[1, 2, 3], &[(h, lease.version)], t);
    assert!(r.adopt_lease(h, lease.primary, t));
    let other = lease.secondaries[0];
    assert!(!r.adopt_lease(h, other, t), "one lease per chunk");
    let (kept, effects) = r.lease(h, t).unwrap();
    assert_eq!((kept.primary, kept.version), (lease.primary, lease.version));
    assert!(effects.is_empty(), "no new version");
    assert!(r.extend_lease(h, lease.primary, t + S).is_ok());
    // Once the new leader's wait is over it grants leases itself and adopts none.
    let mut late = m.rebuilt(t);
    let after = t + late.config().lease_length;
    beat(&mut late, &[1, 2, 3], &[(h, lease.version)], after);
    assert!(!late.adopt_lease(h, lease.primary, after));
}

#[test]
fn a_lease_whose_group_has_a_replica_that_no_longer_counts_is_revoked() {
    let (mut m, h) = master_with_a_spare();
    let (lease, _) = m.lease(h, 0).unwrap();
    assert_eq!(lease.secondaries, vec![n(2), n(3)]);
    // n4 holds the chunk at the current version too; n3 stops counting.
    m.heartbeat(n(4), vec![(h, lease.version)], S);
    m.not_told(h, n(3));
    assert_eq!(m.up_to_date(h, S), vec![n(1), n(2), n(4)]);
    assert!(!m.could_clone(h, S), "the chunk is at its target");
    assert_eq!(m.to_revoke(S), vec![(h, lease.primary)]);
    m.revoked(h, lease.primary);
    let (next, _) = m.lease(h, S).unwrap();
    assert_eq!(next.primary, lease.primary);
    assert_eq!(next.secondaries, vec![n(2), n(4)]);
}

#[test]
fn a_revoked_leases_end_stands_through_a_lease_that_never_started() {
    let (mut m, h) = master_with_a_spare();
    let (lease, _) = m.lease(h, 0).unwrap();
    m.revoked(h, lease.primary);
    let (again, _) = m.lease(h, S).unwrap();
    assert_eq!(again.primary, lease.primary);
    m.lease_not_started(h);
    // The primary falls silent: nobody else before the revoked lease would have ended.
    let t = 40 * S;
    beat(&mut m, &[2, 3], &[(h, again.version)], t);
    beat(&mut m, &[4], &[], t);
    assert_eq!(
        m.lease(h, t),
        Err(Refusal::WaitForLease {
            until: lease.expiry
        })
    );
}
