//! Why a history is not linearizable, in terms a person can act on (Porcupine's users ask for
//! both, porcupine#4 and #21):
//!
//! - **the conflict**: a small set of the failing part's operations that no order explains.
//!   It is shrunk one operation at a time: an operation is dropped whenever the rest still
//!   cannot be linearized (and, when the failure is about real time, the rest's answers can
//!   still be explained by some order that ignores time). Once shrinking finishes, no single
//!   operation can be dropped.
//! - **the longest linearizable prefix**: how many of the part's operations, in call order,
//!   can be linearized together. The next one is where the history first goes wrong.
//!
//! Both are found by checking sub-histories again, so they cost more than the verdict. The
//! shrinking stops at a deadline and then says that its set may not be minimal.

use super::{check_model, Budget, Model, Verdict};
use crate::history::Entry;
use std::time::{Duration, Instant};

/// How long shrinking the conflict may take by default.
pub const DEFAULT_SHRINK_TIME: Duration = Duration::from_secs(10);

/// Why a history is not linearizable (see the module's documentation).
#[derive(Debug)]
pub struct Explanation<'h, I, O> {
    /// The part that cannot be linearized (for a key-value history, its key).
    pub part: String,
    /// The part's operations, in call order.
    pub ops: Vec<&'h Entry<I, O>>,
    /// How many of `ops`, from the first, can be linearized together.
    pub prefix: usize,
    /// Operations of the part that no order explains, in call order.
    pub conflict: Vec<&'h Entry<I, O>>,
    /// Whether shrinking finished: then no single operation of `conflict` can be dropped.
    pub minimal: bool,
}

/// Explains why `history` is not linearizable under `model`; `None` if it is, or if `budget`
/// ran out before a verdict. Each sub-history is checked within `budget`; shrinking the
/// conflict stops after `shrink_time`.
pub fn explain<'h, M>(
    model: &M,
    history: &'h [Entry<M::Input, M::Output>],
    budget: Budget,
    shrink_time: Duration,
) -> Option<Explanation<'h, M::Input, M::Output>>
where
    M: Model,
    Entry<M::Input, M::Output>: Clone,
{
    let Verdict::NotLinearizable { part, .. } = check_model(model, history, budget) else {
        return None;
    };
    let indices = model
        .partition(history)
        .into_iter()
        .find(|p| p.name == part.as_str())?
        .ops;
    let mut ops: Vec<&Entry<M::Input, M::Output>> =
        indices.iter().filter_map(|&i| history.get(i)).collect();
    ops.sort_by_key(|op| (op.call, op.ret.unwrap_or(u64::MAX)));
    let fails = |subset: &[&Entry<M::Input, M::Output>]| {
        let owned: Vec<Entry<M::Input, M::Output>> = subset.iter().map(|&op| op.clone()).collect();
        matches!(
            check_model(model, &owned, budget),
            Verdict::NotLinearizable { .. }
        )
    };
    // The longest linearizable prefix: adding operations never makes a failing history pass,
    // so a binary search finds it.
    let (mut good, mut bad) = (0, ops.len());
    while bad - good > 1 {
        let mid = good + (bad - good) / 2;
        if fails(&ops[..mid]) {
            bad = mid;
        } else {
            good = mid;
        }
    }
    let prefix = good;
    // Shrink from the first failing prefix. When some order of its operations explains every
    // answer once their times are ignored, the failure is about real time (a read that missed
    // a write that had finished, say), and shrinking keeps it so: it never drops a write that
    // a remaining read shows, which would leave a read of a value nobody wrote. Otherwise the
    // answers contradict each other whatever the order, and any smaller failing set will do.
    let ordered = |subset: &[&Entry<M::Input, M::Output>]| {
        let untimed: Vec<Entry<M::Input, M::Output>> = subset
            .iter()
            .map(|&op| {
                let mut op = op.clone();
                op.call = 0;
                op.ret = op.ret.map(|_| 1);
                op
            })
            .collect();
        check_model(model, &untimed, budget).is_linearizable()
    };
    let mut conflict: Vec<&Entry<M::Input, M::Output>> = ops[..bad].to_vec();
    let about_time = ordered(&conflict);
    let keeps_failing =
        |subset: &[&Entry<M::Input, M::Output>]| fails(subset) && (!about_time || ordered(subset));
    let deadline = Instant::now() + shrink_time;
    let mut minimal = false;
    // Passes until one removes nothing: then no single operation can go.
    'passes: loop {
        let mut removed = false;
        let mut i = conflict.len();
        while i > 0 {
            i -= 1;
            if Instant::now() >= deadline {
                break 'passes;
            }
            let mut without = conflict.clone();
            without.remove(i);
            if keeps_failing(&without) {
                conflict = without;
                removed = true;
            }
        }
        if !removed {
            minimal = true;
            break;
        }
    }
    Some(Explanation {
        part,
        ops,
        prefix,
        conflict,
        minimal,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{OpKind, Operation};
    use crate::linearizability::{Kv, KvEntry};

    fn op(
        client: u64,
        kind: OpKind,
        value: &str,
        output: Option<&str>,
        call: u64,
        ret: u64,
    ) -> Operation {
        Operation {
            client,
            op: kind,
            key: "k".into(),
            value: (kind != OpKind::Get).then(|| value.to_string()),
            output: output.map(str::to_string),
            call,
            ret: Some(ret),
        }
    }

    #[test]
    fn a_stale_read_is_explained_by_the_write_it_missed_and_itself() {
        let history = [
            op(1, OpKind::Put, "a", None, 0, 10),
            op(2, OpKind::Get, "", Some("a"), 20, 30),
            op(3, OpKind::Put, "b", None, 40, 50),
            op(1, OpKind::Get, "", Some("b"), 60, 70),
            op(2, OpKind::Get, "", Some("a"), 80, 90), // stale: b was put before it began
            op(3, OpKind::Get, "", Some("b"), 100, 110),
        ];
        let entries: Vec<KvEntry<'_>> = history.iter().map(KvEntry::from).collect();
        let why = explain(&Kv::new(), &entries, Budget::default(), DEFAULT_SHRINK_TIME)
            .expect("not linearizable");
        assert_eq!(why.part, "k");
        assert_eq!(why.prefix, 4, "the first four operations are fine");
        assert!(why.minimal);
        let calls: Vec<u64> = why.conflict.iter().map(|e| e.call).collect();
        // Both writes stay: without the put of a, the read of a would be a read of a value
        // nobody wrote, which says nothing about time.
        assert_eq!(
            calls,
            vec![0, 40, 80],
            "put a, put b, then the stale read of a"
        );
        let rest: Vec<KvEntry<'_>> = why.conflict.iter().map(|&e| e.clone()).collect();
        assert!(!check_model(&Kv::new(), &rest, Budget::default()).is_linearizable());
    }

    #[test]
    fn a_linearizable_history_has_nothing_to_explain() {
        let history = [
            op(1, OpKind::Put, "a", None, 0, 10),
            op(2, OpKind::Get, "", Some("a"), 20, 30),
        ];
        let entries: Vec<KvEntry<'_>> = history.iter().map(KvEntry::from).collect();
        assert!(explain(&Kv::new(), &entries, Budget::default(), DEFAULT_SHRINK_TIME).is_none());
    }
}
