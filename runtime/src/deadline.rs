//! Call deadlines without a tokio timer per call.
//!
//! Every `call` has a deadline, and a tokio timer per call costs a quarter of a local call's
//! time (registering and removing a timer entry each time; measured with `troupe bench
//! messaging`). A node therefore keeps its calls' deadlines in one ordered map, and a single
//! sweeper task sleeps until the earliest one. When calls use the same timeout, each new
//! deadline falls after the earliest, so the sweeper's timer is re-armed about once per timeout
//! period instead of once per call. A call that finishes removes its deadline at once.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use tokio::sync::Notify;
use tokio::time::Instant;

/// The deadlines of one node's pending calls.
#[derive(Default)]
pub(crate) struct Deadlines {
    inner: Rc<Inner>,
}

#[derive(Default)]
struct Inner {
    pending: RefCell<BTreeMap<(Instant, u64), Rc<Expiry>>>,
    next_id: Cell<u64>,
    /// The instant the sweeper sleeps until, if it sleeps on a deadline.
    armed: Cell<Option<Instant>>,
    sweeping: Cell<bool>,
    rearm: Notify,
}

#[derive(Default)]
struct Expiry {
    expired: Cell<bool>,
    waker: RefCell<Option<Waker>>,
}

impl Deadlines {
    /// Registers a deadline; the returned guard removes it when dropped. `spawn` starts the
    /// sweeper task the first time it is needed.
    pub(crate) fn register(&self, at: Instant, spawn: impl FnOnce(SweepTask)) -> Deadline {
        let id = self.inner.next_id.get();
        self.inner.next_id.set(id + 1);
        let expiry = Rc::new(Expiry::default());
        self.inner
            .pending
            .borrow_mut()
            .insert((at, id), Rc::clone(&expiry));
        if !self.inner.sweeping.replace(true) {
            spawn(SweepTask {
                inner: Rc::clone(&self.inner),
            });
        } else if self.inner.armed.get().is_none_or(|armed| at < armed) {
            self.inner.rearm.notify_one();
        }
        Deadline {
            key: (at, id),
            expiry,
            inner: Rc::clone(&self.inner),
        }
    }
}

/// The sweeper: expires due deadlines and sleeps until the next one.
pub(crate) struct SweepTask {
    inner: Rc<Inner>,
}

impl SweepTask {
    pub(crate) async fn run(self) {
        let inner = Rc::clone(&self.inner);
        loop {
            let head = inner.pending.borrow().keys().next().map(|k| k.0);
            match head {
                Some(at) if at <= Instant::now() => {
                    let now = Instant::now();
                    let due: Vec<Rc<Expiry>> = {
                        let mut pending = inner.pending.borrow_mut();
                        let later = pending.split_off(&(now, u64::MAX));
                        std::mem::replace(&mut *pending, later)
                            .into_values()
                            .collect()
                    };
                    for expiry in due {
                        expiry.expired.set(true);
                        if let Some(waker) = expiry.waker.borrow_mut().take() {
                            waker.wake();
                        }
                    }
                }
                Some(at) => {
                    inner.armed.set(Some(at));
                    tokio::select! {
                        biased;
                        _ = inner.rearm.notified() => {}
                        _ = tokio::time::sleep_until(at) => {}
                    }
                    inner.armed.set(None);
                }
                None => inner.rearm.notified().await,
            }
        }
    }
}

impl Drop for SweepTask {
    fn drop(&mut self) {
        // Aborted with its node; a later register would start a new one.
        self.inner.sweeping.set(false);
    }
}

/// One call's deadline; dropping it removes the deadline.
pub(crate) struct Deadline {
    key: (Instant, u64),
    expiry: Rc<Expiry>,
    inner: Rc<Inner>,
}

impl Drop for Deadline {
    fn drop(&mut self) {
        self.inner.pending.borrow_mut().remove(&self.key);
    }
}

/// `fut`, or `Err(Elapsed)` once its deadline has passed.
pub(crate) struct WithDeadline<F> {
    fut: F,
    deadline: Deadline,
}

/// The deadline passed first.
#[derive(Debug)]
pub(crate) struct Elapsed;

impl<F: Future + Unpin> WithDeadline<F> {
    pub(crate) fn new(fut: F, deadline: Deadline) -> Self {
        WithDeadline { fut, deadline }
    }
}

impl<F: Future + Unpin> Future for WithDeadline<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Poll::Ready(out) = Pin::new(&mut self.fut).poll(cx) {
            return Poll::Ready(Ok(out));
        }
        let expiry = &self.deadline.expiry;
        if expiry.expired.get() {
            return Poll::Ready(Err(Elapsed));
        }
        let mut waker = expiry.waker.borrow_mut();
        if !waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            *waker = Some(cx.waker().clone());
        }
        Poll::Pending
    }
}
