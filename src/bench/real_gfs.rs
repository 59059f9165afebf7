//! `troupe bench gfs --real`: read and write throughput of a GFS cluster of real processes
//! beside the disk's own, in one run on the same disk. A cluster from `troupe cluster init
//! --system gfs --nodes 3` (every node a master replica and a chunkserver; 64 MB chunks, 3
//! replicas; chunk files under a scratch directory, each write fsynced as the chunkservers
//! always do) runs for the whole benchmark. Before measuring, a master replica must serve with
//! 3 live chunkservers and a small put must have gone through (a new master grants no lease for
//! one lease length), polled with a deadline.
//!
//! A GFS round puts a set of files (a few MB each, within what one request through a client
//! port carries) through the 3 nodes' gateways at once, one client per node, then gets them
//! back the same way and checks every byte. A plain round writes the same bytes sequentially
//! into one file in the same scratch directory, fsyncs it, and reads it back: the disk's limit;
//! then writes them again with an fsync after every MB, as a chunkserver fsyncs each piece.
//! Rounds interleave (GFS, plain, GFS, ...) so the machine's noise falls on both alike; the
//! table gives each round and the medians, and the last line is JSON with `write_ratio` and
//! `read_ratio` (GFS's median over plain's).
//!
//! Two things to read the ratios by: a GFS write stores 3 replicas on this one disk, 3 times
//! the bytes, so its physical bound is a third of the plain write's rate (`write_of_bound`
//! gives GFS's write over that); and every read may come from the page cache, for GFS as for
//! the plain file, since both were written just before.

use super::compare::Spread;
use super::nodes::Nodes;
use anyhow::{bail, Context as _, Result};
use futures_util::future::join_all;
use serde::Serialize;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use troupe::config::ClusterConfig;
use troupe::deploy::GFS_GATEWAY_TIMEOUT;
use troupe_actors::kv::remote::RemoteClerk;
use troupe_messages::client::{ClientRequest, ClientResponse, GfsClientOp, GfsClientReply};
use troupe_messages::NodeId;

/// Nodes, and clients (one per node's client port).
const NODES: u32 = 3;
/// The largest file a round puts: within the 12 MB one request carries.
const MAX_FILE: usize = 8 << 20;
/// Files per round, when the total allows files of at least a few bytes.
const FILES: usize = 8;
const MB: f64 = 1e6;

/// What one run measures: how many bytes, in how many files, over how many rounds.
#[derive(Clone, Copy, Debug)]
pub struct Sizes {
    /// Bytes written and read per round.
    pub total: usize,
    /// Rounds of each kind.
    pub rounds: usize,
}

impl Sizes {
    /// The defaults: 64 MB over 5 rounds, or with `quick` 16 MB over 2; `mb` overrides the
    /// bytes per round.
    pub fn new(quick: bool, mb: Option<u64>) -> Sizes {
        let default_mb = if quick { 16 } else { 64 };
        Sizes {
            total: (mb.unwrap_or(default_mb).max(1) << 20) as usize,
            rounds: if quick { 2 } else { 5 },
        }
    }

    /// The size of each file a GFS round puts.
    fn file(&self) -> usize {
        (self.total / FILES).clamp(1, MAX_FILE)
    }
}

/// One round of one kind.
#[derive(Serialize, Clone)]
struct Round {
    system: &'static str,
    round: usize,
    write_mb_s: f64,
    read_mb_s: f64,
    /// Plain only: the same bytes written with an fsync after every MB, as a chunkserver
    /// fsyncs each write of a piece.
    write_fsync_each_mb_s: Option<f64>,
}

/// The cluster under test and its scratch directory, removed when dropped.
struct Cluster {
    nodes: Nodes,
    dir: PathBuf,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.nodes.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Bytes that are not one byte repeated (xorshift), different for each `seed`.
fn bytes(len: usize, seed: u32) -> Vec<u8> {
    let mut x: u32 = 0x9e37_79b9 ^ seed.wrapping_mul(0x85eb_ca6b);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

/// Polls until a master replica serves and knows every chunkserver live.
async fn serving(clerk: &mut RemoteClerk, within: Duration) -> Result<NodeId> {
    let start = Instant::now();
    while start.elapsed() < within {
        for id in (1..=NODES).map(NodeId) {
            if let Ok(status) = clerk.gfs_status(id).await {
                if let Some(master) = status.master.filter(|m| m.serving) {
                    if master.live_servers.len() == NODES as usize {
                        return Ok(id);
                    }
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("no master replica served with {NODES} live chunkservers within {within:?}")
}

/// Puts a small file, a new one per try, through node after node until one is stored: the
/// first lease of a new master comes one lease length after its election.
async fn first_put(clerk: &mut RemoteClerk, within: Duration) -> Result<()> {
    let start = Instant::now();
    let mut last = String::new();
    for attempt in 0u32.. {
        if start.elapsed() >= within {
            break;
        }
        let node = NodeId(1 + attempt % NODES);
        let request = ClientRequest::Gfs(GfsClientOp::Put {
            path: format!("/warm-up/{attempt}"),
            data: bytes(64 << 10, attempt),
        });
        match clerk.ask_node(node, &request).await {
            Ok(ClientResponse::Gfs(GfsClientReply::Done)) => return Ok(()),
            Ok(other) => last = format!("{node}: {other:?}"),
            Err(e) => last = format!("{node}: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("no put went through within {within:?}; the last answer: {last}")
}

/// Runs `requests` (each with the node to ask) with one client per node at once, each client
/// its node's requests in turn; every answer, in the order of `requests`, and the seconds taken.
async fn run_all(
    clerks: &mut [RemoteClerk],
    requests: &[(NodeId, ClientRequest)],
) -> Result<(Vec<GfsClientReply>, f64)> {
    let started = Instant::now();
    let runs = clerks.iter_mut().enumerate().map(|(c, clerk)| async move {
        let mut answers = Vec::new();
        for (i, (node, request)) in requests.iter().enumerate().skip(c).step_by(NODES as usize) {
            match clerk.ask_node(*node, request).await {
                Ok(ClientResponse::Gfs(reply)) => answers.push((i, reply)),
                Ok(other) => bail!("{node} answered request {i} with {other:?}"),
                Err(e) => bail!("{node} did not answer request {i}: {e}"),
            }
        }
        Ok(answers)
    });
    let mut answers = Vec::new();
    for run in join_all(runs).await {
        answers.extend(run?);
    }
    let secs = started.elapsed().as_secs_f64();
    answers.sort_by_key(|(i, _)| *i);
    Ok((answers.into_iter().map(|(_, r)| r).collect(), secs))
}

/// One GFS round: puts `files` as new files through the gateways, gets them back and checks
/// the bytes.
async fn gfs_round(clerks: &mut [RemoteClerk], files: &[Vec<u8>], round: usize) -> Result<Round> {
    let total: usize = files.iter().map(Vec::len).sum();
    let node = |i: usize| NodeId(1 + (i % NODES as usize) as u32);
    let path = |i: usize| format!("/bench/r{round}/f{i}");
    let puts: Vec<(NodeId, ClientRequest)> = files
        .iter()
        .enumerate()
        .map(|(i, data)| {
            let op = GfsClientOp::Put {
                path: path(i),
                data: data.clone(),
            };
            (node(i), ClientRequest::Gfs(op))
        })
        .collect();
    let (answers, write_secs) = run_all(clerks, &puts).await?;
    drop(puts);
    for (i, answer) in answers.iter().enumerate() {
        if *answer != GfsClientReply::Done {
            bail!("the put of {} through {}: {answer:?}", path(i), node(i));
        }
    }
    // Each file is read through another node than the one that wrote it.
    let gets: Vec<(NodeId, ClientRequest)> = (0..files.len())
        .map(|i| {
            let op = GfsClientOp::Get { path: path(i) };
            (node(i + 1), ClientRequest::Gfs(op))
        })
        .collect();
    let (answers, read_secs) = run_all(clerks, &gets).await?;
    for (i, answer) in answers.into_iter().enumerate() {
        match answer {
            GfsClientReply::Data(got) if got == files[i] => {}
            GfsClientReply::Data(got) => bail!(
                "the get of {} gave {} bytes that are not the {} put",
                path(i),
                got.len(),
                files[i].len()
            ),
            other => bail!("the get of {} through {}: {other:?}", path(i), node(i + 1)),
        }
    }
    Ok(Round {
        system: "gfs",
        round,
        write_mb_s: total as f64 / MB / write_secs.max(1e-9),
        read_mb_s: total as f64 / MB / read_secs.max(1e-9),
        write_fsync_each_mb_s: None,
    })
}

/// One plain round: the same bytes written sequentially into one file of `dir`, fsynced at
/// the end, then read back and checked; then written again with an fsync after every MB. The
/// file is removed after each.
fn plain_round(dir: &Path, files: &[Vec<u8>], round: usize) -> Result<Round> {
    let total: usize = files.iter().map(Vec::len).sum();
    let path = dir.join(format!("plain-r{round}"));
    let started = Instant::now();
    let mut file = std::fs::File::create(&path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    for data in files {
        file.write_all(data)?;
    }
    file.sync_all()?;
    drop(file);
    let write_secs = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let mut back = Vec::with_capacity(total);
    std::fs::File::open(&path)?.read_to_end(&mut back)?;
    let read_secs = started.elapsed().as_secs_f64();
    let mut at = 0;
    for data in files {
        if back.get(at..at + data.len()) != Some(data.as_slice()) {
            bail!("{} read back differs from what was written", path.display());
        }
        at += data.len();
    }
    std::fs::remove_file(&path)?;
    // Again, with an fsync after every MB (the size of a GFS client's write pieces).
    let started = Instant::now();
    let mut file = std::fs::File::create(&path)?;
    for piece in files.iter().flat_map(|data| data.chunks(1 << 20)) {
        file.write_all(piece)?;
        file.sync_data()?;
    }
    drop(file);
    let each_mb_secs = started.elapsed().as_secs_f64();
    std::fs::remove_file(&path)?;
    Ok(Round {
        system: "plain",
        round,
        write_mb_s: total as f64 / MB / write_secs.max(1e-9),
        read_mb_s: total as f64 / MB / read_secs.max(1e-9),
        write_fsync_each_mb_s: Some(total as f64 / MB / each_mb_secs.max(1e-9)),
    })
}

/// The medians (and ranges) of write and read over `system`'s rounds.
fn medians(rounds: &[Round], system: &str) -> Result<(Spread, Spread)> {
    let mine = || rounds.iter().filter(|r| r.system == system);
    let write = Spread::of(mine().map(|r| r.write_mb_s).collect());
    let read = Spread::of(mine().map(|r| r.read_mb_s).collect());
    write.zip(read).context("a system ran no round")
}

/// Runs the benchmark with its scratch directory inside `under` (the disk measured).
pub fn run(sizes: Sizes, json: bool, under: &Path) -> Result<()> {
    let under = std::fs::canonicalize(under)
        .with_context(|| format!("no directory {}", under.display()))?;
    let dir = under.join(format!("troupe-bench-gfs-{}", std::process::id()));
    let config = ClusterConfig::local("gfs", NODES)?;
    let settings = config.gfs.clone().unwrap_or_default();
    let cluster = Cluster {
        nodes: Nodes::start_cluster(&dir, config, None)?,
        dir,
    };
    let file = sizes.file();
    let count = sizes.total.div_ceil(file);
    let files: Vec<Vec<u8>> = (0..count)
        .map(|i| bytes(file.min(sizes.total - i * file), i as u32))
        .collect();
    let total: usize = files.iter().map(Vec::len).sum();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let conditions = format!(
        "{cores} cores; {NODES} `troupe node` processes on loopback, uncapped, every one a \
         master replica and a chunkserver ({} MB chunks, {} replicas, every chunk write \
         fsynced), chunk files under {}; per round {:.1} MB in {count} file(s) of {:.2} MB, put \
         by {NODES} clients at once (one per node's client port) and got back through another \
         node, every byte checked; plain: the same bytes written sequentially into one file in \
         the same directory, fsynced at the end, and read back, then written again with an \
         fsync after every MB; {} round(s) each, GFS and plain interleaved",
        settings.chunk_mb,
        settings.replicas,
        cluster.dir.display(),
        total as f64 / MB,
        file as f64 / MB,
        sizes.rounds
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let rounds = runtime.block_on(async {
        let mut clerk = cluster.nodes.clerk(u64::MAX)?;
        clerk.attempt_timeout = Duration::from_millis(500);
        serving(&mut clerk, Duration::from_secs(60)).await?;
        clerk.attempt_timeout = GFS_GATEWAY_TIMEOUT + Duration::from_secs(5);
        first_put(&mut clerk, Duration::from_secs(60)).await?;
        let mut clerks = (0..NODES)
            .map(|c| {
                let mut clerk = cluster.nodes.clerk(1_000 + u64::from(c))?;
                clerk.attempt_timeout = GFS_GATEWAY_TIMEOUT + Duration::from_secs(5);
                Ok(clerk)
            })
            .collect::<Result<Vec<_>>>()?;
        let mut rounds = Vec::new();
        for r in 1..=sizes.rounds {
            rounds.push(gfs_round(&mut clerks, &files, r).await?);
            rounds.push(plain_round(&cluster.dir, &files, r)?);
        }
        anyhow::Ok(rounds)
    })?;
    let (gfs_write, gfs_read) = medians(&rounds, "gfs")?;
    let (plain_write, plain_read) = medians(&rounds, "plain")?;
    let write_ratio = gfs_write.median / plain_write.median.max(f64::MIN_POSITIVE);
    let read_ratio = gfs_read.median / plain_read.median.max(f64::MIN_POSITIVE);
    let write_of_bound = write_ratio * settings.replicas as f64;
    let each_mb = Spread::of(
        rounds
            .iter()
            .filter_map(|r| r.write_fsync_each_mb_s)
            .collect(),
    )
    .context("no plain round")?;
    let write_ratio_fsync_each_mb = gfs_write.median / each_mb.median.max(f64::MIN_POSITIVE);
    if !json {
        println!("bench gfs --real: {conditions}");
        println!(
            "{:<7} {:>5} {:>12} {:>12}",
            "system", "round", "write MB/s", "read MB/s"
        );
        for r in &rounds {
            let each = r.write_fsync_each_mb_s.map_or(String::new(), |w| {
                format!("   (fsync every MB: write {w:.1})")
            });
            println!(
                "{:<7} {:>5} {:>12.1} {:>12.1}{each}",
                r.system, r.round, r.write_mb_s, r.read_mb_s
            );
        }
        println!(
            "{:<7} {:>12} {:>15} {:>12} {:>15}",
            "system", "write (med)", "write (min-max)", "read (med)", "read (min-max)"
        );
        for (name, w, r) in [
            ("gfs", gfs_write, gfs_read),
            ("plain", plain_write, plain_read),
        ] {
            println!(
                "{name:<7} {:>12.1} {:>7.1}-{:<7.1} {:>12.1} {:>7.1}-{:<7.1}",
                w.median, w.min, w.max, r.median, r.min, r.max
            );
        }
        println!(
            "GFS / plain: write {write_ratio:.3}, read {read_ratio:.3}. A GFS write stores {} \
             replicas on this one disk ({}x the bytes), so its physical bound is plain / {}: \
             GFS writes at {write_of_bound:.2} of that bound. Reads of both may come from the \
             page cache (both were written just before), so the read ratio compares the \
             software paths more than the disk.",
            settings.replicas, settings.replicas, settings.replicas
        );
        println!(
            "plain with an fsync after every MB (as each chunkserver fsyncs each piece it \
             writes): write {:.1} MB/s median ({:.1}-{:.1}); GFS / that: \
             {write_ratio_fsync_each_mb:.3}, {:.2} of its third.",
            each_mb.median,
            each_mb.min,
            each_mb.max,
            write_ratio_fsync_each_mb * settings.replicas as f64
        );
    }
    let report = serde_json::json!({
        "bench": "gfs",
        "real": true,
        "nodes": NODES,
        "chunk_mb": settings.chunk_mb,
        "replicas": settings.replicas,
        "bytes_per_round": total,
        "files_per_round": count,
        "file_bytes": file,
        "rounds": sizes.rounds,
        "dir": cluster.dir.display().to_string(),
        "cores": cores,
        "gfs_write_mb_s": gfs_write.median,
        "gfs_read_mb_s": gfs_read.median,
        "plain_write_mb_s": plain_write.median,
        "plain_read_mb_s": plain_read.median,
        "write_ratio": write_ratio,
        "read_ratio": read_ratio,
        "write_of_bound": write_of_bound,
        "plain_write_fsync_each_mb_mb_s": each_mb.median,
        "write_ratio_fsync_each_mb": write_ratio_fsync_each_mb,
        "verified": true,
        "per_round": rounds,
        "conditions": conditions,
    });
    println!("{report}");
    Ok(())
}
