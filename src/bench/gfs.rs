//! `troupe bench gfs`: GFS's aggregate read, write and record-append throughput against the
//! number of clients, in simulation on a network like the paper's §6.1 micro-benchmarks: every
//! chunkserver and client has a 100 Mbit/s network card, the servers (master replicas and 16
//! chunkservers) are on one switch and the clients on another, and the switches are joined by
//! a 1 Gbit/s link.
//!
//! The limits of that network are the baseline: reads are bounded by min(12.5 MB/s per
//! client, 125 MB/s for the link), writes by min(12.5 MB/s per client, 16 × 12.5 / 3 = 67 MB/s,
//! since every byte goes into three of the 16 chunkservers), and record appends to one file by
//! the 12.5 MB/s of the chunkservers that hold its last chunk. Each measured rate is set beside
//! its limit, and the ratios beside the paper's Figure 3 (reads 80% of the limit for one
//! client, 75% for 16; writes 6.3 MB/s for one, 35 MB/s for 16; appends 6.0 MB/s for one,
//! 4.8 MB/s for 16).
//!
//! Sizes are scaled down from the paper's (8 MB chunks instead of 64 MB, 32 MB per reading or
//! writing client instead of 1 GB): a rate is a rate, and the network's limits are the same.
//! The chunkservers' disks take no virtual time (the paper's reads were mostly cache hits).

use anyhow::{bail, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::time::Duration;
use troupe::systems::gfs::Gfs;
use troupe::systems::{topology, Assembly};
use troupe::testkit::client_id;
use troupe_actors::gfs::chunk::ChunkConfig;
use troupe_actors::gfs::client::{ClientTiming, GfsClient};
use troupe_runtime::sim::{block_on, derive_seed, LinkFaults, Nic};
use troupe_runtime::testkit::Cluster;

/// Chunkservers, as in the paper.
const CHUNKSERVERS: u32 = 16;

/// Every card's rate: 100 Mbit/s.
const NIC_BPS: u64 = 100_000_000;

/// The link between the switches: 1 Gbit/s.
const UPLINK_BPS: u64 = 1_000_000_000;

/// The chunk size (the paper's 64 MB, scaled down).
const CHUNK: u64 = 8 << 20;

/// A record append's record, header included.
const RECORD: u64 = 256 << 10;

const MB: f64 = 1e6;

/// One client count's measurements, in bytes per virtual second.
struct Row {
    clients: u32,
    read: f64,
    write: f64,
    /// The append rate, or why the appends did not finish.
    append: Result<f64, String>,
}

/// The network's limits for `clients` clients, bytes per second.
fn limits(clients: u32) -> (f64, f64, f64) {
    let card = NIC_BPS as f64 / 8.0;
    let n = f64::from(clients);
    let read = (card * n).min(UPLINK_BPS as f64 / 8.0);
    let write = (card * n).min(card * f64::from(CHUNKSERVERS) / 3.0);
    (read, write, card)
}

/// A cluster with the paper's network and `clients` client nodes after the servers.
fn cluster(clients: u32, seed: u64) -> (Cluster, Gfs) {
    let system = Gfs::managed(CHUNKSERVERS).with_plan(|plan| {
        plan.chunk = ChunkConfig::new(CHUNK);
    });
    let servers: Vec<u32> = (1..=system.last_node()).collect();
    let client_nodes: Vec<u32> = (system.last_node() + 1..=system.last_node() + clients).collect();
    let mut builder = Cluster::builder(seed)
        .nodes(system.last_node() + clients)
        // A LAN's sub-millisecond latency, within the simulated clock's 1 ms tick.
        .baseline(LinkFaults::reliable().with_delay(Duration::ZERO, Duration::from_millis(1)))
        .topology(topology(system.clone()))
        .uplink(&[&servers, &client_nodes], UPLINK_BPS);
    for n in 1..=system.last_node() + clients {
        builder = builder.nic(n, Nic::symmetric(NIC_BPS));
    }
    (builder.build(), system)
}

/// How long a client's call to a master or chunkserver may take. The client's default, half a
/// second, is less than a 1 MB push takes when many clients push to the same 12.5 MB/s card
/// (16 record appenders: about 1.3 s): calls would time out and be sent again, adding load.
const CALL: Duration = Duration::from_secs(10);

fn clients_of(cluster: &Cluster, system: &Gfs, clients: u32, seed: u64) -> Vec<GfsClient> {
    let timing = ClientTiming {
        call: CALL,
        ..ClientTiming::for_plan(&system.plan)
    };
    (0..clients)
        .map(|c| {
            let node = cluster.up(system.last_node() + 1 + c);
            system
                .client(node, client_id(seed, u64::from(c) + 1))
                .with_timing(timing)
        })
        .collect()
}

/// Runs `work` on every client at once; the aggregate rate of `bytes` moved per client.
async fn timed<F, Fut>(clients: Vec<GfsClient>, bytes_each: u64, work: F) -> Result<f64>
where
    F: Fn(usize, GfsClient) -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    let n = clients.len();
    let start = tokio::time::Instant::now();
    let runs = clients.into_iter().enumerate().map(|(i, c)| work(i, c));
    for result in futures_util::future::join_all(runs).await {
        result?;
    }
    let secs = start.elapsed().as_secs_f64();
    Ok((bytes_each * n as u64) as f64 / secs.max(1e-9))
}

/// Measures reads, writes and record appends with `clients` clients, each phase on a fresh
/// cluster.
fn measure(clients: u32, per_client: u64, seed: u64) -> Result<Row> {
    let deadline = Duration::from_secs(600);
    let read = block_on(async move {
        let (cluster, system) = cluster(clients, seed);
        // The file set: 16 files of one full chunk each, written first.
        let mut writers = clients_of(&cluster, &system, clients.max(1), seed + 1);
        let data = vec![7u8; CHUNK as usize];
        for f in 0..16 {
            let count = writers.len();
            let writer = &mut writers[f % count];
            if let Err(e) = writer
                .write_file(&format!("/set/{f}"), &data, deadline)
                .await
            {
                bail!("writing the file set: {e}");
            }
        }
        let readers = clients_of(&cluster, &system, clients, seed + 2);
        timed(readers, per_client, |i, mut client| async move {
            let mut rng = ChaCha8Rng::seed_from_u64(derive_seed(seed, i as u64));
            let regions = per_client / (4 << 20);
            for _ in 0..regions {
                let f = rng.gen_range(0..16);
                let start = rng.gen_range(0..2u64) * (4 << 20);
                for piece in 0..4u64 {
                    let offset = start + piece * (1 << 20);
                    let path = format!("/set/{f}");
                    if let Err(e) = client.read_chunk(&path, 0, offset, 1 << 20, deadline).await {
                        bail!("read: {e}");
                    }
                }
            }
            Ok(())
        })
        .await
    })?;
    let write = block_on(async move {
        let (cluster, system) = cluster(clients, seed);
        let writers = clients_of(&cluster, &system, clients, seed + 3);
        timed(writers, per_client, |i, mut client| async move {
            let data = vec![i as u8; per_client as usize];
            match client.write_file(&format!("/w/{i}"), &data, deadline).await {
                Ok(()) => Ok(()),
                Err(e) => bail!("write: {e}"),
            }
        })
        .await
    })?;
    let append = block_on(async move {
        let (cluster, system) = cluster(clients, seed);
        let mut setup = clients_of(&cluster, &system, 1, seed + 4);
        if let Err(e) = setup[0].create("/append", deadline).await {
            bail!("create: {e}");
        }
        let appenders = clients_of(&cluster, &system, clients, seed + 5);
        // Records of 256 KB, each client a quarter of the reads' share. With records of 1 MB,
        // 16 appenders made no progress at all in 600 virtual seconds (12 did).
        let record = RECORD;
        let each = (per_client / 4).max(record);
        timed(appenders, each, |_, mut client| async move {
            let payload = vec![5u8; (record - 64) as usize];
            for _ in 0..each / record {
                if let Err(e) = client.record_append("/append", &payload, deadline).await {
                    bail!("append: {e}");
                }
            }
            Ok(())
        })
        .await
    })
    .map_err(|e| e.to_string());
    Ok(Row {
        clients,
        read,
        write,
        append,
    })
}

/// Runs the benchmark and prints its table and JSON line.
pub fn run(quick: bool, json: bool) -> Result<()> {
    let counts: &[u32] = if quick { &[1, 4] } else { &[1, 2, 4, 8, 16] };
    let per_client: u64 = if quick { 8 << 20 } else { 32 << 20 };
    if !json {
        println!(
            "troupe bench gfs: {CHUNKSERVERS} chunkservers and 3 master replicas on one switch, \
             clients on another, {} Mbit/s cards, a {} Gbit/s link between the switches, {} MB \
             chunks, {} MB read or written per client (4 MB regions, 1 MB writes, {} KB \
             records); rates in MB/s of virtual time, each beside the network's limit",
            NIC_BPS / 1_000_000,
            UPLINK_BPS / 1_000_000_000,
            CHUNK >> 20,
            per_client >> 20,
            RECORD >> 10
        );
        println!(
            "{:<8} {:>10} {:>10} {:>6} {:>10} {:>10} {:>6} {:>10} {:>10} {:>6}",
            "clients",
            "read",
            "limit",
            "ratio",
            "write",
            "limit",
            "ratio",
            "append",
            "limit",
            "ratio"
        );
    }
    let mut rows = Vec::new();
    for &clients in counts {
        let row = measure(clients, per_client, 1)?;
        let (read_limit, write_limit, append_limit) = limits(clients);
        if !json {
            println!(
                "{:<8} {:>10.1} {:>10.1} {:>6.2} {:>10.1} {:>10.1} {:>6.2} {:>10.1} {:>10.1} {:>6.2}",
                clients,
                row.read / MB,
                read_limit / MB,
                row.read / read_limit,
                row.write / MB,
                write_limit / MB,
                row.write / write_limit,
                row.append.as_ref().map_or(f64::NAN, |a| a / MB),
                append_limit / MB,
                row.append.as_ref().map_or(f64::NAN, |a| a / append_limit)
            );
            if let Err(e) = &row.append {
                println!("  (no append rate at {clients} clients: {e})");
            }
        }
        rows.push((row, read_limit, write_limit, append_limit));
    }
    if !json {
        println!(
            "the paper (Figure 3, 1 and 16 clients): reads 10 and 94 MB/s (0.80 and 0.75 of \
             the limit), writes 6.3 and 35 MB/s (0.50 and 0.53), appends 6.0 and 4.8 MB/s \
             (0.48 and 0.38)"
        );
    }
    let report = serde_json::json!({
        "bench": "gfs",
        "chunkservers": CHUNKSERVERS,
        "nic_mbps": NIC_BPS / 1_000_000,
        "uplink_gbps": UPLINK_BPS / 1_000_000_000,
        "rows": rows.iter().map(|(r, rl, wl, al)| serde_json::json!({
            "clients": r.clients,
            "read_mb_s": r.read / MB, "read_limit_mb_s": rl / MB,
            "write_mb_s": r.write / MB, "write_limit_mb_s": wl / MB,
            "append_mb_s": r.append.as_ref().ok().map(|a| a / MB),
            "append_error": r.append.as_ref().err(),
            "append_limit_mb_s": al / MB,
        })).collect::<Vec<_>>(),
    });
    println!("{report}");
    let failed: Vec<u32> = rows
        .iter()
        .filter(|(r, ..)| r.append.is_err())
        .map(|(r, ..)| r.clients)
        .collect();
    if !failed.is_empty() {
        bail!("the record appends did not finish at {failed:?} clients");
    }
    Ok(())
}
