//! Section 6 of docs/guide.md: a handler that calls another actor and answers once that
//! actor has. Every line after this header is shown in the guide.

use crate::account::{Account, Deposit};
use actix::{Actor, ActorFutureExt, Context, Handler, ResponseActFuture, WrapFuture};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use troupe_messages::Wire;
use troupe_runtime::testkit::{simulate, Cluster};
use troupe_runtime::{ActorPath, Node, NodeId, Spawned};

/// Pay `amount` into the account at `to`; answers its new balance, or `None` if the account
/// did not acknowledge the deposit in time.
#[derive(Debug, Clone, Serialize, Deserialize, actix::Message)]
#[rtype(result = "Option<u64>")]
pub struct Pay {
    pub to: ActorPath,
    pub amount: u64,
}

impl Wire for Pay {
    const TAG: &'static str = "guide.pay";
}

/// How many payments were acknowledged?
#[derive(Debug, Clone, Serialize, Deserialize, actix::Message)]
#[rtype(result = "u64")]
pub struct Paid;

impl Wire for Paid {
    const TAG: &'static str = "guide.paid";
}

/// A teller: passes each payment on to an account and counts the acknowledged ones.
pub struct Teller {
    node: Node,
    paid: u64,
}

impl Teller {
    /// Spawns the teller as `teller`.
    pub fn spawn(node: &Node) -> troupe_runtime::Result<Spawned<Teller>> {
        let teller = Teller {
            node: node.clone(),
            paid: 0,
        };
        Ok(node
            .spawn_named("teller", teller)?
            .accept::<Pay>()
            .accept::<Paid>())
    }
}

impl Actor for Teller {
    type Context = Context<Self>;
}

impl Handler<Pay> for Teller {
    type Result = ResponseActFuture<Self, Option<u64>>;
    fn handle(&mut self, msg: Pay, _: &mut Context<Self>) -> Self::Result {
        let node = self.node.clone();
        let deposit = Deposit { amount: msg.amount };
        let call = async move {
            node.call(&msg.to, deposit, Duration::from_millis(100))
                .await
        };
        // `into_actor` gives the continuation the actor back (`teller`), to update its state.
        Box::pin(call.into_actor(self).map(|answer, teller, _| {
            let balance = answer.ok()?;
            teller.paid += 1;
            Some(balance)
        }))
    }
}

impl Handler<Paid> for Teller {
    type Result = u64;
    fn handle(&mut self, _: Paid, _: &mut Context<Self>) -> u64 {
        self.paid
    }
}

#[test]
fn a_teller_answers_once_the_account_has() {
    simulate(2029, |seed| async move {
        let cluster = Cluster::builder(seed)
            .nodes(2)
            .topology(Account::start)
            .build();
        let bank = cluster.up(1);
        let teller = Teller::spawn(&bank).expect("spawned").path();
        let to = ActorPath::new(NodeId(2), "account");
        let t = Duration::from_secs(1);
        let pay = |amount| Pay {
            to: to.clone(),
            amount,
        };
        assert_eq!(bank.call(&teller, pay(3), t).await, Ok(Some(3)));
        assert_eq!(bank.call(&teller, pay(4), t).await, Ok(Some(7)));
        cluster.crash(2);
        assert_eq!(bank.call(&teller, pay(5), t).await, Ok(None));
        assert_eq!(bank.call(&teller, Paid, t).await, Ok(2));
    });
}
