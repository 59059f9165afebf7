//! Agreement: basic, traffic, and agreement despite follower and leader failures.

use crate::harness::*;
use troupe_runtime::testkit::simulate;

#[test]
fn basic_agreement() {
    simulate(111, |seed| async move {
        let h = Harness::new(seed, 3, true, None);
        let mut last = 0;
        for i in 1..=3u64 {
            let (nd, _) = h.n_committed(last + 1);
            assert_eq!(nd, 0, "committed before start");
            let index = h.one(i * 100, 3, false).await;
            assert!(index > last, "index {index} did not advance past {last}");
            last = index;
        }
    });
}

#[test]
fn rpc_byte_count() {
    simulate(112, |seed| async move {
        let h = Harness::new(seed, 3, true, None);
        h.one(99, 3, false).await;
        let (_, bytes0) = h.traffic();
        let iters = 10;
        let mut sent = 0u64;
        for i in 0..iters {
            // 5 000-byte commands, as in 6.824: each should cross to each follower once.
            let cmd: Vec<u8> = (0..5_000u32).map(|b| (b as u8).wrapping_add(i)).collect();
            sent += cmd.len() as u64;
            h.one_bytes(cmd, 3, false).await;
        }
        let (_, bytes1) = h.traffic();
        let got = bytes1 - bytes0;
        let expected = 2 * sent; // to each of 2 followers once
        assert!(
            got <= expected + 50_000,
            "too many bytes: {got} for {expected} expected"
        );
        assert!(
            got >= expected,
            "{got} bytes cannot carry {expected} bytes of commands"
        );
    });
}

#[test]
fn rpc_count() {
    simulate(113, |seed| async move {
        let h = Harness::new(seed, 3, true, None);
        h.check_one_leader().await;
        let (c0, _) = h.traffic();
        assert!(c0 < 100, "too many messages ({c0}) for an initial election");
        let leader = h.check_one_leader().await;
        let (before, _) = h.traffic();
        let s = h.start(leader, 1).await.expect("the leader answers");
        assert!(s.is_leader);
        let iters = 10u64;
        let mut last = s.index;
        for i in 2..=iters + 1 {
            let s = h.start(leader, i).await.expect("the leader answers");
            assert!(
                s.is_leader && s.index == last + 1,
                "{s:?} after index {last}"
            );
            last = s.index;
        }
        for index in s.index..=last {
            h.wait(index, 3, Some(s.term)).await;
        }
        let (after, _) = h.traffic();
        assert!(
            after - before <= (iters + 1 + 3) * 3 * 2,
            "too many messages ({}) for {} commands",
            after - before,
            iters + 1
        );
        // Idle: only heartbeats (and their answers), about 20 a second per follower pair.
        let (idle0, _) = h.traffic();
        tokio::time::sleep(ms(1_000)).await;
        let (idle1, _) = h.traffic();
        assert!(
            idle1 - idle0 <= 3 * 20 * 2 + 10,
            "too many idle messages: {}",
            idle1 - idle0
        );
    });
}

#[test]
fn follower_failure() {
    simulate(114, |seed| async move {
        let h = Harness::new(seed, 3, true, None);
        h.one(101, 3, false).await;
        let leader1 = h.check_one_leader().await;
        h.disconnect(leader1 % 3 + 1);
        // The leader and the remaining follower can still agree.
        h.one(102, 2, false).await;
        tokio::time::sleep(ms(1_000)).await;
        h.one(103, 2, false).await;
        // Both followers gone: nothing commits.
        let leader2 = h.check_one_leader().await;
        h.disconnect(leader2 % 3 + 1);
        h.disconnect((leader2 + 1) % 3 + 1);
        let s = h.start(leader2, 104).await.expect("the leader answers");
        assert!(s.is_leader, "the leader rejected the command");
        tokio::time::sleep(ms(2_000)).await;
        let (n, _) = h.n_committed(s.index);
        assert_eq!(n, 0, "{n} committed without a majority");
    });
}

#[test]
fn leader_failure() {
    simulate(115, |seed| async move {
        let h = Harness::new(seed, 3, true, None);
        h.one(101, 3, false).await;
        let leader1 = h.check_one_leader().await;
        h.disconnect(leader1);
        h.one(102, 2, false).await;
        tokio::time::sleep(ms(1_000)).await;
        h.one(103, 2, false).await;
        let leader2 = h.check_one_leader().await;
        h.disconnect(leader2);
        // Nobody left to agree with: a command offered to every peer commits nowhere.
        let mut indices = Vec::new();
        for i in 1..=3 {
            if let Some(s) = h.start(i, 104).await {
                if s.is_leader {
                    indices.push(s.index);
                }
            }
        }
        tokio::time::sleep(ms(2_000)).await;
        for index in indices {
            let (n, cmd) = h.n_committed(index);
            assert!(
                n == 0 || cmd != Some(command(104)),
                "104 committed at {index} on {n} peers with no majority"
            );
        }
    });
}

#[test]
fn fail_agree() {
    simulate(116, |seed| async move {
        let h = Harness::new(seed, 3, true, None);
        h.one(101, 3, false).await;
        let leader = h.check_one_leader().await;
        h.disconnect(leader % 3 + 1);
        for cmd in 102..=105 {
            h.one(cmd, 2, false).await;
        }
        tokio::time::sleep(ms(1_000)).await;
        h.one(106, 2, false).await;
        // The follower rejoins and catches up.
        h.connect(leader % 3 + 1);
        h.one(107, 3, true).await;
        tokio::time::sleep(ms(1_000)).await;
        h.one(108, 3, true).await;
    });
}

#[test]
fn fail_no_agree() {
    simulate(117, |seed| async move {
        let h = Harness::new(seed, 5, true, None);
        h.one(10, 5, false).await;
        let leader = h.check_one_leader().await;
        // Three of five followers leave: no majority.
        for k in 1..=3 {
            h.disconnect((leader + k - 1) % 5 + 1);
        }
        let s = h.start(leader, 20).await.expect("the leader answers");
        assert!(s.is_leader, "the leader rejected the command");
        tokio::time::sleep(ms(2_000)).await;
        let (n, _) = h.n_committed(s.index);
        assert_eq!(n, 0, "{n} committed without a majority");
        // Repair: a new (or the same) leader commits again.
        for k in 1..=3 {
            h.connect((leader + k - 1) % 5 + 1);
        }
        let leader2 = h.check_one_leader().await;
        let s2 = h.start(leader2, 30).await.expect("the leader answers");
        assert!(s2.is_leader);
        h.one(1000, 5, true).await;
    });
}
