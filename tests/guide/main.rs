//! The code of docs/guide.md: a durable account actor and its failure test. If this file
//! changes, the guide changes with it.
//!
//! Its modules: [`register`], the failure tests of docs/adding-a-system.md, and [`excerpts`],
//! which checks that every Rust block of that document is the compiled code.

mod excerpts;
mod register;

use actix::{Actor, Context, Handler};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use troupe_messages::Wire;
use troupe_runtime::sim::LinkFaults;
use troupe_runtime::testkit::{simulate, Cluster};
use troupe_runtime::{ActorHandle, ActorPath, Error, Node, NodeId, PersisterExt};
use troupe_supervisors::{ChildSpec, Strategy, Supervisor, SupervisorSpec};

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
    /// Starts the account on `node` (a topology factory: it runs at every start and restart).
    pub fn start(node: &Node) {
        if let Err(e) = Account::spawn(node) {
            tracing::error!(node = %node.id(), "account did not start: {e}");
        }
    }

    /// Spawns the account, picking up the balance a previous incarnation persisted; returns its
    /// handle (what a supervisor's child factory returns).
    pub fn spawn(node: &Node) -> troupe_runtime::Result<ActorHandle> {
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
        Ok(node
            .spawn_named("account", account)?
            .accept::<Deposit>()
            .accept::<Balance>()
            .accept::<Bug>()
            .into_handle())
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
            match client
                .call(&account, Deposit { amount: 1 }, Duration::from_millis(100))
                .await
            {
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
        assert!(
            acknowledged > 50,
            "too few deposits got through: {acknowledged}"
        );
    });
}

// --- 4. Supervised -----------------------------------------------------------------------

/// Panics when handled: a bug in the account.
#[derive(Debug, Clone, Serialize, Deserialize, actix::Message)]
#[rtype(result = "()")]
pub struct Bug;

impl Wire for Bug {
    const TAG: &'static str = "guide.bug";
}

impl Handler<Bug> for Account {
    type Result = ();
    fn handle(&mut self, _: Bug, _: &mut Context<Self>) {
        panic!("a bug in the account");
    }
}

#[test]
fn a_supervisor_restarts_a_panicking_account_with_its_balance() {
    simulate(2025, |_| async move {
        let node = Node::local(NodeId(1));
        let spec = SupervisorSpec::new("bank")
            .strategy(Strategy::OneForOne)
            .intensity(3, Duration::from_secs(5))
            .backoff(Duration::from_millis(100), Duration::from_secs(2))
            .child(ChildSpec::new("account", Account::spawn));
        Supervisor::start(&node, spec).expect("the tree starts");
        tokio::time::sleep(Duration::from_millis(1)).await;
        let account = node.path("account");
        let t = Duration::from_secs(1);
        assert_eq!(node.call(&account, Deposit { amount: 5 }, t).await, Ok(5));

        // The bug: the handler panics, which is a crash. During the 100 ms backoff nobody is
        // there; then the supervisor starts a fresh account, which reads the persisted balance.
        node.send(&account, Bug).expect("the account is running");
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(matches!(
            node.call(&account, Balance, t).await,
            Err(Error::Rejected { .. })
        ));
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert_eq!(node.call(&account, Balance, t).await, Ok(5));
    });
}
