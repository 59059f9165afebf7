//! Timers that show up in the event log.
//!
//! `ctx.run_later` works as usual in simulation (it runs in virtual time); these wrappers also
//! record a `timer` event when the timer fires, so a replayed run shows why an actor woke up.

use crate::node::Node;
use actix::{Actor, AsyncContext, Context, SpawnHandle};
use std::time::Duration;

/// Runs `f` once after `after`, recording a `timer` event labelled `label` when it fires.
pub fn run_later<A, F>(
    ctx: &mut Context<A>,
    node: &Node,
    label: &'static str,
    after: Duration,
    f: F,
) -> SpawnHandle
where
    A: Actor<Context = Context<A>>,
    F: FnOnce(&mut A, &mut Context<A>) + 'static,
{
    let node = node.clone();
    ctx.run_later(after, move |act, ctx| {
        node.record_timer(label);
        f(act, ctx);
    })
}

/// Runs `f` every `every`, recording a `timer` event labelled `label` each time.
pub fn run_interval<A, F>(
    ctx: &mut Context<A>,
    node: &Node,
    label: &'static str,
    every: Duration,
    mut f: F,
) -> SpawnHandle
where
    A: Actor<Context = Context<A>>,
    F: FnMut(&mut A, &mut Context<A>) + 'static,
{
    let node = node.clone();
    ctx.run_interval(every, move |act, ctx| {
        node.record_timer(label);
        f(act, ctx);
    })
}
