//! Failure detection and go-live (§2.3 of the paper). Each side watches the other with the
//! runtime's monitors (a `Down` when the peer's actor stops or its node stops answering
//! heartbeats) and with the logging channel's own traffic (a batch or an acknowledgement at
//! least every heartbeat). A side that suspects the other does not simply take over: it runs a
//! test-and-set on the shared storage, a compare-and-swap of the VM's record from the exact
//! pair it knows to one that names itself alone. Only one swap from the same record succeeds;
//! the loser stops itself. So in a partition of the logging channel, where both sides are up and
//! each suspects the other, exactly one goes on.
//!
//! A backup goes live only if the record names it (a backup still receiving its state transfer
//! is not yet allowed to), and it first replays every entry it acknowledged.

use super::{Role, VmftHost};
use crate::client::Outcome;
use crate::vmft::record::{record_key, FtRecord};
use actix::fut::ActorFutureExt;
use actix::{AsyncContext, Context, WrapFuture};
use troupe_messages::kv::KvOp;
use troupe_messages::NodeId;
use troupe_runtime::plant::{armed, Bug};

/// What a read of the record found.
enum Read {
    /// The record (None: the VM was never booted).
    Found(Option<FtRecord>),
    /// The storage did not answer in time, or the record does not parse.
    Unknown,
}

impl VmftHost {
    /// The host suspects `peer` (its primary or its backup) has failed.
    pub(super) fn suspect(&mut self, peer: NodeId, ctx: &mut Context<Self>) {
        let retry = self.plan.timing.heartbeat;
        match &mut self.role {
            Role::Primary(p) if p.backup.map(|(b, _)| b) == Some(peer) => {
                if p.swapping {
                    // A swap is under way (recording this backup): decide after it.
                    ctx.run_later(retry, move |act, ctx| act.suspect(peer, ctx));
                    return;
                }
                p.swapping = true;
                tracing::info!(node = %self.node.id(), backup = %peer, "backup suspected");
                if armed(Bug::GoLiveWithoutTestAndSet) {
                    self.go_on_alone_unchecked(ctx);
                    return;
                }
                self.resolve_backup_loss(peer, ctx);
            }
            Role::Backup(b) if b.primary == peer && !b.going_live => {
                b.going_live = true;
                tracing::info!(node = %self.node.id(), primary = %peer, "primary suspected");
                if armed(Bug::GoLiveWithoutTestAndSet) {
                    self.go_live_unchecked(ctx);
                    return;
                }
                self.try_go_live(ctx);
            }
            _ => {}
        }
    }

    /// The primary lost its backup: it goes on alone if the record lets it.
    fn resolve_backup_loss(&mut self, backup: NodeId, ctx: &mut Context<Self>) {
        let me = self.node.id();
        self.read_record(ctx, move |act, read, ctx| match read {
            Read::Found(Some(record)) if record.primary == me && record.backup == Some(backup) => {
                act.swap_record(record, record.live(me), ctx, move |act, won, ctx| {
                    if won {
                        act.stats.went_live += 1;
                        act.go_on_alone(record.generation + 1);
                    } else {
                        act.resolve_backup_loss(backup, ctx);
                    }
                });
            }
            // The record never named this backup: nobody else may take over, so go on alone.
            Read::Found(Some(record)) if record.primary == me => {
                act.go_on_alone(record.generation);
            }
            Read::Found(other) => act.lost(other),
            Read::Unknown => {
                let retry = act.plan.timing.heartbeat;
                ctx.run_later(retry, move |act, ctx| act.resolve_backup_loss(backup, ctx));
            }
        });
    }

    /// The primary runs on alone in `generation`: held outputs are released.
    fn go_on_alone(&mut self, generation: u64) {
        let now = self.node.now_ns();
        let Role::Primary(p) = &mut self.role else {
            return;
        };
        if let Some(monitor) = p.monitor.take() {
            self.node.unwatch(monitor);
        }
        p.generation = generation;
        p.channel = generation;
        p.backup = None;
        p.install = None;
        p.recorded = false;
        p.swapping = false;
        let released = p.core.run_alone(now);
        tracing::info!(node = %self.node.id(), generation, "primary goes on alone");
        for output in released {
            self.waiters.release(output);
        }
    }

    /// The planted bug: the primary goes on alone without the test-and-set, and records
    /// itself alone unconditionally.
    fn go_on_alone_unchecked(&mut self, ctx: &mut Context<Self>) {
        let Role::Primary(p) = &self.role else {
            return;
        };
        let record = FtRecord {
            generation: p.generation + 1,
            primary: self.node.id(),
            backup: None,
        };
        self.stats.went_live += 1;
        self.go_on_alone(record.generation);
        self.put_record(record, ctx);
    }

    /// The backup lost its primary: it goes live if it wins the test-and-set.
    fn try_go_live(&mut self, ctx: &mut Context<Self>) {
        let me = self.node.id();
        self.read_record(ctx, move |act, read, ctx| match read {
            Read::Found(Some(record)) if record.backup == Some(me) => {
                act.swap_record(record, record.live(me), ctx, move |act, won, ctx| {
                    if won {
                        act.go_live(record.generation + 1, ctx);
                    } else {
                        act.try_go_live(ctx);
                    }
                });
            }
            // An earlier swap of this host's landed after all.
            Read::Found(Some(record)) if record.primary == me => {
                act.go_live(record.generation, ctx)
            }
            Read::Found(other) => act.lost(other),
            Read::Unknown => {
                let retry = act.plan.timing.heartbeat;
                ctx.run_later(retry, |act, ctx| act.try_go_live(ctx));
            }
        });
    }

    /// The backup replays everything it acknowledged and becomes the primary of `generation`.
    fn go_live(&mut self, generation: u64, ctx: &mut Context<Self>) {
        let Role::Backup(_) = &self.role else {
            return;
        };
        let Role::Backup(b) = std::mem::replace(&mut self.role, Role::Spare) else {
            return;
        };
        if let Some(monitor) = b.monitor {
            self.node.unwatch(monitor);
        }
        match b.core.go_live(self.plan.buffer, self.plan.hash_every) {
            Ok((core, outstanding)) => {
                self.stats.went_live += 1;
                tracing::info!(node = %self.node.id(), generation, index = core.last_index(), "backup goes live");
                self.become_primary(core, generation, ctx);
                for (tag, request) in outstanding {
                    self.issue_disk(tag, request, ctx);
                }
            }
            Err(divergence) => {
                self.stats.divergences += 1;
                tracing::error!(node = %self.node.id(), "cannot go live: {divergence}");
                self.become_spare("the backup diverged");
            }
        }
    }

    /// The planted bug: the backup goes live without the test-and-set.
    fn go_live_unchecked(&mut self, ctx: &mut Context<Self>) {
        let Role::Backup(b) = &self.role else {
            return;
        };
        let record = FtRecord {
            generation: b.channel + 1,
            primary: self.node.id(),
            backup: None,
        };
        self.go_live(record.generation, ctx);
        self.put_record(record, ctx);
    }

    /// The test-and-set was lost, or the record names another pair: this host stops.
    fn lost(&mut self, record: Option<FtRecord>) {
        self.record = record;
        self.stats.lost_test_and_set += 1;
        let why = match record {
            Some(r) => format!("the record names {} as primary", r.primary),
            None => "the record is empty".to_string(),
        };
        self.become_spare(&why);
    }

    /// The primary's backup is in sync: record it, so that it may take over.
    pub(super) fn record_backup(&mut self, ctx: &mut Context<Self>) {
        let me = self.node.id();
        let Role::Primary(p) = &mut self.role else {
            return;
        };
        let Some((backup, _)) = p.backup else {
            return;
        };
        p.swapping = true;
        let generation = p.generation;
        self.read_record(ctx, move |act, read, ctx| {
            let done = move |act: &mut VmftHost, recorded: Option<u64>| {
                if let Role::Primary(p) = &mut act.role {
                    p.swapping = false;
                    if let Some(generation) = recorded {
                        p.generation = generation;
                        p.recorded = true;
                        tracing::info!(node = %me, %backup, generation, "backup recorded");
                    }
                }
            };
            match read {
                Read::Found(Some(record))
                    if record.primary == me && record.backup == Some(backup) =>
                {
                    done(act, Some(record.generation));
                }
                Read::Found(Some(record))
                    if record.primary == me
                        && record.backup.is_none()
                        && record.generation == generation =>
                {
                    let next = record.with_backup(backup);
                    act.swap_record(record, next, ctx, move |act, won, _| {
                        done(act, won.then_some(next.generation));
                    });
                }
                Read::Found(other @ Some(record)) if record.primary != me => act.lost(other),
                // Unreadable, or a record this primary did not expect: try on the next ack.
                _ => done(act, None),
            }
        });
    }

    /// Reads the record and gives what was found to `then`.
    fn read_record(
        &mut self,
        ctx: &mut Context<Self>,
        then: impl FnOnce(&mut Self, Read, &mut Context<Self>) + 'static,
    ) {
        let get = KvOp::Get {
            key: record_key(&self.plan.vm),
        };
        self.on_storage(get, ctx, move |act, outcome, ctx| {
            let read = match outcome {
                Outcome::Done(value) => match FtRecord::decode(value.as_deref().unwrap_or("")) {
                    Ok(record) => {
                        act.record = record.or(act.record);
                        Read::Found(record)
                    }
                    Err(e) => {
                        tracing::error!("{e}");
                        Read::Unknown
                    }
                },
                Outcome::NotApplied | Outcome::Unknown => Read::Unknown,
            };
            then(act, read, ctx);
        });
    }

    /// Swaps the record from `from` to `to`; `then` learns whether this host's swap won. An
    /// answer that never came counts as lost, and the caller reads the record again.
    fn swap_record(
        &mut self,
        from: FtRecord,
        to: FtRecord,
        ctx: &mut Context<Self>,
        then: impl FnOnce(&mut Self, bool, &mut Context<Self>) + 'static,
    ) {
        let expect = from.encode();
        let cas = KvOp::Cas {
            key: record_key(&self.plan.vm),
            expect: expect.clone(),
            value: to.encode(),
        };
        self.on_storage(cas, ctx, move |act, outcome, ctx| {
            let won = matches!(&outcome, Outcome::Done(Some(found)) if *found == expect);
            if won {
                act.record = Some(to);
            }
            then(act, won, ctx);
        });
    }

    /// Writes the record unconditionally (only the planted bug does this).
    fn put_record(&mut self, record: FtRecord, ctx: &mut Context<Self>) {
        let put = KvOp::Put {
            key: record_key(&self.plan.vm),
            value: record.encode(),
        };
        self.on_storage(put, ctx, |_, _, _| {});
    }

    /// Runs `op` on the shared storage with the host's clerk (one operation at a time: a second
    /// waits for the first) and gives its outcome to `then`.
    fn on_storage(
        &mut self,
        op: KvOp,
        ctx: &mut Context<Self>,
        then: impl FnOnce(&mut Self, Outcome, &mut Context<Self>) + 'static,
    ) {
        let Some(mut clerk) = self.storage.take() else {
            let retry = self.plan.timing.heartbeat;
            ctx.run_later(retry, move |act, ctx| act.on_storage(op, ctx, then));
            return;
        };
        let deadline = self.plan.timing.storage_deadline;
        let run = async move {
            let outcome = clerk.run(op, deadline).await;
            (clerk, outcome)
        };
        ctx.spawn(run.into_actor(self).map(move |(clerk, outcome), act, ctx| {
            act.storage = Some(clerk);
            then(act, outcome, ctx);
        }));
    }
}
