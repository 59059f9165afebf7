//! What `Supervisor::start` has done by the time it returns: every child's factory has run, in
//! order and down nested supervisors, so the whole tree can be called at once; a factory that
//! failed is restarted as if its child had crashed.

use crate::strategies::lone_node;
use crate::support::*;
use actix::{Actor, ActorContext, Context, Handler};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;
use tokio::time::Instant;
use troupe_runtime::testkit::{simulate, Cluster};
use troupe_runtime::{Error, Node};
use troupe_supervisors::{ChildSpec, Supervisor, SupervisorSpec};

#[test]
fn a_tree_is_registered_when_start_returns() {
    simulate(30, |_| async {
        let node = lone_node();
        let starts: Starts = Rc::new(RefCell::new(Vec::new()));
        let origin = Instant::now();
        let inner = SupervisorSpec::new("inner").child(worker("b", &starts, origin));
        let spec = SupervisorSpec::new("top")
            .child(worker("a", &starts, origin))
            .child(ChildSpec::supervisor(inner))
            .child(worker("c", &starts, origin));
        Supervisor::start(&node, spec).expect("the tree starts");
        for name in ["top", "a", "inner", "b", "c"] {
            assert!(node.handle(name).is_some(), "{name} is not registered");
        }
        // The first calls, with no wait before them.
        let alive = |children: Vec<troupe_supervisors::ChildInfo>| {
            children.iter().map(|c| c.alive).collect::<Vec<_>>()
        };
        assert_eq!(alive(children(&node, "top").await), [true, true, true]);
        assert_eq!(alive(children(&node, "inner").await), [true]);
        assert_eq!(start_counts(&starts, &["a", "b", "c"]), [1, 1, 1]);
    });
}

#[test]
fn a_child_whose_factory_fails_at_start_is_restarted() {
    simulate(31, |seed| async move {
        let cluster = Cluster::builder(seed).nodes(1).build();
        let node = cluster.up(1);
        let attempts = Rc::new(Cell::new(0));
        let tries = attempts.clone();
        let flaky = ChildSpec::new("flaky", move |node: &Node| {
            tries.set(tries.get() + 1);
            if tries.get() == 1 {
                return Err(Error::NameTaken("flaky".into()));
            }
            Ok(node
                .spawn_named("flaky", Idle)?
                .accept::<Quit>()
                .into_handle())
        });
        Supervisor::start(&node, SupervisorSpec::new("sup").child(flaky)).expect("starts");
        assert_eq!(attempts.get(), 1, "the factory ran before start returned");
        assert!(node.handle("flaky").is_none());
        let back = || node.handle("flaky").is_some();
        let waited = cluster.wait_until("flaky restarted", Duration::from_secs(1), back);
        assert!(waited.await.is_ok());
        assert_eq!(attempts.get(), 2);
    });
}

/// An actor that does nothing until told to quit (an actor that accepts nothing would stop as
/// soon as its builder is dropped: nothing could reach it).
struct Idle;

impl Actor for Idle {
    type Context = Context<Self>;
}

impl Handler<Quit> for Idle {
    type Result = ();
    fn handle(&mut self, _: Quit, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}
