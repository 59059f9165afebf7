//! Vote count: the vote-counting program of MIT 6.824's lecture 2, with actors instead of a
//! mutex and a condition variable.
//!
//! Run it with `cargo run --example vote_count`.
//!
//! In the lecture, a candidate starts one goroutine per voter; each asks for a vote (a random
//! answer after a random sleep), then locks a mutex, updates the shared `count` and `finished`,
//! and broadcasts on a condition variable. The candidate waits on it until it has a majority
//! or has heard from everyone.
//!
//! Here there is nothing shared. Nine voter actors, each on its own node, think for a random
//! virtual while and send their vote as a message. The candidate actor, on n1, owns the count:
//! it handles one vote at a time, so it needs no lock, and instead of a thread re-checking a
//! condition after every broadcast, it checks the same condition after every vote. It decides
//! as soon as it has a majority of yes votes or has heard from every voter, and ignores votes
//! that come later.
//!
//! Every random choice comes from the nodes' seeded generators (`node.with_rng`) and every delay
//! is virtual, so an election is a pure function of its seed: the example runs one seed twice
//! and checks that the two elections are identical, vote for vote.

use actix::{Actor, ActorContext, Context, Handler, ResponseFuture};
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tokio::sync::oneshot;
use troupe_messages::Wire;
use troupe_runtime::sim::block_on;
use troupe_runtime::testkit::Cluster;
use troupe_runtime::{timer, ActorPath, Node, NodeId};

/// Voters, one per node from n2 on; the candidate is on n1.
const VOTERS: usize = 9;
/// A strict majority of the voters.
const MAJORITY: usize = VOTERS / 2 + 1;

/// One voter's vote, sent one way: a voter does not wait for the candidate.
#[derive(Debug, Serialize, Deserialize, actix::Message)]
#[rtype(result = "()")]
struct Vote {
    voter: NodeId,
    yes: bool,
}
impl Wire for Vote {
    const TAG: &'static str = "vote.vote";
}

/// Ask the candidate for the outcome; it answers once it has decided.
#[derive(Debug, Serialize, Deserialize, actix::Message)]
#[rtype(result = "Option<Tally>")]
struct AwaitOutcome;
impl Wire for AwaitOutcome {
    const TAG: &'static str = "vote.await_outcome";
}

/// How an election went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Tally {
    won: bool,
    /// The votes counted, in the order they arrived: (voter, yes?, virtual ms).
    votes: Vec<(NodeId, bool, u64)>,
    /// When the candidate decided, in virtual ms.
    decided_at_ms: u64,
}

impl Tally {
    fn yes(&self) -> usize {
        self.votes.iter().filter(|(_, yes, _)| *yes).count()
    }
}

/// A voter: thinks, votes once, and is done.
struct Voter {
    node: Node,
    candidate: ActorPath,
}

impl Actor for Voter {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        // The lecture's requestVote sleeps up to 100 ms; here the sleep is a virtual timer, and
        // its length comes from the node's seeded generator.
        let think = self.node.with_rng(|rng| rng.gen_range(0..100));
        let think = Duration::from_millis(think);
        timer::run_later(ctx, &self.node, "vote", think, Voter::vote);
    }
}

impl Voter {
    fn vote(&mut self, ctx: &mut Context<Self>) {
        let (voter, yes) = (self.node.id(), self.node.with_rng(|rng| rng.gen_bool(0.5)));
        // One way, no answer awaited: the candidate's count is its own business.
        if let Err(e) = self.node.send(&self.candidate, Vote { voter, yes }) {
            println!("  {voter} could not vote: {e}");
        }
        ctx.stop();
    }
}

/// The candidate: the only one who counts.
struct Candidate {
    node: Node,
    /// The votes counted so far: (voter, yes?, virtual ms).
    votes: Vec<(NodeId, bool, u64)>,
    outcome: Option<Tally>,
    /// Callers of `AwaitOutcome` who asked before the candidate decided.
    waiting: Vec<oneshot::Sender<Tally>>,
}

impl Actor for Candidate {
    type Context = Context<Self>;
}

impl Candidate {
    fn new(node: &Node) -> Self {
        Candidate {
            node: node.clone(),
            votes: Vec::new(),
            outcome: None,
            waiting: Vec::new(),
        }
    }

    fn now_ms(&self) -> u64 {
        self.node.now_ns() / 1_000_000
    }
}

impl Handler<Vote> for Candidate {
    type Result = ();
    fn handle(&mut self, vote: Vote, _: &mut Context<Self>) {
        if self.outcome.is_some() {
            return; // Decided already: a late vote changes nothing.
        }
        self.votes.push((vote.voter, vote.yes, self.now_ms()));
        let yes = self.votes.iter().filter(|(_, yes, _)| *yes).count();
        // The lecture's `for count < 5 && finished != 10 { cond.Wait() }`, turned inside out:
        // keep waiting (return) until one of the two conditions holds.
        if yes < MAJORITY && self.votes.len() < VOTERS {
            return;
        }
        let tally = Tally {
            won: yes >= MAJORITY,
            votes: std::mem::take(&mut self.votes),
            decided_at_ms: self.now_ms(),
        };
        for waiter in self.waiting.drain(..) {
            // A caller that gave up no longer listens; that is fine.
            let _ = waiter.send(tally.clone());
        }
        self.outcome = Some(tally);
    }
}

impl Handler<AwaitOutcome> for Candidate {
    type Result = ResponseFuture<Option<Tally>>;
    fn handle(&mut self, _: AwaitOutcome, _: &mut Context<Self>) -> Self::Result {
        if let Some(tally) = self.outcome.clone() {
            return Box::pin(async move { Some(tally) });
        }
        let (tx, rx) = oneshot::channel();
        self.waiting.push(tx);
        Box::pin(async move { rx.await.ok() })
    }
}

/// One election on a fresh cluster of 1 + VOTERS nodes, whose randomness all comes from `seed`.
fn election(seed: u64) -> Tally {
    block_on(async {
        let cluster = Cluster::builder(seed)
            .nodes(1 + VOTERS as u32)
            .topology(|node| {
                let candidate = ActorPath::new(NodeId(1), "candidate");
                if node.id() == candidate.node {
                    node.spawn_named(&candidate.name, Candidate::new(node))
                        .expect("the name is free on a fresh node")
                        .accept::<Vote>()
                        .accept::<AwaitOutcome>();
                } else {
                    let voter = Voter {
                        node: node.clone(),
                        candidate,
                    };
                    node.spawn_named("voter", voter)
                        .expect("the name is free on a fresh node");
                }
            })
            .build();
        let n1 = cluster.up(1);
        n1.call(&n1.path("candidate"), AwaitOutcome, Duration::from_secs(10))
            .await
            .expect("the candidate answers within 10 virtual seconds")
            .expect("the candidate decides")
    })
}

fn summary(tally: &Tally) -> String {
    let verdict = if tally.won { "won" } else { "lost" };
    format!(
        "{verdict} with {} yes of {} votes counted, after {} ms",
        tally.yes(),
        tally.votes.len(),
        tally.decided_at_ms
    )
}

fn main() {
    // A seed in which the candidate wins before hearing from everyone.
    let seed = 13;
    println!("election with seed {seed} ({VOTERS} voters, {MAJORITY} yes votes win):");
    let first = election(seed);
    for (voter, yes, at) in &first.votes {
        let vote = if *yes { "yes" } else { "no" };
        println!("  [{at:3} ms] {voter} votes {vote}");
    }
    println!("  the candidate {}", summary(&first));
    let unheard = VOTERS - first.votes.len();
    println!("  (it did not wait for the other {unheard} voters: their votes cannot change it)");

    // Same seed, same voters' choices, same virtual delays: the same election, vote for vote.
    let again = election(seed);
    assert_eq!(first, again, "one seed gives one election");
    println!("seed {seed} again: the same election, vote for vote\n");

    for seed in 1..=6 {
        let tally = election(seed);
        println!("seed {seed}: the candidate {}", summary(&tally));
        // The candidate stops at a majority, or else only once every voter has been heard.
        assert_eq!(tally.won, tally.yes() >= MAJORITY);
        assert!(tally.won || tally.votes.len() == VOTERS);
        assert!(tally.yes() <= MAJORITY, "no vote is counted after a win");
    }
}
