//! Section 4 of docs/guide.md: the failure test of the account. Every line after this header
//! is shown in the guide.

use crate::account::{Account, Balance};
use crate::calling::{deposit_one, Outcome};
use std::time::Duration;
use troupe_runtime::sim::LinkFaults;
use troupe_runtime::testkit::{simulate, Cluster};
use troupe_runtime::{ActorPath, NodeId};

#[test]
fn acknowledged_deposits_survive_crashes_partitions_and_loss() {
    simulate(2024, |seed| async move {
        let cluster = Cluster::builder(seed)
            .nodes(2)
            .faults(LinkFaults::unreliable()) // 10% loss, 0-27 ms delays (reordering)
            .topology(Account::start) // what every node runs, at start and restart
            .build();
        let client = cluster.up(1);
        let mut acknowledged = 0;
        for round in 0..100u64 {
            match round {
                30 => cluster.crash(2),
                40 => drop(cluster.restart(2)),
                60 => cluster.partition(&[&[1], &[2]]),
                70 => cluster.heal(),
                _ => {}
            }
            match deposit_one(&client).await {
                Outcome::Acknowledged(_) => acknowledged += 1,
                Outcome::Unknown => {}
                Outcome::Failed(e) => panic!("unexpected error: {e}"),
            }
        }
        cluster.reliable();
        let account = ActorPath::new(NodeId(2), "account");
        let balance = client
            .call(&account, Balance, Duration::from_secs(1))
            .await
            .expect("a healed, reliable network answers");
        assert!(
            balance >= acknowledged,
            "lost acknowledged deposits: balance {balance} < {acknowledged} acknowledged"
        );
        assert!(
            acknowledged > 50,
            "too few deposits got through: {acknowledged}"
        );
    });
}
