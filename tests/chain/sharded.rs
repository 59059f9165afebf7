//! Three chains over the same three servers, keys sharded across them (S1->S2->S3,
//! S2->S3->S1, S3->S1->S2), each chain under its own supervisor and manager key. One server
//! crash is a head crash for one chain, a middle crash for another and a tail crash for the
//! third; after its restart the server rejoins all three.

use crate::harness::{ms, ChainHarness};
use troupe_actors::chain::sharded::shard_of;
use troupe_messages::NodeId;
use troupe_runtime::testkit::simulate;

#[test]
fn a_server_crash_hits_every_chain_differently_and_it_rejoins_them_all() {
    for craq in [false, true] {
        simulate(84, |seed| async move {
            let h = ChainHarness::sharded(seed, 3, 6, craq);
            let keys: Vec<usize> = (0..h.keys).map(|k| shard_of(&format!("k{k}"), 3)).collect();
            for chain in 0..3 {
                assert!(keys.contains(&chain), "no key on chain {chain}: {keys:?}");
            }
            h.run_clients(ms(6_000), async {
                tokio::time::sleep(ms(1_500)).await;
                h.cluster.crash(5);
                tokio::time::sleep(ms(1_000)).await;
                h.cluster.restart(5);
            })
            .await;
            // n5 was the middle of chain 0, the head of chain 1 and the tail of chain 2; each
            // removed it (epoch 2), took it back as a joining node (3) and made it the tail (4).
            for (chain, survivors) in [(0, [4, 6]), (1, [6, 4]), (2, [6, 4])] {
                let config = h
                    .managed_config_of(chain)
                    .await
                    .expect("the manager holds every chain");
                let expected: Vec<NodeId> = survivors.into_iter().chain([5]).map(NodeId).collect();
                assert_eq!(config.nodes, expected, "chain {chain}: {config:?}");
                assert_eq!(config.epoch, 4, "chain {chain}: {config:?}");
            }
            h.finish().await;
        });
    }
}
