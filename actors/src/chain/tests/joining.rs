//! Nodes joining the chain on the hand-driven wire: a state transfer while the chain serves,
//! the switch of the tail, lost messages during a join, the old tail's crash in the middle of
//! the switch, and nodes whose state must not be trusted (re-added after being cut off, or
//! restarted empty and named by a stale configuration).

use super::{append, n, read_ok, Wire, DONE};
use crate::chain::config::Transitions;
use troupe_messages::chain::{ChainConfig, ChainMessage, ChainReply};

/// Chain [1, 2] with "abc" appended to `k`, and node 3 restarted empty.
fn two_nodes_and_a_newcomer() -> Wire {
    let mut w = Wire::new(2, false);
    for (i, v) in ["a", "b", "c"].into_iter().enumerate() {
        let i = i as u64 + 1;
        w.write(1, i, 7, i, append("k", v));
    }
    w.settle();
    w.restart(3);
    w
}

fn is_update(m: &ChainMessage) -> bool {
    matches!(m, ChainMessage::Update { .. })
}

#[test]
fn a_joining_node_catches_up_while_the_chain_serves_then_becomes_the_tail() {
    let mut w = two_nodes_and_a_newcomer();
    let joining = w.config().with_joining(n(3));
    w.install(joining.clone(), &[1, 2, 3]);
    // The chain keeps serving during the transfer.
    w.write(1, 10, 7, 4, append("k", "d"));
    w.read(2, 11, "k");
    w.settle();
    assert_eq!(w.answer(10), Some(&DONE));
    assert_eq!(w.answer(11), Some(&read_ok("abc")));
    assert_eq!(
        w.applied(3),
        w.applied(2),
        "the joining node has every write"
    );
    w.read(3, 12, "k");
    assert_eq!(
        w.wrong_epoch(12),
        Some(w.epoch),
        "a joining node serves nobody"
    );
    // The new tail installs first: until its predecessor names a sync point it serves nothing.
    w.install(joining.promoted(), &[3]);
    w.read(3, 13, "k");
    assert_eq!(w.answer(13), Some(&ChainReply::NotCommitted));
    let promoted = w.config();
    for node in [1, 2] {
        w.core(node).reconfigure(promoted.clone());
        w.collect(n(node));
    }
    w.settle();
    w.read(3, 14, "k");
    assert_eq!(w.answer(14), Some(&read_ok("abcd")));
    w.write(1, 15, 7, 5, append("k", "e"));
    w.settle();
    assert_eq!(w.answer(15), Some(&DONE), "writes commit at the new tail");
    assert_eq!(w.committed(3, "k"), "abcde");
    assert_eq!(w.committed(1, "k"), "abcde");
}

#[test]
fn writes_the_network_lost_on_the_way_to_a_joining_node_are_sent_again() {
    let mut w = two_nodes_and_a_newcomer();
    let joining = w.config().with_joining(n(3));
    w.install(joining, &[1, 2, 3]);
    w.settle();
    w.write(1, 10, 7, 4, append("k", "d"));
    w.steps(1); // at the tail, which passes it on to the joining node
    w.lose_first(is_update);
    w.settle();
    assert_eq!(w.answer(10), Some(&DONE));
    assert!(w.applied(3) < w.applied(2));
    w.tick(3);
    w.settle();
    assert_eq!(w.applied(3), w.applied(2), "the tick's resync repaired it");
}

#[test]
fn the_old_tail_crashing_during_the_switch_leaves_the_new_tail_complete() {
    let mut w = two_nodes_and_a_newcomer();
    let joining = w.config().with_joining(n(3));
    w.install(joining.clone(), &[1, 2, 3]);
    w.settle();
    // Node 3 is the tail of the new epoch; nodes 1 and 2 still run the old one, in which a
    // write commits at 2 and is acknowledged, but node 3 refuses it (old epoch).
    w.install(joining.promoted(), &[3]);
    let old_epoch = joining.epoch;
    w.core(1)
        .write(10, 0, old_epoch, 7.into(), 4, append("k", "d"));
    w.collect(n(1));
    w.settle();
    assert_eq!(w.answer(10), Some(&DONE));
    w.crash(2);
    let without = ChainConfig {
        nodes: vec![n(1), n(3)],
        ..w.config()
    };
    w.install(without, &[1, 3]);
    w.settle();
    w.read(3, 11, "k");
    assert_eq!(
        w.answer(11),
        Some(&read_ok("abcd")),
        "the acknowledged write reached the new tail through its new predecessor"
    );
}

#[test]
fn a_node_cut_off_and_added_again_drops_what_it_applied_alone() {
    let mut w = Wire::new(3, false);
    w.write(1, 1, 7, 1, append("k", "a"));
    w.settle();
    // The head applies a write that never leaves it, and is replaced.
    w.write(1, 2, 8, 1, append("k", "lost"));
    w.lose_first(is_update);
    w.install(
        ChainConfig {
            nodes: vec![n(2), n(3)],
            ..w.config()
        },
        &[2, 3],
    );
    w.write(2, 3, 9, 1, append("k", "b"));
    w.settle();
    // It comes back as a joining node, then becomes the tail.
    let joining = w.config().with_joining(n(1));
    w.install(joining.clone(), &[1, 2, 3]);
    w.settle();
    w.install(joining.promoted(), &[1, 2, 3]);
    w.settle();
    w.read(1, 4, "k");
    assert_eq!(w.answer(4), Some(&read_ok("ab")));
    assert_eq!(w.committed(1, "k"), w.committed(2, "k"));
}

#[test]
fn a_restarted_node_named_by_a_stale_configuration_serves_only_once_complete() {
    let mut w = Wire::new(3, true);
    w.write(1, 1, 7, 1, append("k", "a"));
    w.settle();
    w.crash(3);
    w.restart(3);
    // A configuration push from before the crash reaches the empty node.
    let stale = w.config();
    w.core(3).reconfigure(stale);
    w.collect(n(3));
    w.read(3, 2, "k");
    assert_eq!(
        w.answer(2),
        Some(&ChainReply::NotCommitted),
        "empty, it must not answer"
    );
    w.settle(); // its resync brings the predecessor's state and sync point
    w.read(3, 3, "k");
    assert_eq!(w.answer(3), Some(&read_ok("a")));
}

/// A new tail waits for the sync point of its own predecessor: one sent by another node of
/// the chain does not let it serve.
#[test]
fn a_new_tail_takes_its_sync_point_only_from_its_predecessor() {
    let mut w = two_nodes_and_a_newcomer();
    let joining = w.config().with_joining(n(3));
    w.install(joining.clone(), &[1, 2, 3]);
    w.settle();
    w.install(joining.promoted(), &[3]);
    let (epoch, applied) = (w.epoch, w.applied(3));
    w.core(3)
        .receive(n(1), ChainMessage::SyncPoint { epoch, applied });
    w.collect(n(3));
    w.read(3, 13, "k");
    assert_eq!(
        w.answer(13),
        Some(&ChainReply::NotCommitted),
        "node 1 is not the new tail's predecessor"
    );
}

/// The planted bug of a new tail that serves before its sync point fails the test above.
#[cfg(feature = "planted-bugs")]
#[test]
fn a_new_tail_serving_before_its_sync_point_is_caught() {
    use troupe_runtime::plant::{fails_with, Bug};
    assert!(
        fails_with(
            Bug::TailServesBeforeSync,
            a_joining_node_catches_up_while_the_chain_serves_then_becomes_the_tail
        ),
        "the planted bug went unnoticed"
    );
}
