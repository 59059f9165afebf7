//! `troupe bench vmft`: what fault tolerance costs a VM and how fast it fails over, in
//! simulation, measured in one run.
//!
//! - **Throughput with FT against without.** The same key-value guest, the same closed-loop
//!   clients, once on a primary with a backup (every output held until the backup acknowledged
//!   the entries that produced it) and once on a primary alone (no backup host, so outputs leave
//!   at once). The VM runs on a simulated CPU (`CPU_HZ` instructions per virtual second), so the
//!   guest's work takes virtual time and enough clients saturate it, as in the paper's
//!   measurements; the ratio is set beside the paper's 0.94-0.99.
//! - **Log bandwidth**: bytes of log entries the primary recorded per second of the FT run.
//! - **Failover time**: the primary's node crashes; how long until the record names the new
//!   primary (detection plus the test-and-set: go-live) and until a client's read is answered
//!   by it, over several trials.
//!
//! The last line is JSON with `ft_over_non_ft`.

use anyhow::{bail, Result};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;
use troupe::systems::vmft::Vmft;
use troupe::systems::{topology, Assembly};
use troupe::testkit::client_id;
use troupe::testkit::workload::{run_clients_for, Recorder, Workload, WorkloadClient};
use troupe_actors::client::{KvClient, Outcome};
use troupe_actors::vmft::host::HostStatsRequest;
use troupe_messages::kv::KvOp;
use troupe_runtime::sim::{block_on, derive_seed, LinkFaults};
use troupe_runtime::testkit::Cluster;
use troupe_runtime::ActorPath;

/// The simulated CPU of each VM host: instructions per virtual second.
const CPU_HZ: u64 = 20_000_000;

/// Closed-loop clients, each with no think time: enough to saturate the simulated CPU with FT
/// and without (the paper's measure), and a number that does not, where every output's wait
/// for the backup shows in throughput.
const CLIENTS: [u32; 2] = [256, 32];

/// One-way latency of every link.
const LATENCY: (Duration, Duration) = (Duration::from_millis(1), Duration::from_millis(2));

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// What one throughput run measured.
struct Throughput {
    ops_per_s: f64,
    log_bytes_per_s: f64,
    longest_hold_ms: f64,
}

/// Runs the clients for `window` after a warm-up on `hosts` hosts (1: no backup, so no FT).
fn throughput(hosts: u32, clients: u32, window: Duration, seed: u64) -> Result<Throughput> {
    block_on(async move {
        let mut system = Vmft::managed(hosts);
        system.plan.cpu_hz = Some(CPU_HZ);
        let first_client = system.last_node() + 1;
        let cluster = Cluster::builder(seed)
            .nodes(first_client + clients)
            .baseline(LinkFaults::reliable().with_delay(LATENCY.0, LATENCY.1))
            .topology(topology(system.clone()))
            .build();
        let watcher = cluster.up(first_client + clients);
        // Warm up: the VM boots and, with FT, its backup is in sync.
        let mut storage = system.storage_client(watcher.clone(), client_id(seed, 1 << 41));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let record = system.record(&mut storage, ms(500)).await;
            let ready = record.is_some_and(|r| hosts == 1 || r.backup.is_some());
            if ready {
                break;
            }
            if tokio::time::Instant::now() > deadline {
                bail!("the VM did not come up with {hosts} host(s) in 10 s");
            }
            tokio::time::sleep(ms(20)).await;
        }
        let primary = system
            .record(&mut storage, ms(500))
            .await
            .map(|r| r.primary);
        let stats = |primary| {
            let watcher = watcher.clone();
            async move {
                let primary = primary?;
                let path = ActorPath::new(primary, troupe::systems::vmft::HOST);
                watcher.call(&path, HostStatsRequest, ms(500)).await.ok()
            }
        };
        let before = stats(primary).await;
        let recorder = Rc::new(RefCell::new(Recorder::default()));
        let clients = (0..clients)
            .map(|c| {
                let node = cluster.up(first_client + c);
                WorkloadClient {
                    client: u64::from(c),
                    clerk: system.client(node.clone(), client_id(seed, u64::from(c) + 1)),
                    node,
                    rng: ChaCha8Rng::seed_from_u64(derive_seed(seed, 1_000 + u64::from(c))),
                }
            })
            .collect();
        let workload = Workload {
            keys: 64,
            think: Duration::ZERO,
            op_deadline: Duration::from_secs(5),
            gets_in_ten: 5,
            puts_only: true,
            appends_only: false,
            read_only_every: 0,
        };
        run_clients_for(clients, workload, recorder.clone(), window, async {}).await;
        let after = stats(primary).await;
        let secs = window.as_secs_f64();
        let ok = recorder.borrow().ok as f64;
        let (log_bytes, hold) = match (before, after) {
            (Some(b), Some(a)) => (a.log_bytes.saturating_sub(b.log_bytes), a.longest_hold),
            _ => (0, 0),
        };
        Ok(Throughput {
            ops_per_s: ok / secs,
            log_bytes_per_s: log_bytes as f64 / secs,
            longest_hold_ms: hold as f64 / 1e6,
        })
    })
}

/// One failover: (ms until the record names the new primary, ms until a client's read is
/// answered after the crash).
fn failover(seed: u64) -> Result<(f64, f64)> {
    block_on(async move {
        let system = Vmft::managed(3);
        let client_node = system.last_node() + 1;
        let cluster = Cluster::builder(seed)
            .nodes(client_node + 1)
            .baseline(LinkFaults::reliable().with_delay(LATENCY.0, LATENCY.1))
            .topology(topology(system.clone()))
            .build();
        let node = cluster.up(client_node);
        let mut storage = system.storage_client(node.clone(), client_id(seed, 1 << 41));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let pair = loop {
            if let Some(record) = system.record(&mut storage, ms(500)).await {
                if record.backup.is_some() {
                    break record;
                }
            }
            if tokio::time::Instant::now() > deadline {
                bail!("no primary/backup pair in 10 s");
            }
            tokio::time::sleep(ms(20)).await;
        };
        // Let the pair run a while, then crash the primary's node.
        let mut client = system.client(node.clone(), client_id(seed, 1));
        client.attempt_timeout = ms(50);
        cluster.run_for(ms(500)).await;
        let crashed = tokio::time::Instant::now();
        cluster.crash(pair.primary.0);
        let watch = async {
            let mut storage = system.storage_client(node.clone(), client_id(seed, (1 << 41) + 1));
            loop {
                if let Some(record) = system.record(&mut storage, ms(500)).await {
                    if record.primary != pair.primary {
                        return crashed.elapsed();
                    }
                }
                tokio::time::sleep(ms(2)).await;
            }
        };
        let serve = async {
            loop {
                let get = KvOp::Get { key: "k0".into() };
                if let Outcome::Done(_) = client.run(get, ms(5_000)).await {
                    return crashed.elapsed();
                }
            }
        };
        let (live, served) = tokio::join!(watch, serve);
        Ok((live.as_secs_f64() * 1e3, served.as_secs_f64() * 1e3))
    })
}

/// Runs the benchmark and prints its table and JSON line.
pub fn run(quick: bool, json: bool) -> Result<()> {
    let window = if quick { ms(2_000) } else { ms(10_000) };
    let trials = if quick { 3 } else { 10 };
    if !json {
        println!(
            "troupe bench vmft: the key-value guest on a simulated CPU of {} M instructions/s \
             (the hypervisor's own work takes no virtual time), closed-loop clients, links \
             {:?}..{:?} one way, {:?} of virtual time per run",
            CPU_HZ / 1_000_000,
            LATENCY.0,
            LATENCY.1,
            window
        );
    }
    let mut rows = Vec::new();
    for clients in CLIENTS {
        let alone = throughput(1, clients, window, 1)?;
        let ft = throughput(3, clients, window, 1)?;
        rows.push((clients, alone, ft));
    }
    let (_, alone, ft) = &rows[0];
    let ratio = ft.ops_per_s / alone.ops_per_s.max(1e-9);
    let (_, alone_few, ft_few) = &rows[1];
    let ratio_few = ft_few.ops_per_s / alone_few.ops_per_s.max(1e-9);
    let mut live = Vec::new();
    let mut served = Vec::new();
    for trial in 0..trials {
        let (l, s) = failover(100 + trial)?;
        live.push(l);
        served.push(s);
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    let max = |v: &[f64]| v.iter().cloned().fold(0.0, f64::max);
    if !json {
        println!(
            "{:<8} {:>22} {:>22} {:>8}",
            "clients", "no FT (baseline) ops/s", "FT ops/s", "FT/no FT"
        );
        for (clients, alone, ft) in &rows {
            println!(
                "{:<8} {:>22.0} {:>22.0} {:>8.3}",
                clients,
                alone.ops_per_s,
                ft.ops_per_s,
                ft.ops_per_s / alone.ops_per_s.max(1e-9)
            );
        }
        println!(
            "FT / non-FT throughput, CPU saturated: {ratio:.3} (the paper: 0.94-0.99; goal here \
             >= 0.9); with {} clients, not saturated: {ratio_few:.3}, since every output waits \
             a round trip to the backup",
            CLIENTS[1]
        );
        println!(
            "log bandwidth: {:.1} KB/s; longest output hold: {:.2} ms",
            ft.log_bytes_per_s / 1e3,
            ft.longest_hold_ms
        );
        println!(
            "failover over {trials} trials: go-live (detection + test-and-set) mean {:.0} ms, \
             max {:.0} ms; first read answered mean {:.0} ms, max {:.0} ms",
            mean(&live),
            max(&live),
            mean(&served),
            max(&served)
        );
    }
    let report = serde_json::json!({
        "bench": "vmft",
        "cpu_hz": CPU_HZ,
        "clients": CLIENTS[0],
        "ft_over_non_ft_unsaturated": ratio_few,
        "clients_unsaturated": CLIENTS[1],
        "window_s": window.as_secs_f64(),
        "ops_per_s_non_ft": alone.ops_per_s,
        "ops_per_s_ft": ft.ops_per_s,
        "ft_over_non_ft": ratio,
        "log_bytes_per_s": ft.log_bytes_per_s,
        "longest_output_hold_ms": ft.longest_hold_ms,
        "failover_go_live_ms_mean": mean(&live),
        "failover_go_live_ms_max": max(&live),
        "failover_first_read_ms_mean": mean(&served),
        "failover_first_read_ms_max": max(&served),
    });
    println!("{report}");
    Ok(())
}
