//! The code of docs/guide.md: a durable account actor and its failure test. If this file
//! changes, the guide changes with it.

use actix::{Actor, Context, Handler};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use troupe_messages::Wire;
use troupe_runtime::sim::LinkFaults;
use troupe_runtime::testkit::{simulate, Cluster};
use troupe_runtime::{ActorPath, Error, Node, NodeId, PersisterExt};

// --- 1. Messages -------------------------------------------------------------------------

/// Add `amount` to the account; answers the new balance once it is durable.
#[derive(Debug, Clone, Serialize, Deserialize, actix::Message)]
#[rtype(result = "u64")]
pub struct Deposit {
    pub amount: u64,
}

impl Wire for Deposit {
    const TAG: &'static str = "guide.deposit";
}

/// What is the balance?
#[derive(Debug, Clone, Serialize, Deserialize, actix::Message)]
#[rtype(result = "u64")]
pub struct Balance;

impl Wire for Balance {
    const TAG: &'static str = "guide.balance";
}

// --- 2. The actor ------------------------------------------------------------------------

/// An account whose balance survives crashes: it is written through the node's persister
/// before a deposit is acknowledged.
pub struct Account {
    node: Node,
    balance: u64,
}

impl Account {
    /// Starts the account on `node`, picking up the balance a previous incarnation persisted.
    pub fn start(node: &Node) {
        let balance = node
            .persister()
            .load_value::<u64>("balance")
            .ok()
            .flatten()
            .unwrap_or(0);
        let account = Account {
            node: node.clone(),
            balance,
        };
        node.spawn_named("account", account)
            .expect("the name is free on a fresh node")
            .accept::<Deposit>()
            .accept::<Balance>();
    }
}

impl Actor for Account {
    type Context = Context<Self>;
}

impl Handler<Deposit> for Account {
    type Result = u64;
    fn handle(&mut self, msg: Deposit, _: &mut Context<Self>) -> u64 {
        self.balance += msg.amount;
        // Durable before acknowledged. (The in-memory persister of the simulation cannot fail;
        // a real actor would stop with an error instead of acknowledging.)
        if let Err(e) = self.node.persister().save_value("balance", &self.balance) {
            tracing::error!("balance not persisted: {e}");
        }
        self.balance
    }
}

impl Handler<Balance> for Account {
    type Result = u64;
    fn handle(&mut self, _: Balance, _: &mut Context<Self>) -> u64 {
        self.balance
    }
}

// --- 3. The failure test -----------------------------------------------------------------

#[test]
fn acknowledged_deposits_survive_crashes_partitions_and_loss() {
    simulate(2024, |seed| async move {
        let cluster = Cluster::builder(seed)
            .nodes(2)
            .faults(LinkFaults::unreliable())
            .topology(Account::start)
            .build();
        let client = cluster.up(1);
        let account = ActorPath::new(NodeId(2), "account");
        let mut acknowledged = 0;
        for round in 0..100u64 {
            match round {
                30 => cluster.crash(2),
                40 => drop(cluster.restart(2)),
                60 => cluster.partition(&[&[1], &[2]]),
                70 => cluster.heal(),
                _ => {}
            }
            match client.call(&account, Deposit { amount: 1 }, Duration::from_millis(100)).await {
                Ok(_) => acknowledged += 1,
                // Lost, or the node was down or cut off: the deposit may or may not have landed.
                Err(Error::Timeout { .. }) => {}
                Err(other) => panic!("unexpected error: {other}"),
            }
        }
        cluster.reliable();
        let balance = client
            .call(&account, Balance, Duration::from_secs(1))
            .await
            .expect("a healed, reliable network answers");
        assert!(
            balance >= acknowledged,
            "lost acknowledged deposits: balance {balance} < {acknowledged} acknowledged"
        );
        assert!(acknowledged > 50, "too few deposits got through: {acknowledged}");
    });
}
