//! Small actors the runtime tests share.

use actix::{Actor, Context, Handler};
use serde::{Deserialize, Serialize};
use troupe_messages::Wire;
use troupe_runtime::{Node, PersisterExt};

/// Adds to a counter kept in memory and, on request, also in the node's persister.
pub struct Counter {
    pub node: Node,
    pub volatile: u64,
}

#[derive(Debug, Serialize, Deserialize, actix::Message)]
#[rtype(result = "u64")]
pub struct Add {
    pub by: u64,
    pub persist: bool,
}
impl Wire for Add {
    const TAG: &'static str = "test.add";
}

#[derive(Debug, Serialize, Deserialize, actix::Message)]
#[rtype(result = "(u64, u64)")]
pub struct Read;
impl Wire for Read {
    const TAG: &'static str = "test.read";
}

/// Panics when handled.
#[derive(Debug, Serialize, Deserialize, actix::Message)]
#[rtype(result = "()")]
pub struct Explode;
impl Wire for Explode {
    const TAG: &'static str = "test.explode";
}

impl Counter {
    pub fn start(node: &Node) {
        let counter = Counter {
            node: node.clone(),
            volatile: 0,
        };
        node.spawn_named("counter", counter)
            .expect("name is free")
            .accept::<Add>()
            .accept::<Read>()
            .accept::<Explode>();
    }

    fn durable(&self) -> u64 {
        self.node
            .persister()
            .load_value::<u64>("count")
            .expect("memory persister reads")
            .unwrap_or(0)
    }
}

impl Actor for Counter {
    type Context = Context<Self>;
}

impl Handler<Add> for Counter {
    type Result = u64;
    fn handle(&mut self, msg: Add, _: &mut Context<Self>) -> u64 {
        self.volatile += msg.by;
        if msg.persist {
            let durable = self.durable() + msg.by;
            self.node
                .persister()
                .save_value("count", &durable)
                .expect("memory persister writes");
        }
        self.volatile
    }
}

impl Handler<Read> for Counter {
    type Result = actix::MessageResult<Read>;
    fn handle(&mut self, _: Read, _: &mut Context<Self>) -> Self::Result {
        actix::MessageResult((self.volatile, self.durable()))
    }
}

impl Handler<Explode> for Counter {
    type Result = ();
    fn handle(&mut self, _: Explode, _: &mut Context<Self>) {
        panic!("counter exploded on purpose");
    }
}
