//! Reads wait for the writes before them. The serving core applies a change at once, before
//! its record is committed; a read that sees it (a file listed, a chunk located) is answered
//! only once every write applied before the read has committed — refused if one of them did
//! not, since the read may have seen a change that never happened.

use super::waiters::Outcome;
use std::collections::BTreeSet;
use tokio::sync::oneshot;
use troupe_messages::gfs::MasterRefusal;

/// The writes in flight and the reads waiting for them.
#[derive(Debug, Default)]
pub struct Fence {
    next: u64,
    pending: BTreeSet<u64>,
    /// Each read waits for the writes numbered up to its own number.
    reads: Vec<(u64, oneshot::Sender<Outcome>)>,
}

impl Fence {
    /// A write was applied to the serving core; its number, for [`Fence::end_write`].
    pub fn begin_write(&mut self) -> u64 {
        self.next += 1;
        self.pending.insert(self.next);
        self.next
    }

    /// Write `seq` committed (`ok`) or is not known to have.
    pub fn end_write(&mut self, seq: u64, ok: bool) {
        self.pending.remove(&seq);
        let oldest = self.pending.first().copied().unwrap_or(u64::MAX);
        for (upto, tx) in std::mem::take(&mut self.reads) {
            if !ok && upto >= seq {
                let _ = tx.send(Err(MasterRefusal::Unavailable));
            } else if upto < oldest {
                let _ = tx.send(Ok(()));
            } else {
                self.reads.push((upto, tx));
            }
        }
    }

    /// A read now: nothing if no write is in flight, else what to wait for.
    pub fn read(&mut self) -> Option<oneshot::Receiver<Outcome>> {
        self.pending.first()?;
        let (tx, rx) = oneshot::channel();
        self.reads.push((self.next, tx));
        Some(rx)
    }

    /// Refuses every waiting read and forgets the writes (the serving core is dropped).
    pub fn clear(&mut self, refusal: MasterRefusal) {
        self.pending.clear();
        for (_, tx) in std::mem::take(&mut self.reads) {
            let _ = tx.send(Err(refusal.clone()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now(rx: &mut oneshot::Receiver<Outcome>) -> Option<Outcome> {
        rx.try_recv().ok()
    }

    #[test]
    fn a_read_waits_for_the_writes_before_it_only() {
        let mut f = Fence::default();
        assert!(f.read().is_none(), "nothing in flight");
        let a = f.begin_write();
        let mut r1 = f.read().unwrap();
        let b = f.begin_write();
        let mut r2 = f.read().unwrap();
        f.end_write(a, true);
        assert_eq!(now(&mut r1), Some(Ok(())), "b came after it");
        assert_eq!(now(&mut r2), None);
        f.end_write(b, true);
        assert_eq!(now(&mut r2), Some(Ok(())));
        assert!(f.read().is_none());
    }

    #[test]
    fn a_read_that_may_have_seen_a_lost_write_is_refused() {
        let mut f = Fence::default();
        let a = f.begin_write();
        let b = f.begin_write();
        let mut r = f.read().unwrap();
        f.end_write(b, false);
        assert_eq!(now(&mut r), Some(Err(MasterRefusal::Unavailable)));
        let mut later = f.read().unwrap();
        let leader = Some(troupe_messages::NodeId(3));
        f.clear(MasterRefusal::NotLeader { leader });
        assert_eq!(
            now(&mut later),
            Some(Err(MasterRefusal::NotLeader { leader }))
        );
        f.end_write(a, true);
    }
}
