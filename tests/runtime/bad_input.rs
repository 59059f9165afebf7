//! Bad input: frames that are not envelopes, unknown kinds, undecodable bodies. Each is refused
//! with a clear error and counted, and the receiver keeps serving.

use crate::support::{Add, Counter, Read};
use std::time::Duration;
use troupe_messages::NodeId;
use troupe_runtime::testkit::{simulate, Cluster};
use troupe_runtime::{encode, ActorPath, Envelope, Error, Flow, Rejection, TraceId};

const T: Duration = Duration::from_secs(1);

fn envelope(kind: &str, body: Vec<u8>, flow: Flow) -> Envelope {
    Envelope {
        from: NodeId(1),
        to: NodeId(2),
        to_name: "counter".into(),
        kind: kind.into(),
        trace: TraceId::from_u128(1),
        flow,
        body,
    }
}

#[test]
fn bad_frames_unknown_kinds_and_undecodable_bodies_are_refused_and_counted() {
    simulate(10, |seed| async move {
        let cluster = Cluster::builder(seed)
            .nodes(2)
            .topology(Counter::start)
            .build();
        let net = cluster.net().clone();
        let (n1, n2) = (NodeId(1), NodeId(2));

        // Not an envelope at all: random bytes, and a truncated valid frame.
        net.inject_frame(n1, n2, vec![0xde, 0xad, 0xbe, 0xef, 0x00, 0xff]);
        let good = envelope(
            "test.add",
            encode(&Add {
                by: 1,
                persist: false,
            })
            .unwrap(),
            Flow::OneWay,
        );
        let frame = good.to_frame().unwrap();
        net.inject_frame(n1, n2, frame[..frame.len() / 2].to_vec());
        // A well-formed envelope with a kind nobody registered.
        let unknown = envelope("no.such.kind", vec![0x90], Flow::OneWay);
        net.inject_frame(n1, n2, unknown.to_frame().unwrap());
        // A known kind whose body does not decode as that type.
        let garbled = envelope("test.add", vec![0xc1, 0x00], Flow::OneWay);
        net.inject_frame(n1, n2, garbled.to_frame().unwrap());
        cluster.run_for(Duration::from_millis(10)).await;

        let stats = cluster.up(2).stats();
        assert_eq!(stats.bad_frames, 2);
        assert_eq!(stats.rejected_unknown_kind, 1);
        assert_eq!(stats.rejected_undecodable, 1);

        // The receiver is still serving, and nothing bad was applied.
        let caller = cluster.up(1);
        let counter2 = ActorPath::new(n2, "counter");
        assert_eq!(
            caller
                .call(
                    &counter2,
                    Add {
                        by: 2,
                        persist: false
                    },
                    T
                )
                .await,
            Ok(2)
        );
        assert_eq!(caller.call(&counter2, Read, T).await, Ok((2, 0)));
    });
}

#[test]
fn a_caller_learns_why_its_request_was_refused() {
    simulate(11, |seed| async move {
        let cluster = Cluster::builder(seed)
            .nodes(2)
            .topology(Counter::start)
            .build();
        let caller = cluster.up(1);
        // A request whose body is not the kind's type reaches n2, which answers with a refusal.
        #[derive(serde::Serialize, serde::Deserialize, Debug, actix::Message)]
        #[rtype(result = "u64")]
        struct FakeAdd(String, String, String);
        impl troupe_messages::Wire for FakeAdd {
            const TAG: &'static str = "test.add";
        }
        let err = caller
            .call(
                &ActorPath::new(NodeId(2), "counter"),
                FakeAdd("a".into(), "b".into(), "c".into()),
                T,
            )
            .await
            .unwrap_err();
        assert!(
            matches!(
                &err,
                Error::Rejected {
                    rejection: Rejection::Undecodable(_),
                    ..
                }
            ),
            "{err}"
        );
        assert_eq!(cluster.up(2).stats().rejected_undecodable, 1);
    });
}
