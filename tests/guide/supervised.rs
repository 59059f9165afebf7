//! Section 5 of docs/guide.md: the account under a supervisor, and a bug that crashes it.
//! Every line after this header is shown in the guide.

use crate::account::{Account, Balance, Deposit};
use actix::{Context, Handler};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tokio::time::Instant;
use troupe_messages::Wire;
use troupe_runtime::testkit::{simulate, Cluster};
use troupe_runtime::{Node, NodeId};
use troupe_supervisors::{ChildSpec, Strategy, Supervisor, SupervisorSpec};

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

/// The bank: the account (with its bug), restarted after each crash once a backoff has passed.
pub fn bank() -> SupervisorSpec {
    SupervisorSpec::new("bank")
        .strategy(Strategy::OneForOne)
        .intensity(3, Duration::from_secs(5)) // more restarts than that: escalate
        .backoff(Duration::from_millis(100), Duration::from_secs(2))
        .child(ChildSpec::new("account", |node: &Node| {
            Ok(Account::spawn(node)?.accept::<Bug>().into_handle())
        }))
}

#[test]
fn the_account_answers_right_after_its_supervisor_starts() {
    simulate(2025, |_| async move {
        let node = Node::local(NodeId(1));
        Supervisor::start(&node, bank()).expect("the tree starts");
        let account = node.path("account");
        let t = Duration::from_secs(1);
        assert_eq!(node.call(&account, Deposit { amount: 5 }, t).await, Ok(5));
    });
}

#[test]
fn a_supervisor_restarts_a_panicking_account_with_its_balance() {
    simulate(2025, |seed| async move {
        let cluster = Cluster::builder(seed)
            .nodes(1)
            .topology(|node| {
                Supervisor::start(node, bank()).expect("the tree starts");
            })
            .build();
        let node = cluster.up(1);
        let account = node.path("account");
        let t = Duration::from_secs(1);
        assert_eq!(node.call(&account, Deposit { amount: 5 }, t).await, Ok(5));

        node.send(&account, Bug).expect("the account is running");
        let crashed = Instant::now();
        let back = || async { node.call(&account, Balance, t).await == Ok(5) };
        let every = Duration::from_millis(10);
        let waited = cluster
            .wait_for("the account is back", t, every, back)
            .await;
        assert!(waited.is_ok(), "{waited:?}");
        assert!(
            crashed.elapsed() >= Duration::from_millis(100),
            "no backoff"
        );
    });
}
