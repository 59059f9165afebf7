//! The same seed gives a byte-identical event log; a different seed gives a different one.

use std::time::Duration;
use troupe_actors::ping::Pinger;
use troupe_messages::NodeId;
use troupe_runtime::sim::{block_on, LinkFaults};
use troupe_runtime::testkit::Cluster;

/// Five pingers on an unreliable network with a crash, a restart and a partition.
fn run(seed: u64) -> Vec<u8> {
    block_on(async move {
        let ids: Vec<NodeId> = (1..=5).map(NodeId).collect();
        let cluster = Cluster::builder(seed)
            .nodes(5)
            .capture_events()
            .faults(
                LinkFaults::unreliable()
                    .with_duplicates(0.05)
                    .with_delay(Duration::from_millis(1), Duration::from_millis(30)),
            )
            .topology(move |node| {
                Pinger::start(node, ids.clone(), Duration::from_millis(50)).expect("name is free");
            })
            .build();
        cluster.run_for(Duration::from_secs(1)).await;
        cluster.crash(3);
        cluster.partition(&[&[1, 2], &[3, 4, 5]]);
        cluster.run_for(Duration::from_secs(1)).await;
        cluster.restart(3);
        cluster.heal();
        cluster.run_for(Duration::from_secs(1)).await;
        cluster.events()
    })
}

#[test]
fn same_seed_same_event_log_byte_for_byte() {
    let a = run(42);
    let b = run(42);
    assert!(
        a.len() > 10_000,
        "the run should produce a substantial log ({} bytes)",
        a.len()
    );
    assert!(a == b, "two runs with seed 42 wrote different event logs");
    let c = run(43);
    assert!(a != c, "seeds 42 and 43 wrote the same event log");
}
