//! One test per fault kind of the simulated network, each showing its effect.

use crate::support::{Add, Counter, Read};
use actix::{Actor, Context, Handler};
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;
use troupe_messages::ping::{GetCounts, Tick};
use troupe_messages::{NodeId, Wire};
use troupe_runtime::sim::LinkFaults;
use troupe_runtime::testkit::{simulate, Cluster};
use troupe_runtime::{ActorPath, Node};

const T: Duration = Duration::from_secs(1);

fn pinger(n: u32) -> ActorPath {
    ActorPath::new(NodeId(n), troupe_actors::ping::NAME)
}

fn passive_pingers(node: &Node) {
    troupe_actors::ping::Pinger::start(node, [], Duration::from_secs(1)).expect("name is free");
}

async fn ticks_seen(cluster: &Cluster, n: u32) -> u64 {
    let reader = cluster.up(n);
    reader
        .call(&pinger(n), GetCounts, T)
        .await
        .expect("local call")
        .ticks
}

#[test]
fn drop_rate_falls_within_statistical_bounds() {
    simulate(4, |seed| async move {
        let cluster = Cluster::builder(seed)
            .nodes(2)
            .topology(passive_pingers)
            .build();
        let p = 0.3;
        let n = 20_000u64;
        cluster.set_faults(LinkFaults::reliable().with_drop(p));
        let n1 = cluster.up(1);
        for i in 0..n {
            n1.send(&pinger(2), Tick(i)).unwrap();
        }
        cluster.run_for(Duration::from_millis(10)).await;
        let received = ticks_seen(&cluster, 2).await;
        // Binomial(n, 1-p): mean 14 000, standard deviation ~65; allow 5 sigma.
        let mean = n as f64 * (1.0 - p);
        let sigma = (n as f64 * p * (1.0 - p)).sqrt();
        let got = received as f64;
        assert!(
            (got - mean).abs() < 5.0 * sigma,
            "received {received} of {n} at drop {p}: expected {mean} ± {:.0}",
            5.0 * sigma
        );
        assert_eq!(cluster.stats().dropped_loss, n - received);
    });
}

#[test]
fn a_partition_blocks_both_ways() {
    simulate(5, |seed| async move {
        let cluster = Cluster::builder(seed)
            .nodes(3)
            .topology(passive_pingers)
            .build();
        cluster.partition(&[&[1], &[2, 3]]);
        let (n1, n2, n3) = (cluster.up(1), cluster.up(2), cluster.up(3));
        n1.send(&pinger(2), Tick(1)).unwrap();
        n2.send(&pinger(1), Tick(2)).unwrap();
        n3.send(&pinger(2), Tick(3)).unwrap();
        cluster.run_for(Duration::from_millis(10)).await;
        assert_eq!(
            ticks_seen(&cluster, 1).await,
            0,
            "n2 -> n1 crossed the partition"
        );
        assert_eq!(
            ticks_seen(&cluster, 2).await,
            1,
            "only n3's tick may reach n2"
        );
        assert_eq!(cluster.stats().dropped_partition, 2);
        cluster.heal();
        n1.send(&pinger(2), Tick(4)).unwrap();
        cluster.run_for(Duration::from_millis(10)).await;
        assert_eq!(
            ticks_seen(&cluster, 2).await,
            2,
            "healed link delivers again"
        );
    });
}

#[test]
fn a_one_way_block_stops_one_direction_only() {
    simulate(6, |seed| async move {
        let cluster = Cluster::builder(seed)
            .nodes(2)
            .topology(passive_pingers)
            .build();
        cluster.block(1, 2);
        let (n1, n2) = (cluster.up(1), cluster.up(2));
        n1.send(&pinger(2), Tick(1)).unwrap();
        n2.send(&pinger(1), Tick(2)).unwrap();
        cluster.run_for(Duration::from_millis(10)).await;
        assert_eq!(ticks_seen(&cluster, 2).await, 0, "n1 -> n2 is blocked");
        assert_eq!(ticks_seen(&cluster, 1).await, 1, "n2 -> n1 still works");
        // A call from n1 reaches nobody; from n2 the request arrives but the reply cannot.
        let err = n2.call(&pinger(1), GetCounts, T).await.unwrap_err();
        assert!(
            matches!(err, troupe_runtime::Error::Timeout { .. }),
            "{err}"
        );
    });
}

#[test]
fn duplication_delivers_extra_copies() {
    simulate(7, |seed| async move {
        let cluster = Cluster::builder(seed)
            .nodes(2)
            .topology(passive_pingers)
            .build();
        cluster.set_faults(LinkFaults::reliable().with_duplicates(0.5));
        let n1 = cluster.up(1);
        let n = 2_000u64;
        for i in 0..n {
            n1.send(&pinger(2), Tick(i)).unwrap();
        }
        cluster.run_for(Duration::from_millis(10)).await;
        let received = ticks_seen(&cluster, 2).await;
        let dups = cluster.stats().duplicated;
        assert_eq!(received, n + dups);
        assert!(
            (800..1200).contains(&dups),
            "{dups} duplicates of {n} at p = 0.5"
        );
    });
}

/// Records the order and virtual arrival time of numbered messages.
struct Recorder {
    start: tokio::time::Instant,
    seen: Rc<RefCell<Vec<(u64, Duration)>>>,
}

#[derive(Debug, Serialize, Deserialize, actix::Message)]
#[rtype(result = "()")]
struct Numbered(u64);
impl Wire for Numbered {
    const TAG: &'static str = "test.numbered";
}

impl Actor for Recorder {
    type Context = Context<Self>;
}

impl Handler<Numbered> for Recorder {
    type Result = ();
    fn handle(&mut self, msg: Numbered, _: &mut Context<Self>) {
        self.seen.borrow_mut().push((msg.0, self.start.elapsed()));
    }
}

#[test]
fn delay_spreads_arrivals_over_its_range_and_reorders() {
    simulate(8, |seed| async move {
        let seen = Rc::new(RefCell::new(Vec::new()));
        let start = tokio::time::Instant::now();
        let sink = seen.clone();
        let cluster = Cluster::builder(seed)
            .nodes(2)
            .topology(move |node| {
                let recorder = Recorder {
                    start,
                    seen: sink.clone(),
                };
                node.spawn_named("recorder", recorder)
                    .unwrap()
                    .accept::<Numbered>();
            })
            .build();
        let (min, max) = (Duration::from_millis(5), Duration::from_millis(50));
        cluster.set_faults(LinkFaults::reliable().with_delay(min, max));
        let n1 = cluster.up(1);
        let to = ActorPath::new(NodeId(2), "recorder");
        for i in 0..200 {
            n1.send(&to, Numbered(i)).unwrap();
        }
        cluster.run_for(Duration::from_millis(100)).await;
        let seen = seen.borrow();
        assert_eq!(seen.len(), 200);
        assert!(
            seen.iter().all(|&(_, at)| at >= min && at <= max),
            "arrival outside the delay range"
        );
        let inversions = seen.windows(2).filter(|w| w[0].0 > w[1].0).count();
        assert!(
            inversions > 20,
            "only {inversions} reorderings among 200 delayed messages"
        );
    });
}

#[test]
fn a_crash_loses_volatile_state_and_a_restart_keeps_persisted_state() {
    simulate(9, |seed| async move {
        let cluster = Cluster::builder(seed)
            .nodes(2)
            .topology(Counter::start)
            .build();
        let n1 = cluster.up(1);
        let counter2 = ActorPath::new(NodeId(2), "counter");
        n1.call(
            &counter2,
            Add {
                by: 3,
                persist: false,
            },
            T,
        )
        .await
        .unwrap();
        n1.call(
            &counter2,
            Add {
                by: 4,
                persist: true,
            },
            T,
        )
        .await
        .unwrap();
        assert_eq!(n1.call(&counter2, Read, T).await, Ok((7, 4)));

        cluster.crash(2);
        assert!(cluster.node(2).is_none());
        let err = n1.call(&counter2, Read, T).await.unwrap_err();
        assert!(
            matches!(err, troupe_runtime::Error::Timeout { .. }),
            "a crashed node answers nothing: {err}"
        );

        let n2 = cluster.restart(2).expect("restarts");
        assert_eq!(n2.incarnation(), 1);
        // The in-memory count is gone; the persisted one is still there.
        assert_eq!(n1.call(&counter2, Read, T).await, Ok((0, 4)));
    });
}
