//! A brute-force linearizability checker, generic over the [`Model`]: the reference the search
//! is tested against (`props.rs`, `props_register.rs`). It shares nothing with the search but
//! the model: no event list, no cache, no prune, and the parts are not checked one by one. It
//! tries every set of unknown-outcome operations that took effect and every order of the whole
//! history's chosen operations that respects real time, stepping each operation on its part's
//! state. Exponential, so test-only and for histories of a few operations.

use super::model::Model;
use crate::history::Entry;

/// One operation to place, and the index of its part.
struct Placed<'h, M: Model> {
    op: &'h Entry<M::Input, M::Output>,
    part: usize,
}

/// Whether some subset of the unanswered operations and some real-time order of the operations
/// is accepted by the model. Operations the model's partition leaves out are left out.
pub(super) fn linearizable<M: Model>(model: &M, history: &[Entry<M::Input, M::Output>]) -> bool {
    let parts = model.partition(history);
    let mut all: Vec<Placed<'_, M>> = Vec::new();
    for (part, p) in parts.iter().enumerate() {
        all.extend(p.ops.iter().map(|&i| Placed {
            op: &history[i],
            part,
        }));
    }
    let (answered, unanswered): (Vec<&Placed<'_, M>>, Vec<&Placed<'_, M>>) =
        all.iter().partition(|p| p.op.ret.is_some());
    assert!(unanswered.len() < 16, "brute force is for tiny histories");
    (0..1u32 << unanswered.len()).any(|took_effect| {
        let chosen: Vec<&Placed<'_, M>> = answered
            .iter()
            .copied()
            .chain(
                unanswered
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| took_effect & (1 << i) != 0)
                    .map(|(_, p)| *p),
            )
            .collect();
        let mut placed = vec![false; chosen.len()];
        let mut states = vec![model.init(); parts.len()];
        some_order(model, &chosen, &mut placed, &mut states)
    })
}

/// `a` returned before `b` was called, so `a` takes effect first in every linearization.
fn precedes<I, O>(a: &Entry<I, O>, b: &Entry<I, O>) -> bool {
    a.ret.is_some_and(|ret| ret < b.call)
}

/// Depth first over the orders of `ops`: places, one at a time, an operation no unplaced
/// operation precedes, and succeeds once all are placed with the model accepting each.
fn some_order<M: Model>(
    model: &M,
    ops: &[&Placed<'_, M>],
    placed: &mut [bool],
    states: &mut [M::State],
) -> bool {
    if placed.iter().all(|&p| p) {
        return true;
    }
    for i in 0..ops.len() {
        let Placed { op, part } = *ops[i];
        let blocked = (0..ops.len()).any(|j| !placed[j] && j != i && precedes(ops[j].op, op));
        if placed[i] || blocked {
            continue;
        }
        let before = states[part].clone();
        let Some(after) = model.step(&before, &op.input, op.answer()) else {
            continue;
        };
        states[part] = after.into_owned();
        placed[i] = true;
        if some_order(model, ops, placed, states) {
            return true;
        }
        placed[i] = false;
        states[part] = before;
    }
    false
}
