//! Data flow and control flow (§3.1, §3.2): data pushed along a chain of replicas into their
//! buffers; a mutation at the primary, which applies it at the offset it picks, one mutation
//! of a chunk at a time, and has every secondary apply it there before it answers; and the
//! secondaries' side.

use super::lease::PrimaryState;
use super::{refusal, Chunkserver};
use crate::gfs::chunk::{AppendOutcome, ChunkHandle};
use crate::gfs::CHUNKSERVER;
use actix::{ActorFutureExt, Context, ResponseActFuture, WrapFuture};
use troupe_messages::gfs::{
    AppliedAt, ApplyMutation, ChunkAck, ChunkRefusal, DataId, Mutate, MutateReply, MutationKind,
    PushData, PushReply, RevokeLease,
};
use troupe_messages::NodeId;
use troupe_runtime::plant::{self, Bug};
use troupe_runtime::ActorPath;

/// How many applied mutations a primary remembers.
const REMEMBERED: usize = 4096;

/// The answers to the mutations a primary applied lately, by the data they applied.
#[derive(Debug, Default)]
pub(super) struct Applied {
    answers: std::collections::HashMap<DataId, MutateReply>,
    order: std::collections::VecDeque<DataId>,
}

impl Applied {
    fn get(&self, data: DataId) -> Option<MutateReply> {
        self.answers.get(&data).cloned()
    }

    fn insert(&mut self, data: DataId, answer: MutateReply) {
        if self.answers.insert(data, answer).is_none() {
            self.order.push_back(data);
        }
        while self.order.len() > REMEMBERED {
            if let Some(old) = self.order.pop_front() {
                self.answers.remove(&old);
            }
        }
    }
}

/// What the primary did locally, for its secondaries to do the same.
struct Local {
    secondaries: Vec<NodeId>,
    apply: ApplyMutation,
    answer: MutateReply,
}

impl Chunkserver {
    /// `PushData`: keeps the data, then passes it down the rest of the chain; `Stored` once
    /// the whole rest of the chain has it.
    pub(super) fn on_push(&mut self, msg: PushData) -> ResponseActFuture<Self, PushReply> {
        let me = self.node.id();
        if !self.buffer.insert(msg.id, msg.data.clone()) {
            return Box::pin(actix::fut::ready(PushReply::Failed { at: me }));
        }
        let Some((&next, rest)) = msg.forward.split_first() else {
            return Box::pin(actix::fut::ready(PushReply::Stored));
        };
        // Each hop waits a little longer than the hop after it.
        let timeout = self.call_timeout() * u32::try_from(msg.forward.len()).unwrap_or(u32::MAX);
        let onward = PushData {
            id: msg.id,
            data: msg.data,
            forward: rest.to_vec(),
        };
        let node = self.node.clone();
        let call = async move {
            match node
                .call(&ActorPath::new(next, CHUNKSERVER), onward, timeout)
                .await
            {
                Ok(reply) => reply,
                Err(_) => PushReply::Failed { at: next },
            }
        };
        Box::pin(call.into_actor(self))
    }

    /// `Mutate` at the primary: waits for a pending lease to start (bounded), then for the
    /// chunk's turn; applies the mutation locally and on every secondary.
    pub(super) fn on_mutate(
        &mut self,
        msg: Mutate,
        ctx: &mut Context<Self>,
    ) -> ResponseActFuture<Self, MutateReply> {
        // A request the network delivered twice: the same answer, not a second application.
        if let Some(answer) = self.applied.get(msg.data) {
            return Box::pin(actix::fut::ready(answer));
        }
        let lease_started = match self.leases.primary(msg.handle, self.now()) {
            PrimaryState::Holds { .. } => None,
            PrimaryState::Pending => Some(self.wait_for_lease(msg.handle, ctx)),
            PrimaryState::No => {
                // Its data goes too: a duplicate arriving under a later lease must not apply
                // what its client was told failed.
                self.buffer.remove(msg.data);
                return Box::pin(actix::fut::ready(MutateReply::Failed(
                    ChunkRefusal::NotPrimary,
                )));
            }
        };
        let timeout = self.call_timeout();
        let wait = async move {
            if let Some(started) = lease_started {
                // Whether it started, ran out of time, or was dropped, the lease is looked at
                // again below.
                let _ = tokio::time::timeout(timeout, started).await;
            }
        };
        let handle = msg.handle;
        Box::pin(
            wait.into_actor(self)
                .then(move |(), act, _| {
                    let turn = act.take_turn(handle);
                    async move {
                        if let Some(turn) = turn {
                            // A dropped sender means the actor is going away.
                            let _ = turn.await;
                        }
                    }
                    .into_actor(act)
                })
                .then(move |(), act, _| act.mutate_in_turn(msg)),
        )
    }

    /// The chunk's turn has come: applies `msg` here, then at every secondary, and ends the
    /// turn when the answer is known.
    fn mutate_in_turn(&mut self, msg: Mutate) -> ResponseActFuture<Self, MutateReply> {
        let handle = msg.handle;
        let data = msg.data;
        if let Some(answer) = self.applied.get(data) {
            self.end_turn(handle);
            return Box::pin(actix::fut::ready(answer));
        }
        let applied = match self.apply_at_primary(&msg) {
            Ok(applied) => applied,
            Err(refused) => {
                // Not applied, and never to be: a duplicate finds no data.
                self.buffer.remove(data);
                self.end_turn(handle);
                return Box::pin(actix::fut::ready(MutateReply::Failed(refused)));
            }
        };
        let Local {
            secondaries,
            apply,
            answer,
        } = applied;
        // Applying is idempotent (the same bytes at the same offset), so a secondary whose
        // answer was lost is asked again: on lossy links one lost message would otherwise
        // fail the whole mutation.
        let answers = self.call_all(
            &secondaries,
            CHUNKSERVER,
            |_| apply.clone(),
            self.call_timeout() / 2,
            3,
        );
        let appended = matches!(answer, MutateReply::Appended { .. });
        if appended && plant::armed(Bug::AckBeforeReplicas) {
            // The secondaries are still told (the calls run on their own), but nobody waits
            // for their answers.
            drop(answers);
            self.end_turn(handle);
            return Box::pin(actix::fut::ready(answer));
        }
        Box::pin(
            async move {
                let failed = answers
                    .await
                    .into_iter()
                    .find(|(_, a)| *a != Some(ChunkAck::Done));
                match failed {
                    None => answer,
                    Some((secondary, _)) => {
                        MutateReply::Failed(ChunkRefusal::SecondaryFailed(secondary))
                    }
                }
            }
            .into_actor(self)
            .map(move |reply, act, _| {
                match &reply {
                    MutateReply::Failed(why) => {
                        tracing::info!(node = %act.node.id(), chunk = %handle, "mutation failed: {why}");
                    }
                    done => act.applied.insert(data, done.clone()),
                }
                act.end_turn(handle);
                reply
            }),
        )
    }

    /// Checks the lease, the version and the data, and applies the mutation to this replica.
    fn apply_at_primary(&mut self, msg: &Mutate) -> Result<Local, ChunkRefusal> {
        let now = self.now();
        let PrimaryState::Holds {
            version,
            secondaries,
        } = self.leases.primary(msg.handle, now)
        else {
            return Err(ChunkRefusal::NotPrimary);
        };
        let have = self.store.version(msg.handle).map_err(refusal)?;
        if have != msg.version {
            return Err(ChunkRefusal::WrongVersion {
                have,
                want: msg.version,
            });
        }
        if have != version {
            // The lease was granted for another version of the chunk.
            return Err(ChunkRefusal::NotPrimary);
        }
        let data = self
            .buffer
            .get(msg.data)
            .ok_or(ChunkRefusal::NoData)?
            .to_vec();
        let (at, answer) = match msg.kind {
            MutationKind::Write { offset } => {
                self.store
                    .write_at(msg.handle, offset, &data)
                    .map_err(refusal)?;
                (AppliedAt::Write { offset }, MutateReply::Written)
            }
            MutationKind::Append => {
                let max = self.plan.chunk.max_record();
                let len = data.len() as u64;
                if len > max {
                    return Err(ChunkRefusal::TooLarge { len, max });
                }
                match self
                    .store
                    .append_record(msg.handle, &data, max)
                    .map_err(refusal)?
                {
                    AppendOutcome::Appended { offset } => (
                        AppliedAt::Append { offset },
                        MutateReply::Appended { offset },
                    ),
                    AppendOutcome::Padded { from } => {
                        (AppliedAt::Pad { from }, MutateReply::ChunkFull)
                    }
                }
            }
        };
        self.leases.mutated(msg.handle, now);
        Ok(Local {
            secondaries,
            apply: ApplyMutation {
                handle: msg.handle,
                version,
                data: msg.data,
                at,
            },
            answer,
        })
    }

    /// `ApplyMutation` at a secondary: at the primary's offset, with the data pushed earlier;
    /// `Done` once it is durable.
    pub(super) fn on_apply(&mut self, msg: ApplyMutation) -> ChunkAck {
        match self.apply_at_secondary(&msg) {
            Ok(()) => ChunkAck::Done,
            Err(why) => {
                tracing::debug!(node = %self.node.id(), chunk = %msg.handle, "not applied: {why}");
                ChunkAck::Failed(why)
            }
        }
    }

    fn apply_at_secondary(&mut self, msg: &ApplyMutation) -> Result<(), ChunkRefusal> {
        let have = self.store.version(msg.handle).map_err(refusal)?;
        if have != msg.version {
            return Err(ChunkRefusal::WrongVersion {
                have,
                want: msg.version,
            });
        }
        match msg.at {
            AppliedAt::Pad { from } => {
                // A replica shorter than the primary pads from its own end: the same padding,
                // over the region it missed.
                let len = self.store.len(msg.handle).map_err(refusal)?;
                self.store
                    .pad_from(msg.handle, from.min(len))
                    .map_err(refusal)
            }
            AppliedAt::Write { offset } => {
                let data = self
                    .buffer
                    .get(msg.data)
                    .ok_or(ChunkRefusal::NoData)?
                    .to_vec();
                self.store
                    .write_at(msg.handle, offset, &data)
                    .map_err(refusal)
            }
            AppliedAt::Append { offset } => {
                let data = self
                    .buffer
                    .get(msg.data)
                    .ok_or(ChunkRefusal::NoData)?
                    .to_vec();
                self.store
                    .apply_append_at(msg.handle, offset, &data)
                    .map_err(refusal)
            }
        }
    }

    /// `RevokeLease`: waits for the chunk's turn (a mutation in flight finishes first), drops
    /// the lease and hands the turn on: every mutation after it finds no lease.
    pub(super) fn on_revoke(&mut self, msg: RevokeLease) -> ResponseActFuture<Self, ChunkAck> {
        let handle = msg.handle;
        let turn = self.take_turn(handle);
        let wait = async move {
            if let Some(turn) = turn {
                let _ = turn.await;
            }
        };
        Box::pin(wait.into_actor(self).map(move |(), act, _| {
            // The history keeps the lease's last end: the master names no other primary
            // before it.
            act.leases.forget(handle);
            act.end_turn(handle);
            tracing::info!(node = %act.node.id(), chunk = %handle, "lease revoked");
            ChunkAck::Done
        }))
    }

    /// Takes the chunk's turn to mutate: None if it is free (it is now taken), else the
    /// receiver told when the turn comes.
    fn take_turn(&mut self, handle: ChunkHandle) -> Option<tokio::sync::oneshot::Receiver<()>> {
        match self.turns.get_mut(&handle) {
            None => {
                self.turns.insert(handle, Default::default());
                None
            }
            Some(queue) => {
                let (tx, rx) = tokio::sync::oneshot::channel();
                queue.push_back(tx);
                Some(rx)
            }
        }
    }

    /// Ends the chunk's current turn, handing it to the next mutation waiting.
    fn end_turn(&mut self, handle: ChunkHandle) {
        if let Some(queue) = self.turns.get_mut(&handle) {
            while let Some(next) = queue.pop_front() {
                if next.send(()).is_ok() {
                    return;
                }
            }
        }
        self.turns.remove(&handle);
    }
}
