//! Section 3 of docs/guide.md: calling the account from another node, and what each answer
//! means. Every line after this header is shown in the guide.

use crate::account::{Account, Deposit};
use std::time::Duration;
use troupe_runtime::testkit::{simulate, Cluster};
use troupe_runtime::{ActorPath, Error, Node, NodeId};

/// What is known of one deposit.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Acknowledged, with the new balance: it is durable.
    Acknowledged(u64),
    /// No answer by the deadline: it may or may not have happened.
    Unknown,
    /// Refused or never sent: it did not happen.
    Failed(String),
}

/// Deposits 1 into the account on node n2, from `client`.
pub async fn deposit_one(client: &Node) -> Outcome {
    let account = ActorPath::new(NodeId(2), "account");
    let deadline = Duration::from_millis(100);
    match client.call(&account, Deposit { amount: 1 }, deadline).await {
        Ok(balance) => Outcome::Acknowledged(balance),
        Err(Error::Timeout { .. }) => Outcome::Unknown,
        // Rejected (no such actor, unknown kind, undecodable) or Unreachable.
        Err(other) => Outcome::Failed(other.to_string()),
    }
}

#[test]
fn a_deposit_is_acknowledged_then_unknown_once_its_node_crashed() {
    simulate(2023, |seed| async move {
        let cluster = Cluster::builder(seed)
            .nodes(2)
            .topology(Account::start)
            .build();
        let client = cluster.up(1);
        assert_eq!(deposit_one(&client).await, Outcome::Acknowledged(1));
        cluster.crash(2);
        assert_eq!(deposit_one(&client).await, Outcome::Unknown);
    });
}
