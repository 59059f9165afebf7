//! `troupe bench <what>`: benchmarks that print their conditions and a baseline measured in the
//! same run, so that results compare as ratios on a noisy shared machine.

mod apache_zk;
mod chain;
mod compare;
mod election;
#[cfg(feature = "etcd-grpc")]
mod etcd;
#[cfg(feature = "etcd-grpc")]
mod etcd_grpc;
mod gfs;
mod mapreduce;
mod messaging;
mod nodes;
mod raft;
mod real;
mod real_chain;
mod real_gfs;
mod real_vmft;
mod real_zk;
mod vmft;

use anyhow::Result;
use clap::{Args, ValueEnum};

/// What to measure.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Bench {
    /// Local messaging against raw actix, SimNet throughput, and virtual-time speed; fails on
    /// any message lost.
    Messaging,
    /// Key-value throughput and latency on Raft, 3 and 5 servers, 1 to 512 clients, under a
    /// capacity model (one message per 100 µs of virtual time per server).
    RaftKv,
    /// Time to elect a new leader after the leader crashes, over 1000 trials; fails if a trial
    /// elects no leader.
    Election,
    /// Read throughput against chain length, chain replication against CRAQ, under a capacity
    /// model; with --real, CR against CRAQ as real processes at length 3.
    Chain,
    /// VM-FT: the guest's throughput with FT against without (on a simulated CPU), log
    /// bandwidth, and failover time (detection plus go-live) over several trials; with --real,
    /// throughput with FT against without as two clusters of 3 real processes, rounds
    /// interleaved.
    Vmft,
    /// GFS: aggregate read, write and record-append throughput against 1 to 16 clients, in
    /// simulation with the paper's network (100 Mbit/s cards, 1 Gbit/s between the switches),
    /// each rate beside the network's limit; with --real, read and write MB/s of 3 real
    /// processes beside a plain file's on the same disk, rounds interleaved.
    Gfs,
    /// MapReduce word count (`troupe mr run --app wc`, 1, 2 and 4 worker processes) against
    /// the GNU pipeline `tr | sort | uniq -c` and a single-threaded Rust program, over the
    /// Gutenberg texts and a generated corpus of about 1 GB (--mb), in --dir; fails if any
    /// output differs from the baseline's.
    Mapreduce,
    /// ZooKeeper: troupe's against Apache ZooKeeper 3.8 (Debian's package), 3 servers each
    /// (--servers) on loopback with fsync, one load generator over ZooKeeper's protocol for
    /// both; ops/s, p50 and p99 at 100% reads, 100% writes and 70/30 (--reads), rounds
    /// interleaved (always real processes); fails below the goal (writes faster than Apache's,
    /// reads at least 0.9).
    Zk,
}

/// Options of `troupe bench`.
#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Which benchmark.
    #[arg(value_enum)]
    bench: Bench,
    /// Fewer messages and rounds: a quick check, not a measurement.
    #[arg(long)]
    quick: bool,
    /// Print the results as one JSON object.
    #[arg(long)]
    json: bool,
    /// Real node processes on loopback (fsync on). raft-kv: in rounds interleaved with etcd's
    /// (through its gRPC API: needs the `etcd-grpc` feature); fails below the goal. chain: a CR
    /// and a CRAQ cluster of 3 processes, rounds interleaved. vmft: a cluster with a backup and
    /// one without, 3 processes each, rounds interleaved. gfs: a cluster of 3 processes (not
    /// capped) against plain sequential file I/O on the same disk, rounds interleaved.
    #[arg(long)]
    real: bool,
    /// chain --real, vmft --real and zk: the share of a CPU each node process may use, through a cgroup of its
    /// own (0: uncapped); emulates separate machines on one.
    #[arg(long, default_value_t = 0.4, value_parser = cpu_share)]
    cpu_per_node: f64,
    /// gfs --real: MiB written and read back per round (default 64; 16 with --quick).
    /// mapreduce: MiB of the generated corpus (default 1024; 64 with --quick).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=4096))]
    mb: Option<u64>,
    /// gfs --real: the directory whose disk is measured; the chunk files and the plain file
    /// go into a scratch directory made in it and removed at the end. mapreduce: where the
    /// generated corpus and the outputs go (a scratch directory, removed at the end).
    #[arg(long, default_value = ".")]
    dir: std::path::PathBuf,
    /// With --real: the etcd binary to compare with (default: `etcd` on the PATH).
    #[arg(long)]
    etcd: Option<std::path::PathBuf>,
    /// zk: servers per ensemble, odd (the paper's Table 1 has 3, 5, 7, 9 and 13).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(3..=13))]
    servers: u16,
    /// zk: the shares of reads to measure, in percent, comma-separated; e.g.
    /// 0,20,40,60,80,90,100 traces one curve of the paper's Figure 5.
    #[arg(long, value_delimiter = ',', default_values_t = [100u32, 0, 70],
          value_parser = clap::value_parser!(u32).range(0..=100))]
    reads: Vec<u32>,
}

/// A share of a CPU: a finite number, at least zero (zero: uncapped).
fn cpu_share(text: &str) -> Result<f64, String> {
    let share: f64 = text.parse().map_err(|e| format!("{e}"))?;
    if !share.is_finite() || share < 0.0 {
        return Err("must be a share of a CPU, 0 (uncapped) or more, e.g. 0.4".into());
    }
    Ok(share)
}

pub fn run(args: BenchArgs) -> Result<()> {
    match args.bench {
        Bench::Messaging => messaging::run(args.quick, args.json),
        Bench::RaftKv if args.real => real::run(args.quick, args.json, args.etcd),
        Bench::RaftKv => raft::kv(args.quick, args.json),
        Bench::Election => election::run(args.quick, args.json),
        Bench::Chain if args.real => real_chain::run(args.quick, args.json, args.cpu_per_node),
        Bench::Chain => chain::run(args.quick, args.json),
        Bench::Vmft if args.real => real_vmft::run(args.quick, args.json, args.cpu_per_node),
        Bench::Vmft => vmft::run(args.quick, args.json),
        Bench::Gfs if args.real => real_gfs::run(
            real_gfs::Sizes::new(args.quick, args.mb),
            args.json,
            &args.dir,
        ),
        Bench::Gfs => gfs::run(args.quick, args.json),
        Bench::Mapreduce => mapreduce::run(args.quick, args.json, args.mb, &args.dir),
        Bench::Zk => real_zk::run(
            real_zk::Plan {
                servers: usize::from(args.servers),
                read_percents: args.reads,
            },
            args.quick,
            args.json,
            args.cpu_per_node,
        ),
    }
}
