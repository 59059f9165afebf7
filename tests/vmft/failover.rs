//! Crashes and partitions of the pair, each under a running workload.

use crate::harness::{ms, VmftHarness};
use troupe_actors::client::{KvClient, Outcome};
use troupe_messages::kv::KvOp;
use troupe_messages::vmft::VmftRole;
use troupe_runtime::sim::LinkFaults;
use troupe_runtime::testkit::simulate;

#[test]
fn a_steady_pair_is_linearizable_and_holds_outputs_for_the_backup() {
    simulate(131, |seed| async move {
        let h = VmftHarness::new(seed, 4);
        let pair = h.wait_for_pair(None, ms(5_000)).await;
        h.run_clients(ms(3_000), async {}).await;
        let stats = h
            .host_stats(pair.primary)
            .await
            .expect("the primary answers");
        assert!(stats.log_entries > 300, "{stats:?}");
        assert!(
            stats.longest_hold > 0,
            "outputs waited for the backup: {stats:?}"
        );
        h.finish().await;
    });
}

/// When the primary crashes, relative to one client's append (the probe).
#[derive(Debug, Clone, Copy)]
enum When {
    /// The probe is on its way: the primary never sees it.
    Before,
    /// The primary executed the probe and holds its output for the backup's ack.
    During,
    /// The probe's output was released and the client has it.
    After,
}

fn crash_the_primary(when: When, seed: u64) {
    simulate(seed, |seed| async move {
        let h = VmftHarness::new(seed, 4);
        let pair = h.wait_for_pair(None, ms(5_000)).await;
        let backup = pair.backup.expect("a pair");
        // A slow logging channel: an output waits at least 40 ms for its ack.
        let slow = LinkFaults::reliable().with_delay(ms(20), ms(20));
        h.cluster
            .net()
            .set_link_faults(pair.primary, backup, slow.clone());
        h.cluster.net().set_link_faults(backup, pair.primary, slow);
        let mut probe = h.clerk(h.own_node());
        // A key of its own: the workload's puts never overwrite it.
        let append = KvOp::Append {
            key: "probe".into(),
            value: "probe;".into(),
        };
        h.run_clients(ms(4_000), async {
            tokio::time::sleep(ms(1_000)).await;
            let crash = async {
                match when {
                    When::Before => {}
                    When::During => tokio::time::sleep(ms(10)).await,
                    When::After => return,
                }
                h.cluster.crash(pair.primary.0);
            };
            let (outcome, ()) = tokio::join!(probe.run(append.clone(), ms(5_000)), crash);
            assert_eq!(outcome, Outcome::Done(None), "{when:?}: the probe is done");
            if let When::After = when {
                h.cluster.crash(pair.primary.0);
            }
            tokio::time::sleep(ms(500)).await;
            h.cluster.restart(pair.primary.0);
        })
        .await;
        let now = h.wait_for_pair(Some(pair.primary), ms(5_000)).await;
        assert_eq!(now.primary, backup, "{when:?}: the backup went live");
        h.finish().await;
        let value = h.final_value("probe").await;
        assert_eq!(
            value.matches("probe;").count(),
            1,
            "{when:?}: the probe once: {value}"
        );
    });
}

#[test]
fn the_primary_crashes_before_an_output() {
    crash_the_primary(When::Before, 141);
}

#[test]
fn the_primary_crashes_while_an_output_waits_for_the_backup() {
    crash_the_primary(When::During, 142);
}

#[test]
fn the_primary_crashes_after_an_output() {
    crash_the_primary(When::After, 143);
}

#[test]
fn the_backup_crashes_and_a_new_backup_joins_under_load() {
    simulate(151, |seed| async move {
        let h = VmftHarness::new(seed, 6);
        let pair = h.wait_for_pair(None, ms(5_000)).await;
        let backup = pair.backup.expect("a pair");
        h.run_clients(ms(5_000), async {
            tokio::time::sleep(ms(1_000)).await;
            h.cluster.crash(backup.0);
            // The primary goes on alone, and the supervisor brings a spare up to date while
            // the clients keep writing.
            let next = h
                .wait_for_record(ms(3_000), |r| r.backup.is_some_and(|b| b != backup))
                .await;
            assert_eq!(next.primary, pair.primary, "the primary stayed");
            assert_ne!(next.backup, Some(backup), "a new backup");
            assert!(
                next.generation >= pair.generation + 2,
                "{pair:?} then {next:?}"
            );
            h.cluster.restart(backup.0);
        })
        .await;
        let stats = h
            .host_stats(pair.primary)
            .await
            .expect("the primary answers");
        assert!(stats.backups_started >= 2, "{stats:?}");
        h.finish().await;
    });
}

#[test]
fn a_cut_logging_channel_lets_exactly_one_side_go_on() {
    cut_the_logging_channel();
}

/// Without the test-and-set both sides of a cut channel go live: the test must catch it.
#[cfg(feature = "planted-bugs")]
#[test]
fn going_live_without_the_test_and_set_is_caught() {
    use troupe_runtime::plant::{fails_with, Bug};
    assert!(
        fails_with(Bug::GoLiveWithoutTestAndSet, cut_the_logging_channel),
        "both sides went live and the test did not notice"
    );
}

fn cut_the_logging_channel() {
    simulate(161, |seed| async move {
        let h = VmftHarness::new(seed, 4);
        let pair = h.wait_for_pair(None, ms(5_000)).await;
        let backup = pair.backup.expect("a pair");
        h.run_clients(ms(4_000), async {
            tokio::time::sleep(ms(1_000)).await;
            // Both sides stay up and reach the storage; only the channel between them is cut.
            h.cluster.block(pair.primary.0, backup.0);
            h.cluster.block(backup.0, pair.primary.0);
            tokio::time::sleep(ms(1_500)).await;
            let roles = [
                h.status(pair.primary).await.map(|s| s.role),
                h.status(backup).await.map(|s| s.role),
            ];
            let live = roles
                .iter()
                .filter(|r| **r == Some(VmftRole::Primary))
                .count();
            assert_eq!(live, 1, "exactly one side goes on: {roles:?}");
            assert!(
                roles.contains(&Some(VmftRole::Spare)),
                "the loser stopped: {roles:?}"
            );
            let record = h.record().await.expect("a record");
            let winner = if roles[0] == Some(VmftRole::Primary) {
                pair.primary
            } else {
                backup
            };
            assert_eq!(record.primary, winner, "the record names the winner");
            h.cluster.heal();
        })
        .await;
        h.finish().await;
    });
}
