//! Raft KV: five replicas of a key-value service on Raft, two clients appending to one key, and
//! a narrator that tells what the replicas do while the leader is killed, a partition is made,
//! and the partition heals.
//!
//! Run it with `cargo run --example raft_kv`.
//!
//! The story:
//! 1. n1..n5 elect a leader of term 1 (PreVote keeps terms from climbing needlessly).
//! 2. The leader's node crashes. The others notice the silence after an election timeout
//!    (150-300 ms) and elect a new leader in a new term; the clients find it and carry on.
//! 3. The old leader restarts from what it persisted (term, vote, log), follows the new leader
//!    in the new term, and catches up.
//! 4. The leader and one follower are cut off. The majority elects a new leader and keeps
//!    committing; the minority cannot commit, and its leader steps down once it no longer
//!    hears from a majority (CheckQuorum).
//! 5. The partition heals: the stranded pair adopts the new term and catches up. A fresh client
//!    reads the key: every acknowledged append is in it exactly once.
//!
//! Everything runs on the simulated network in virtual time: five seconds of cluster life take
//! a fraction of a second, and every time printed is virtual.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;
use troupe::systems::raft_kv::RaftKv;
use troupe::systems::topology;
use troupe_actors::client::Outcome;
use troupe_actors::raft::peer::NAME as RAFT;
use troupe_messages::kv::KvOp;
use troupe_messages::raft::{GetStatus, RaftStatus};
use troupe_runtime::sim::block_on;
use troupe_runtime::testkit::Cluster;
use troupe_runtime::{ActorPath, NodeId};

/// n1..n5 run the replicas; n6 and n7 run the clients.
const SERVERS: u32 = 5;
const CLIENTS: u32 = 2;
const KEY: &str = "log";

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Every replica's Raft status, asked of the peer on its own node (None while the node is down).
async fn statuses(cluster: &Cluster) -> Vec<Option<RaftStatus>> {
    let mut all = Vec::new();
    for n in 1..=SERVERS {
        let path = ActorPath::new(NodeId(n), RAFT);
        all.push(match cluster.node(n) {
            Some(node) => node.call(&path, GetStatus, ms(20)).await.ok(),
            None => None,
        });
    }
    all
}

/// The replica that leads in the highest term, if any.
fn leader(all: &[Option<RaftStatus>]) -> Option<u32> {
    let leading = |(s, n): (&Option<RaftStatus>, u32)| Some((s.filter(|s| s.is_leader)?.term, n));
    let leaders = all.iter().zip(1..).filter_map(leading);
    leaders.max().map(|(_, n)| n)
}

/// The highest commit index among `nodes`.
fn highest_commit(all: &[Option<RaftStatus>], nodes: &[u32]) -> u64 {
    let commit = |&n: &u32| all[n as usize - 1].map_or(0, |s| s.commit_index);
    nodes.iter().map(commit).max().unwrap_or(0)
}

/// Polls the replicas every 50 ms and prints what changed: new leaders (and how long the
/// cluster went without one), leaders stepping down, every change of the nodes in the
/// spotlight, and at most every 500 ms the commit indexes.
struct Narrator {
    cluster: Cluster,
    acked: Rc<RefCell<Vec<String>>>,
    last: Vec<Option<RaftStatus>>,
    /// (term, node) of every leader seen; how long each election took, and after what.
    leaders: Vec<(u64, u32)>,
    elections: Vec<String>,
    leaderless_since: Option<(&'static str, u64)>,
    /// Nodes whose every change is told until they have caught up: they follow the newest
    /// leader and have committed as far as it had at the previous look.
    spotlight: Vec<u32>,
    last_commit_line: u64,
}

impl Narrator {
    /// Virtual milliseconds since the run began (read on n6, a client node that never crashes).
    fn now(&self) -> u64 {
        self.cluster.up(SERVERS + 1).now_ns() / 1_000_000
    }

    fn say(&self, line: &str) {
        println!("[{:>5} ms] {line}", self.now());
    }

    /// The next new leader ends an election caused by `cause`; the narrator times it.
    fn election(&mut self, cause: &'static str) {
        self.leaderless_since = Some((cause, self.now()));
    }

    async fn watch(&mut self, d: Duration) {
        let end = tokio::time::Instant::now() + d;
        while tokio::time::Instant::now() < end {
            let all = statuses(&self.cluster).await;
            self.look(&all);
            tokio::time::sleep(ms(50)).await;
        }
    }

    fn look(&mut self, all: &[Option<RaftStatus>]) {
        let t = self.now();
        let last = std::mem::replace(&mut self.last, all.to_vec());
        let newest = self.leaders.last().map(|&(_, n)| n);
        for (n, (s, before)) in (1..).zip(all.iter().zip(&last)) {
            let Some(s) = s else { continue };
            let (term, c) = (s.term, s.commit_index);
            if s.is_leader && !self.leaders.contains(&(term, n)) {
                self.leaders.push((term, n));
                let mut line = format!("n{n} becomes leader of term {term}");
                if let Some((cause, since)) = self.leaderless_since.take() {
                    let took = format!("{} ms after {cause}", t - since);
                    line = format!("{line}, {took}");
                    self.elections.push(took);
                }
                println!("[{t:>5} ms] {line}");
            } else if !s.is_leader && before.is_some_and(|b| b.is_leader) {
                let why = match before {
                    Some(b) if term > b.term => format!("it saw the newer term {term}"),
                    _ => "it no longer hears from a majority (CheckQuorum)".to_string(),
                };
                println!("[{t:>5} ms] n{n} steps down as leader: {why}");
            } else if self.spotlight.contains(&n) {
                let role = match s.leader {
                    Some(l) => format!("a follower of {l}"),
                    None => "without a leader".to_string(),
                };
                let key = |s: &RaftStatus| (s.term, s.is_leader, s.leader);
                if before.map(|b| key(&b)) != Some(key(s)) {
                    let back = if before.is_none() { "back, " } else { "" };
                    println!("[{t:>5} ms] n{n} is {back}{role} in term {term}, commit index {c}");
                }
                let leader_was = newest.and_then(|l| last[l as usize - 1]);
                let follows = s.leader.is_some() && s.leader == newest.map(NodeId);
                let ahead = leader_was.is_some_and(|l| c >= l.commit_index);
                if follows && ahead {
                    println!("[{t:>5} ms] n{n} has caught up with the leader: commit index {c}");
                    self.spotlight.retain(|&m| m != n);
                }
            }
        }
        if t >= self.last_commit_line + 500 {
            self.last_commit_line = t;
            let commit = |(n, s): (u32, &Option<RaftStatus>)| match s {
                Some(s) => format!("n{n}:{}", s.commit_index),
                None => format!("n{n}:down"),
            };
            let commits: Vec<String> = (1..).zip(all).map(commit).collect();
            let acked = self.acked.borrow().len();
            let commits = commits.join(" ");
            println!("[{t:>5} ms]    commit index {commits}; {acked} appends acknowledged");
        }
    }
}

fn main() {
    block_on(async {
        // The topology runs at every node's start and restart: n1..n5 each run a replica (a
        // KvServer "kv" and its Raft peer "raft"); the client nodes run nothing of their own.
        let system = RaftKv::new(SERVERS).bare();
        let cluster = Cluster::builder(5)
            .nodes(SERVERS + CLIENTS)
            .topology(topology(system.clone()))
            .build();

        // Two clients append values unique per append, so the final value shows whether an
        // acknowledged append was lost or applied twice.
        let (acked, stop) = (Rc::new(RefCell::new(Vec::new())), Rc::new(Cell::new(false)));
        let mut clients = Vec::new();
        for c in 1..=CLIENTS {
            let mut clerk = system.client(cluster.up(SERVERS + c), u64::from(c));
            // Give up on a silent server after 100 ms (not 500), to find a new leader sooner.
            clerk.attempt_timeout = ms(100);
            let (acked, stop) = (acked.clone(), stop.clone());
            clients.push(actix_rt::spawn(async move {
                let mut k = 0;
                while !stop.get() {
                    k += 1;
                    let value = format!("[c{c}.{k}]");
                    let (key, v) = (KEY.to_string(), value.clone());
                    let outcome = clerk.run(KvOp::Append { key, value: v }, ms(2_000)).await;
                    // Done means committed and applied. Unknown (the deadline passed) may or may
                    // not land; the clerk retries under one sequence number, so at most once.
                    if let Outcome::Done(_) = outcome {
                        acked.borrow_mut().push(value);
                    }
                    tokio::time::sleep(ms(20)).await;
                }
            }));
        }

        let mut narrator = Narrator {
            cluster: cluster.clone(),
            acked: acked.clone(),
            last: vec![None; SERVERS as usize],
            leaders: Vec::new(),
            elections: Vec::new(),
            leaderless_since: None,
            spotlight: Vec::new(),
            last_commit_line: 0,
        };
        println!("n1..n5 run the replicas; clients on n6 and n7 append to the key \"{KEY}\"");
        narrator.election("the start");
        narrator.watch(ms(1_000)).await;

        // 1. Kill the leader's node: its actors vanish, and all it did not persist is lost.
        let old = leader(&narrator.last).expect("a leader after a second");
        narrator.say(&format!("== crash n{old}, the leader"));
        cluster.crash(old);
        narrator.election("the crash");
        narrator.watch(ms(1_000)).await;

        // 2. Bring it back: the topology runs again, and its Raft peer reloads what it persisted.
        let line = format!("== restart n{old}: it reloads its term, vote and log");
        narrator.say(&line);
        cluster.restart(old);
        narrator.spotlight = vec![old];
        narrator.watch(ms(1_000)).await;

        // 3. Cut the leader and one follower off; the clients stay with the majority.
        let cut = leader(&statuses(&cluster).await).expect("a leader");
        let minority = [cut, cut % SERVERS + 1];
        let majority: Vec<u32> = (1..=SERVERS).filter(|n| !minority.contains(n)).collect();
        let mut rest = majority.clone();
        rest.extend(SERVERS + 1..=SERVERS + CLIENTS);
        let pair = format!("n{} and n{}", minority[0], minority[1]);
        let others: Vec<String> = rest.iter().map(|n| format!("n{n}")).collect();
        narrator.say(&format!("== partition {pair} from {}", others.join(", ")));
        cluster.partition(&[&minority, &rest]);
        narrator.election("the partition");
        narrator.watch(ms(50)).await;
        // Acks that reached the old leader just before the cut may still commit a last entry or
        // two (a majority had stored them); measure from 50 ms after, when they are handled.
        let all = statuses(&cluster).await;
        let minority_before = highest_commit(&all, &minority);
        let majority_before = highest_commit(&all, &majority);
        narrator.watch(ms(1_450)).await;
        let all = statuses(&cluster).await;
        let stuck = match highest_commit(&all, &minority) {
            c if c == minority_before => format!("committed nothing (commit index still {c})"),
            c => format!("went from commit index {minority_before} to {c}"),
        };
        let majority = format!("{majority_before} to {}", highest_commit(&all, &majority));
        let line = format!("while cut off, {pair} {stuck}; the majority went from {majority}");
        narrator.say(&line);

        // 4. Heal: the stranded pair hears of the new term, follows its leader, and catches up.
        narrator.say("== heal the partition");
        cluster.heal();
        narrator.spotlight = minority.to_vec();
        narrator.watch(ms(1_000)).await;

        // 5. Stop the clients, then check with a fresh clerk (client id 3) on n6.
        stop.set(true);
        for client in clients {
            client.await.expect("a client task finishes");
        }
        let mut reader = system.client(cluster.up(SERVERS + 1), 3);
        let read = reader.run(KvOp::Get { key: KEY.into() }, ms(5_000)).await;
        let Outcome::Done(Some(value)) = read else {
            panic!("the final read of {KEY:?} did not succeed: {read:?}");
        };
        let entries: Vec<&str> = value.split_inclusive(']').collect();
        let acked = acked.take();
        for v in acked.iter() {
            let times = entries.iter().filter(|e| *e == v).count();
            assert_eq!(times, 1, "acked append {v} appears {times} times");
        }
        // Followers learn the commit index with the leader's next message: poll until all five
        // agree, for at most 2 s of virtual time.
        let agree = || async {
            let all = statuses(&cluster).await;
            let commits: Vec<u64> = all.iter().flatten().map(|s| s.commit_index).collect();
            commits.len() == SERVERS as usize && commits.windows(2).all(|w| w[0] == w[1])
        };
        let waited = cluster.wait_for("equal commit indexes", ms(2_000), ms(10), agree);
        let took = waited.await.expect("the replicas converge").as_millis();
        let commit = highest_commit(&statuses(&cluster).await, &[1]);

        let name = |&(t, n): &(u64, u32)| format!("n{n} in term {t}");
        let leaders: Vec<String> = narrator.leaders.iter().map(name).collect();
        let extra = match entries.len() - acked.len() {
            0 => "and the value holds nothing else".to_string(),
            n => format!("and {n} more are appends whose outcome a client never learned"),
        };
        println!(
            "\nSummary: {} leaders in turn ({}), elected {}. Through a crash, a restart and a \
             partition the clients got {} appends acknowledged; every one is in the final value \
             exactly once, {extra}. All five replicas agree on commit index {commit}, {took} \
             ms after the final read.",
            leaders.len(),
            leaders.join(", "),
            narrator.elections.join(", "),
            acked.len(),
        );
    });
}
