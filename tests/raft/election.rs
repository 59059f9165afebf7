//! Leader election: initial election, re-election, many elections.

use crate::harness::*;
use troupe_runtime::testkit::simulate;

#[test]
fn initial_election() {
    simulate(101, |seed| async move {
        let h = Harness::new(seed, 3, true, None);
        h.check_one_leader().await;
        // Give the peers time to agree on the term; it stays put without failures.
        tokio::time::sleep(ms(50)).await;
        let term1 = h.check_terms().await;
        assert!(
            term1 >= 1,
            "term is {term1}, but election should have advanced it"
        );
        tokio::time::sleep(ms(2_000)).await;
        let term2 = h.check_terms().await;
        assert_eq!(term1, term2, "the term changed with no failures");
        h.check_one_leader().await;
    });
}

#[test]
fn re_election() {
    simulate(102, |seed| async move {
        let h = Harness::new(seed, 3, true, None);
        let leader1 = h.check_one_leader().await;
        // The leader leaves: a new one is elected.
        h.disconnect(leader1);
        h.check_one_leader().await;
        // The old leader rejoins: it must not disturb the new one.
        h.connect(leader1);
        let leader2 = h.check_one_leader().await;
        // No quorum: no leader.
        h.disconnect(leader2);
        h.disconnect(leader2 % 3 + 1);
        tokio::time::sleep(ms(2_000)).await;
        h.check_no_leader().await;
        // A quorum again: a leader.
        h.connect(leader2 % 3 + 1);
        h.check_one_leader().await;
        h.connect(leader2);
        h.check_one_leader().await;
    });
}

#[test]
fn many_elections() {
    simulate(103, |seed| async move {
        let n = 7;
        let h = Harness::new(seed, n, true, None);
        h.check_one_leader().await;
        for _ in 0..10 {
            // Disconnect three random peers; the other four must still elect a leader.
            let mut out = Vec::new();
            while out.len() < 3 {
                let i = (h.random() % n as u64) as u32 + 1;
                if !out.contains(&i) {
                    out.push(i);
                }
            }
            for &i in &out {
                h.disconnect(i);
            }
            h.check_one_leader().await;
            for &i in &out {
                h.connect(i);
            }
        }
        h.check_one_leader().await;
    });
}
