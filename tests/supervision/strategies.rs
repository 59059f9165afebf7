//! one_for_one, one_for_all and rest_for_one, each after a panic in the middle child.

use crate::support::*;
use std::cell::RefCell;
use std::rc::Rc;
use tokio::time::Instant;
use troupe_runtime::testkit::simulate;
use troupe_runtime::{Node, NodeId};
use troupe_supervisors::{Strategy, Supervisor, SupervisorSpec};

/// A lone node (no network needed) for supervision tests.
pub fn lone_node() -> Node {
    Node::local(NodeId(1))
}

fn crash_b_under(strategy: Strategy) -> (Vec<usize>, Vec<String>, Vec<u64>) {
    simulate(20, |_| async move {
        let node = lone_node();
        let starts: Starts = Rc::new(RefCell::new(Vec::new()));
        let origin = Instant::now();
        let spec = SupervisorSpec::new("sup")
            .strategy(strategy)
            .child(worker("a", &starts, origin))
            .child(worker("b", &starts, origin))
            .child(worker("c", &starts, origin));
        Supervisor::start(&node, spec).unwrap();
        settle().await;
        assert_eq!(start_counts(&starts, &["a", "b", "c"]), [1, 1, 1]);
        tell(&node, "b", Crash);
        settle().await;
        let infos = children(&node, "sup").await;
        assert!(
            infos.iter().all(|c| c.alive),
            "every child runs again: {infos:?}"
        );
        let order = starts.borrow()[3..]
            .iter()
            .map(|(id, _)| id.clone())
            .collect();
        let restarts = infos.iter().map(|c| c.restarts).collect();
        (start_counts(&starts, &["a", "b", "c"]), order, restarts)
    })
}

#[test]
fn one_for_one_restarts_only_the_crashed_child() {
    let (counts, order, restarts) = crash_b_under(Strategy::OneForOne);
    assert_eq!(counts, [1, 2, 1]);
    assert_eq!(order, ["b"]);
    assert_eq!(restarts, [0, 1, 0]);
}

#[test]
fn one_for_all_restarts_every_child_in_order() {
    let (counts, order, restarts) = crash_b_under(Strategy::OneForAll);
    assert_eq!(counts, [2, 2, 2]);
    assert_eq!(order, ["a", "b", "c"]);
    assert_eq!(restarts, [1, 1, 1]);
}

#[test]
fn rest_for_one_restarts_the_crashed_child_and_those_after_it() {
    let (counts, order, restarts) = crash_b_under(Strategy::RestForOne);
    assert_eq!(counts, [1, 2, 2]);
    assert_eq!(order, ["b", "c"]);
    assert_eq!(restarts, [0, 1, 1]);
}
