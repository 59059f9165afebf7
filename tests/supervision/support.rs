//! A worker that records its starts and stops on command, and a harness around a supervisor.

use actix::{Actor, ActorContext, Context, Handler};
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;
use tokio::time::Instant;
use troupe_messages::Wire;
use troupe_runtime::{ActorHandle, ActorPath, ExitReason, Node};
use troupe_supervisors::{ChildInfo, ChildSpec, WhichChildren};

/// Every worker start, in order: (child id, virtual time since the test began).
pub type Starts = Rc<RefCell<Vec<(String, Duration)>>>;

pub struct Worker {
    id: String,
    me: ActorHandle,
    starts: Starts,
    origin: Instant,
}

impl Actor for Worker {
    type Context = Context<Self>;
    fn started(&mut self, _: &mut Context<Self>) {
        self.starts
            .borrow_mut()
            .push((self.id.clone(), self.origin.elapsed()));
    }
}

/// Panic in the handler.
#[derive(Debug, Serialize, Deserialize, actix::Message)]
#[rtype(result = "()")]
pub struct Crash;
impl Wire for Crash {
    const TAG: &'static str = "worker.crash";
}

/// Stop normally.
#[derive(Debug, Serialize, Deserialize, actix::Message)]
#[rtype(result = "()")]
pub struct Quit;
impl Wire for Quit {
    const TAG: &'static str = "worker.quit";
}

/// Stop with an error (abnormal, without a panic).
#[derive(Debug, Serialize, Deserialize, actix::Message)]
#[rtype(result = "()")]
pub struct Fail;
impl Wire for Fail {
    const TAG: &'static str = "worker.fail";
}

impl Handler<Crash> for Worker {
    type Result = ();
    fn handle(&mut self, _: Crash, _: &mut Context<Self>) {
        panic!("worker {} crashed on purpose", self.id);
    }
}

impl Handler<Quit> for Worker {
    type Result = ();
    fn handle(&mut self, _: Quit, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

impl Handler<Fail> for Worker {
    type Result = ();
    fn handle(&mut self, _: Fail, ctx: &mut Context<Self>) {
        self.me.stop_with(ExitReason::Failed("gave up".into()));
        ctx.stop();
    }
}

/// A child spec for a worker registered as `id`.
pub fn worker(id: &'static str, starts: &Starts, origin: Instant) -> ChildSpec {
    let starts = starts.clone();
    ChildSpec::new(id, move |node: &Node| {
        let starts = starts.clone();
        Ok(node
            .spawn_with(Some(id), |me| Worker {
                id: id.to_string(),
                me: me.clone(),
                starts,
                origin,
            })?
            .accept::<Crash>()
            .accept::<Quit>()
            .accept::<Fail>()
            .into_handle())
    })
}

/// How many times each of `ids` has started so far.
pub fn start_counts(starts: &Starts, ids: &[&str]) -> Vec<usize> {
    let starts = starts.borrow();
    ids.iter()
        .map(|id| starts.iter().filter(|(s, _)| s == id).count())
        .collect()
}

/// Asks supervisor `name` on `node` for its children.
pub async fn children(node: &Node, name: &str) -> Vec<ChildInfo> {
    node.call(&node.path(name), WhichChildren, Duration::from_secs(1))
        .await
        .expect("the supervisor answers")
}

/// Sends `msg` to the worker `id` on `node`.
pub fn tell<M>(node: &Node, id: &str, msg: M)
where
    M: Wire,
    M::Result: serde::Serialize + serde::de::DeserializeOwned + Send + 'static,
{
    node.send(&ActorPath::new(node.id(), id), msg)
        .expect("the worker is running");
}

/// Lets the supervisor react (restarts without backoff happen at once in virtual time).
pub async fn settle() {
    tokio::time::sleep(Duration::from_millis(10)).await;
}
