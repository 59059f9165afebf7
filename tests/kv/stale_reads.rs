//! A leader cut off with a minority, and a client on each side (6.824's one-partition test,
//! sharpened): the majority elects a new leader and overwrites a key; the client on the
//! minority side then asks the old leader (or a follower on its side) to read it, and writes.
//!
//! Raft's CheckQuorum makes an old leader step down within a few hundred milliseconds, which
//! hides a read served without a commit behind a race. The servers here run without it, so the
//! old leader keeps believing it leads for as long as the partition lasts, and the KV layer's
//! own rules are all that stand between the client and a stale read: a get must commit through
//! the log, and a write is acknowledged only once a majority has it. The history must stay
//! linearizable and no acknowledged append may be lost; with a planted bug
//! (`--features planted-bugs`) that serves reads locally or acknowledges early, it must not.

use crate::harness::ms;
use std::time::Duration;
use troupe::systems::raft_kv::RaftKv;
use troupe::systems::topology;
use troupe::testkit::workload::lost_appends;
use troupe_actors::client::Outcome;
use troupe_actors::kv::clerk::Clerk;
use troupe_actors::raft::peer::NAME as RAFT;
use troupe_messages::kv::KvOp;
use troupe_messages::raft::GetStatus;
use troupe_runtime::history::{OpKind, Operation};
use troupe_runtime::linearizability::check;
use troupe_runtime::testkit::{simulate, Cluster};
use troupe_runtime::{ActorPath, Node, NodeId};

const SERVERS: u32 = 5;
/// The client cut off with the minority.
const MINORITY_CLIENT: u32 = 6;
/// The client on the majority side.
const MAJORITY_CLIENT: u32 = 7;
/// The client that reads after healing.
const CHECKER: u32 = 8;

/// What the scenario found: is the history linearizable, and which acknowledged appends the
/// final value lacks.
struct Found {
    linearizable: bool,
    lost: Vec<String>,
}

/// Runs one record of `op` by `clerk` into `history`.
async fn record(
    history: &mut Vec<Operation>,
    client: u64,
    clerk: &mut Clerk,
    node: &Node,
    op: KvOp,
    deadline: Duration,
) -> Outcome {
    let (kind, key, value) = match &op {
        KvOp::Get { key } => (OpKind::Get, key.clone(), None),
        KvOp::Put { key, value } => (OpKind::Put, key.clone(), Some(value.clone())),
        KvOp::Append { key, value } => (OpKind::Append, key.clone(), Some(value.clone())),
        KvOp::Cas { .. } => unreachable!("the scenario does not use cas"),
    };
    let call = node.now_ns();
    let outcome = clerk.run(op, deadline).await;
    let (ret, output) = match &outcome {
        Outcome::Done(output) => (Some(node.now_ns()), output.clone()),
        Outcome::Unknown => (None, None),
        Outcome::NotApplied => return outcome,
    };
    history.push(Operation {
        client,
        op: kind,
        key,
        value,
        output: if kind == OpKind::Get { output } else { None },
        call,
        ret,
    });
    outcome
}

async fn leader(cluster: &Cluster) -> Option<NodeId> {
    for id in (1..=SERVERS).map(NodeId) {
        let node = cluster.net().node(id)?;
        let status = node
            .call(&ActorPath::new(id, RAFT), GetStatus, ms(100))
            .await;
        if status.is_ok_and(|s| s.is_leader) {
            return Some(id);
        }
    }
    None
}

/// The scenario; `minority_asks_follower` points the minority client at the follower on its
/// side first instead of the old leader.
async fn one_partition(seed: u64, minority_asks_follower: bool) -> Found {
    let mut system = RaftKv::new(SERVERS).bare();
    system.options.raft.config.check_quorum = false;
    system.options.commit_timeout = ms(300);
    let members = system.servers().to_vec();
    let cluster = Cluster::builder(seed)
        .nodes(CHECKER)
        .topology(topology(system))
        .build();
    let mut history = Vec::new();
    let node = |n| cluster.up(n);
    let mut writer = Clerk::new(node(MAJORITY_CLIENT), members.clone(), 1);
    writer.attempt_timeout = ms(100);
    let put = |value: &str| KvOp::Put {
        key: "x".into(),
        value: value.into(),
    };
    let on_majority = node(MAJORITY_CLIENT);
    let done = record(
        &mut history,
        1,
        &mut writer,
        &on_majority,
        put("old"),
        ms(5_000),
    )
    .await;
    assert!(matches!(done, Outcome::Done(_)), "no first write: {done:?}");
    let old = leader(&cluster)
        .await
        .expect("a leader after the first write");
    let follower = members
        .iter()
        .copied()
        .find(|&m| m != old)
        .expect("a follower");
    let majority: Vec<NodeId> = members
        .iter()
        .copied()
        .filter(|&m| m != old && m != follower)
        .chain([NodeId(MAJORITY_CLIENT), NodeId(CHECKER)])
        .collect();
    cluster
        .net()
        .partition(&[&[old, follower, NodeId(MINORITY_CLIENT)], &majority]);
    // The majority elects a leader of its own and overwrites the key.
    let done = record(
        &mut history,
        1,
        &mut writer,
        &on_majority,
        put("new"),
        ms(5_000),
    )
    .await;
    assert!(
        matches!(done, Outcome::Done(_)),
        "the majority made no progress: {done:?}"
    );
    // The minority client asks its side, after that write returned.
    let first = if minority_asks_follower {
        follower
    } else {
        old
    };
    let mut order = vec![first];
    order.extend(members.iter().copied().filter(|&m| m != first));
    let mut cut_off = Clerk::new(node(MINORITY_CLIENT), order, 2);
    cut_off.attempt_timeout = ms(100);
    let get = KvOp::Get { key: "x".into() };
    let on_minority = node(MINORITY_CLIENT);
    record(&mut history, 2, &mut cut_off, &on_minority, get, ms(1_000)).await;
    let append = KvOp::Append {
        key: "y".into(),
        value: "cut-off;".into(),
    };
    record(
        &mut history,
        2,
        &mut cut_off,
        &on_minority,
        append,
        ms(1_000),
    )
    .await;
    cluster.heal();
    // After healing: every acknowledged append must be in the final value.
    let mut checker = Clerk::new(node(CHECKER), members.clone(), 3);
    let get = KvOp::Get { key: "y".into() };
    let outcome = record(
        &mut history,
        3,
        &mut checker,
        &node(CHECKER),
        get,
        ms(5_000),
    )
    .await;
    let Outcome::Done(Some(final_y)) = outcome else {
        panic!("the final read failed: {outcome:?}");
    };
    Found {
        linearizable: check(&history).is_linearizable(),
        lost: lost_appends(&history, "y", &final_y)
            .into_iter()
            .map(str::to_string)
            .collect(),
    }
}

#[test]
fn a_leader_cut_off_with_a_minority_serves_no_stale_read_and_loses_no_write() {
    simulate(301, |seed| async move {
        for follower_first in [false, true] {
            let found = one_partition(seed, follower_first).await;
            assert!(
                found.linearizable,
                "stale read (follower first: {follower_first})"
            );
            assert!(found.lost.is_empty(), "lost appends: {:?}", found.lost);
        }
    });
}

/// The planted bugs of the KV read and write paths make the same scenario fail.
#[cfg(feature = "planted-bugs")]
mod planted {
    use super::*;
    use troupe_runtime::plant::{self, Bug};

    fn with(bug: Bug, follower_first: bool) -> Found {
        let _disarm = plant::Disarm;
        plant::arm(bug).expect("the feature is on");
        simulate(301, |seed| one_partition(seed, follower_first))
    }

    #[test]
    fn a_leader_that_reads_locally_serves_a_stale_read() {
        assert!(!with(Bug::LeaderReadsLocally, false).linearizable);
    }

    #[test]
    fn a_follower_that_reads_locally_serves_a_stale_read() {
        assert!(!with(Bug::FollowerReadsLocally, true).linearizable);
    }

    /// The planted follower bug sits where it says: with it armed, every replica, followers
    /// included, answers a get itself (without it, followers refuse with WrongLeader).
    #[test]
    fn the_planted_follower_bug_makes_followers_answer() {
        use troupe_messages::kv::{KvReply, KvRequest};
        let _disarm = plant::Disarm;
        plant::arm(Bug::FollowerReadsLocally).expect("the feature is on");
        let answered = simulate(302, |seed| async move {
            let system = RaftKv::new(3);
            let cluster = Cluster::builder(seed)
                .nodes(4)
                .topology(topology(system.clone()))
                .build();
            cluster.run_for(ms(1_000)).await;
            let client = cluster.up(4);
            let mut answered = 0;
            for (seq, &server) in system.servers().iter().enumerate() {
                let get = KvRequest {
                    client: 9.into(),
                    seq: seq as u64 + 1,
                    op: KvOp::Get { key: "k".into() },
                };
                let path = ActorPath::new(server, troupe::systems::raft_kv::SERVER);
                if let Ok(KvReply::Ok { .. }) = client.call(&path, get, ms(500)).await {
                    answered += 1;
                }
            }
            answered
        });
        assert_eq!(
            answered, 3,
            "only {answered} of 3 replicas answered a get themselves"
        );
    }

    #[test]
    fn a_leader_that_acknowledges_before_a_majority_loses_the_write() {
        assert!(!with(Bug::AckBeforeMajority, false).lost.is_empty());
    }
}
