//! Raft KV: five replicas of a key-value service on Raft, two clients appending, and a narrator
//! that reports what the replicas do while the leader is killed, a partition is made, and the
//! partition heals.
//!
//! Run it with `cargo run --example raft_kv`.
//!
//! What to watch for:
//! 1. An election: one replica becomes leader of term 1 (PreVote first asks whether it would
//!    win, so terms do not climb needlessly).
//! 2. The leader's node crashes. The others notice the silence after an election timeout
//!    (150-300 ms), elect a new leader in a new term, and the clients carry on.
//! 3. The old leader restarts from what it persisted and rejoins as a follower of the new term.
//! 4. The leader and one follower are cut off from the other three. The majority elects a new
//!    leader and keeps committing; the minority's leader cannot commit and steps down when it
//!    no longer hears from a majority (CheckQuorum).
//! 5. The partition heals: the stranded replicas catch up, and every acknowledged append is in
//!    the final value exactly once.
//!
//! Everything runs on the simulated network in virtual time: a few seconds of cluster life
//! take a fraction of a second.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;
use troupe_actors::kv::clerk::{Clerk, Outcome};
use troupe_actors::kv::server::{KvOptions, KvServer};
use troupe_messages::kv::KvOp;
use troupe_messages::raft::{GetStatus, RaftStatus};
use troupe_runtime::sim::block_on;
use troupe_runtime::testkit::Cluster;
use troupe_runtime::{ActorPath, NodeId};

const SERVERS: u32 = 5;
const CLIENTS: u32 = 2;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Every server's Raft status (None while its node is down).
async fn statuses(cluster: &Cluster) -> Vec<Option<RaftStatus>> {
    let mut all = Vec::new();
    for n in 1..=SERVERS {
        let status = match cluster.node(n) {
            Some(node) => node
                .call(&ActorPath::new(NodeId(n), "raft"), GetStatus, ms(20))
                .await
                .ok(),
            None => None,
        };
        all.push(status);
    }
    all
}

/// Prints what changed since the last look: leaders and terms, and (now and then) commits.
struct Narrator {
    leaders: Vec<(u64, u32)>,
    last_commit_print: u64,
}

impl Narrator {
    /// Virtual milliseconds since the start.
    fn now(&self, cluster: &Cluster) -> u64 {
        cluster.net().log().now_ns() / 1_000_000
    }

    /// Looks at the replicas every 50 ms for `d`, printing what changed.
    async fn watch(&mut self, cluster: &Cluster, d: Duration) {
        let end = tokio::time::Instant::now() + d;
        while tokio::time::Instant::now() < end {
            let all = statuses(cluster).await;
            let t = self.now(cluster);
            self.look(t, &all);
            tokio::time::sleep(ms(50)).await;
        }
    }

    fn look(&mut self, t: u64, all: &[Option<RaftStatus>]) {
        for (i, s) in all.iter().enumerate() {
            let Some(s) = s else { continue };
            let n = i as u32 + 1;
            if s.is_leader && !self.leaders.contains(&(s.term, n)) {
                self.leaders.push((s.term, n));
                println!("[{t:>5} ms] n{n} is leader of term {}", s.term);
            }
        }
        if t >= self.last_commit_print + 500 {
            self.last_commit_print = t;
            let commits: Vec<String> = all
                .iter()
                .enumerate()
                .map(|(i, s)| match s {
                    Some(s) => format!("n{}:{}", i + 1, s.commit_index),
                    None => format!("n{}:down", i + 1),
                })
                .collect();
            println!("[{t:>5} ms]   commit index {}", commits.join(" "));
        }
    }
}

fn main() {
    block_on(async {
        let members: Vec<NodeId> = (1..=SERVERS).map(NodeId).collect();
        let group = members.clone();
        let cluster = Cluster::builder(5)
            .nodes(SERVERS + CLIENTS + 1)
            .topology(move |node| {
                if node.id().0 <= SERVERS {
                    KvServer::spawn(node, KvOptions::new(group.clone()))
                        .expect("the replica starts");
                }
            })
            .build();
        // Two clients append unique values to one key, as fast as the service allows.
        let acked = Rc::new(RefCell::new(Vec::new()));
        let stop = Rc::new(Cell::new(false));
        let mut clients = Vec::new();
        for c in 0..CLIENTS {
            let mut clerk = Clerk::new(
                cluster.up(SERVERS + 1 + c),
                members.clone(),
                u64::from(c) + 1,
            );
            let (acked, stop) = (acked.clone(), stop.clone());
            clients.push(actix_rt::spawn(async move {
                let mut k = 0;
                while !stop.get() {
                    k += 1;
                    let value = format!("[c{c}.{k}]");
                    let op = KvOp::Append {
                        key: "log".into(),
                        value: value.clone(),
                    };
                    if clerk.run(op, ms(2_000)).await == Outcome::Done(None) {
                        acked.borrow_mut().push(value);
                    }
                    tokio::time::sleep(ms(20)).await;
                }
            }));
        }

        let mut narrator = Narrator {
            leaders: Vec::new(),
            last_commit_print: 0,
        };
        println!("five replicas start; two clients append to the key \"log\"");
        narrator.watch(&cluster, ms(1_000)).await;

        // 2. Kill the leader's node.
        let old = leader(&cluster).await.expect("a leader after a second");
        println!(
            "[{:>5} ms] crash n{old}, the leader",
            narrator.now(&cluster)
        );
        cluster.crash(old);
        narrator.watch(&cluster, ms(1_000)).await;

        // 3. Bring it back: it restarts from its persisted term, vote and log.
        println!("[{:>5} ms] restart n{old}", narrator.now(&cluster));
        cluster.restart(old);
        narrator.watch(&cluster, ms(1_000)).await;
        let rejoined = statuses(&cluster).await[old as usize - 1].expect("n{old} is up");
        println!(
            "[{:>5} ms] n{old} is back as a {} in term {}",
            narrator.now(&cluster),
            if rejoined.is_leader {
                "leader"
            } else {
                "follower"
            },
            rejoined.term
        );

        // 4. Cut the leader and one follower off from the rest (clients stay with the rest).
        let cut = leader(&cluster).await.expect("a leader");
        let buddy = cut % SERVERS + 1;
        let rest: Vec<u32> = (1..=SERVERS + CLIENTS + 1)
            .filter(|n| *n != cut && *n != buddy)
            .collect();
        println!(
            "[{:>5} ms] partition: {{n{cut}, n{buddy}}} | the other three and the clients",
            narrator.now(&cluster)
        );
        cluster.partition(&[&[cut, buddy], &rest]);
        narrator.watch(&cluster, ms(1_500)).await;
        let stranded = statuses(&cluster).await[cut as usize - 1].expect("up");
        println!(
            "[{:>5} ms] n{cut} (cut off) is leader: {}; its commit index is stuck at {}",
            narrator.now(&cluster),
            stranded.is_leader,
            stranded.commit_index
        );

        // 5. Heal, stop the clients, and check the result.
        println!("[{:>5} ms] heal the partition", narrator.now(&cluster));
        cluster.heal();
        narrator.watch(&cluster, ms(1_000)).await;
        stop.set(true);
        for client in clients {
            client.await.expect("the client finishes");
        }
        let mut reader = Clerk::new(cluster.up(SERVERS + CLIENTS + 1), members.clone(), 99);
        let Outcome::Done(Some(value)) =
            reader.run(KvOp::Get { key: "log".into() }, ms(5_000)).await
        else {
            panic!("the final read failed");
        };
        let acked = acked.borrow().clone();
        for v in acked.iter() {
            assert_eq!(
                value.matches(v.as_str()).count(),
                1,
                "{v} must be in the log exactly once"
            );
        }
        // Every replica catches up to the same commit index.
        cluster
            .wait_for("all replicas agree", ms(5_000), ms(50), || async {
                let all = statuses(&cluster).await;
                let commits: Vec<u64> = all.iter().flatten().map(|s| s.commit_index).collect();
                commits.len() == SERVERS as usize && commits.windows(2).all(|w| w[0] == w[1])
            })
            .await
            .expect("the replicas converge");
        let terms: Vec<u64> = narrator.leaders.iter().map(|(t, _)| *t).collect();
        println!(
            "\nsummary: {} acknowledged appends, all in the final value exactly once; leaders in \
             terms {terms:?}; every replica ended at the same commit index.",
            acked.len()
        );
    });
}

/// The current leader, if some replica says it leads.
async fn leader(cluster: &Cluster) -> Option<u32> {
    let all = statuses(cluster).await;
    let leaders = all
        .iter()
        .enumerate()
        .filter(|(_, s)| s.is_some_and(|s| s.is_leader));
    leaders
        .map(|(i, s)| (s.map_or(0, |s| s.term), i as u32 + 1))
        .max()
        .map(|(_, n)| n)
}
