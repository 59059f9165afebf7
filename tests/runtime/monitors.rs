//! Monitors: local and remote, on normal exits, panics, and node crashes.

use crate::support::{Counter, Explode};
use actix::{Actor, Context, Handler};
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;
use troupe_messages::NodeId;
use troupe_runtime::testkit::{simulate, Cluster};
use troupe_runtime::{ActorPath, Down, DownReason, ExitReason, Node};

/// Collects the `Down` messages it receives.
struct Watcher {
    downs: Rc<RefCell<Vec<Down>>>,
}

impl Actor for Watcher {
    type Context = Context<Self>;
}

impl Handler<Down> for Watcher {
    type Result = ();
    fn handle(&mut self, msg: Down, _: &mut Context<Self>) {
        self.downs.borrow_mut().push(msg);
    }
}

fn watch(node: &Node, target: ActorPath) -> Rc<RefCell<Vec<Down>>> {
    let downs = Rc::new(RefCell::new(Vec::new()));
    let watcher = node.spawn(Watcher {
        downs: downs.clone(),
    });
    node.watch(&target, watcher.addr().clone().recipient());
    downs
}

#[test]
fn a_local_monitor_sees_a_panic() {
    simulate(12, |seed| async move {
        let cluster = Cluster::builder(seed)
            .nodes(1)
            .topology(Counter::start)
            .build();
        let n1 = cluster.up(1);
        let target = ActorPath::new(NodeId(1), "counter");
        let downs = watch(&n1, target.clone());
        n1.send(&target, Explode).unwrap();
        cluster
            .wait_until("the monitor fired", Duration::from_secs(1), || {
                !downs.borrow().is_empty()
            })
            .await
            .unwrap();
        let down = downs.borrow()[0].clone();
        assert_eq!(down.target, target);
        assert_eq!(
            down.reason,
            DownReason::Terminated(ExitReason::Panic("counter exploded on purpose".into()))
        );
        // The name is free again, and watching it now reports that nobody is there.
        let again = watch(&n1, target);
        cluster.run_for(Duration::from_millis(1)).await;
        assert_eq!(again.borrow()[0].reason, DownReason::NoSuchActor);
    });
}

#[test]
fn a_remote_monitor_sees_an_actor_exit_and_a_node_crash() {
    simulate(13, |seed| async move {
        let cluster = Cluster::builder(seed)
            .nodes(3)
            .topology(Counter::start)
            .build();
        let n1 = cluster.up(1);
        // Watch n2's counter (it will panic) and n3's counter (its node will crash).
        let panicking = watch(&n1, ActorPath::new(NodeId(2), "counter"));
        let crashing = watch(&n1, ActorPath::new(NodeId(3), "counter"));
        let missing = watch(&n1, ActorPath::new(NodeId(2), "nobody"));
        cluster.run_for(Duration::from_millis(50)).await;
        assert!(panicking.borrow().is_empty() && crashing.borrow().is_empty());
        assert_eq!(missing.borrow()[0].reason, DownReason::NoSuchActor);

        n1.send(&ActorPath::new(NodeId(2), "counter"), Explode)
            .unwrap();
        cluster
            .wait_until("remote panic reported", Duration::from_secs(1), || {
                !panicking.borrow().is_empty()
            })
            .await
            .unwrap();
        assert!(matches!(
            panicking.borrow()[0].reason,
            DownReason::Terminated(ExitReason::Panic(_))
        ));

        cluster.crash(3);
        let took = cluster
            .wait_until("node-down reported", Duration::from_secs(2), || {
                !crashing.borrow().is_empty()
            })
            .await
            .unwrap();
        assert_eq!(crashing.borrow()[0].reason, DownReason::NodeDown);
        // The detector counts from the last answer, which came at most one heartbeat before the
        // crash, and checks once per heartbeat.
        let config = n1.config();
        assert!(
            took + config.heartbeat >= config.down_after
                && took <= config.down_after + config.heartbeat,
            "node-down after {took:?}, expected about {:?}",
            config.down_after
        );
        assert_eq!(crashing.borrow().len(), 1, "exactly one Down per monitor");
    });
}

#[test]
fn a_remote_monitor_fires_when_the_node_restarts_before_it_is_declared_down() {
    simulate(14, |seed| async move {
        let cluster = Cluster::builder(seed)
            .nodes(2)
            .topology(Counter::start)
            .build();
        let n1 = cluster.up(1);
        let downs = watch(&n1, ActorPath::new(NodeId(2), "counter"));
        cluster.run_for(Duration::from_millis(50)).await;
        cluster.crash(2);
        cluster.restart(2);
        // The restarted node has a new counter under the same name, but the watched actor died:
        // the next heartbeat answer comes from a new incarnation.
        cluster
            .wait_until("restart noticed", Duration::from_secs(1), || {
                !downs.borrow().is_empty()
            })
            .await
            .unwrap();
        assert_eq!(downs.borrow()[0].reason, DownReason::NodeDown);
    });
}
