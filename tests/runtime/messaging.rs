//! send and call, local and remote, and their typed errors.

use crate::support::{Add, Counter, Read};
use std::time::Duration;
use troupe_messages::echo::Echo;
use troupe_messages::NodeId;
use troupe_runtime::testkit::{simulate, Cluster};
use troupe_runtime::{ActorPath, Error, Rejection};

const T: Duration = Duration::from_secs(1);

fn counter(n: u32) -> ActorPath {
    ActorPath::new(NodeId(n), "counter")
}

#[test]
fn local_and_remote_targets_answer_through_one_api() {
    simulate(1, |seed| async move {
        // Zero latency: the one-way sends below arrive in order, before the call that reads them.
        let cluster = Cluster::builder(seed)
            .nodes(2)
            .baseline(troupe_runtime::sim::LinkFaults::reliable())
            .topology(Counter::start)
            .build();
        let n1 = cluster.up(1);
        // Local: n1 calls its own counter.
        assert_eq!(
            n1.call(
                &counter(1),
                Add {
                    by: 2,
                    persist: false
                },
                T
            )
            .await,
            Ok(2)
        );
        // Remote: n1 calls n2's counter; the message is encoded, routed and decoded.
        assert_eq!(
            n1.call(
                &counter(2),
                Add {
                    by: 5,
                    persist: false
                },
                T
            )
            .await,
            Ok(5)
        );
        // One-way sends, then a call to see them applied (at zero latency, in order).
        for _ in 0..3 {
            n1.send(
                &counter(2),
                Add {
                    by: 1,
                    persist: false,
                },
            )
            .unwrap();
            n1.send(
                &counter(1),
                Add {
                    by: 1,
                    persist: false,
                },
            )
            .unwrap();
        }
        assert_eq!(n1.call(&counter(2), Read, T).await, Ok((8, 0)));
        assert_eq!(n1.call(&counter(1), Read, T).await, Ok((5, 0)));
        // One add and one read to n2 (request + reply each) and 3 one-way adds crossed the
        // network; the local messages did not touch it.
        assert_eq!(cluster.stats().delivered, 7);
    });
}

#[test]
fn errors_are_typed() {
    simulate(2, |seed| async move {
        let cluster = Cluster::builder(seed)
            .nodes(2)
            .topology(Counter::start)
            .build();
        let n1 = cluster.up(1);

        // No such actor, locally and remotely: refused, not timed out.
        for node in [1, 2] {
            let err = n1
                .call(&ActorPath::new(NodeId(node), "nobody"), Read, T)
                .await
                .unwrap_err();
            assert!(
                matches!(
                    err,
                    Error::Rejected {
                        rejection: Rejection::NoSuchActor,
                        ..
                    }
                ),
                "{err}"
            );
        }
        // A kind the actor does not accept, locally and remotely.
        for node in [1, 2] {
            let err = n1
                .call(&counter(node), Echo("hi".into()), T)
                .await
                .unwrap_err();
            assert!(
                matches!(
                    err,
                    Error::Rejected {
                        rejection: Rejection::UnknownKind,
                        ..
                    }
                ),
                "{err}"
            );
        }
        // An unknown node is unreachable at once.
        let err = n1.call(&counter(9), Read, T).await.unwrap_err();
        assert!(matches!(err, Error::Unreachable { .. }), "{err}");

        // A partition turns calls into timeouts, after exactly the deadline.
        cluster.partition(&[&[1], &[2]]);
        let start = tokio::time::Instant::now();
        let err = n1.call(&counter(2), Read, T).await.unwrap_err();
        assert_eq!(
            err,
            Error::Timeout {
                target: counter(2),
                after: T
            }
        );
        assert_eq!(start.elapsed(), T);
        cluster.heal();
        assert!(n1.call(&counter(2), Read, T).await.is_ok());

        // A crashed node's stale handle can send nothing.
        cluster.crash(1);
        let err = n1.call(&counter(2), Read, T).await.unwrap_err();
        assert!(matches!(err, Error::Unreachable { .. }), "{err}");
        assert!(n1.send(&counter(2), Read).is_err());
    });
}

#[test]
fn a_call_to_a_node_that_crashes_mid_request_times_out() {
    simulate(3, |seed| async move {
        let cluster = Cluster::builder(seed)
            .nodes(2)
            .topology(Counter::start)
            .build();
        cluster.set_faults(
            troupe_runtime::sim::LinkFaults::reliable()
                .with_delay(Duration::from_millis(50), Duration::from_millis(50)),
        );
        let n1 = cluster.up(1);
        let crasher = cluster.clone();
        actix_rt::spawn(async move {
            tokio::time::sleep(Duration::from_millis(10)).await;
            crasher.crash(2);
        });
        let err = n1.call(&counter(2), Read, T).await.unwrap_err();
        assert!(matches!(err, Error::Timeout { .. }), "{err}");
        assert_eq!(cluster.stats().dropped_node_down, 1);
    });
}
