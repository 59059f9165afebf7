//! Link bandwidth: network cards and the uplink between two switches, for benchmarks in
//! virtual time.
//!
//! Without a bandwidth model a message takes its link's latency whatever its size, so a
//! benchmark that moves megabytes would see no limit but its round trips. A node given a
//! [`Nic`] sends and receives at a finite rate: a message leaving it occupies its egress for
//! `bytes * 8 / egress_bps`, after whatever was queued on the egress before it (first in, first
//! out: the egress is free again at one virtual instant, and each message starts at that
//! instant or when it is sent, whichever is later); it then travels its link's latency, and
//! occupies the receiver's ingress the same way, first in first out by the instant it reaches
//! it; it is delivered when its last byte is in. The bytes are the frame's length as sent, the
//! encoded envelope.
//!
//! Switches ([`SimNet::set_uplink`](super::SimNet::set_uplink)) put nodes in groups, one group
//! per switch: a message between nodes of two different groups also crosses the uplink from
//! its sender's switch to its receiver's, one link per direction (and per ordered pair of
//! groups when there are more than two), modelled the same way, just after the sender's egress
//! and before the latency. A node in no group is on no switch: no uplink limits it.
//!
//! A message flows through its stages as packets do, not stored whole and forwarded. At its
//! sender's card it starts when the card is free, `start = max(free, sent)`, and its bytes
//! leave until `start + bytes * 8 / bps`. The uplink and the receiver's card each take it when
//! they are free and its first byte is there, `start = max(free, first byte in)`, are free for
//! the next message at `start + bytes * 8 / bps`, and have its last byte through at
//! `max(start + bytes * 8 / bps, last byte in)`. The uplink passes a message's first byte on as
//! it came: the packets of the messages queued at a switch interleave, so its queue delays when
//! a message's last byte is through, not when the receiver starts to take it in. Thus one
//! megabyte between two 100 Mbit/s cards takes 80 ms plus the latency, not twice that; the
//! messages through one stage never go faster together than its rate (each is through at least
//! its own transfer time after the one before it started); and a burst through a fast uplink
//! to slow cards ends when the uplink has carried it all.
//!
//! The model is off until something is set, and then touches only the messages it applies to:
//! the network draws its random numbers, and orders its messages, exactly as without it.
//!
//! Choices, kept simple:
//! - a message the network loses (to a partition or to the link's loss) occupies nothing: its
//!   fate is decided when it is sent, before it reaches the egress;
//! - a duplicated message leaves the sender's egress once; each copy then crosses the uplink
//!   and the receiver's ingress on its own;
//! - a message that reaches a crashed node, or whose link is cut on the way, still occupies
//!   the uplink and the ingress, and is dropped when it would have been delivered, as without
//!   the model;
//! - a message a node sends to itself touches no card;
//! - setting a node's card, or the switches, starts them idle, whatever was queued on the old
//!   ones.
//!
//! The arithmetic is exact in nanoseconds (a transfer's time is rounded up to the next
//! nanosecond); each stage starts at the exact instant computed for it, so the millisecond tick
//! of the paused clock rounds only the final delivery, as every timer's.

use std::collections::BTreeMap;
use std::time::Duration;
use tokio::time::Instant;
use troupe_messages::NodeId;

/// A node's network card: how fast it sends and receives, in bits per second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Nic {
    /// The rate at which the node sends.
    pub egress_bps: u64,
    /// The rate at which the node receives.
    pub ingress_bps: u64,
}

impl Nic {
    /// A card that sends and receives at `bps` bits per second each way (full duplex).
    pub fn symmetric(bps: u64) -> Self {
        Nic {
            egress_bps: bps,
            ingress_bps: bps,
        }
    }

    /// A card of `mbps` megabits (10^6 bits) per second each way: `Nic::mbps(100)` is the
    /// classic Fast Ethernet card.
    pub fn mbps(mbps: u64) -> Self {
        Nic::symmetric(mbps.saturating_mul(1_000_000))
    }
}

/// The bytes of the frames a node sent and received.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Traffic {
    /// Bytes of the frames the node handed to the network.
    pub bytes_sent: u64,
    /// Bytes of the frames delivered to the node while it was up.
    pub bytes_received: u64,
}

/// One direction of a card or a link: busy until `free_at`, one message after another.
#[derive(Debug)]
struct Pipe {
    bps: u64,
    free_at: Option<Instant>,
}

impl Pipe {
    fn new(bps: u64, what: &str) -> Self {
        check_rate(bps, what);
        Pipe { bps, free_at: None }
    }

    /// A message of `bytes` whose first byte reaches the pipe at `first` and whose last byte
    /// reaches it at `last`: when its first byte goes through, and when its last byte is
    /// through.
    fn occupy(&mut self, first: Instant, last: Instant, bytes: usize) -> (Instant, Instant) {
        let start = self.free_at.map_or(first, |free| free.max(first));
        let own = start + transfer_time(bytes, self.bps);
        self.free_at = Some(own);
        (start, own.max(last))
    }
}

/// Refuses a rate of 0, which would never deliver anything.
fn check_rate(bps: u64, what: &str) {
    assert!(
        bps > 0,
        "{what} of 0 bits per second would never deliver anything"
    );
}

/// How long `bytes` take at `bps` bits per second, rounded up to the nanosecond.
pub(super) fn transfer_time(bytes: usize, bps: u64) -> Duration {
    let bits = bytes as u128 * 8;
    let ns = (bits * 1_000_000_000).div_ceil(u128::from(bps));
    Duration::from_nanos(u64::try_from(ns).unwrap_or(u64::MAX))
}

/// The switches: which group (switch) each node is on, and the uplinks between them.
#[derive(Debug)]
struct Switches {
    group_of: BTreeMap<NodeId, usize>,
    bps: u64,
    /// One pipe per direction, keyed by (sender's group, receiver's group), made on first use.
    links: BTreeMap<(usize, usize), Pipe>,
}

/// The bandwidth of the whole network, and its byte counts.
#[derive(Debug, Default)]
pub(super) struct Bandwidth {
    /// Each node's (egress, ingress).
    nics: BTreeMap<NodeId, (Pipe, Pipe)>,
    switches: Option<Switches>,
    traffic: BTreeMap<NodeId, Traffic>,
}

impl Bandwidth {
    /// Gives `node` a card (`None`: none, the default, unlimited).
    pub(super) fn set_nic(&mut self, node: NodeId, nic: Option<Nic>) {
        match nic {
            Some(nic) => {
                let pipes = (
                    Pipe::new(nic.egress_bps, "an egress"),
                    Pipe::new(nic.ingress_bps, "an ingress"),
                );
                self.nics.insert(node, pipes);
            }
            None => {
                self.nics.remove(&node);
            }
        }
    }

    /// `node`'s card, if it has one.
    pub(super) fn nic(&self, node: NodeId) -> Option<Nic> {
        self.nics.get(&node).map(|(egress, ingress)| Nic {
            egress_bps: egress.bps,
            ingress_bps: ingress.bps,
        })
    }

    /// Puts each group of nodes on a switch of its own, the switches joined by uplinks of
    /// `bps` each way. A node listed in several groups is on the first.
    pub(super) fn set_uplink(&mut self, groups: Vec<Vec<NodeId>>, bps: u64) {
        check_rate(bps, "an uplink");
        let mut group_of = BTreeMap::new();
        for (i, group) in groups.into_iter().enumerate() {
            for node in group {
                group_of.entry(node).or_insert(i);
            }
        }
        self.switches = Some(Switches {
            group_of,
            bps,
            links: BTreeMap::new(),
        });
    }

    /// Takes the switches away: no uplink limits anything.
    pub(super) fn clear_uplink(&mut self) {
        self.switches = None;
    }

    /// A message of `bytes` from `from` to `to` is handed to the network at `now`: when its
    /// first byte leaves the sender and when its last byte has (both `now` if the sender has no
    /// card).
    pub(super) fn egress(
        &mut self,
        from: NodeId,
        to: NodeId,
        now: Instant,
        bytes: usize,
    ) -> (Instant, Instant) {
        match self.nics.get_mut(&from) {
            Some((egress, _)) if from != to => egress.occupy(now, now, bytes),
            _ => (now, now),
        }
    }

    /// Whether a message from `from` to `to` crosses an uplink.
    pub(super) fn crosses(&self, from: NodeId, to: NodeId) -> bool {
        self.switches.as_ref().is_some_and(|s| {
            matches!(
                (s.group_of.get(&from), s.group_of.get(&to)),
                (Some(a), Some(b)) if a != b
            )
        })
    }

    /// A message of `bytes` from `from` to `to` reaches the uplink between their switches, its
    /// first byte at `first` and its last at `last`: when its last byte is across (`last` if it
    /// crosses none, since the switches changed meanwhile).
    pub(super) fn uplink(
        &mut self,
        (from, to): (NodeId, NodeId),
        first: Instant,
        last: Instant,
        bytes: usize,
    ) -> Instant {
        let Some(switches) = self.switches.as_mut() else {
            return last;
        };
        let (Some(&a), Some(&b)) = (switches.group_of.get(&from), switches.group_of.get(&to))
        else {
            return last;
        };
        if a == b {
            return last;
        }
        let bps = switches.bps;
        switches
            .links
            .entry((a, b))
            .or_insert_with(|| Pipe::new(bps, "an uplink"))
            .occupy(first, last, bytes)
            .1
    }

    /// A message of `bytes` from `from` reaches `to`, its first byte at `first` and its last at
    /// `last`: when its last byte is in through `to`'s card (`last` if `to` has no card).
    pub(super) fn ingress(
        &mut self,
        (from, to): (NodeId, NodeId),
        first: Instant,
        last: Instant,
        bytes: usize,
    ) -> Instant {
        match self.nics.get_mut(&to) {
            Some((_, ingress)) if from != to => ingress.occupy(first, last, bytes).1,
            _ => last,
        }
    }

    /// Counts `bytes` sent by `node`.
    pub(super) fn count_sent(&mut self, node: NodeId, bytes: usize) {
        self.traffic.entry(node).or_default().bytes_sent += bytes as u64;
    }

    /// Counts `bytes` delivered to `node`.
    pub(super) fn count_received(&mut self, node: NodeId, bytes: usize) {
        self.traffic.entry(node).or_default().bytes_received += bytes as u64;
    }

    /// What `node` sent and received so far.
    pub(super) fn traffic(&self, node: NodeId) -> Traffic {
        self.traffic.get(&node).copied().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::{LinkFaults, SimNet};
    use crate::testkit::{simulate, Cluster, ClusterBuilder};
    use crate::{ActorPath, Node};
    use actix::{Actor, Context, Handler};
    use troupe_messages::Wire;

    const MB: usize = 1_000_000;
    const MBIT: u64 = 1_000_000;
    const MS: Duration = Duration::from_millis(1);

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// A cluster of `nodes` on zero-latency links that keeps its event log.
    fn quiet(seed: u64, nodes: u32) -> ClusterBuilder {
        Cluster::builder(seed)
            .nodes(nodes)
            .baseline(LinkFaults::reliable())
            .capture_events()
    }

    /// Each delivery of a message of `kind`: (sender, receiver, whole milliseconds of virtual
    /// time since the cluster started), in the order they happened.
    fn deliveries(cluster: &Cluster, kind: &str) -> Vec<(u32, u32, u64)> {
        let events = cluster.events();
        String::from_utf8(events)
            .expect("the event log is JSON lines")
            .lines()
            .map(|line| serde_json::from_str::<serde_json::Value>(line).expect("a JSON line"))
            .filter(|e| e["ev"] == "deliver" && e["kind"] == kind)
            .map(|e| {
                let n = |field: &str| e[field].as_u64().expect("a node number");
                let t = e["t"].as_u64().expect("a timestamp");
                (n("from") as u32, n("to") as u32, t / 1_000_000)
            })
            .collect()
    }

    /// Sends a raw frame of `bytes` from node `from` to node `to`.
    fn push(net: &SimNet, from: u32, to: u32, bytes: usize) {
        net.inject_frame(NodeId(from), NodeId(to), vec![0; bytes]);
    }

    #[test]
    fn transfer_times_are_exact_in_nanoseconds_and_round_up() {
        assert_eq!(transfer_time(MB, 100 * MBIT), ms(80));
        assert_eq!(transfer_time(MB, 1_000 * MBIT), ms(8));
        assert_eq!(transfer_time(1, 3), Duration::from_nanos(2_666_666_667));
        assert_eq!(transfer_time(0, 1), Duration::ZERO);
        assert_eq!(Nic::mbps(100), Nic::symmetric(100 * MBIT));
    }

    #[test]
    fn a_pipe_serves_in_order_and_a_slow_upstream_takes_only_its_share() {
        let t0 = Instant::now();
        let mut pipe = Pipe::new(100 * MBIT, "a test pipe");
        assert_eq!(pipe.occupy(t0, t0, MB), (t0, t0 + ms(80)));
        assert_eq!(pipe.occupy(t0, t0, MB), (t0 + ms(80), t0 + ms(160)));
        assert_eq!(
            pipe.occupy(t0 + ms(500), t0 + ms(500), MB),
            (t0 + ms(500), t0 + ms(580)),
            "idle again, it starts when the message comes"
        );
        // A fast pipe behind slow cards: each message's last byte is through when it came in,
        // and the pipe takes the next one after its own 8 ms, not after the card's 80.
        let mut fast = Pipe::new(1_000 * MBIT, "a test pipe");
        assert_eq!(fast.occupy(t0, t0 + ms(80), MB), (t0, t0 + ms(80)));
        assert_eq!(fast.occupy(t0, t0 + ms(80), MB), (t0 + ms(8), t0 + ms(80)));
    }

    #[test]
    #[should_panic(expected = "0 bits per second")]
    fn a_card_of_no_bandwidth_is_refused() {
        Bandwidth::default().set_nic(NodeId(1), Some(Nic::symmetric(0)));
    }

    #[test]
    fn one_megabyte_over_a_100_mbit_egress_takes_80_ms_plus_the_latency() {
        simulate(1, |seed| async move {
            let cluster = quiet(seed, 3).nic(1, Nic::mbps(100)).build();
            let net = cluster.net();
            net.set_link_faults(
                NodeId(1),
                NodeId(3),
                LinkFaults::reliable().with_delay(ms(5), ms(5)),
            );
            push(net, 1, 2, MB);
            cluster.run_for(ms(200)).await;
            push(net, 1, 3, MB);
            cluster.run_for(ms(200)).await;
            assert_eq!(deliveries(&cluster, "raw"), vec![(1, 2, 80), (1, 3, 285)]);
        });
    }

    #[test]
    fn two_messages_sent_at_once_by_one_node_arrive_80_ms_apart() {
        simulate(2, |seed| async move {
            let cluster = quiet(seed, 3).nic(1, Nic::mbps(100)).build();
            push(cluster.net(), 1, 2, MB);
            push(cluster.net(), 1, 3, MB);
            cluster.run_for(ms(500)).await;
            assert_eq!(
                deliveries(&cluster, "raw"),
                vec![(1, 2, 80), (1, 3, 160)],
                "the egress is one queue, whatever the receivers"
            );
        });
    }

    #[test]
    fn two_senders_to_one_receiver_share_its_ingress() {
        simulate(3, |seed| async move {
            // Senders without cards: only the receiver's ingress limits them.
            let cluster = quiet(seed, 3).nic(3, Nic::mbps(100)).build();
            push(cluster.net(), 1, 3, MB);
            push(cluster.net(), 2, 3, MB);
            cluster.run_for(ms(500)).await;
            assert_eq!(deliveries(&cluster, "raw"), vec![(1, 3, 80), (2, 3, 160)]);
        });
        simulate(4, |seed| async move {
            // Every node with a 100 Mbit/s card: each sender alone would take 80 ms, but two
            // megabytes come in at 100 Mbit/s, the last after 160 ms.
            let cluster = quiet(seed, 3)
                .nic(1, Nic::mbps(100))
                .nic(2, Nic::mbps(100))
                .nic(3, Nic::mbps(100))
                .build();
            for _ in 0..5 {
                push(cluster.net(), 1, 3, MB);
                push(cluster.net(), 2, 3, MB);
            }
            cluster.run_for(Duration::from_secs(2)).await;
            let got = deliveries(&cluster, "raw");
            let times: Vec<u64> = got.iter().map(|d| d.2).collect();
            assert_eq!(times, (1..=10).map(|i| i * 80).collect::<Vec<_>>());
            let received = cluster.net().traffic(NodeId(3)).bytes_received;
            assert_eq!(received, 10 * MB as u64);
            // 10 MB in 800 ms: 100 Mbit/s, the ingress's rate, not the senders' 200 together.
            assert_eq!(received * 8 * 1_000 / 800, 100 * MBIT);
        });
    }

    #[test]
    fn the_uplink_limits_traffic_across_switches_and_not_inside_one() {
        simulate(5, |seed| async move {
            // Two switches joined by 200 Mbit/s each way; every node has a 100 Mbit/s card.
            let mut builder =
                quiet(seed, 10).uplink(&[&[1, 2, 3, 4, 9, 10], &[5, 6, 7, 8]], 200 * MBIT);
            for n in 1..=10 {
                builder = builder.nic(n, Nic::mbps(100));
            }
            let cluster = builder.build();
            let net = cluster.net();
            for i in 1..=4 {
                push(net, i, i + 4, MB); // across, one way
                push(net, i + 4, i, MB); // across, the other way
            }
            push(net, 9, 10, MB); // inside the first switch
            cluster.run_for(ms(500)).await;
            let got = deliveries(&cluster, "raw");
            let at = |from: u32, to: u32| {
                got.iter()
                    .find(|d| (d.0, d.1) == (from, to))
                    .map(|d| d.2)
                    .expect("delivered")
            };
            // Four megabytes each way through 200 Mbit/s: 160 ms, where the cards alone would
            // allow 80. Each direction has its own link.
            let forward: Vec<u64> = (1..=4).map(|i| at(i, i + 4)).collect();
            let back: Vec<u64> = (1..=4).map(|i| at(i + 4, i)).collect();
            assert_eq!(forward, vec![80, 80, 120, 160]);
            assert_eq!(back, vec![80, 80, 120, 160]);
            assert_eq!(at(9, 10), 80, "inside a switch only the cards limit");
        });
    }

    #[test]
    fn with_nothing_set_a_message_takes_its_latency_whatever_its_size() {
        simulate(6, |seed| async move {
            let cluster = quiet(seed, 2).build();
            cluster
                .net()
                .set_default_faults(LinkFaults::reliable().with_delay(ms(3), ms(3)));
            push(cluster.net(), 1, 2, 10 * MB);
            push(cluster.net(), 1, 2, 1);
            cluster.run_for(ms(100)).await;
            assert_eq!(deliveries(&cluster, "raw"), vec![(1, 2, 3), (1, 2, 3)]);
        });
    }

    /// The event log of a run of jittery, lossy, duplicating traffic between nodes 1 and 2,
    /// with `cards` given to other nodes.
    fn lossy_run(cards: bool) -> Vec<u8> {
        crate::sim::block_on(async move {
            let mut builder = Cluster::builder(7)
                .nodes(4)
                .faults(LinkFaults::unreliable().with_duplicates(0.2))
                .capture_events();
            if cards {
                builder = builder.nic(3, Nic::mbps(1)).uplink(&[&[3], &[4]], MBIT);
            }
            let cluster = builder.build();
            for i in 0..200 {
                push(cluster.net(), 1 + i % 2, 2 - i % 2, 100 + i as usize);
                if i % 7 == 0 {
                    cluster.run_for(MS).await;
                }
            }
            cluster.run_for(ms(100)).await;
            cluster.events()
        })
    }

    #[test]
    fn cards_and_switches_elsewhere_change_nothing_seed_for_seed() {
        let plain = lossy_run(false);
        assert!(plain.len() > 10_000, "the run did something");
        assert_eq!(lossy_run(true), plain);
    }

    #[test]
    fn a_lost_message_does_not_occupy_the_egress() {
        simulate(8, |seed| async move {
            let cluster = quiet(seed, 3).nic(1, Nic::mbps(100)).build();
            cluster.block(1, 2);
            push(cluster.net(), 1, 2, MB);
            push(cluster.net(), 1, 3, MB);
            cluster.run_for(ms(200)).await;
            assert_eq!(deliveries(&cluster, "raw"), vec![(1, 3, 80)]);
            assert_eq!(cluster.stats().dropped_partition, 1);
            assert_eq!(cluster.net().traffic(NodeId(1)).bytes_sent, 2 * MB as u64);
        });
    }

    #[derive(Debug, serde::Serialize, serde::Deserialize, actix::Message)]
    #[rtype(result = "()")]
    struct Blob {
        #[serde(with = "serde_bytes")]
        data: Vec<u8>,
    }
    impl Wire for Blob {
        const TAG: &'static str = "test.blob";
    }

    struct Sink;
    impl Actor for Sink {
        type Context = Context<Self>;
    }
    impl Handler<Blob> for Sink {
        type Result = ();
        fn handle(&mut self, _: Blob, _: &mut Context<Self>) {}
    }

    #[test]
    fn an_actors_message_takes_the_time_of_its_whole_frame() {
        simulate(9, |seed| async move {
            let cluster = quiet(seed, 2)
                .nic(1, Nic::mbps(100))
                .nic(2, Nic::mbps(100))
                .topology(|node: &Node| {
                    node.spawn_named("sink", Sink)
                        .expect("a free name")
                        .accept::<Blob>();
                })
                .build();
            let sink = ActorPath::new(NodeId(2), "sink");
            let blob = Blob {
                data: vec![7; MB - 200],
            };
            cluster.up(1).send(&sink, blob).expect("sent");
            let frame = cluster.net().traffic(NodeId(1)).bytes_sent;
            assert!(frame > (MB - 200) as u64, "the envelope adds its header");
            cluster.run_for(ms(200)).await;
            let took = transfer_time(frame as usize, 100 * MBIT);
            let due = took.as_nanos().div_ceil(MS.as_nanos()) as u64;
            assert_eq!(deliveries(&cluster, Blob::TAG), vec![(1, 2, due)]);
            assert_eq!(cluster.net().traffic(NodeId(2)).bytes_received, frame);
        });
    }
}
