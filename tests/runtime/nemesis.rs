//! The nemesis keeps a majority up, really injects faults, and heals everything at the end.

use std::time::Duration;
use troupe_runtime::nemesis::{Nemesis, NemesisKind};
use troupe_runtime::testkit::{simulate, Cluster};

#[test]
fn the_nemesis_never_downs_a_majority_and_heals_at_the_end() {
    simulate(30, |seed| async move {
        let cluster = Cluster::builder(seed)
            .nodes(5)
            .topology(crate::support::Counter::start)
            .build();
        let nemesis = Nemesis::new(NemesisKind::All, cluster.net());
        let watch = cluster.clone();
        let most_down = actix_rt::spawn(async move {
            let mut most = 0;
            for _ in 0..6_000 {
                let down = watch
                    .ids()
                    .iter()
                    .filter(|&&id| watch.net().node(id).is_none())
                    .count();
                most = most.max(down);
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            most
        });
        let report = nemesis.run(Duration::from_secs(60)).await;
        let most_down = most_down.await.expect("the watcher runs to the end");
        assert!(most_down <= 2, "{most_down} of 5 nodes were down at once");
        assert!(
            report.crashes > 0 && report.partitions > 0 && report.unreliable_periods > 0,
            "{report:?}"
        );
        // Healed: every node is up and every link delivers.
        assert!(cluster
            .ids()
            .iter()
            .all(|&id| cluster.net().node(id).is_some()));
        let before = cluster.stats();
        let n1 = cluster.up(1);
        for n in 2..=5 {
            let path = troupe_runtime::ActorPath::new(troupe_runtime::NodeId(n), "counter");
            n1.call(&path, crate::support::Read, Duration::from_secs(1))
                .await
                .expect("a healed network delivers");
        }
        assert_eq!(cluster.stats().dropped() - before.dropped(), 0);
    });
}

/// The size of the largest group of live nodes that all reach one another.
fn largest_connected_live_group(cluster: &Cluster) -> usize {
    let net = cluster.net();
    let live: Vec<_> = cluster
        .ids()
        .into_iter()
        .filter(|&id| net.node(id).is_some())
        .collect();
    live.iter()
        .map(|&a| {
            live.iter()
                .filter(|&&b| a == b || (!net.is_blocked(a, b) && !net.is_blocked(b, a)))
                .count()
        })
        .max()
        .unwrap_or(0)
}

#[test]
fn a_nemesis_that_keeps_a_majority_never_leaves_fewer_than_three_of_five_together() {
    simulate(31, |seed| async move {
        let cluster = Cluster::builder(seed)
            .nodes(5)
            .topology(crate::support::Counter::start)
            .build();
        let plain = Nemesis::new(NemesisKind::All, cluster.net());
        let kept = Nemesis::new(NemesisKind::All, cluster.net()).keep_majority();
        // The default nemesis counts crashes and partitions separately: over a minute it
        // leaves no majority together at some point; one that keeps a majority never does.
        let mut fewest = Vec::new();
        for nemesis in [plain, kept] {
            let watch = cluster.clone();
            let smallest = actix_rt::spawn(async move {
                let mut fewest = usize::MAX;
                for _ in 0..6_000 {
                    fewest = fewest.min(largest_connected_live_group(&watch));
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                fewest
            });
            let report = nemesis.run(Duration::from_secs(60)).await;
            assert!(report.crashes > 0 && report.partitions > 0, "{report:?}");
            fewest.push(smallest.await.expect("the watcher runs to the end"));
        }
        assert!(fewest[0] < 3, "the default nemesis: {fewest:?}");
        assert!(fewest[1] >= 3, "keep_majority: {fewest:?}");
    });
}
