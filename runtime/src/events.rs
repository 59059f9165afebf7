//! The event log: every send, delivery, drop, crash, restart, actor exit and timer, with its
//! timestamp on the run's clock (virtual in simulation).
//!
//! Each event goes out as a `tracing` event under the target `troupe::event` (level DEBUG, so
//! `RUST_LOG=troupe::event=debug` shows them), and, when enabled, as one JSON object per line to
//! a file or an in-memory buffer. Two runs with the same seed write byte-identical logs; the
//! determinism test compares them.
//!
//! The log's clock ([`EventLog::now_ns`]) is the clock of everything recorded in a run, client
//! histories included. It is strictly increasing: virtual time only moves in whole milliseconds
//! (tokio's timer tick), so many things happen at one virtual instant; each reading is the
//! virtual time in nanoseconds, or one nanosecond after the previous reading if that is later.
//! No two readings are equal, and their order is the order in which they were taken, which on
//! the simulation's single thread is the order in which things happened.

use serde::Serialize;
use std::cell::{Cell, RefCell};
use std::io::Write;
use std::rc::Rc;
use tokio::time::Instant;
use troupe_messages::{NodeId, TraceId};

/// One event. Fields that do not apply are left `None` and omitted from the JSON line.
#[derive(Debug, Default, Serialize)]
pub struct Event<'a> {
    /// Nanoseconds since the run began, on the run's clock.
    pub t: u64,
    /// What happened: send, deliver, drop, dup, crash, restart, exit, timer, reject.
    pub ev: &'a str,
    /// The node where it happened, or the sender of a message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<NodeId>,
    /// The receiving node of a message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<NodeId>,
    /// The receiving actor's name, or the actor an exit or timer belongs to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actor: Option<&'a str>,
    /// The message kind (wire tag), or a timer's label.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<&'a str>,
    /// The message's trace id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace: Option<TraceId>,
    /// Anything else: a drop's reason, an exit's reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<&'a str>,
}

/// Where events go. Cheap to clone; all clones share one log.
#[derive(Clone)]
pub struct EventLog {
    inner: Rc<Inner>,
}

struct Inner {
    origin: Instant,
    sink: RefCell<Option<Box<dyn Write>>>,
    capture: RefCell<Option<Vec<u8>>>,
    recorded: Cell<u64>,
    /// The last reading of the clock.
    last_ns: Cell<u64>,
}

impl EventLog {
    /// A log whose clock starts now (virtual now, under paused time).
    pub fn new() -> Self {
        EventLog {
            inner: Rc::new(Inner {
                origin: Instant::now(),
                sink: RefCell::new(None),
                capture: RefCell::new(None),
                recorded: Cell::new(0),
                last_ns: Cell::new(0),
            }),
        }
    }

    /// Nanoseconds since the log was created, on the run's clock: the elapsed (virtual) time,
    /// or one nanosecond past the previous reading if that is later. Every reading is greater
    /// than the one before it, so timestamps taken one after the other never tie.
    pub fn now_ns(&self) -> u64 {
        let elapsed = Instant::now().saturating_duration_since(self.inner.origin);
        let elapsed = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        let now = elapsed.max(self.inner.last_ns.get().saturating_add(1));
        self.inner.last_ns.set(now);
        now
    }

    /// Also write every event as a JSON line to `sink` (a file, for instance).
    pub fn write_to(&self, sink: Box<dyn Write>) {
        *self.inner.sink.borrow_mut() = Some(sink);
    }

    /// Also keep every event as a JSON line in memory; see [`EventLog::captured`].
    pub fn capture(&self) {
        *self.inner.capture.borrow_mut() = Some(Vec::new());
    }

    /// The JSON lines kept since [`EventLog::capture`] was called.
    pub fn captured(&self) -> Vec<u8> {
        self.inner.capture.borrow().clone().unwrap_or_default()
    }

    /// How many events were recorded.
    pub fn recorded(&self) -> u64 {
        self.inner.recorded.get()
    }

    /// Flushes the JSON-lines sink, if any.
    pub fn flush(&self) -> std::io::Result<()> {
        match self.inner.sink.borrow_mut().as_mut() {
            Some(sink) => sink.flush(),
            None => Ok(()),
        }
    }

    /// Records an event; `t` is filled in from the log's clock.
    pub fn record(&self, mut event: Event<'_>) {
        self.inner.recorded.set(self.inner.recorded.get() + 1);
        event.t = self.now_ns();
        tracing::debug!(
            target: "troupe::event",
            t = event.t,
            ev = event.ev,
            from = ?event.from,
            to = ?event.to,
            actor = event.actor,
            kind = event.kind,
            trace = ?event.trace,
            detail = event.detail,
        );
        let wants_json =
            self.inner.sink.borrow().is_some() || self.inner.capture.borrow().is_some();
        if !wants_json {
            return;
        }
        let mut line = match serde_json::to_vec(&event) {
            Ok(line) => line,
            Err(e) => {
                tracing::warn!("event could not be encoded as JSON: {e}");
                return;
            }
        };
        line.push(b'\n');
        if let Some(buf) = self.inner.capture.borrow_mut().as_mut() {
            buf.extend_from_slice(&line);
        }
        if let Some(sink) = self.inner.sink.borrow_mut().as_mut() {
            if let Err(e) = sink.write_all(&line) {
                tracing::warn!("event log sink failed: {e}");
            }
        }
    }
}

impl Default for EventLog {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_clock_never_repeats_a_reading_and_follows_virtual_time() {
        crate::sim::block_on(async {
            let log = EventLog::new();
            let a = log.now_ns();
            let b = log.now_ns();
            let c = log.now_ns();
            assert!(
                a < b && b < c,
                "readings at one instant are ordered: {a} {b} {c}"
            );
            assert!(
                c < 1_000,
                "ties are broken by nanoseconds, not milliseconds: {c}"
            );
            tokio::time::sleep(Duration::from_millis(3)).await;
            let d = log.now_ns();
            assert_eq!(
                d, 3_000_000,
                "after a sleep the clock reads virtual time again"
            );
        });
    }
}
