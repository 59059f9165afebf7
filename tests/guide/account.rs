//! Sections 1 and 2 of docs/guide.md: the messages of a durable account, and the account
//! actor. Every line after this header is shown in the guide.

use actix::{Actor, Context, Handler};
use serde::{Deserialize, Serialize};
use troupe_messages::Wire;
use troupe_runtime::{Node, PersisterExt, Spawned};

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

    /// Spawns the account as `account`, with the balance a previous incarnation persisted.
    pub fn spawn(node: &Node) -> troupe_runtime::Result<Spawned<Account>> {
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
            .accept::<Balance>())
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
