//! Deterministic replay across a network: the counter guest, whose every request reads the
//! clock and the random source and whose timer writes its disk, runs as primary and backup
//! with state hashes compared every few entries.

use crate::harness::{ms, VmftHarness};
use troupe::systems::vmft::Guest;
use troupe_runtime::testkit::simulate;

#[test]
fn timers_clock_random_and_disk_completions_replay_without_divergence() {
    simulate(171, |seed| async move {
        let h = VmftHarness::with_guest(seed, 0, Guest::Counter);
        let pair = h.wait_for_pair(None, ms(5_000)).await;
        let backup = pair.backup.expect("a pair");
        h.cluster.run_for(ms(3_000)).await;
        let primary = h
            .host_stats(pair.primary)
            .await
            .expect("the primary answers");
        let replica = h.host_stats(backup).await.expect("the backup answers");
        assert!(
            primary.log_entries > 250,
            "timer entries at least: {primary:?}"
        );
        assert_eq!(replica.divergences, 0, "{replica:?}");
        let (p, b) = (
            h.status(pair.primary).await.expect("primary"),
            h.status(backup).await.expect("backup"),
        );
        assert!(
            b.log_index + 20 >= p.log_index,
            "the backup keeps up: {p:?} {b:?}"
        );
        assert!(b.count <= p.count, "the backup stays behind: {p:?} {b:?}");
    });
}
