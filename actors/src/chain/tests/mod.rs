//! The chain core against a hand-driven wire: messages are held in a queue and delivered when
//! the test says, so each test can stop a write anywhere on its way and crash any node. This
//! file holds replication and crash tests; `joining` holds those of nodes joining the chain.

use super::core::{ChainCore, RequestId};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use troupe_messages::chain::{ChainConfig, ChainMessage, ChainReply};
use troupe_messages::kv::KvOp;
use troupe_messages::NodeId;

struct Wire {
    cores: BTreeMap<NodeId, ChainCore>,
    crashed: BTreeSet<NodeId>,
    queue: VecDeque<(NodeId, NodeId, ChainMessage)>,
    replies: BTreeMap<RequestId, ChainReply>,
    epoch: u64,
}

fn n(i: u32) -> NodeId {
    NodeId(i)
}

fn append(key: &str, value: &str) -> KvOp {
    KvOp::Append {
        key: key.into(),
        value: value.into(),
    }
}

impl Wire {
    fn new(len: u32, craq: bool) -> Wire {
        let config = ChainConfig::new(1, (1..=len).map(n).collect());
        Wire {
            cores: (1..=len)
                .map(|i| (n(i), ChainCore::new(n(i), config.clone(), craq)))
                .collect(),
            crashed: BTreeSet::new(),
            queue: VecDeque::new(),
            replies: BTreeMap::new(),
            epoch: 1,
        }
    }

    fn core(&mut self, node: u32) -> &mut ChainCore {
        self.cores.get_mut(&n(node)).expect("node")
    }

    /// Collects what `node` wants sent and answered.
    fn collect(&mut self, node: NodeId) {
        let effects = self.cores.get_mut(&node).expect("node").take_effects();
        for (to, message) in effects.send {
            self.queue.push_back((node, to, message));
        }
        for (request, reply) in effects.replies {
            assert!(
                self.replies.insert(request, reply).is_none(),
                "request {request} answered twice"
            );
        }
    }

    fn write(&mut self, node: u32, request: RequestId, client: u64, client_seq: u64, op: KvOp) {
        let epoch = self.epoch;
        self.core(node)
            .write(request, 0, epoch, client.into(), client_seq, op);
        self.collect(n(node));
    }

    fn read(&mut self, node: u32, request: RequestId, key: &str) {
        let epoch = self.epoch;
        self.core(node).read(request, 0, epoch, key);
        self.collect(n(node));
    }

    /// Delivers the oldest message; messages to or from crashed nodes vanish.
    fn step(&mut self) -> bool {
        let Some((from, to, message)) = self.queue.pop_front() else {
            return false;
        };
        if !self.crashed.contains(&from) && !self.crashed.contains(&to) {
            self.cores
                .get_mut(&to)
                .expect("node")
                .receive(from, message);
            self.collect(to);
        }
        true
    }

    /// Delivers the first queued message that `pick` chooses, ahead of the others.
    fn deliver_first(&mut self, pick: impl Fn(&ChainMessage) -> bool) {
        let at = self
            .queue
            .iter()
            .position(|(_, _, m)| pick(m))
            .expect("such a message");
        let message = self.queue.remove(at).expect("queued");
        self.queue.push_front(message);
        self.step();
    }

    /// Delivers the next `count` messages.
    fn steps(&mut self, count: usize) {
        for _ in 0..count {
            assert!(self.step(), "fewer than {count} messages queued");
        }
    }

    fn settle(&mut self) {
        let mut budget = 10_000;
        while self.step() {
            budget -= 1;
            assert!(budget > 0, "messages never stop");
        }
    }

    fn crash(&mut self, node: u32) {
        self.crashed.insert(n(node));
    }

    /// Installs a new chain on every live node, in the order given by `order`; with
    /// `settle_between`, every message is delivered after each node's installation, so the
    /// nodes that have not installed it yet refuse what the others send in the new epoch.
    fn reconfigure_with(&mut self, nodes: &[u32], order: &[u32], settle_between: bool) {
        let config = ChainConfig {
            nodes: nodes.iter().map(|&i| n(i)).collect(),
            ..self.config()
        };
        self.install_with(config, order, settle_between);
    }

    /// The configuration the nodes were last given.
    fn config(&self) -> ChainConfig {
        let newest = self
            .cores
            .values()
            .map(|c| c.config())
            .max_by_key(|c| c.epoch);
        newest.cloned().expect("nodes")
    }

    /// Installs `config` (its epoch becomes the clients' epoch) on `order`'s nodes in order.
    fn install_with(&mut self, mut config: ChainConfig, order: &[u32], settle_between: bool) {
        self.epoch += 1;
        config.epoch = self.epoch;
        for &i in order {
            self.core(i).reconfigure(config.clone());
            self.collect(n(i));
            if settle_between {
                self.settle();
            }
        }
    }

    fn install(&mut self, config: ChainConfig, order: &[u32]) {
        self.install_with(config, order, false);
    }

    /// Node `node` starts again with nothing (a restart), out of every chain.
    fn restart(&mut self, node: u32) {
        self.crashed.remove(&n(node));
        self.cores
            .insert(n(node), ChainCore::rejoining(n(node), false));
    }

    /// Drops the first queued message that `pick` chooses (the network lost it).
    fn lose_first(&mut self, pick: impl Fn(&ChainMessage) -> bool) {
        let at = self.queue.iter().position(|(_, _, m)| pick(m));
        self.queue.remove(at.expect("such a message"));
    }

    /// `node`'s timer fires.
    fn tick(&mut self, node: u32) {
        self.core(node).tick();
        self.collect(n(node));
    }

    fn applied(&self, node: u32) -> u64 {
        self.cores[&n(node)].applied()
    }

    fn reconfigure(&mut self, nodes: &[u32], order: &[u32]) {
        self.reconfigure_with(nodes, order, false);
    }

    fn answer(&self, request: RequestId) -> Option<&ChainReply> {
        self.replies.get(&request)
    }

    /// The epoch of the configuration a `WrongEpoch` answer to `request` gave, if it was one.
    fn wrong_epoch(&self, request: RequestId) -> Option<u64> {
        match self.answer(request)? {
            ChainReply::WrongEpoch { config } => Some(config.epoch),
            _ => None,
        }
    }

    fn committed(&self, node: u32, key: &str) -> &str {
        self.cores[&n(node)].committed_value(key)
    }
}

const DONE: ChainReply = ChainReply::Ok { value: None };

fn read_ok(value: &str) -> ChainReply {
    ChainReply::Ok {
        value: Some(value.into()),
    }
}

mod joining;

#[test]
fn a_write_commits_at_the_tail_and_is_answered_by_the_head() {
    let mut w = Wire::new(3, false);
    w.write(1, 1, 7, 1, append("k", "a"));
    assert_eq!(
        w.answer(1),
        None,
        "nothing is answered before the tail commits"
    );
    w.steps(2); // head -> middle -> tail
    assert_eq!(w.committed(3, "k"), "a");
    assert_eq!(
        w.committed(1, "k"),
        "",
        "the head has not heard the ack yet"
    );
    w.settle();
    assert_eq!(w.answer(1), Some(&DONE));
    for node in 1..=3 {
        assert_eq!(w.committed(node, "k"), "a");
    }
}

#[test]
fn plain_chain_replication_reads_at_the_tail_only() {
    let mut w = Wire::new(3, false);
    w.write(
        1,
        1,
        7,
        1,
        KvOp::Put {
            key: "k".into(),
            value: "v".into(),
        },
    );
    w.settle();
    w.read(2, 2, "k");
    assert_eq!(
        w.answer(2),
        Some(&ChainReply::Redirect { node: Some(n(3)) })
    );
    w.read(3, 3, "k");
    assert_eq!(w.answer(3), Some(&read_ok("v")));
    w.write(2, 4, 7, 2, append("k", "x"));
    assert_eq!(
        w.answer(4),
        Some(&ChainReply::Redirect { node: Some(n(1)) })
    );
}

#[test]
fn craq_reads_a_clean_key_locally_and_asks_the_tail_for_a_dirty_one() {
    let mut w = Wire::new(3, true);
    w.write(1, 1, 7, 1, append("k", "a"));
    w.settle();
    w.read(1, 2, "k");
    assert_eq!(w.answer(2), Some(&read_ok("a")), "clean: answered at once");
    assert!(w.queue.is_empty());
    // A second write reaches the middle only: the key is dirty there.
    w.write(1, 3, 7, 2, append("k", "b"));
    w.steps(1);
    w.read(2, 4, "k");
    assert_eq!(w.answer(4), None, "dirty: the tail is asked");
    // The tail has not seen "b": it answers version 1, and the read returns "a".
    w.deliver_first(|m| matches!(m, ChainMessage::VersionQuery { .. }));
    w.deliver_first(|m| matches!(m, ChainMessage::VersionReply { .. }));
    assert_eq!(w.answer(4), Some(&read_ok("a")));
    w.settle();
    w.read(2, 5, "k");
    assert_eq!(w.answer(5), Some(&read_ok("ab")));
}

#[test]
fn messages_and_clients_of_another_epoch_are_refused() {
    let mut w = Wire::new(3, false);
    w.reconfigure(&[1, 2, 3], &[1, 2, 3]);
    w.settle();
    let before = w.cores[&n(2)].refused_stale();
    let stale = troupe_messages::chain::Update {
        seq: 1,
        client: 9.into(),
        client_seq: 1,
        op: append("k", "stale"),
    };
    w.core(2).receive(
        n(1),
        ChainMessage::Update {
            epoch: 1,
            update: stale,
        },
    );
    w.collect(n(2));
    assert_eq!(w.cores[&n(2)].refused_stale(), before + 1);
    assert_eq!(w.cores[&n(2)].applied(), 0);
    w.core(1).write(1, 0, 1, 9.into(), 1, append("k", "x"));
    w.collect(n(1));
    assert_eq!(w.wrong_epoch(1), Some(2));
}

/// Within one epoch only a node's predecessor may send it writes or a whole state: the same
/// messages from anyone else (a node two places up, say) are ignored, and change nothing.
#[test]
fn updates_and_state_transfers_only_from_the_predecessor_are_taken() {
    let mut w = Wire::new(3, false);
    w.write(1, 1, 7, 1, append("k", "a"));
    w.settle();
    assert_eq!(w.committed(3, "k"), "a");
    let skipping = troupe_messages::chain::Update {
        seq: 2,
        client: 7.into(),
        client_seq: 2,
        op: append("k", "b"),
    };
    w.core(3).receive(
        n(1),
        ChainMessage::Update {
            epoch: 1,
            update: skipping,
        },
    );
    w.collect(n(3));
    assert_eq!(w.applied(3), 1, "node 1 is not node 3's predecessor");
    w.core(3).receive(
        n(1),
        ChainMessage::Transfer {
            epoch: 1,
            state: troupe_messages::chain::ChainState {
                applied: 9,
                committed: 9,
                ..Default::default()
            },
        },
    );
    w.collect(n(3));
    assert_eq!(
        w.applied(3),
        1,
        "a transfer from a non-predecessor is ignored"
    );
    assert_eq!(w.committed(3, "k"), "a");
    assert!(w.queue.is_empty(), "nothing answers an ignored message");
}

#[test]
fn updates_arriving_out_of_order_are_applied_in_order() {
    let mut w = Wire::new(2, false);
    w.write(1, 1, 7, 1, append("k", "a"));
    w.write(1, 2, 7, 2, append("k", "b"));
    let first = w.queue.pop_front().expect("first update");
    w.queue.push_back(first);
    w.settle();
    assert_eq!(w.committed(2, "k"), "ab");
    assert_eq!((w.answer(1), w.answer(2)), (Some(&DONE), Some(&DONE)));
}

#[test]
fn a_head_crash_loses_no_acknowledged_write_and_a_retry_applies_once() {
    let mut w = Wire::new(3, false);
    w.write(1, 1, 7, 1, append("k", "a"));
    w.settle();
    // "b" reaches the middle, then the head dies before answering.
    w.write(1, 2, 7, 2, append("k", "b"));
    w.steps(1);
    w.crash(1);
    w.reconfigure(&[2, 3], &[3, 2]);
    // The client retries its write at the new head: it is the same write, applied once.
    w.write(2, 3, 7, 2, append("k", "b"));
    w.settle();
    assert_eq!(w.answer(3), Some(&DONE));
    assert_eq!(w.committed(3, "k"), "ab");
    assert_eq!(w.committed(2, "k"), "ab");
}

#[test]
fn a_middle_crash_resends_what_the_tail_lacks_whichever_side_reconfigures_first() {
    for first in [1, 3] {
        let mut w = Wire::new(3, false);
        // Two writes reach the middle; the middle dies before passing them on.
        w.write(1, 1, 7, 1, append("k", "a"));
        w.write(1, 2, 8, 1, append("k", "b"));
        w.steps(2);
        w.crash(2);
        w.settle();
        assert_eq!(w.committed(3, "k"), "");
        // What the first node sends in the new epoch is refused by the other, which has not
        // installed it yet; the other's messages must repair that.
        let second = 4 - first;
        w.reconfigure_with(&[1, 3], &[first, second], true);
        assert_eq!(
            (w.answer(1), w.answer(2)),
            (Some(&DONE), Some(&DONE)),
            "{first} first"
        );
        assert_eq!(w.committed(3, "k"), "ab", "{first} first");
        assert_eq!(w.committed(1, "k"), "ab", "{first} first");
        assert!(
            w.cores[&n(second)].refused_stale() > 0,
            "the second node refused the first one's new-epoch messages"
        );
    }
}

#[test]
fn a_lost_ack_is_repaired_by_the_resync() {
    let mut w = Wire::new(3, false);
    w.write(1, 1, 7, 1, append("k", "a"));
    w.steps(2); // at the tail: committed there; its ack goes to the middle
    w.crash(2);
    w.settle(); // the ack is lost with the middle
    assert_eq!(w.answer(1), None);
    w.reconfigure_with(&[1, 3], &[1, 3], true);
    assert_eq!(w.answer(1), Some(&DONE));
    assert_eq!(w.committed(1, "k"), "a");
}

#[test]
fn a_tail_crash_makes_its_predecessor_the_committing_tail() {
    let mut w = Wire::new(3, false);
    w.write(1, 1, 7, 1, append("k", "a"));
    w.steps(1); // the write is at the middle, not the tail
    w.crash(3);
    w.settle();
    w.reconfigure(&[1, 2], &[1, 2]);
    w.settle();
    assert_eq!(w.answer(1), Some(&DONE));
    assert_eq!(w.committed(2, "k"), "a");
    w.read(2, 2, "k");
    assert_eq!(w.answer(2), Some(&read_ok("a")));
}

#[test]
fn a_write_waiting_at_a_node_left_out_is_abandoned_not_refused() {
    let mut w = Wire::new(3, false);
    w.write(1, 1, 7, 1, append("k", "a"));
    // The head applied the write and passed it on; it leaves the chain before the commit.
    w.steps(1);
    w.reconfigure(&[2, 3], &[1, 2, 3]);
    assert_eq!(
        w.answer(1),
        Some(&ChainReply::Abandoned { epoch: 2 }),
        "the outcome is unknown, not refused"
    );
    w.settle();
    w.read(3, 2, "k");
    assert_eq!(w.answer(2), Some(&read_ok("a")), "and the write did commit");
}

#[test]
fn a_node_left_out_of_the_chain_stops_serving() {
    let mut w = Wire::new(3, true);
    w.write(1, 1, 7, 1, append("k", "a"));
    w.settle();
    w.reconfigure(&[2, 3], &[1, 2, 3]);
    w.settle();
    w.read(1, 2, "k");
    assert_eq!(w.wrong_epoch(2), Some(2));
}

#[test]
fn a_node_whose_lease_ran_out_stops_serving_until_a_new_grant() {
    let mut w = Wire::new(3, true);
    w.write(1, 1, 7, 1, append("k", "a"));
    w.settle();
    w.core(2).grant_lease(Some(1_000));
    w.core(2).read(2, 999, 1, "k");
    w.collect(n(2));
    assert_eq!(w.answer(2), Some(&read_ok("a")), "within the lease");
    w.core(2).read(3, 1_000, 1, "k");
    w.collect(n(2));
    assert_eq!(w.wrong_epoch(3), Some(1), "the lease ran out");
    w.core(2).grant_lease(Some(500));
    w.core(2).read(4, 1_200, 1, "k");
    w.collect(n(2));
    assert_eq!(
        w.wrong_epoch(4),
        Some(1),
        "no shortening, no revival by an older grant"
    );
    w.core(2).grant_lease(Some(2_000));
    w.core(2).read(5, 1_200, 1, "k");
    w.collect(n(2));
    assert_eq!(w.answer(5), Some(&read_ok("a")), "renewed");
}

/// The planted bug of CRAQ answering a dirty key with its newest version fails the test of
/// dirty reads.
#[cfg(feature = "planted-bugs")]
#[test]
fn craq_reading_a_dirty_version_is_caught() {
    use troupe_runtime::plant::{fails_with, Bug};
    assert!(
        fails_with(
            Bug::CraqReadsDirty,
            craq_reads_a_clean_key_locally_and_asks_the_tail_for_a_dirty_one
        ),
        "the planted bug went unnoticed"
    );
}
