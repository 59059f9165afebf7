//! A primary's crash and partition, and the master's crash, each under appends.

use crate::harness::{ms, GfsHarness};
use troupe::systems::gfs::Gfs;
use troupe_actors::gfs::master::server::MasterOptions;
use troupe_messages::gfs::{MasterOp, MasterReply};
use troupe_runtime::testkit::simulate;

#[test]
fn a_primary_crashing_during_appends_loses_no_acknowledged_record() {
    crash_the_primary();
}

fn crash_the_primary() {
    simulate(141, |seed| async move {
        let h = GfsHarness::new(seed, 4);
        let location = h.file_with_a_chunk("/log").await;
        let primary = h.lease(&location, ms(5_000)).await.primary;
        let appends = h
            .append_for("/log", ms(6_000), async {
                tokio::time::sleep(ms(1_000)).await;
                h.cluster.crash(primary.0);
                tokio::time::sleep(ms(3_000)).await;
                h.cluster.restart(primary.0);
            })
            .await;
        assert!(appends.acked.len() > 100, "{} acked", appends.acked.len());
        h.check_acked(&appends).await;
        // The lease moved to another replica, and only after the old one expired.
        let lease = h.lease(&location, ms(10_000)).await;
        assert_ne!(
            lease.primary, primary,
            "the crashed primary still holds the lease"
        );
    });
}

#[test]
fn a_partitioned_primary_keeps_its_lease_and_no_second_primary_appears_before_it_expires() {
    partition_the_primary();
}

fn partition_the_primary() {
    simulate(142, |seed| async move {
        let h = GfsHarness::new(seed, 2);
        let location = h.file_with_a_chunk("/log").await;
        let old = h.lease(&location, ms(5_000)).await;
        // The primary's lease started with the first append; find when it runs out.
        let held = h
            .chunkserver(old.primary)
            .await
            .expect("the primary answers")
            .leases;
        assert!(!held.is_empty(), "the primary holds a lease");
        // Cut the primary off from every master replica: it can no longer extend its lease,
        // but clients and the secondaries still reach it.
        for &master in h.system.masters() {
            h.cluster.block(old.primary.0, master.0);
            h.cluster.block(master.0, old.primary.0);
        }
        let cut_at = h.own_node().now_ns();
        // Until its lease runs out, the primary still serves appends.
        let mut writer = h.client();
        writer
            .record_append("/log", b"while cut off", ms(1_000))
            .await
            .expect("the partitioned primary serves under its lease");
        // Ask the master for the lease until it names someone else: it keeps naming the cut-off
        // primary while that lease may run.
        let asked_until = tokio::time::Instant::now() + ms(10_000);
        let new = loop {
            let lease = h.lease(&location, ms(10_000)).await;
            if lease.primary != old.primary {
                break lease;
            }
            assert!(
                tokio::time::Instant::now() < asked_until,
                "no new primary 10 s after the old one was cut off"
            );
            tokio::time::sleep(ms(50)).await;
        };
        let named_at = h.own_node().now_ns();
        assert!(new.version > old.version, "a new lease bumps the version");
        let status = h
            .chunkserver(old.primary)
            .await
            .expect("the old primary answers");
        let until = status
            .leases
            .iter()
            .filter(|l| l.handle == location.handle)
            .map(|l| l.until_ns)
            .max()
            .expect("its lease");
        assert!(
            named_at >= until,
            "a second primary was named at {named_at} ns, before the first's lease ran out at \
             {until} ns (cut off at {cut_at} ns)"
        );
        // The old primary refuses mutations now: its lease ran out.
        h.cluster.heal();
        let appends = h.append_for("/log", ms(1_000), async {}).await;
        h.check_acked(&appends).await;
    });
}

#[test]
fn the_master_recovers_from_its_log_and_checkpoint_and_fails_over_to_another_replica() {
    simulate(143, |seed| async move {
        let mut system = Gfs::managed(4);
        let mut options = MasterOptions::new(system.plan.clone());
        options.snapshot_every = 8;
        system.master_options = Some(options);
        let h = GfsHarness::with(seed, 2, system);
        h.serving_master(ms(5_000)).await;
        let mut client = h.client();
        for i in 0..6 {
            client
                .create(&format!("/dir/f{i}"), ms(5_000))
                .await
                .expect("create");
        }
        let appends = h.append_for("/dir/f0", ms(2_000), async {}).await;
        // Every master replica crashes and comes back: each recovers from its checkpoint
        // (a Raft snapshot) and the log after it.
        for &master in h.system.masters() {
            h.cluster.crash(master.0);
        }
        tokio::time::sleep(ms(500)).await;
        for &master in h.system.masters() {
            h.cluster.restart(master.0);
        }
        let listed = match h
            .ask_master(MasterOp::List { dir: "/dir".into() }, ms(10_000))
            .await
        {
            MasterReply::Listed(files) => files,
            other => panic!("list: {other:?}"),
        };
        assert_eq!(listed.len(), 6, "{listed:?}");
        h.check_acked(&appends).await;
        // Then the serving replica crashes for good: another replica of the log takes over.
        let leader = h.serving_master(ms(5_000)).await;
        h.cluster.crash(leader.0);
        let next = h.serving_master(ms(5_000)).await;
        assert_ne!(next, leader);
        let more = h.append_for("/dir/f1", ms(4_000), async {}).await;
        assert!(!more.acked.is_empty(), "appends go on after the failover");
        h.check_acked(&appends).await;
        h.check_acked(&more).await;
    });
}

/// With no client asking, the failover supervisor beside the serving master moves the lease of
/// a primary whose chunkserver died, once that lease has run out and not before, and brings the
/// chunk back to three replicas.
#[test]
fn the_failover_supervisor_moves_a_dead_primarys_lease_after_expiry_and_re_replicates() {
    simulate(144, |seed| async move {
        let h = GfsHarness::new(seed, 0);
        h.file_with_a_chunk("/log").await;
        let mut writer = h.client();
        writer
            .record_append("/log", b"before the crash", ms(2_000))
            .await
            .expect("appended");
        let mut holder = None;
        for &server in h.system.chunkservers() {
            let status = h
                .chunkserver(server)
                .await
                .expect("every chunkserver answers");
            if let Some(lease) = status.leases.last() {
                holder = Some((server, lease.handle, lease.until_ns));
            }
        }
        let (primary, handle, until) = holder.expect("the append started a lease");
        h.cluster.crash(primary.0);
        let crashed_at = h.own_node().now_ns();
        let end = tokio::time::Instant::now() + ms(10_000);
        let (new_primary, from) = loop {
            let mut found = None;
            for &server in h.system.chunkservers().iter().filter(|&&s| s != primary) {
                if let Some(status) = h.chunkserver(server).await {
                    if let Some(lease) = status.leases.iter().find(|l| l.handle == handle) {
                        found = Some((server, lease.from_ns));
                    }
                }
            }
            if let Some(found) = found {
                break found;
            }
            assert!(
                tokio::time::Instant::now() < end,
                "no new primary 10 s after the primary died"
            );
            tokio::time::sleep(ms(20)).await;
        };
        assert_ne!(new_primary, primary);
        assert!(
            from >= until,
            "a new primary {} ms before the dead one's lease ran out",
            (until - from) / 1_000_000
        );
        // Moved promptly: within a lease length of the crash (dead_after, the expiry, a clone).
        let lease = h.system.plan.timing.lease.as_nanos() as u64;
        assert!(
            from - crashed_at <= lease + lease / 2,
            "moved {} ms after the crash",
            (from - crashed_at) / 1_000_000
        );
        let end = tokio::time::Instant::now() + ms(10_000);
        loop {
            if let Some((_, status)) = h.master_status().await {
                if status.under_replicated == 0 {
                    break;
                }
            }
            assert!(
                tokio::time::Instant::now() < end,
                "still under-replicated after 10 s"
            );
            tokio::time::sleep(ms(50)).await;
        }
    });
}
