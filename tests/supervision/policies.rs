//! permanent, transient and temporary children, after normal and abnormal exits.

use crate::strategies::lone_node;
use crate::support::*;
use std::cell::RefCell;
use std::rc::Rc;
use tokio::time::Instant;
use troupe_runtime::testkit::simulate;
use troupe_supervisors::{Restart, Supervisor, SupervisorSpec};

#[test]
fn each_policy_decides_whether_a_child_comes_back() {
    simulate(21, |_| async {
        let node = lone_node();
        let starts: Starts = Rc::new(RefCell::new(Vec::new()));
        let origin = Instant::now();
        let spec = SupervisorSpec::new("sup")
            .child(worker("perm", &starts, origin).restart(Restart::Permanent))
            .child(worker("trans", &starts, origin).restart(Restart::Transient))
            .child(worker("temp", &starts, origin).restart(Restart::Temporary));
        Supervisor::start(&node, spec).unwrap();
        settle().await;
        let ids = ["perm", "trans", "temp"];

        // A normal exit: only the permanent child comes back.
        tell(&node, "perm", Quit);
        tell(&node, "trans", Quit);
        settle().await;
        assert_eq!(start_counts(&starts, &ids), [2, 1, 1]);
        let alive: Vec<bool> = children(&node, "sup")
            .await
            .iter()
            .map(|c| c.alive)
            .collect();
        assert_eq!(alive, [true, false, true]);

        // An abnormal exit (an error, then a panic): transient children come back, temporary
        // ones do not.
        let starts2 = starts.clone();
        let spec = SupervisorSpec::new("sup2")
            .child(worker("trans2", &starts2, origin).restart(Restart::Transient));
        Supervisor::start(&node, spec).unwrap();
        settle().await;
        tell(&node, "trans2", Fail);
        settle().await;
        tell(&node, "trans2", Crash);
        settle().await;
        assert_eq!(start_counts(&starts, &["trans2"]), [3]);

        tell(&node, "temp", Crash);
        settle().await;
        assert_eq!(start_counts(&starts, &["temp"]), [1]);
        let temp = &children(&node, "sup").await[2];
        assert!(!temp.alive && temp.restarts == 0);
    });
}
