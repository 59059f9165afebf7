//! Echo: your first troupe actor, reached locally and across the network with the same API.
//!
//! Run it with `cargo run --example echo`.
//!
//! What it teaches:
//! 1. An actor is a plain actix actor. Its messages live in `troupe-messages` (here
//!    `troupe_messages::echo`): serde types that are also actix messages, each with a wire tag.
//! 2. `node.spawn_named("echo", actor)?.accept::<Echo>()` starts it under a name and says which
//!    messages may reach it, from its own node or any other.
//! 3. `node.call(&path, msg, deadline)` asks and waits for the answer; `node.send(&path, msg)`
//!    tells without waiting. The path decides where the actor is; the code is the same.
//! 4. Failures are typed values: a missing actor is `Rejected`, a silent network is `Timeout`.
//!
//! Everything runs on the simulated network in virtual time: two nodes in one process, every
//! cross-node message encoded with rmp-serde exactly as it would be on a wire.

use actix::{Actor, Context, Handler};
use std::time::Duration;
use troupe_messages::echo::{Echo, Note, NotesSeen};
use troupe_runtime::sim::block_on;
use troupe_runtime::testkit::Cluster;
use troupe_runtime::{ActorPath, Error, Node, NodeId};

/// The echo actor: answers `Echo` with the same text, tagged with its node, and counts notes.
struct EchoActor {
    node: Node,
    notes: u64,
}

impl Actor for EchoActor {
    type Context = Context<Self>;
}

impl Handler<Echo> for EchoActor {
    type Result = String;
    fn handle(&mut self, msg: Echo, _: &mut Context<Self>) -> String {
        format!("{} (echoed by {})", msg.0, self.node.id())
    }
}

impl Handler<Note> for EchoActor {
    type Result = ();
    fn handle(&mut self, _: Note, _: &mut Context<Self>) {
        self.notes += 1;
    }
}

impl Handler<NotesSeen> for EchoActor {
    type Result = u64;
    fn handle(&mut self, _: NotesSeen, _: &mut Context<Self>) -> u64 {
        self.notes
    }
}

/// What every node runs: one echo actor, registered as "echo".
fn topology(node: &Node) {
    let actor = EchoActor {
        node: node.clone(),
        notes: 0,
    };
    node.spawn_named("echo", actor)
        .expect("the name is free on a fresh node")
        .accept::<Echo>()
        .accept::<Note>()
        .accept::<NotesSeen>();
}

fn main() -> Result<(), Error> {
    block_on(async {
        let cluster = Cluster::builder(7).nodes(2).topology(topology).build();
        let n1 = cluster.up(1);
        let deadline = Duration::from_secs(1);
        let local = ActorPath::new(NodeId(1), "echo");
        let remote = ActorPath::new(NodeId(2), "echo");

        // The same call, to an actor on this node and to one on another node.
        println!("{}", n1.call(&local, Echo("hello".into()), deadline).await?);
        println!(
            "{}",
            n1.call(&remote, Echo("hello".into()), deadline).await?
        );

        // One-way sends; a call afterwards shows they arrived (one link delivers in order).
        for i in 0..3 {
            n1.send(&remote, Note(format!("note {i}")))?;
        }
        let seen = n1.call(&remote, NotesSeen, deadline).await?;
        println!("n2's echo actor has seen {seen} notes");
        assert_eq!(seen, 3);

        // Errors a caller can act on.
        let nobody = ActorPath::new(NodeId(2), "nobody");
        match n1.call(&nobody, Echo("anyone?".into()), deadline).await {
            Err(e @ Error::Rejected { .. }) => println!("as expected: {e}"),
            other => panic!("expected a refusal, got {other:?}"),
        }
        cluster.partition(&[&[1], &[2]]);
        match n1
            .call(&remote, Echo("are you there?".into()), deadline)
            .await
        {
            Err(e @ Error::Timeout { .. }) => println!("as expected, across a partition: {e}"),
            other => panic!("expected a timeout, got {other:?}"),
        }
        cluster.heal();
        println!(
            "{}",
            n1.call(&remote, Echo("healed".into()), deadline).await?
        );

        let stats = cluster.stats();
        println!(
            "network: {} messages sent, {} delivered, {} dropped",
            stats.sent,
            stats.delivered,
            stats.dropped()
        );
        Ok(())
    })
}
