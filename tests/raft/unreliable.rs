//! Agreement on an unreliable network (loss, delay, reordering), Figure 8 on it, and churn.

use crate::harness::*;
use std::rc::Rc;
use troupe_runtime::sim::LinkFaults;
use troupe_runtime::testkit::simulate;

#[test]
fn unreliable_agree() {
    simulate(141, |seed| async move {
        let h = Rc::new(Harness::new(seed, 5, false, None));
        for round in 1..50u64 {
            let mut tasks = Vec::new();
            for j in 0..4u64 {
                let h = h.clone();
                tasks.push(actix_rt::spawn(async move {
                    h.one(100 * round + j, 1, true).await
                }));
            }
            h.one(round, 1, true).await;
            for t in tasks {
                t.await.expect("the agreement task finishes");
            }
        }
        h.set_unreliable(false);
        h.one(100, 5, true).await;
    });
}

#[test]
fn figure_8_unreliable() {
    simulate(142, |seed| async move {
        let n = 5;
        let h = Harness::new(seed, n, false, None);
        h.one(h.random() % 10_000, 1, true).await;
        let mut connected = n;
        for iter in 0..1000 {
            if iter == 200 {
                // Long delays from now on: messages arrive very late and out of order.
                h.cluster
                    .set_faults(LinkFaults::unreliable().with_delay(ms(0), ms(2_000)));
            }
            let mut leader = None;
            for i in 1..=n {
                if let Some(s) = h.start(i, h.random() % 10_000).await {
                    if s.is_leader && h.connected(i) {
                        leader = Some(i);
                    }
                }
            }
            let pause = if h.random() % 1000 < 100 {
                h.random() % 500
            } else {
                h.random() % 13
            };
            tokio::time::sleep(ms(pause)).await;
            if let Some(l) = leader {
                if h.random() % 1000 < 500 {
                    h.disconnect(l);
                    connected -= 1;
                }
            }
            if connected < 3 {
                let s = (h.random() % n as u64) as u32 + 1;
                if !h.connected(s) {
                    h.connect(s);
                    connected += 1;
                }
            }
        }
        for i in 1..=n {
            h.connect(i);
        }
        h.set_unreliable(false);
        h.one(h.random() % 10_000, n as usize, true).await;
    });
}

/// Clients keep offering commands while peers crash, restart, disconnect and reconnect at
/// random; afterwards every command a client saw committed is in every peer's log.
async fn churn(seed: u64, unreliable: bool) {
    let n = 5;
    let h = Rc::new(Harness::new(seed, n, !unreliable, None));
    let stop = Rc::new(std::cell::Cell::new(false));
    let mut clients = Vec::new();
    for client in 0..3u64 {
        let (h, stop) = (h.clone(), stop.clone());
        clients.push(actix_rt::spawn(async move {
            let mut committed = Vec::new();
            let mut k = 0u64;
            while !stop.get() {
                k += 1;
                let cmd = client * 1_000_000 + k;
                let mut started = None;
                for i in 1..=n {
                    if let Some(s) = h.start(i, cmd).await.filter(|s| s.is_leader) {
                        started = Some(s.index);
                    }
                }
                // Clients think between commands (in virtual time, so that the churn goes on).
                tokio::time::sleep(ms(1 + k % 5)).await;
                if let Some(index) = started {
                    // Watch for it for a while; it may be lost to a leader change.
                    for _ in 0..20 {
                        let (nd, got) = h.n_committed(index);
                        if nd > 0 {
                            if got == Some(command(cmd)) {
                                committed.push(cmd);
                            }
                            break;
                        }
                        tokio::time::sleep(ms(10 + k % 7)).await;
                    }
                } else {
                    tokio::time::sleep(ms(79 + client * 17)).await;
                }
            }
            committed
        }));
    }
    for _ in 0..20 {
        if h.random() % 1000 < 200 {
            h.disconnect((h.random() % n as u64) as u32 + 1);
        }
        if h.random() % 1000 < 500 {
            let i = (h.random() % n as u64) as u32 + 1;
            if h.cluster.node(i).is_none() {
                h.restart(i);
            }
            h.connect(i);
        }
        if h.random() % 1000 < 200 {
            let i = (h.random() % n as u64) as u32 + 1;
            if h.cluster.node(i).is_some() {
                h.crash(i);
            }
        }
        // Often enough that peers come back before elections settle, not so often that the
        // cluster never makes progress.
        tokio::time::sleep(ms(h.random() % 700 + 50)).await;
    }
    h.set_unreliable(false);
    for i in 1..=n {
        if h.cluster.node(i).is_none() {
            h.restart(i);
        }
        h.connect(i);
    }
    stop.set(true);
    let mut all = Vec::new();
    for c in clients {
        all.extend(c.await.expect("the client task finishes"));
    }
    tokio::time::sleep(ms(1_000)).await;
    let last = h.one(h.random(), n as usize, true).await;
    let mut everywhere = std::collections::BTreeSet::new();
    for index in 1..=last {
        if let (_, Some(cmd)) = h.n_committed(index) {
            everywhere.insert(cmd);
        }
    }
    h.wait(last, n as usize, None).await;
    for cmd in &all {
        assert!(
            everywhere.contains(&command(*cmd)),
            "committed command {cmd} is missing"
        );
    }
    assert!(
        !all.is_empty(),
        "no client command committed during the churn"
    );
    h.check_errors();
}

#[test]
fn reliable_churn() {
    simulate(143, |seed| churn(seed, false));
}

#[test]
fn unreliable_churn() {
    simulate(144, |seed| churn(seed, true));
}
