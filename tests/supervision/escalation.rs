//! Restart intensity (and escalation to a parent), backoff, and a supervisor's children dying
//! with it.

use crate::strategies::lone_node;
use crate::support::*;
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;
use tokio::time::Instant;
use troupe_runtime::testkit::simulate;
use troupe_runtime::ExitReason;
use troupe_supervisors::{ChildSpec, Strategy, Supervisor, SupervisorSpec};

#[test]
fn exceeding_the_intensity_stops_the_children_and_escalates() {
    simulate(22, |_| async {
        let node = lone_node();
        let starts: Starts = Rc::new(RefCell::new(Vec::new()));
        let origin = Instant::now();
        let spec = SupervisorSpec::new("sup")
            .intensity(3, Duration::from_secs(5))
            .child(worker("steady", &starts, origin))
            .child(worker("flaky", &starts, origin));
        let sup = Supervisor::start(&node, spec).unwrap().into_handle();
        settle().await;
        for _ in 0..3 {
            tell(&node, "flaky", Crash);
            settle().await;
        }
        assert!(sup.is_alive(), "three restarts in the window are allowed");
        assert_eq!(start_counts(&starts, &["steady", "flaky"]), [1, 4]);
        tell(&node, "flaky", Crash);
        settle().await;
        assert_eq!(
            sup.exit_reason(),
            Some(ExitReason::Escalated {
                supervisor: "sup".into(),
                child: "flaky".into()
            })
        );
        // The children went down with it: no name answers any more.
        let probe = node.send(&node.path("steady"), Quit);
        assert!(probe.is_err(), "steady must be stopped, got {probe:?}");
    });
}

#[test]
fn restarts_spread_beyond_the_window_never_escalate() {
    simulate(23, |_| async {
        let node = lone_node();
        let starts: Starts = Rc::new(RefCell::new(Vec::new()));
        let spec = SupervisorSpec::new("sup")
            .intensity(2, Duration::from_secs(1))
            .child(worker("flaky", &starts, Instant::now()));
        let sup = Supervisor::start(&node, spec).unwrap().into_handle();
        settle().await;
        for _ in 0..10 {
            tell(&node, "flaky", Crash);
            tokio::time::sleep(Duration::from_millis(600)).await;
        }
        assert!(sup.is_alive());
        assert_eq!(start_counts(&starts, &["flaky"]), [11]);
    });
}

#[test]
fn an_escalation_reaches_the_parent_which_restarts_the_subtree() {
    simulate(24, |_| async {
        let node = lone_node();
        let starts: Starts = Rc::new(RefCell::new(Vec::new()));
        let origin = Instant::now();
        let inner = SupervisorSpec::new("inner")
            .strategy(Strategy::OneForOne)
            .intensity(1, Duration::from_secs(5))
            .child(worker("x", &starts, origin))
            .child(worker("y", &starts, origin));
        let outer = SupervisorSpec::new("outer")
            .intensity(5, Duration::from_secs(5))
            .child(ChildSpec::supervisor(inner))
            .child(worker("z", &starts, origin));
        let top = Supervisor::start(&node, outer).unwrap().into_handle();
        settle().await;
        tell(&node, "x", Crash); // inner restarts x (1 of 1 allowed)
        settle().await;
        tell(&node, "x", Crash); // inner gives up and escalates; outer restarts inner
        settle().await;
        assert!(top.is_alive());
        // x: first start, inner's restart, then the fresh start of the restarted subtree.
        // y: first start and the fresh start. z (a sibling of inner) is untouched.
        assert_eq!(start_counts(&starts, &["x", "y", "z"]), [3, 2, 1]);
        let outer_children = children(&node, "outer").await;
        assert_eq!(outer_children[0].id, "inner");
        assert_eq!(outer_children[0].restarts, 1);
        assert!(children(&node, "inner")
            .await
            .iter()
            .all(|c| c.alive && c.restarts == 0));
    });
}

#[test]
fn backoff_doubles_the_delay_between_restarts() {
    simulate(25, |_| async {
        let node = lone_node();
        let starts: Starts = Rc::new(RefCell::new(Vec::new()));
        let origin = Instant::now();
        let spec = SupervisorSpec::new("sup")
            .intensity(10, Duration::from_secs(60))
            .backoff(Duration::from_millis(100), Duration::from_millis(300))
            .child(worker("w", &starts, origin));
        Supervisor::start(&node, spec).unwrap();
        settle().await;
        let mut delays = Vec::new();
        for _ in 0..4 {
            let crashed_at = origin.elapsed();
            tell(&node, "w", Crash);
            tokio::time::sleep(Duration::from_millis(50)).await;
            let waiting = &children(&node, "sup").await[0];
            assert!(
                !waiting.alive && waiting.restarting,
                "still backing off: {waiting:?}"
            );
            tokio::time::sleep(Duration::from_millis(400)).await;
            let restarted_at = starts.borrow().last().expect("restarted").1;
            delays.push((restarted_at - crashed_at).as_millis());
        }
        assert_eq!(delays, [100, 200, 300, 300]);
    });
}

#[test]
fn a_killed_supervisor_takes_its_children_down() {
    simulate(26, |_| async {
        let node = lone_node();
        let starts: Starts = Rc::new(RefCell::new(Vec::new()));
        let spec = SupervisorSpec::new("sup").child(worker("w", &starts, Instant::now()));
        let sup = Supervisor::start(&node, spec).unwrap().into_handle();
        settle().await;
        sup.kill(ExitReason::Killed);
        settle().await;
        assert!(
            node.send(&node.path("w"), Quit).is_err(),
            "the child outlived its supervisor"
        );
        assert_eq!(
            start_counts(&starts, &["w"]),
            [1],
            "and nobody restarted it"
        );
    });
}
