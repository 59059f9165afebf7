//! Session liveness, as the leader judges it. Every server hears its own clients (each
//! request or ping touches the session) and passes the touches on to the leader; the leader
//! expires a session not touched within its timeout by proposing its `CloseSession`, so that
//! the expiry, and the deletion of the session's ephemeral nodes, is one entry of the log.
//!
//! A new leader does not know when the old one last heard a session, so it gives every live
//! session a whole timeout from the moment it took over, as ZooKeeper's leader does.
//!
//! Also here: the timeout a session gets (the client's wish, clamped to 2 to 20 ticks, as
//! ZooKeeper negotiates it) and the ids new sessions get.

use std::collections::BTreeMap;
use std::time::Duration;
use tokio::time::Instant;

/// The leader's view of when each live session was last heard.
#[derive(Debug, Clone, Default)]
pub struct SessionTracker {
    /// Session id to its deadline and its timeout.
    deadlines: BTreeMap<i64, (Instant, Duration)>,
}

impl SessionTracker {
    /// Starts tracking `sessions` (id, timeout in ms), each with a whole timeout from `now`:
    /// what a new leader does. Sessions tracked before and not among them are dropped.
    pub fn take_over(&mut self, sessions: impl IntoIterator<Item = (i64, i32)>, now: Instant) {
        self.deadlines = sessions
            .into_iter()
            .map(|(id, ms)| {
                let timeout = timeout_of(ms);
                (id, (now + timeout, timeout))
            })
            .collect();
    }

    /// A new session of `timeout_ms`, heard `now`.
    pub fn open(&mut self, session: i64, timeout_ms: i32, now: Instant) {
        let timeout = timeout_of(timeout_ms);
        self.deadlines.insert(session, (now + timeout, timeout));
    }

    /// `session` was heard at `now` (a request or a ping); false if it is not tracked.
    pub fn touch(&mut self, session: i64, now: Instant) -> bool {
        match self.deadlines.get_mut(&session) {
            Some((deadline, timeout)) => {
                *deadline = (*deadline).max(now + *timeout);
                true
            }
            None => false,
        }
    }

    /// Stops tracking `session` (closed or expired).
    pub fn close(&mut self, session: i64) {
        self.deadlines.remove(&session);
    }

    /// The sessions whose deadline has passed at `now`, to expire (they stay tracked until
    /// their `CloseSession` is applied and [`SessionTracker::close`] is called).
    pub fn expired(&self, now: Instant) -> Vec<i64> {
        self.deadlines
            .iter()
            .filter(|(_, (deadline, _))| *deadline <= now)
            .map(|(id, _)| *id)
            .collect()
    }

    /// How many sessions are tracked.
    pub fn len(&self) -> usize {
        self.deadlines.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.deadlines.is_empty()
    }
}

fn timeout_of(ms: i32) -> Duration {
    Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

/// The timeout a session gets: what its client asked for, clamped to 2 to 20 ticks.
pub fn negotiate(requested_ms: i32, tick: Duration) -> i32 {
    let tick = i32::try_from(tick.as_millis()).unwrap_or(i32::MAX / 20);
    requested_ms.clamp(2 * tick, 20 * tick)
}

/// Draws session ids for one server: the server's id in the top byte, then a count that
/// starts from the clock (milliseconds) so that ids stay unique across the server's restarts,
/// as ZooKeeper draws them.
#[derive(Debug, Clone)]
pub struct SessionIds {
    next: i64,
}

impl SessionIds {
    /// Ids for server `server` (its low 8 bits), starting from `now_ms`.
    pub fn new(server: u32, now_ms: u64) -> SessionIds {
        let count = ((now_ms << 24) >> 8) as i64 & 0x00ff_ffff_ffff_ffff;
        SessionIds {
            next: (i64::from(server as u8) << 56) | count,
        }
    }

    /// The next id (never 0, which means "no session" in a stat).
    pub fn next_id(&mut self) -> i64 {
        self.next = self.next.wrapping_add(1);
        if self.next == 0 {
            self.next = 1;
        }
        self.next
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_expires_a_timeout_after_it_was_last_heard() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut tracker = SessionTracker::default();
        tracker.open(1, 4_000, t0);
        tracker.open(2, 4_000, t0);
        assert!(tracker.touch(1, t0 + ms(3_000)));
        assert_eq!(tracker.expired(t0 + ms(3_999)), Vec::<i64>::new());
        assert_eq!(tracker.expired(t0 + ms(4_000)), [2]);
        assert_eq!(tracker.expired(t0 + ms(7_000)), [1, 2]);
        tracker.close(2);
        assert!(!tracker.touch(2, t0), "a closed session is not tracked");
        // A new leader gives every live session a whole timeout from its takeover.
        tracker.take_over([(1, 4_000), (3, 6_000)], t0 + ms(10_000));
        assert_eq!(tracker.len(), 2);
        assert_eq!(tracker.expired(t0 + ms(13_999)), Vec::<i64>::new());
        assert_eq!(tracker.expired(t0 + ms(14_000)), [1]);
    }

    #[test]
    fn timeouts_are_clamped_to_two_to_twenty_ticks() {
        let tick = Duration::from_millis(2_000);
        assert_eq!(negotiate(1_000, tick), 4_000);
        assert_eq!(negotiate(10_000, tick), 10_000);
        assert_eq!(negotiate(100_000, tick), 40_000);
    }

    #[test]
    fn session_ids_carry_the_server_and_do_not_repeat() {
        let mut ids = SessionIds::new(3, 1_700_000_000_000);
        let a = ids.next_id();
        let b = ids.next_id();
        assert_ne!(a, b);
        assert_eq!(a >> 56, 3);
        let mut later = SessionIds::new(3, 1_700_000_001_000);
        assert!(later.next_id() > b, "a restarted server draws new ids");
    }
}
