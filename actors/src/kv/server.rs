//! The key-value server: an actor that turns each request into a Raft command, answers once
//! the command is applied, and snapshots its state when Raft's log grows too big.

use super::state::{Command, KvState};
use crate::raft::peer::{Applied, PeerOptions, RaftPeer, Snapshot};
use crate::raft::Apply;
use actix::{
    Actor, ActorFutureExt, Addr, Context, Handler, Message, ResponseActFuture, WrapFuture,
};
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::sync::oneshot;
use troupe_messages::kv::{KvOp, KvReply, KvRequest, ReadLocal};
use troupe_messages::raft::{Index, Start};
use troupe_messages::{ClientId, NodeId};
use troupe_runtime::plant::{self, Bug};
use troupe_runtime::{decode, encode, ActorHandle, Node};

/// The name a key-value server registers under.
pub const NAME: &str = "kv";

/// How to run a server.
#[derive(Debug, Clone)]
pub struct KvOptions {
    /// The Raft group and its timing.
    pub raft: PeerOptions,
    /// Snapshot once about this many bytes of commands were applied since the last snapshot
    /// (None: never).
    pub max_raft_state: Option<usize>,
    /// How long a request waits for its command to be applied.
    pub commit_timeout: Duration,
}

impl KvOptions {
    /// A group of `members` with the default Raft timing (10 ms ticks, elections after
    /// 150-300 ms), requests waiting up to 1 s to commit, and no snapshots.
    pub fn new(members: Vec<NodeId>) -> Self {
        KvOptions {
            raft: PeerOptions {
                members,
                config: crate::raft::RaftConfig::default(),
                tick: Duration::from_millis(10),
            },
            max_raft_state: None,
            commit_timeout: Duration::from_secs(1),
        }
    }
}

/// The key-value server actor.
pub struct KvServer {
    node: Node,
    raft: Option<Addr<RaftPeer>>,
    state: KvState,
    pending: BTreeMap<Index, Waiter>,
    options: KvOptions,
    bytes_since_snapshot: usize,
    /// The last log index applied to `state`.
    last_applied: Index,
}

struct Waiter {
    client: ClientId,
    seq: u64,
    reply: oneshot::Sender<KvReply>,
}

#[derive(Message)]
#[rtype(result = "()")]
struct SetRaft(Addr<RaftPeer>);

impl KvServer {
    /// Starts a server and its Raft peer on `node`; the server registers as [`NAME`]. The two
    /// are linked: if either stops, the other is stopped too, so a supervisor of the returned
    /// server handle restarts the pair (the peer from what it persisted).
    pub fn spawn(node: &Node, options: KvOptions) -> troupe_runtime::Result<ActorHandle> {
        let raft_options = options.raft.clone();
        let server = KvServer {
            node: node.clone(),
            raft: None,
            state: KvState::default(),
            pending: BTreeMap::new(),
            options,
            bytes_since_snapshot: 0,
            last_applied: 0,
        };
        let server = node
            .spawn_named(NAME, server)?
            .accept::<KvRequest>()
            .accept::<ReadLocal>();
        let peer = RaftPeer::spawn_linked(node, raft_options, &server)?;
        server.addr().do_send(SetRaft(peer));
        Ok(server.handle().clone())
    }

    fn resolve_up_to(&mut self, index: Index, applied: Option<(&Command, Option<String>)>) {
        while let Some(entry) = self.pending.first_entry() {
            if *entry.key() > index {
                break;
            }
            let at = *entry.key();
            let waiter = entry.remove();
            let reply = match applied {
                Some((cmd, ref value))
                    if at == index && cmd.client == waiter.client && cmd.seq == waiter.seq =>
                {
                    KvReply::Ok {
                        value: value.clone(),
                    }
                }
                // Another command took that index: leadership was lost before it committed.
                _ => KvReply::NotCommitted,
            };
            // The clerk may have given up waiting; then nobody listens.
            let _ = waiter.reply.send(reply);
        }
    }
}

impl Actor for KvServer {
    type Context = Context<Self>;
}

impl Handler<SetRaft> for KvServer {
    type Result = ();
    fn handle(&mut self, msg: SetRaft, _: &mut Context<Self>) {
        self.raft = Some(msg.0);
    }
}

impl Handler<KvRequest> for KvServer {
    type Result = ResponseActFuture<Self, KvReply>;

    fn handle(&mut self, req: KvRequest, _: &mut Context<Self>) -> Self::Result {
        let command = Command {
            client: req.client,
            seq: req.seq,
            op: req.op,
        };
        let (raft, bytes) = match (&self.raft, encode(&command)) {
            (Some(raft), Ok(bytes)) => (raft.clone(), bytes),
            _ => return Box::pin(actix::fut::ready(KvReply::WrongLeader { hint: None })),
        };
        let start = async move { raft.send(Start { command: bytes }).await };
        Box::pin(start.into_actor(self).then(move |started, act, _| {
            let hint = started.as_ref().ok().and_then(|s| s.leader);
            let is_leader = started.as_ref().is_ok_and(|s| s.is_leader);
            let planted = planted_answer(&act.state, &command.op, is_leader);
            let waiting = match (planted, started) {
                (Some(reply), _) => Err(reply),
                // Applied already (a group of one commits at once, before this answer).
                (None, Ok(s)) if s.is_leader && s.index <= act.last_applied => {
                    let reply = match act.state.result_of(command.client, command.seq) {
                        Some(value) => KvReply::Ok { value },
                        None => KvReply::NotCommitted,
                    };
                    Err(reply)
                }
                (None, Ok(s)) if s.is_leader => {
                    let (reply, answer) = oneshot::channel();
                    act.pending.insert(
                        s.index,
                        Waiter {
                            client: command.client,
                            seq: command.seq,
                            reply,
                        },
                    );
                    Ok(answer)
                }
                _ => Err(KvReply::WrongLeader { hint }),
            };
            let timeout = act.options.commit_timeout;
            async move {
                match waiting {
                    Err(reply) => reply,
                    Ok(answer) => match tokio::time::timeout(timeout, answer).await {
                        Ok(Ok(reply)) => reply,
                        _ => KvReply::NotCommitted,
                    },
                }
            }
            .into_actor(act)
        }))
    }
}

/// What a planted bug ([`troupe_runtime::plant`]) answers in place of the protocol, if one is
/// armed for this request; `None` in every normal build.
fn planted_answer(state: &KvState, op: &KvOp, is_leader: bool) -> Option<KvReply> {
    let local_read = || match op {
        KvOp::Get { key } => Some(KvReply::Ok {
            value: Some(state.get(key).unwrap_or_default().to_string()),
        }),
        _ => None,
    };
    if is_leader && plant::armed(Bug::LeaderReadsLocally) {
        return local_read();
    }
    if !is_leader && plant::armed(Bug::FollowerReadsLocally) {
        return local_read();
    }
    let write = matches!(op, KvOp::Put { .. } | KvOp::Append { .. });
    if is_leader && write && plant::armed(Bug::AckBeforeMajority) {
        return Some(KvReply::Ok { value: None });
    }
    None
}

impl Handler<Applied> for KvServer {
    type Result = ();

    fn handle(&mut self, msg: Applied, _: &mut Context<Self>) {
        match msg.0 {
            Apply::Command { index, command, .. } => {
                self.last_applied = index;
                let cmd = match decode::<Command>(&command) {
                    Ok(cmd) => cmd,
                    Err(e) => {
                        tracing::error!(node = %self.node.id(), index, "undecodable command skipped: {e}");
                        self.resolve_up_to(index, None);
                        return;
                    }
                };
                let value = self.state.apply(&cmd);
                self.resolve_up_to(index, Some((&cmd, value)));
                self.bytes_since_snapshot += command.len() + 16;
                if let (Some(max), Some(raft)) = (self.options.max_raft_state, &self.raft) {
                    if self.bytes_since_snapshot >= max / 2 {
                        match encode(&self.state) {
                            Ok(data) => {
                                raft.do_send(Snapshot { index, data });
                                self.bytes_since_snapshot = 0;
                            }
                            Err(e) => tracing::error!("snapshot does not encode: {e}"),
                        }
                    }
                }
            }
            Apply::Snapshot { index, data, .. } => match decode::<KvState>(&data) {
                Ok(state) => {
                    self.state = state;
                    self.last_applied = index;
                    self.bytes_since_snapshot = 0;
                    self.resolve_up_to(index, None);
                }
                Err(e) => {
                    tracing::error!(node = %self.node.id(), "undecodable snapshot ignored: {e}")
                }
            },
        }
    }
}

impl Handler<ReadLocal> for KvServer {
    type Result = String;

    fn handle(&mut self, msg: ReadLocal, _: &mut Context<Self>) -> String {
        self.state.get(&msg.key).unwrap_or_default().to_string()
    }
}
