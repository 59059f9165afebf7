//! A queueing model of a server's capacity, for benchmarks in virtual time.
//!
//! In the simulation, handling a message takes no virtual time, so every server would have
//! infinite capacity and a benchmark's throughput would only be its clients divided by their
//! latency. A [`ServiceQueue`] gives a server one busy CPU: each message it is charged for
//! occupies the server for a fixed service time, one after the other in arrival order, and
//! what the server decided leaves only once the work charged before it is done.
//!
//! Actors hold one as an `Option`, `None` outside benchmarks, so that real nodes pay one branch
//! and nothing else. The virtual clock's timers fire on whole milliseconds, so held outputs
//! leave at the first whole millisecond at or after their due time: a single message waits up
//! to 1 ms, while a busy server's throughput is exactly one message per service time.

use std::collections::VecDeque;
use std::time::Duration;
use tokio::time::Instant;

/// One server's queue: when it is next free, and the outputs waiting for their turn.
#[derive(Debug)]
pub struct ServiceQueue<T> {
    per_message: Duration,
    busy_until: Instant,
    held: VecDeque<T>,
}

impl<T> ServiceQueue<T> {
    /// A server that handles one message per `per_message`, idle now.
    pub fn new(per_message: Duration) -> Self {
        ServiceQueue {
            per_message,
            busy_until: Instant::now(),
            held: VecDeque::new(),
        }
    }

    /// The service time of one message.
    pub fn per_message(&self) -> Duration {
        self.per_message
    }

    /// One more message to handle: the server is busy one service time longer, counted from
    /// now if it was idle.
    pub fn charge(&mut self) {
        self.busy_until = self.busy_until.max(Instant::now()) + self.per_message;
    }

    /// How long until the work charged so far is done (zero if the server is idle).
    pub fn busy_for(&self) -> Duration {
        self.busy_until.saturating_duration_since(Instant::now())
    }

    /// Holds `output` until the work charged so far is done. Returns how long that is from
    /// now ([`ServiceQueue::busy_for`]): then [`ServiceQueue::release`] gives it back.
    pub fn hold(&mut self, output: T) -> Duration {
        self.held.push_back(output);
        self.busy_for()
    }

    /// The oldest held output: outputs leave in the order they were held, whichever timer
    /// fires first.
    pub fn release(&mut self) -> Option<T> {
        self.held.pop_front()
    }

    /// Outputs still held.
    pub fn held(&self) -> usize {
        self.held.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_busy_server_handles_one_message_per_service_time() {
        let mut queue = ServiceQueue::new(Duration::from_micros(100));
        for _ in 0..30 {
            queue.charge();
        }
        assert_eq!(queue.busy_for(), Duration::from_millis(3));
        assert_eq!(queue.hold("after thirty"), Duration::from_millis(3));
        tokio::time::advance(Duration::from_millis(2)).await;
        queue.charge();
        assert_eq!(queue.hold("one more"), Duration::from_micros(1100));
        assert_eq!(queue.held(), 2);
        assert_eq!(queue.release(), Some("after thirty"));
        assert_eq!(queue.release(), Some("one more"));
        assert_eq!(queue.release(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_server_starts_from_now() {
        let mut queue = ServiceQueue::new(Duration::from_micros(100));
        queue.charge();
        tokio::time::advance(Duration::from_millis(5)).await;
        assert_eq!(queue.hold(()), Duration::ZERO);
        queue.charge();
        assert_eq!(queue.hold(()), Duration::from_micros(100));
    }
}
