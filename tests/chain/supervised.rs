//! The chain failover supervisor at work: the configuration lives in a Raft key-value group,
//! the supervisor watches the chain's nodes with the heartbeat failure detector, and on a crash
//! installs the chain of the survivors by compare-and-swap; clients learn it from the manager.
//! Chain nodes keep their state in their node's persister, so the last node of a chain survives
//! its own restart.

use crate::harness::{ms, ChainHarness};
use troupe_actors::client::Outcome;
use troupe_messages::kv::KvOp;
use troupe_messages::NodeId;
use troupe_runtime::testkit::simulate;

#[test]
fn the_supervisor_replaces_a_crashed_middle_and_nothing_is_lost() {
    for craq in [false, true] {
        simulate(81, |seed| async move {
            let h = ChainHarness::supervised(seed, 6, craq);
            h.run_clients(ms(5_000), async {
                tokio::time::sleep(ms(1_500)).await;
                h.cluster.crash(h.chain_node(2));
            })
            .await;
            let config = h
                .managed_config()
                .await
                .expect("the manager holds the chain");
            assert_eq!(config.epoch, 2, "one reconfiguration: {config:?}");
            assert_eq!(config.nodes, vec![NodeId(4), NodeId(6)]);
            h.finish().await;
        });
    }
}

/// A node that refuses a client's epoch hands it the configuration it holds, so a client that
/// cannot reach the manager still follows a reconfiguration.
#[test]
fn a_client_cut_off_from_the_manager_follows_the_new_chain_from_a_refusal() {
    simulate(87, |seed| async move {
        let h = ChainHarness::supervised(seed, 1, false);
        let client = h.first_client();
        let mut clerk = h.clerk(client);
        let put = |value: &str| KvOp::Put {
            key: "k".to_string(),
            value: value.to_string(),
        };
        // Learns the first chain from the manager.
        let first = clerk.run(put("1"), ms(5_000)).await;
        assert!(matches!(first, Outcome::Done(_)), "{first:?}");
        // From now on the client reaches the chain's servers only.
        h.cluster.cut_off(client, &[1, 2, 3]);
        h.cluster.crash(h.chain_node(3));
        tokio::time::sleep(ms(2_000)).await;
        let config = h
            .managed_config()
            .await
            .expect("the manager holds the chain");
        assert_eq!(config.nodes, vec![NodeId(4), NodeId(5)], "{config:?}");
        // The head refuses the old epoch and names the new chain: the write goes through.
        let second = clerk.run(put("2"), ms(3_000)).await;
        assert!(matches!(second, Outcome::Done(_)), "{second:?}");
    });
}

#[test]
fn a_restarted_node_rejoins_at_the_tail_during_writes_and_nothing_is_lost() {
    for craq in [false, true] {
        simulate(83, |seed| async move {
            let h = ChainHarness::supervised(seed, 6, craq);
            h.run_clients(ms(6_000), async {
                tokio::time::sleep(ms(1_500)).await;
                h.cluster.crash(h.chain_node(2));
                tokio::time::sleep(ms(1_000)).await;
                h.cluster.restart(h.chain_node(2));
            })
            .await;
            let config = h
                .managed_config()
                .await
                .expect("the manager holds the chain");
            // Removed (epoch 2), joining behind the tail (3), then the tail (4).
            assert_eq!(config.epoch, 4, "{config:?}");
            assert_eq!(config.nodes, vec![NodeId(4), NodeId(6), NodeId(5)]);
            assert_eq!(config.joining, None);
            assert_eq!(
                config.since,
                vec![(NodeId(5), 3)],
                "n5 began joining in epoch 3"
            );
            h.finish().await;
        });
    }
}

#[test]
fn the_last_node_of_a_chain_restarts_with_its_writes_and_the_chain_carries_on() {
    for craq in [false, true] {
        simulate(85, |seed| async move {
            let h = ChainHarness::supervised(seed, 6, craq);
            h.run_clients(ms(7_000), async {
                // Two nodes crash for good; the chain is down to n4.
                tokio::time::sleep(ms(1_000)).await;
                h.cluster.crash(h.chain_node(2));
                tokio::time::sleep(ms(1_500)).await;
                h.cluster.crash(h.chain_node(3));
                tokio::time::sleep(ms(1_500)).await;
                // n4 crashes too and comes back from its storage: it holds the only copy.
                h.cluster.crash(h.chain_node(1));
                tokio::time::sleep(ms(300)).await;
                h.cluster.restart(h.chain_node(1));
            })
            .await;
            let config = h
                .managed_config()
                .await
                .expect("the manager holds the chain");
            assert_eq!(config.nodes, vec![NodeId(4)], "{config:?}");
            h.finish().await;
        });
    }
}

#[test]
fn a_partitioned_head_loses_its_lease_before_the_supervisor_replaces_it() {
    for craq in [false, true] {
        simulate(82, |seed| async move {
            let h = ChainHarness::supervised(seed, 6, craq);
            h.run_clients(ms(5_000), async {
                tokio::time::sleep(ms(1_500)).await;
                // The head keeps its clients but reaches neither the chain nor the control
                // plane (the manager and the supervisors): it must stop serving before the new
                // chain commits.
                let head = h.chain_node(1);
                h.cluster.cut_off(head, &[1, 2, 3, 5, 6]);
            })
            .await;
            let config = h
                .managed_config()
                .await
                .expect("the manager holds the chain");
            assert_eq!(config.nodes, vec![NodeId(5), NodeId(6)], "{config:?}");
            h.finish().await;
        });
    }
}

#[test]
fn a_cut_off_tail_stops_serving_its_readers_before_the_new_chain_commits() {
    for craq in [false, true] {
        simulate(86, |seed| async move {
            // Three clients write; three only read, so only the tail they read at can send
            // them looking for the new chain (in CR every read goes to the tail).
            let h = ChainHarness::supervised(seed, 6, craq);
            h.run_clients_with_readers(ms(5_000), 3, async {
                tokio::time::sleep(ms(1_500)).await;
                // The tail keeps its clients but reaches neither the chain nor the control
                // plane (the manager and the supervisors). Without leases it would go on
                // answering reads with values the new chain has overwritten.
                let tail = h.chain_node(3);
                h.cluster.cut_off(tail, &[1, 2, 3, 4, 5]);
            })
            .await;
            let config = h
                .managed_config()
                .await
                .expect("the manager holds the chain");
            assert_eq!(config.nodes, vec![NodeId(4), NodeId(5)], "{config:?}");
            h.finish().await;
        });
    }
}

/// Laid out as real processes are, the cut-off tail's node runs a supervisor of its own, which
/// would renew its lease if it trusted the configuration it last saw: it may renew only what a
/// majority of the manager confirms, which the cut-off node cannot reach.
async fn a_cut_off_tail_with_its_own_supervisor_stops_serving(seed: u64, craq: bool) {
    // Three clients write; three only read, so only the tail they read at can send them
    // looking for the new chain.
    let h = ChainHarness::colocated(seed, 6, craq);
    h.run_clients_with_readers(ms(5_000), 3, async {
        tokio::time::sleep(ms(1_500)).await;
        // n3, the tail, keeps its clients and its own supervisor and manager replica, but
        // reaches neither other node: the other two supervisors replace it.
        let tail = h.chain_node(3);
        h.cluster.cut_off(tail, &[1, 2]);
    })
    .await;
    let config = h
        .managed_config()
        .await
        .expect("the manager holds the chain");
    assert_eq!(config.nodes, vec![NodeId(1), NodeId(2)], "{config:?}");
    h.finish().await;
}

#[test]
fn a_cut_off_tail_whose_own_supervisor_cannot_confirm_stops_serving_its_readers() {
    for craq in [false, true] {
        simulate(87, |seed| {
            a_cut_off_tail_with_its_own_supervisor_stops_serving(seed, craq)
        });
    }
}

/// The planted bug of the supervisor makes the same scenario fail.
#[cfg(feature = "planted-bugs")]
#[test]
fn a_supervisor_that_renews_unconfirmed_keeps_a_cut_off_tail_serving_stale_reads() {
    use troupe_runtime::plant::{fails_with, Bug};
    let caught = fails_with(Bug::RenewsUnconfirmed, || {
        simulate(87, |seed| {
            a_cut_off_tail_with_its_own_supervisor_stops_serving(seed, false)
        });
    });
    assert!(caught, "the planted bug slipped through");
}
