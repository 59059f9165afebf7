//! The replicated state of the ZooKeeper service: the znode tree and the live sessions, and
//! the commands the Raft log carries to change them. Every replica applies the same commands
//! in the same order with the same zxid (the entry's log index) and time (the proposer's clock,
//! in the command), so all hold the same state.
//!
//! Sessions live in the log too: a session exists from its `CreateSession` entry until its
//! `CloseSession` entry (a close by its client, or an expiry the leader decided), and that
//! entry deletes its ephemeral nodes on every replica at the same point of the order. A write
//! from a session that no longer exists fails with `SessionExpired`, so no ephemeral node can
//! outlive its session.

use super::tree::{DataTree, WriteContext};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use troupe_messages::zk::{Op, OpResult, WatchEvent, ZkError};

/// A command of the Raft log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ZkCommand {
    /// A new session, with the id and password the accepting server drew.
    CreateSession {
        /// The session's id.
        session: i64,
        /// Its negotiated timeout.
        timeout_ms: i32,
        /// Its password, which a reconnection must present.
        #[serde(with = "serde_bytes")]
        password: Vec<u8>,
    },
    /// The end of a session: closed by its client or expired. Deletes its ephemeral nodes.
    CloseSession {
        /// The session.
        session: i64,
    },
    /// One write from a session.
    Write {
        /// The session.
        session: i64,
        /// The write.
        op: Op,
    },
    /// A multi from a session: all of its writes or none.
    Multi {
        /// The session.
        session: i64,
        /// The writes.
        ops: Vec<Op>,
    },
    /// Nothing: a `sync` waits for it, so that the replica it reads from has caught up with
    /// every write committed before it.
    Sync,
}

/// A log entry's command, the proposer's clock when it was proposed, and who proposed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZkEntry {
    /// Milliseconds since the epoch.
    pub time: i64,
    /// The command.
    pub command: ZkCommand,
    /// The server that proposed it and its number there: the server answers its client when
    /// it applies the entry that carries its own origin (None: the leader's own, an expiry).
    pub origin: Option<Origin>,
}

/// Who proposed an entry: a server and the proposal's number on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Origin {
    /// The server's node id.
    pub server: u32,
    /// The proposal's number on that server (counting from a random start, so that a
    /// restarted server does not take an earlier incarnation's entries for its own).
    pub proposal: u64,
}

/// A live session, as the log knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionInfo {
    /// Its negotiated timeout.
    pub timeout_ms: i32,
    /// Its password.
    #[serde(with = "serde_bytes")]
    pub password: Vec<u8>,
}

/// What applying one entry did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The session was created.
    SessionCreated,
    /// The session was closed (or was already gone).
    SessionClosed,
    /// A write's or a multi's results (one per write).
    Results(Vec<OpResult>),
    /// The command was refused whole: a write from a session that is gone.
    Refused(ZkError),
    /// A sync went through.
    Synced,
}

/// The tree and the sessions, and the zxid of the last entry applied.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZkState {
    tree: DataTree,
    sessions: BTreeMap<i64, SessionInfo>,
    last_zxid: i64,
    /// The origins of the entries applied lately: an entry whose origin is among them is a
    /// copy (a proposal the network delivered twice, started twice) and is skipped.
    #[serde(default)]
    recent: RecentOrigins,
}

/// How many origins [`RecentOrigins`] keeps: copies of a proposal arrive within seconds of
/// each other, far fewer entries apart than this.
const RECENT_ORIGINS: usize = 4096;

/// The last [`RECENT_ORIGINS`] origins applied, oldest first, and as a set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct RecentOrigins {
    order: std::collections::VecDeque<Origin>,
    set: std::collections::BTreeSet<Origin>,
}

impl RecentOrigins {
    /// Notes `origin`; false if it was there already (a copy).
    fn note(&mut self, origin: Origin) -> bool {
        if !self.set.insert(origin) {
            return false;
        }
        self.order.push_back(origin);
        if self.order.len() > RECENT_ORIGINS {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
        true
    }
}

impl ZkState {
    /// The znode tree.
    pub fn tree(&self) -> &DataTree {
        &self.tree
    }

    /// The zxid of the last entry applied (0 before any).
    pub fn last_zxid(&self) -> i64 {
        self.last_zxid
    }

    /// The live session `session`, if it is.
    pub fn session(&self, session: i64) -> Option<&SessionInfo> {
        self.sessions.get(&session)
    }

    /// The live sessions' ids and timeouts.
    pub fn sessions(&self) -> impl Iterator<Item = (i64, i32)> + '_ {
        self.sessions.iter().map(|(id, s)| (*id, s.timeout_ms))
    }

    /// Applies `entry` at `zxid` (its log index): what it did and the watch events it fired.
    /// Entries must come in increasing zxid order; one at or below the last is ignored
    /// (already applied, e.g. from a snapshot), and so is a copy of an entry applied lately
    /// (same origin).
    pub fn apply(&mut self, zxid: i64, entry: &ZkEntry) -> Option<(Outcome, Vec<WatchEvent>)> {
        if zxid <= self.last_zxid {
            return None;
        }
        self.last_zxid = zxid;
        if let Some(origin) = entry.origin {
            if !self.recent.note(origin) {
                tracing::debug!(zxid, ?origin, "a copy of an applied entry is skipped");
                return None;
            }
        }
        let ctx = |session| WriteContext {
            zxid,
            time: entry.time,
            session,
        };
        Some(match &entry.command {
            ZkCommand::CreateSession {
                session,
                timeout_ms,
                password,
            } => {
                let info = SessionInfo {
                    timeout_ms: *timeout_ms,
                    password: password.clone(),
                };
                self.sessions.insert(*session, info);
                (Outcome::SessionCreated, Vec::new())
            }
            ZkCommand::CloseSession { session } => {
                self.sessions.remove(session);
                let events = self.tree.close_session(ctx(*session), *session);
                (Outcome::SessionClosed, events)
            }
            ZkCommand::Write { session, .. } | ZkCommand::Multi { session, .. }
                if !self.sessions.contains_key(session)
                    && !troupe_runtime::plant::armed(
                        troupe_runtime::plant::Bug::ZkEphemeralOutlivesSession,
                    ) =>
            {
                (Outcome::Refused(ZkError::SessionExpired), Vec::new())
            }
            ZkCommand::Write { session, op } => {
                let (result, events) = self.tree.apply(ctx(*session), op);
                (Outcome::Results(vec![result]), events)
            }
            ZkCommand::Multi { session, ops } => {
                let (results, events) = self.tree.multi(ctx(*session), ops);
                (Outcome::Results(results), events)
            }
            ZkCommand::Sync => (Outcome::Synced, Vec::new()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use troupe_messages::zk::{CreateMode, EventType};

    fn entry(command: ZkCommand) -> ZkEntry {
        ZkEntry {
            time: 42,
            command,
            origin: None,
        }
    }

    fn open(session: i64) -> ZkEntry {
        entry(ZkCommand::CreateSession {
            session,
            timeout_ms: 4_000,
            password: vec![1; 16],
        })
    }

    fn create_ephemeral(session: i64, path: &str) -> ZkEntry {
        entry(ZkCommand::Write {
            session,
            op: Op::Create {
                path: path.into(),
                data: Vec::new(),
                mode: CreateMode::EPHEMERAL,
            },
        })
    }

    #[test]
    fn a_copy_of_an_applied_proposal_is_skipped() {
        let mut state = ZkState::default();
        state.apply(1, &open(10));
        let mut create = create_ephemeral(10, "/once-");
        if let ZkCommand::Write {
            op: Op::Create { mode, .. },
            ..
        } = &mut create.command
        {
            *mode = CreateMode::EPHEMERAL_SEQUENTIAL;
        }
        create.origin = Some(Origin {
            server: 2,
            proposal: 77,
        });
        assert!(state.apply(2, &create).is_some());
        // The network delivered the proposal twice and the leader started it twice.
        assert!(state.apply(3, &create).is_none(), "a copy was applied");
        assert_eq!(state.last_zxid(), 3);
        assert_eq!(state.tree().ephemerals_of(10).len(), 1, "one node, not two");
        // Another proposal of the same server is applied.
        create.origin = Some(Origin {
            server: 2,
            proposal: 78,
        });
        assert!(state.apply(4, &create).is_some());
    }

    #[test]
    fn a_closed_session_takes_its_ephemeral_nodes_and_can_write_no_more() {
        let mut state = ZkState::default();
        state.apply(1, &open(10));
        let (outcome, _) = state
            .apply(2, &create_ephemeral(10, "/lock"))
            .expect("applied");
        assert!(
            matches!(&outcome, Outcome::Results(r) if matches!(r[0], OpResult::Created { .. }))
        );
        assert_eq!(
            state.tree().exists("/lock").map(|s| s.ephemeral_owner),
            Some(10)
        );

        let close = entry(ZkCommand::CloseSession { session: 10 });
        let (outcome, events) = state.apply(3, &close).expect("applied");
        assert_eq!(outcome, Outcome::SessionClosed);
        assert_eq!(events[0].kind, EventType::NodeDeleted);
        assert!(state.tree().exists("/lock").is_none());
        assert!(state.session(10).is_none());
        // A write the session sent before it expired, ordered after the expiry: refused.
        let (outcome, events) = state
            .apply(4, &create_ephemeral(10, "/lock"))
            .expect("applied");
        assert_eq!(outcome, Outcome::Refused(ZkError::SessionExpired));
        assert!(events.is_empty());
        assert!(
            state.tree().exists("/lock").is_none(),
            "an orphan ephemeral node"
        );
    }

    #[test]
    fn zxids_come_from_the_log_and_replays_are_ignored() {
        let mut state = ZkState::default();
        state.apply(3, &open(1));
        let (_, _) = state.apply(5, &create_ephemeral(1, "/e")).expect("applied");
        assert_eq!(state.tree().exists("/e").map(|s| s.czxid), Some(5));
        assert_eq!(state.last_zxid(), 5);
        assert!(state.apply(5, &create_ephemeral(1, "/f")).is_none());
        assert!(state.apply(4, &entry(ZkCommand::Sync)).is_none());
        assert_eq!(
            state.apply(6, &entry(ZkCommand::Sync)).map(|o| o.0),
            Some(Outcome::Synced)
        );
    }

    #[test]
    fn the_state_survives_a_snapshot() {
        let mut state = ZkState::default();
        state.apply(1, &open(1));
        state.apply(2, &create_ephemeral(1, "/e"));
        let bytes = troupe_runtime::encode(&state).expect("encoded");
        let back: ZkState = troupe_runtime::decode(&bytes).expect("decoded");
        assert_eq!(back, state);
        assert_eq!(back.tree().ephemerals_of(1), ["/e"]);
    }

    /// A write from an expired session that still applies leaves an orphan ephemeral node:
    /// the test must catch it.
    #[cfg(feature = "planted-bugs")]
    #[test]
    fn an_ephemeral_node_outliving_its_session_is_caught() {
        use troupe_runtime::plant::{fails_with, Bug};
        assert!(
            fails_with(
                Bug::ZkEphemeralOutlivesSession,
                a_closed_session_takes_its_ephemeral_nodes_and_can_write_no_more
            ),
            "an orphan ephemeral node went unnoticed"
        );
    }
}
