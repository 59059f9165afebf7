//! Supervision: a tree in which a child panics and is restarted, then crashes too often, so its
//! supervisor gives up and escalates to its parent, which restarts the whole subtree.
//!
//! Run it with `cargo run --example supervision` (add `RUST_LOG=info` to see the supervisors'
//! own log lines).
//!
//! The tree:
//!
//! ```text
//! app (one_for_one, at most 2 restarts in 10 s)
//! ├── cache              a worker
//! └── pipeline (rest_for_one, at most 1 restart in 10 s)
//!     ├── reader         a worker
//!     └── writer         a worker that depends on reader
//! ```
//!
//! What it teaches: child specs are factories, so a restart builds a fresh actor; the strategy
//! picks which siblings restart with a crashed child; the restart intensity turns a crash loop
//! into an escalation instead of a busy loop; a panic in a handler is just another crash.

use actix::{Actor, Context, Handler};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use troupe_messages::Wire;
use troupe_runtime::sim::block_on;
use troupe_runtime::{ExitReason, Node, NodeId};
use troupe_supervisors::{ChildSpec, Strategy, Supervisor, SupervisorSpec, WhichChildren};

/// A worker that panics when told to.
struct Worker {
    name: &'static str,
}

impl Actor for Worker {
    type Context = Context<Self>;
    fn started(&mut self, _: &mut Context<Self>) {
        println!("    {} started", self.name);
    }
}

/// Makes a worker panic.
#[derive(Debug, Serialize, Deserialize, actix::Message)]
#[rtype(result = "()")]
struct Crash;

impl Wire for Crash {
    const TAG: &'static str = "example.crash";
}

impl Handler<Crash> for Worker {
    type Result = ();
    fn handle(&mut self, _: Crash, _: &mut Context<Self>) {
        panic!("{} hit a bug", self.name);
    }
}

/// A child spec for a worker: the factory runs at every (re)start.
fn worker(name: &'static str) -> ChildSpec {
    ChildSpec::new(name, move |node: &Node| {
        Ok(node
            .spawn_named(name, Worker { name })?
            .accept::<Crash>()
            .into_handle())
    })
}

async fn crash(node: &Node, name: &str) {
    println!("  -> making {name} panic");
    node.send(&node.path(name), Crash)
        .expect("the worker is running");
    tokio::time::sleep(Duration::from_millis(10)).await;
}

async fn show(node: &Node, supervisor: &str) {
    let children = node
        .call(
            &node.path(supervisor),
            WhichChildren,
            Duration::from_secs(1),
        )
        .await
        .expect("the supervisor answers");
    for c in children {
        println!(
            "    [{supervisor}] {:<8} alive: {:<5} restarts: {}",
            c.id, c.alive, c.restarts
        );
    }
}

fn main() {
    // The workers' panics are expected; keep them out of the narration, but let any other
    // panic through.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info.payload().downcast_ref::<String>();
        if !message.is_some_and(|m| m.ends_with("hit a bug")) {
            default_hook(info);
        }
    }));
    block_on(async {
        let node = Node::local(NodeId(1));
        let pipeline = SupervisorSpec::new("pipeline")
            .strategy(Strategy::RestForOne)
            .intensity(1, Duration::from_secs(10))
            .child(worker("reader"))
            .child(worker("writer"));
        let app = SupervisorSpec::new("app")
            .strategy(Strategy::OneForOne)
            .intensity(2, Duration::from_secs(10))
            .child(worker("cache"))
            .child(ChildSpec::supervisor(pipeline));

        println!("starting the tree");
        let app = Supervisor::start(&node, app)
            .expect("the tree starts")
            .into_handle();
        tokio::time::sleep(Duration::from_millis(10)).await;

        println!("\n1. a panic is a crash: the supervisor restarts the child (one_for_one)");
        crash(&node, "cache").await;
        show(&node, "app").await;

        println!("\n2. rest_for_one: reader crashes, so writer (started after it) restarts too");
        crash(&node, "reader").await;
        show(&node, "pipeline").await;

        println!("\n3. a second crash within 10 s exceeds pipeline's intensity (1): it escalates,");
        println!("   and app restarts the whole pipeline subtree from scratch");
        crash(&node, "reader").await;
        show(&node, "app").await;
        show(&node, "pipeline").await;

        println!("\n4. app has used its 2 restarts; the next pipeline escalation is one too many");
        crash(&node, "reader").await;
        crash(&node, "reader").await;
        let reason = app.exit_reason().expect("app has stopped");
        println!("    app stopped: {reason}");
        assert!(matches!(reason, ExitReason::Escalated { .. }));
        assert!(
            node.send(&node.path("cache"), Crash).is_err(),
            "cache went down with app"
        );
        println!("\nthe tree is gone, as it should be: nobody above app to escalate to");
    });
}
