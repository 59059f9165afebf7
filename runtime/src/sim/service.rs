//! Per-node service time: a model of a server's CPU, for benchmarks in virtual time.
//!
//! In the simulation, handling a message takes no virtual time, so every server would have
//! infinite capacity and a benchmark's throughput would be its clients divided by their
//! latency. A node given a service time handles what arrives one message per service time,
//! in batches, as a busy server drains its socket: a message that arrives while the node is
//! idle is in service at once and handed to the node when its service time has passed; the
//! messages that arrive meanwhile wait, and when the node is free again they are served
//! together, handed to the node all at once when the whole batch's time has passed. So the
//! node's actors see a busy server's bursts (and group-commit them), and what they answer
//! leaves only once the work before it is done.
//!
//! The model lives in the network, not in the actors: any actor on a node with a service time
//! is charged alike, and production actors carry no benchmark code. The arithmetic is exact
//! in nanoseconds; deliveries happen at the first whole millisecond at or after their due
//! time, as every timer of the paused clock does.

use std::collections::BTreeMap;
use std::time::Duration;
use tokio::time::Instant;
use troupe_messages::NodeId;

/// What becomes of a message that arrived at a node.
pub(super) enum Admit<T> {
    /// The node has no service time: deliver it now.
    Now(T),
    /// It is in service until the instant given: deliver it then.
    At(Instant, T),
    /// The node is busy: it waits for the next batch.
    Waiting,
}

/// One node's server: when it is free, and what waits for it.
struct Server<T> {
    per_message: Duration,
    free_at: Instant,
    waiting: Vec<T>,
}

/// The service times of the nodes that have one.
pub(super) struct ServiceTimes<T> {
    servers: BTreeMap<NodeId, Server<T>>,
}

impl<T> Default for ServiceTimes<T> {
    fn default() -> Self {
        ServiceTimes {
            servers: BTreeMap::new(),
        }
    }
}

impl<T> ServiceTimes<T> {
    /// Gives `node` a service time per message (None: none, the default).
    pub(super) fn set(&mut self, node: NodeId, per_message: Option<Duration>, now: Instant) {
        match per_message {
            Some(per_message) => {
                self.servers.insert(
                    node,
                    Server {
                        per_message,
                        free_at: now,
                        waiting: Vec::new(),
                    },
                );
            }
            None => {
                self.servers.remove(&node);
            }
        }
    }

    /// `message` for `node` arrived at `at`.
    pub(super) fn arrive(&mut self, node: NodeId, at: Instant, message: T) -> Admit<T> {
        let Some(server) = self.servers.get_mut(&node) else {
            return Admit::Now(message);
        };
        if !server.waiting.is_empty() || server.free_at > at {
            server.waiting.push(message);
            return Admit::Waiting;
        }
        server.free_at = at + server.per_message;
        Admit::At(server.free_at, message)
    }

    /// A batch of `node`'s was done at `done`: if messages arrived meanwhile, they are the next
    /// batch, delivered together at the instant returned.
    pub(super) fn next_batch(&mut self, node: NodeId, done: Instant) -> Option<(Instant, Vec<T>)> {
        let server = self.servers.get_mut(&node)?;
        if server.waiting.is_empty() || server.free_at > done {
            return None;
        }
        let batch = std::mem::take(&mut server.waiting);
        server.free_at += server.per_message * batch.len() as u32;
        Some((server.free_at, batch))
    }

    /// `node` crashed at `now`: what waited for it is lost, and it restarts idle.
    pub(super) fn crash(&mut self, node: NodeId, now: Instant) -> Vec<T> {
        match self.servers.get_mut(&node) {
            Some(server) => {
                server.free_at = now;
                std::mem::take(&mut server.waiting)
            }
            None => Vec::new(),
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
    fn an_idle_node_serves_at_once_and_a_busy_one_in_batches() {
        let t0 = Instant::now();
        let mut service = ServiceTimes::default();
        let node = NodeId(1);
        service.set(node, Some(us(100)), t0);
        let Admit::At(done, "a") = service.arrive(node, t0, "a") else {
            panic!("an idle node serves at once");
        };
        assert_eq!(done, t0 + us(100));
        assert!(matches!(
            service.arrive(node, t0 + us(10), "b"),
            Admit::Waiting
        ));
        assert!(matches!(
            service.arrive(node, t0 + us(20), "c"),
            Admit::Waiting
        ));
        assert!(
            service.next_batch(node, t0 + us(50)).is_none(),
            "still busy"
        );
        let (batch_done, batch) = service.next_batch(node, done).expect("the next batch");
        assert_eq!(batch, vec!["b", "c"]);
        assert_eq!(batch_done, t0 + us(300), "two more service times");
        assert!(
            service.next_batch(node, batch_done).is_none(),
            "nothing waits"
        );
        let Admit::At(later, "d") = service.arrive(node, t0 + us(1_000), "d") else {
            panic!("idle again");
        };
        assert_eq!(later, t0 + us(1_100));
    }

    #[test]
    fn a_node_without_a_service_time_takes_everything_now() {
        let t0 = Instant::now();
        let mut service = ServiceTimes::default();
        assert!(matches!(service.arrive(NodeId(2), t0, 1), Admit::Now(1)));
        service.set(NodeId(2), Some(us(5)), t0);
        service.set(NodeId(2), None, t0);
        assert!(matches!(service.arrive(NodeId(2), t0, 2), Admit::Now(2)));
    }

    #[test]
    fn a_crash_loses_what_waited() {
        let t0 = Instant::now();
        let mut service = ServiceTimes::default();
        service.set(NodeId(1), Some(us(100)), t0);
        let _ = service.arrive(NodeId(1), t0, "a");
        let _ = service.arrive(NodeId(1), t0, "b");
        assert_eq!(service.crash(NodeId(1), t0 + us(50)), vec!["b"]);
        assert!(matches!(
            service.arrive(NodeId(1), t0 + us(60), "c"),
            Admit::At(_, "c")
        ));
    }
}
