//! A brute-force linearizability checker: the reference the search is tested against
//! (`props.rs`). It shares nothing with the search but the history type: no per-key split, no
//! event list, no cache, no prune. It tries every set of unknown-outcome writes that took
//! effect and every order of the chosen operations that respects real time, replaying a plain
//! key-value map. Exponential, so test-only and for histories of a few operations.

use crate::history::{OpKind, Operation};
use std::collections::BTreeMap;

/// Whether some subset of the unanswered writes and some real-time order of the operations
/// explain every answered get. An unanswered get constrains nothing and is left out.
pub(super) fn linearizable(history: &[Operation]) -> bool {
    let (answered, unanswered): (Vec<&Operation>, Vec<&Operation>) = history
        .iter()
        .filter(|op| !(op.op == OpKind::Get && op.ret.is_none()))
        .partition(|op| op.ret.is_some());
    assert!(unanswered.len() < 16, "brute force is for tiny histories");
    (0..1u32 << unanswered.len()).any(|took_effect| {
        let chosen: Vec<&Operation> = answered
            .iter()
            .copied()
            .chain(
                unanswered
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| took_effect & (1 << i) != 0)
                    .map(|(_, op)| *op),
            )
            .collect();
        let mut placed = vec![false; chosen.len()];
        some_order(&chosen, &mut placed, &mut BTreeMap::new())
    })
}

/// `a` returned before `b` was called, so `a` takes effect first in every linearization.
fn precedes(a: &Operation, b: &Operation) -> bool {
    a.ret.is_some_and(|ret| ret < b.call)
}

/// Depth first over the orders of `ops`: places, one at a time, an operation no unplaced
/// operation precedes, and succeeds once all are placed with every get seeing the map's value.
fn some_order(ops: &[&Operation], placed: &mut [bool], kv: &mut BTreeMap<String, String>) -> bool {
    if placed.iter().all(|&p| p) {
        return true;
    }
    for i in 0..ops.len() {
        let op = ops[i];
        let blocked = (0..ops.len()).any(|j| !placed[j] && j != i && precedes(ops[j], op));
        if placed[i] || blocked {
            continue;
        }
        let before = kv.get(&op.key).cloned().unwrap_or_default();
        let after = match op.op {
            OpKind::Get if op.output.as_deref() == Some(before.as_str()) => before.clone(),
            OpKind::Get => continue,
            OpKind::Put => op.value.clone().unwrap_or_default(),
            OpKind::Append => format!("{before}{}", op.value.as_deref().unwrap_or("")),
        };
        kv.insert(op.key.clone(), after);
        placed[i] = true;
        if some_order(ops, placed, kv) {
            return true;
        }
        placed[i] = false;
        kv.insert(op.key.clone(), before);
    }
    false
}
