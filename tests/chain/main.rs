//! Chain replication and CRAQ on the simulated network, in virtual time: clients' whole
//! histories are checked for linearizability and for lost acknowledged writes, with and without
//! CRAQ, in a steady chain and across the crash of the head, a middle node or the tail, and a
//! partitioned head. The tests in this file install each new configuration themselves;
//! `supervised` leaves it to the configuration manager on Raft and the chain failover
//! supervisor.

mod harness;
mod sharded;
mod supervised;

use harness::{ms, ChainHarness};
use troupe_runtime::testkit::simulate;

#[test]
fn a_steady_chain_is_linearizable_with_and_without_craq() {
    for craq in [false, true] {
        simulate(51, |seed| async move {
            let h = ChainHarness::new(seed, 3, 12, craq);
            h.run_clients(ms(5_000), async {}).await;
            h.finish().await;
        });
    }
}

/// Crashes chain node `position` (1 = head) after 1 s of writes, and installs the chain of the
/// survivors 200 ms later, as a failure detector and manager would.
fn crash_at(position: u32, craq: bool, seed: u64) {
    simulate(seed, |seed| async move {
        let h = ChainHarness::new(seed, 3, 6, craq);
        h.run_clients(ms(4_000), async {
            tokio::time::sleep(ms(1_000)).await;
            h.cluster.crash(h.chain_node(position));
            tokio::time::sleep(ms(200)).await;
            let survivors: Vec<u32> = (1..=3).filter(|&n| n != position).collect();
            h.reconfigure(&survivors).await;
        })
        .await;
        h.finish().await;
    });
}

#[test]
fn a_head_crash_loses_no_acknowledged_write() {
    crash_at(1, false, 61);
    crash_at(1, true, 62);
}

#[test]
fn a_middle_crash_loses_no_acknowledged_write() {
    crash_at(2, false, 63);
    crash_at(2, true, 64);
}

#[test]
fn a_tail_crash_loses_no_acknowledged_write() {
    crash_at(3, false, 65);
    crash_at(3, true, 66);
}

#[test]
fn a_partitioned_head_is_cut_out_and_cannot_split_the_chain() {
    for craq in [false, true] {
        simulate(71, |seed| async move {
            let h = ChainHarness::new(seed, 3, 6, craq);
            h.run_clients(ms(4_000), async {
                tokio::time::sleep(ms(1_000)).await;
                // The head keeps running and keeps its clients, but reaches neither the other
                // chain nodes nor the manager (node 10), so it never learns the new chain.
                h.cluster.cut_off(1, &[2, 3, 10]);
                tokio::time::sleep(ms(200)).await;
                h.reconfigure(&[2, 3]).await;
            })
            .await;
            h.finish().await;
        });
    }
}
