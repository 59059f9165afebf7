//! Planted bugs: known protocol mistakes that can be switched on in a build with the cargo
//! feature `planted-bugs`, to prove that the checks catch them.
//!
//! A check is only as good as the bug it catches. Each [`Bug`] is a mistake a real
//! implementation could make (serving a read without a quorum, acknowledging before a
//! majority has the entry, applying a retry twice, ...). The protocol code asks
//! [`armed`]`(Bug::X)` at the one place the mistake would be made; without the feature the
//! answer is a constant `false` and the compiler removes the branch, so a normal build carries
//! no trace of them. `troupe sim <system> --plant NAME` arms one for a run; the run's checks
//! must then fail it.
//!
//! A bug is armed for the current thread only: a simulation runs on one thread, and tests that
//! run side by side on other threads are not affected.

use crate::{Error, Result};

/// A known bug that can be planted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Bug {
    /// Raft KV: a leader answers gets from its own state at once, without a commit, so a
    /// deposed leader that does not know it yet serves stale reads.
    LeaderReadsLocally,
    /// Raft KV: a follower answers gets from its own, possibly stale, state.
    FollowerReadsLocally,
    /// Raft KV: a leader acknowledges a write as soon as it is in its own log, before a majority
    /// has the entry; a new leader may never have it.
    AckBeforeMajority,
    /// Raft KV: the duplicate table ignores appends, so a retried append is applied twice.
    RetriedAppendTwice,
    /// CRAQ: a node answers a read of a dirty key with its newest, uncommitted version.
    CraqReadsDirty,
    /// Chain: a new tail serves reads before it has reached its predecessor's sync point.
    TailServesBeforeSync,
    /// Chain: a failover supervisor renews the leases of the configuration it last saw without
    /// asking the manager whether it is still current, so where several supervisors run (one
    /// per node) a cut-off one keeps a removed node serving.
    RenewsUnconfirmed,
    /// VM-FT: the output rule waits only for the log entries before the one that produced the
    /// output, so a backup that goes live without that entry has not done what the client saw.
    OutputRuleSkipsOwnEntry,
    /// VM-FT: the primary releases outputs before the backup acknowledged anything.
    OutputBeforeAck,
    /// VM-FT: a side that suspects the other goes live without the test-and-set on the shared
    /// storage, so in a partition of the logging channel both go on.
    GoLiveWithoutTestAndSet,
    /// GFS: the master names a new primary before the old primary's lease has expired: for a
    /// chunk whose primary is not live, and, as a new leader of the master group, without
    /// waiting out the leases its predecessor granted. Behind a partition the old one still
    /// serves.
    NewPrimaryBeforeLeaseExpiry,
    /// GFS: a chunkserver serves a read without its versions confirmed by the master and
    /// without checking the version asked for, so a stale replica answers.
    StaleReplicaServed,
    /// GFS: the primary acknowledges a record append after its own write, before every
    /// secondary applied it; a failed secondary leaves a record the client believes is
    /// everywhere.
    AckBeforeReplicas,
    /// MapReduce: a reduce task writes `mr-out-<r>` in place as it goes, instead of to a
    /// temporary file renamed when complete, so a reader (or a job that stops early) sees half
    /// an output, and a worker that dies mid-task leaves one.
    ReduceWrittenInPlace,
    /// MapReduce: the coordinator counts a completion of a task that is done already (a
    /// timed-out attempt's late result, or a backup's) as another task done, so a phase ends
    /// with a task still unfinished.
    LateResultCountedTwice,
    /// A ZooKeeper server takes a client that saw a later zxid than its replica has applied,
    /// so the client can read back in time.
    ZkReadBehindClient,
    /// A ZooKeeper server fires a write's watches after the replies that follow the write,
    /// so a client can read the new data before it hears of the change.
    ZkWatchAfterReply,
    /// A ZooKeeper write from a session that has already expired still applies (ZooKeeper's
    /// own ZOOKEEPER-1208), so an ephemeral node can outlive its session.
    ZkEphemeralOutlivesSession,
    /// A ZooKeeper server answers a read that waits for its session's earlier write only once
    /// every write of the session in flight applied, later ones included, so the read sees a
    /// write its client sent after it.
    ZkReadAfterLaterWrite,
}

impl Bug {
    /// Every bug, in the order `--plant list` prints them.
    pub const ALL: [Bug; 19] = [
        Bug::LeaderReadsLocally,
        Bug::FollowerReadsLocally,
        Bug::AckBeforeMajority,
        Bug::RetriedAppendTwice,
        Bug::CraqReadsDirty,
        Bug::TailServesBeforeSync,
        Bug::RenewsUnconfirmed,
        Bug::OutputRuleSkipsOwnEntry,
        Bug::OutputBeforeAck,
        Bug::GoLiveWithoutTestAndSet,
        Bug::NewPrimaryBeforeLeaseExpiry,
        Bug::StaleReplicaServed,
        Bug::AckBeforeReplicas,
        Bug::ReduceWrittenInPlace,
        Bug::LateResultCountedTwice,
        Bug::ZkReadBehindClient,
        Bug::ZkWatchAfterReply,
        Bug::ZkEphemeralOutlivesSession,
        Bug::ZkReadAfterLaterWrite,
    ];

    /// The bug's name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Bug::LeaderReadsLocally => "leader-reads-locally",
            Bug::FollowerReadsLocally => "follower-reads-locally",
            Bug::AckBeforeMajority => "ack-before-majority",
            Bug::RetriedAppendTwice => "retried-append-twice",
            Bug::CraqReadsDirty => "craq-reads-dirty",
            Bug::TailServesBeforeSync => "tail-serves-before-sync",
            Bug::RenewsUnconfirmed => "renews-unconfirmed",
            Bug::OutputRuleSkipsOwnEntry => "output-rule-skips-own-entry",
            Bug::OutputBeforeAck => "output-before-ack",
            Bug::GoLiveWithoutTestAndSet => "go-live-without-test-and-set",
            Bug::NewPrimaryBeforeLeaseExpiry => "new-primary-before-lease-expiry",
            Bug::StaleReplicaServed => "stale-replica-served",
            Bug::AckBeforeReplicas => "ack-before-replicas",
            Bug::ReduceWrittenInPlace => "reduce-written-in-place",
            Bug::LateResultCountedTwice => "late-result-counted-twice",
            Bug::ZkReadBehindClient => "zk-read-behind-client",
            Bug::ZkWatchAfterReply => "zk-watch-after-reply",
            Bug::ZkEphemeralOutlivesSession => "zk-ephemeral-outlives-session",
            Bug::ZkReadAfterLaterWrite => "zk-read-after-later-write",
        }
    }

    /// The system whose code carries the bug, as `troupe sim` names it.
    pub fn system(self) -> &'static str {
        match self {
            Bug::LeaderReadsLocally
            | Bug::FollowerReadsLocally
            | Bug::AckBeforeMajority
            | Bug::RetriedAppendTwice => "raft-kv",
            Bug::CraqReadsDirty | Bug::TailServesBeforeSync | Bug::RenewsUnconfirmed => "chain",
            Bug::OutputRuleSkipsOwnEntry | Bug::OutputBeforeAck | Bug::GoLiveWithoutTestAndSet => {
                "vmft"
            }
            Bug::NewPrimaryBeforeLeaseExpiry | Bug::StaleReplicaServed | Bug::AckBeforeReplicas => {
                "gfs"
            }
            Bug::ReduceWrittenInPlace | Bug::LateResultCountedTwice => "mapreduce",
            Bug::ZkReadBehindClient
            | Bug::ZkWatchAfterReply
            | Bug::ZkEphemeralOutlivesSession
            | Bug::ZkReadAfterLaterWrite => "zk",
        }
    }

    /// One line on what the bug does.
    pub fn description(self) -> &'static str {
        match self {
            Bug::LeaderReadsLocally => {
                "a leader answers gets from its own state without waiting for a commit"
            }
            Bug::FollowerReadsLocally => "a follower answers gets from its own state",
            Bug::AckBeforeMajority => "a leader acknowledges a write before a majority has it",
            Bug::RetriedAppendTwice => "a retried append is applied twice",
            Bug::CraqReadsDirty => "CRAQ answers a dirty key with its newest version",
            Bug::TailServesBeforeSync => "a new tail serves reads before its sync point",
            Bug::RenewsUnconfirmed => {
                "a supervisor renews leases without the manager confirming the configuration"
            }
            Bug::OutputRuleSkipsOwnEntry => {
                "an output waits only for the log entries before the one that produced it"
            }
            Bug::OutputBeforeAck => "an output is released before the backup acknowledged it",
            Bug::GoLiveWithoutTestAndSet => "a side goes live without the test-and-set",
            Bug::NewPrimaryBeforeLeaseExpiry => {
                "the GFS master names a new primary before the old primary's lease expired"
            }
            Bug::StaleReplicaServed => {
                "a chunkserver serves a read without a confirmed, current version"
            }
            Bug::AckBeforeReplicas => {
                "the primary acknowledges a record append before every secondary applied it"
            }
            Bug::ReduceWrittenInPlace => "a reduce task writes its output in place, not renamed",
            Bug::LateResultCountedTwice => {
                "the coordinator counts a late completion of a done task as another task done"
            }
            Bug::ZkReadBehindClient => {
                "a ZooKeeper server takes a client that saw a later zxid than it has applied"
            }
            Bug::ZkWatchAfterReply => {
                "a ZooKeeper server fires watches after the replies that follow the write"
            }
            Bug::ZkEphemeralOutlivesSession => {
                "a write from an expired session still applies: an orphan ephemeral node"
            }
            Bug::ZkReadAfterLaterWrite => {
                "a pipelined read is answered after its session's later writes applied"
            }
        }
    }

    /// The bug called `name`.
    pub fn named(name: &str) -> Result<Bug> {
        Bug::ALL
            .into_iter()
            .find(|bug| bug.name() == name)
            .ok_or_else(|| {
                let names: Vec<_> = Bug::ALL.iter().map(|b| b.name()).collect();
                Error::BadSetting(format!(
                    "no planted bug is called `{name}` (known: {})",
                    names.join(", ")
                ))
            })
    }
}

#[cfg(feature = "planted-bugs")]
thread_local! {
    static ARMED: std::cell::RefCell<Vec<Bug>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Whether `bug` is armed on this thread. Always `false` without the `planted-bugs` feature.
#[inline(always)]
pub fn armed(bug: Bug) -> bool {
    #[cfg(feature = "planted-bugs")]
    {
        ARMED.with(|armed| armed.borrow().contains(&bug))
    }
    #[cfg(not(feature = "planted-bugs"))]
    {
        let _ = bug;
        false
    }
}

/// Arms `bug` on this thread, until [`disarm_all`]. Refused in a build without the
/// `planted-bugs` feature.
pub fn arm(bug: Bug) -> Result<()> {
    #[cfg(feature = "planted-bugs")]
    {
        ARMED.with(|armed| armed.borrow_mut().push(bug));
        tracing::warn!(bug = bug.name(), "planted bug armed: {}", bug.description());
        Ok(())
    }
    #[cfg(not(feature = "planted-bugs"))]
    {
        Err(Error::BadSetting(format!(
            "cannot plant `{}`: this build has no planted bugs (build with `--features \
             planted-bugs`)",
            bug.name()
        )))
    }
}

/// Disarms every bug on this thread.
pub fn disarm_all() {
    #[cfg(feature = "planted-bugs")]
    ARMED.with(|armed| armed.borrow_mut().clear());
}

/// Disarms every bug on this thread when dropped, however the scope ends.
pub struct Disarm;

impl Drop for Disarm {
    fn drop(&mut self) {
        disarm_all();
    }
}

/// Runs `test` with `bug` armed and says whether it failed (panicked): a test that catches the
/// bug returns `true`. Disarms every bug afterwards.
#[cfg(feature = "planted-bugs")]
pub fn fails_with(bug: Bug, test: impl FnOnce() + std::panic::UnwindSafe) -> bool {
    let _disarm = Disarm;
    if let Err(e) = arm(bug) {
        panic!("{e}");
    }
    std::panic::catch_unwind(test).is_err()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bug_is_found_by_its_name() {
        for bug in Bug::ALL {
            assert_eq!(Bug::named(bug.name()), Ok(bug));
        }
        assert!(Bug::named("no-such-bug").is_err());
    }

    #[cfg(feature = "planted-bugs")]
    #[test]
    fn an_armed_bug_is_armed_on_its_thread_only() {
        arm(Bug::CraqReadsDirty).unwrap();
        assert!(armed(Bug::CraqReadsDirty));
        assert!(!armed(Bug::LeaderReadsLocally));
        let elsewhere = std::thread::spawn(|| armed(Bug::CraqReadsDirty));
        assert!(!elsewhere.join().unwrap());
        disarm_all();
        assert!(!armed(Bug::CraqReadsDirty));
    }

    #[cfg(not(feature = "planted-bugs"))]
    #[test]
    fn without_the_feature_nothing_can_be_armed() {
        assert!(arm(Bug::CraqReadsDirty).is_err());
        assert!(!armed(Bug::CraqReadsDirty));
    }
}
