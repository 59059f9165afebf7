//! The simulated network's per-node service time (`SimNet::set_service_time`, the capacity
//! model of `troupe bench raft-kv`): a leader that handles one message per service time serves at most one operation per
//! service time, and queueing, not the network, then sets the latency. The history stays
//! linearizable.

use super::harness::ms;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;
use troupe::systems::raft_kv::RaftKv;
use troupe::systems::topology;
use troupe::testkit::workload::{run_clients_for, Recorder, Workload, WorkloadClient};
use troupe_runtime::linearizability::{check, Verdict};
use troupe_runtime::sim::{block_on, derive_seed, LinkFaults};
use troupe_runtime::testkit::Cluster;

/// Successful operations per virtual second of 3 servers and 16 busy clients for 2 s.
fn throughput(per_message: Option<Duration>) -> f64 {
    let recorder = block_on(async move {
        let system = RaftKv::new(3).bare();
        let cluster = Cluster::builder(5)
            .nodes(3 + 16)
            .faults(LinkFaults::reliable().with_delay(ms(1), ms(2)))
            .topology(topology(system.clone()))
            .build();
        for &server in system.servers() {
            cluster.net().set_service_time(server, per_message);
        }
        cluster.run_for(Duration::from_secs(1)).await;
        let clients = (0..16u32)
            .map(|c| {
                let node = cluster.up(4 + c);
                WorkloadClient {
                    client: u64::from(c),
                    clerk: system.client(node.clone(), u64::from(c) + 1),
                    node,
                    rng: ChaCha8Rng::seed_from_u64(derive_seed(5, u64::from(c))),
                }
            })
            .collect();
        let recorder = Rc::new(RefCell::new(Recorder::default()));
        let workload = Workload {
            think: Duration::ZERO,
            ..Workload::default()
        };
        let d = Duration::from_secs(2);
        run_clients_for(clients, workload, recorder.clone(), d, async {}).await;
        recorder.take()
    });
    assert!(
        matches!(check(&recorder.history), Verdict::Linearizable),
        "the history under the capacity model is not linearizable"
    );
    recorder.ok as f64 / 2.0
}

#[test]
fn a_leader_serves_at_most_one_operation_per_service_time() {
    // Each operation costs the leader at least its proposal: with 4 ms per message, at most
    // 250 operations per second (a little more for those in flight when the clients stop).
    // Followers' answers cost it too, so it serves fewer, but it does not stall.
    let slow = throughput(Some(ms(4)));
    assert!(slow <= 260.0, "{slow} ops/s with 4 ms per message");
    assert!(
        slow >= 60.0,
        "{slow} ops/s: the model slows the leader, it must not stall it"
    );
    // Without the model the same clients are only bound by their round trips.
    let free = throughput(None);
    assert!(free >= 2.0 * slow, "{free} ops/s without the model");
}
