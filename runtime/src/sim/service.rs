//! Per-node service time: a model of a server's CPU, for benchmarks in virtual time.
//!
//! In the simulation, handling a message takes no virtual time, so every server would have
//! infinite capacity and a benchmark's throughput would be its clients divided by their
//! latency. A node given a service time is one busy CPU: the messages that arrive at it are
//! served one after the other in arrival order, each for one service time, and each is handed
//! to the node when its service is over, so that what the node answers leaves only once the
//! work before it is done. The arithmetic is exact in nanoseconds; deliveries happen at the
//! first whole millisecond at or after their due time, as every timer of the paused clock
//! does, so a busy node receives each millisecond's work as one burst (and group-commits it,
//! as a busy server draining its socket does).
//!
//! The model lives in the network, not in the actors: any actor on a node with a service time
//! is charged alike, and production actors carry no benchmark code.

use std::collections::BTreeMap;
use std::time::Duration;
use tokio::time::Instant;
use troupe_messages::NodeId;

/// One node's server: its service time, and when it is next free.
struct Server {
    per_message: Duration,
    free_at: Instant,
}

/// The service times of the nodes that have one.
#[derive(Default)]
pub(super) struct ServiceTimes {
    servers: BTreeMap<NodeId, Server>,
}

impl ServiceTimes {
    /// Gives `node` a service time per message (None: none, the default).
    pub(super) fn set(&mut self, node: NodeId, per_message: Option<Duration>, now: Instant) {
        match per_message {
            Some(per_message) => {
                let free_at = now;
                self.servers.insert(
                    node,
                    Server {
                        per_message,
                        free_at,
                    },
                );
            }
            None => {
                self.servers.remove(&node);
            }
        }
    }

    /// A message for `node` arrived at `at`: when its service is over (None: the node has no
    /// service time, deliver it now).
    pub(super) fn arrive(&mut self, node: NodeId, at: Instant) -> Option<Instant> {
        let server = self.servers.get_mut(&node)?;
        server.free_at = server.free_at.max(at) + server.per_message;
        Some(server.free_at)
    }

    /// `node` crashed at `now`: it restarts idle.
    pub(super) fn crash(&mut self, node: NodeId, now: Instant) {
        if let Some(server) = self.servers.get_mut(&node) {
            server.free_at = now;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn us(n: u64) -> Duration {
        Duration::from_micros(n)
    }

    #[test]
    fn a_node_serves_one_message_per_service_time_in_arrival_order() {
        let t0 = Instant::now();
        let mut service = ServiceTimes::default();
        let node = NodeId(1);
        service.set(node, Some(us(100)), t0);
        assert_eq!(
            service.arrive(node, t0),
            Some(t0 + us(100)),
            "idle: served at once"
        );
        assert_eq!(
            service.arrive(node, t0 + us(10)),
            Some(t0 + us(200)),
            "waits its turn"
        );
        assert_eq!(service.arrive(node, t0 + us(20)), Some(t0 + us(300)));
        assert_eq!(
            service.arrive(node, t0 + us(1_000)),
            Some(t0 + us(1_100)),
            "idle again"
        );
        service.crash(node, t0 + us(1_050));
        assert_eq!(service.arrive(node, t0 + us(1_060)), Some(t0 + us(1_160)));
    }

    #[test]
    fn a_node_without_a_service_time_takes_everything_now() {
        let t0 = Instant::now();
        let mut service = ServiceTimes::default();
        assert_eq!(service.arrive(NodeId(2), t0), None);
        service.set(NodeId(2), Some(us(5)), t0);
        service.set(NodeId(2), None, t0);
        assert_eq!(service.arrive(NodeId(2), t0), None);
    }
}
