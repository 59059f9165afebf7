//! Canary: timers and `tokio::time::timeout` fire at the right virtual instants under paused
//! time, inside the actix System the simulation uses. (tokio issue #8232 reports timeouts that
//! fire early under `start_paused` from tokio 1.50 on; this test is what would catch it.)

use actix::{Actor, AsyncContext, Context};
use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;
use tokio::time::Instant;
use troupe_runtime::sim::block_on;

#[test]
fn sleeps_and_timeouts_fire_at_exact_virtual_instants() {
    let wall = std::time::Instant::now();
    block_on(async {
        let start = Instant::now();
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(start.elapsed(), Duration::from_secs(1));

        let t = Instant::now();
        let late = tokio::time::timeout(
            Duration::from_millis(500),
            tokio::time::sleep(Duration::from_secs(1)),
        )
        .await;
        assert!(late.is_err(), "a 1 s sleep must not finish within 500 ms");
        assert_eq!(t.elapsed(), Duration::from_millis(500));

        let t = Instant::now();
        let early = tokio::time::timeout(
            Duration::from_secs(2),
            tokio::time::sleep(Duration::from_secs(1)),
        )
        .await;
        assert!(early.is_ok(), "a 1 s sleep must finish within 2 s");
        assert_eq!(t.elapsed(), Duration::from_secs(1));

        // Many timeouts racing many sleeps: each fires at its own instant.
        for ms in [1u64, 7, 150, 999, 3_000] {
            let t = Instant::now();
            let r = tokio::time::timeout(
                Duration::from_millis(ms),
                tokio::time::sleep(Duration::from_millis(ms + 1)),
            )
            .await;
            assert!(r.is_err());
            assert_eq!(t.elapsed(), Duration::from_millis(ms), "timeout of {ms} ms");
        }

        // An hour of virtual time passes in far less than a second of wall time.
        tokio::time::sleep(Duration::from_secs(3600)).await;
    });
    assert!(wall.elapsed() < Duration::from_secs(5));
}

struct Alarm {
    fired_at: Rc<Cell<Option<Duration>>>,
    start: Instant,
}

impl Actor for Alarm {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_later(Duration::from_millis(250), |act, _| {
            act.fired_at.set(Some(act.start.elapsed()));
        });
    }
}

#[test]
fn actix_timers_fire_at_exact_virtual_instants() {
    block_on(async {
        let fired_at = Rc::new(Cell::new(None));
        let start = Instant::now();
        Alarm {
            fired_at: fired_at.clone(),
            start,
        }
        .start();
        tokio::time::sleep(Duration::from_millis(249)).await;
        assert_eq!(fired_at.get(), None, "fired early");
        tokio::time::sleep(Duration::from_millis(2)).await;
        assert_eq!(fired_at.get(), Some(Duration::from_millis(250)));
    });
}

/// Answers `Ping` only after two virtual seconds.
struct Slow;

impl Actor for Slow {
    type Context = Context<Self>;
}

impl actix::Handler<troupe_messages::ping::Ping> for Slow {
    type Result = actix::ResponseFuture<u64>;
    fn handle(&mut self, msg: troupe_messages::ping::Ping, _: &mut Context<Self>) -> Self::Result {
        Box::pin(async move {
            tokio::time::sleep(Duration::from_secs(2)).await;
            msg.0
        })
    }
}

#[test]
fn call_deadlines_expire_at_exact_virtual_instants_in_any_order() {
    use troupe_messages::ping::Ping;
    use troupe_runtime::{Error, Node, NodeId};
    block_on(async {
        let node = Node::local(NodeId(1));
        node.spawn_named("slow", Slow).unwrap().accept::<Ping>();
        let path = node.path("slow");
        // Deadlines registered out of order: later ones first, so the sweeper must re-arm for
        // earlier ones. Each call must fail at exactly its own deadline, and the one with a
        // deadline past the answer must succeed at exactly 2 s.
        let start = Instant::now();
        let mut calls = Vec::new();
        for (i, ms) in [1_500u64, 300, 900, 20, 3_000].into_iter().enumerate() {
            let node = node.clone();
            let path = path.clone();
            calls.push(actix_rt::spawn(async move {
                let r = node
                    .call(&path, Ping(i as u64), Duration::from_millis(ms))
                    .await;
                (ms, r, start.elapsed())
            }));
        }
        for call in calls {
            let (ms, result, at) = call.await.unwrap();
            if ms < 2_000 {
                assert!(
                    matches!(result, Err(Error::Timeout { .. })),
                    "{ms} ms: {result:?}"
                );
                assert_eq!(at, Duration::from_millis(ms), "deadline of {ms} ms");
            } else {
                assert_eq!(result, Ok(4));
                assert_eq!(at, Duration::from_secs(2));
            }
        }
    });
}
