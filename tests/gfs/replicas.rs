//! A primary that can no longer reach one of its secondaries (the master and the clients
//! still reach both): appends fail rather than be acknowledged without that secondary, so
//! every acknowledged record is on every replica of the lease's group.

use crate::harness::{ms, GfsHarness};
use std::collections::BTreeSet;
use troupe_actors::gfs::chunk::record::records;
use troupe_actors::gfs::CHUNKSERVER;
use troupe_messages::gfs::{ReadChunk, ReadReply};
use troupe_messages::ActorPath;
use troupe_runtime::testkit::simulate;

#[test]
fn a_primary_cut_off_from_a_secondary_acknowledges_nothing_it_lacks() {
    cut_a_secondary_off();
}

/// A primary that acknowledges a record append before every secondary applied it: the test
/// must catch it.
#[cfg(feature = "planted-bugs")]
#[test]
fn an_append_acknowledged_before_the_replicas_is_caught() {
    use troupe_runtime::plant::{fails_with, Bug};
    assert!(
        fails_with(Bug::AckBeforeReplicas, cut_a_secondary_off),
        "a record was acknowledged without a secondary and the test did not notice"
    );
}

fn cut_a_secondary_off() {
    simulate(147, |seed| async move {
        let h = GfsHarness::new(seed, 2);
        let location = h.file_with_a_chunk("/log").await;
        let lease = h.lease(&location, ms(5_000)).await;
        // The last of the push chain: data still reaches it (through the other secondary), only
        // the primary's order to apply does not.
        let secondary = *lease.secondaries.last().expect("a secondary");
        h.cluster.block(lease.primary.0, secondary.0);
        h.cluster.block(secondary.0, lease.primary.0);
        let appends = h.append_for("/log", ms(1_500), async {}).await;
        // Read the cut-off secondary's own copy, at the version it was told.
        let read = ReadChunk {
            handle: location.handle,
            version: lease.version,
            offset: 0,
            len: h.system.plan.chunk.chunk_size,
        };
        let path = ActorPath::new(secondary, CHUNKSERVER);
        let bytes = match h.own_node().call(&path, read, ms(1_000)).await {
            Ok(ReadReply::Data { bytes, .. }) => bytes,
            other => panic!("the secondary's copy: {other:?}"),
        };
        let held: BTreeSet<u128> = records(&bytes).map(|r| r.id).collect();
        let missing: Vec<_> = appends
            .acked
            .iter()
            .filter(|(_, id)| !held.contains(id))
            .collect();
        assert!(
            missing.is_empty(),
            "{} acknowledged record(s) not on the secondary {secondary}: {missing:?}",
            missing.len()
        );
        // Healed, the appends go on and nothing acknowledged is lost.
        h.cluster.heal();
        let after = h.append_for("/log", ms(3_000), async {}).await;
        assert!(!after.acked.is_empty(), "no append after healing");
        h.check_acked(&after).await;
    });
}
