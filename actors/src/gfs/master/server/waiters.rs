//! Calls waiting for their records to be committed: each waits on the log index its entry was
//! given, and is answered when that index is applied — done if the entry there is the one
//! proposed (same term), refused if another entry took the index (leadership was lost).

use std::collections::BTreeMap;
use tokio::sync::oneshot;
use troupe_messages::gfs::MasterRefusal;
use troupe_messages::raft::{Index, Term};

/// A commit's outcome.
pub type Outcome = Result<(), MasterRefusal>;

/// Why a proposal is not known to be committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotCommitted {
    /// What the caller is told.
    pub refusal: MasterRefusal,
    /// Whether it went into the log: then it may still commit (under this leader, or the
    /// next), and what must follow a commit had better be done anyway.
    pub proposed: bool,
}

/// The calls waiting, by index.
#[derive(Debug, Default)]
pub struct Waiters {
    waiting: BTreeMap<Index, (Term, oneshot::Sender<Outcome>)>,
}

impl Waiters {
    /// Waits for the entry proposed at `index` in `term`.
    pub fn wait(&mut self, index: Index, term: Term) -> oneshot::Receiver<Outcome> {
        let (tx, rx) = oneshot::channel();
        if let Some((_, earlier)) = self.waiting.insert(index, (term, tx)) {
            // Two proposals at one index: the earlier one's term ended before it committed.
            let _ = earlier.send(Err(MasterRefusal::NotLeader { leader: None }));
        }
        rx
    }

    /// The entry at `index`, of `term`, was applied: answers every call waiting up to it.
    pub fn applied(&mut self, index: Index, term: Term) {
        while let Some(entry) = self.waiting.first_entry() {
            if *entry.key() > index {
                break;
            }
            let at = *entry.key();
            let (proposed, tx) = entry.remove();
            let outcome = if at == index && proposed == term {
                Ok(())
            } else {
                Err(MasterRefusal::NotLeader { leader: None })
            };
            // The caller may have given up waiting; then nobody listens.
            let _ = tx.send(outcome);
        }
    }

    /// Refuses every call waiting up to `index` (a snapshot replaced the log up to there).
    pub fn refuse_up_to(&mut self, index: Index, refusal: MasterRefusal) {
        while let Some(entry) = self.waiting.first_entry() {
            if *entry.key() > index {
                break;
            }
            let (_, tx) = entry.remove();
            let _ = tx.send(Err(refusal.clone()));
        }
    }

    /// Refuses every call waiting (leadership was lost).
    pub fn refuse_all(&mut self, refusal: MasterRefusal) {
        for (_, (_, tx)) in std::mem::take(&mut self.waiting) {
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
    fn a_call_is_answered_when_its_entry_or_another_is_applied() {
        let mut w = Waiters::default();
        let mut a = w.wait(3, 2);
        let mut b = w.wait(5, 2);
        let mut c = w.wait(6, 2);
        w.applied(4, 2);
        assert_eq!(
            now(&mut a),
            Some(Err(MasterRefusal::NotLeader { leader: None }))
        );
        assert_eq!(now(&mut b), None);
        w.applied(5, 2);
        assert_eq!(now(&mut b), Some(Ok(())));
        w.applied(6, 3);
        assert_eq!(
            now(&mut c),
            Some(Err(MasterRefusal::NotLeader { leader: None }))
        );
    }

    #[test]
    fn refusals_reach_every_caller_concerned() {
        let mut w = Waiters::default();
        let mut a = w.wait(1, 1);
        let mut b = w.wait(9, 1);
        w.refuse_up_to(5, MasterRefusal::Unavailable);
        assert_eq!(now(&mut a), Some(Err(MasterRefusal::Unavailable)));
        assert_eq!(now(&mut b), None);
        let leader = Some(troupe_messages::NodeId(2));
        w.refuse_all(MasterRefusal::NotLeader { leader });
        assert_eq!(now(&mut b), Some(Err(MasterRefusal::NotLeader { leader })));
    }
}
