//! The search for one part's linearization: Wing & Gong's algorithm with Lowe's memoisation, as
//! Porcupine runs it, generic over the [`Model`] and resumable so that
//! [`super::check_model`] can give parts turns and stop when its budget runs out.
//!
//! The search keeps the part's history as a doubly linked list of call and return events. It
//! tries to linearize the earliest pending call that the model accepts, removing its two events
//! from the list; on reaching a return whose call is not linearized yet, it backtracks. A cache
//! of (set of linearized operations, state) pairs already explored prunes the search: this is
//! what makes histories of thousands of operations check in milliseconds. After each operation
//! it linearizes, the search asks the model whether the rest can still succeed
//! ([`Model::viable`], the key-value model's prune) and takes the operation back if not.
//!
//! An operation that never returned has its return after every other event; reaching it means
//! every answered operation is placed, and the unanswered rest may never have taken effect:
//! success.
//!
//! States can be large (a key's value grows long under appends), so each distinct state is
//! stored once and named by a number, and each (state, operation) step is computed once: a
//! search step then costs a table lookup and the hash of a bit set, never the copy or hash of a
//! state.

use super::memo::{zobrist, Explored, States};
use super::model::{Model, Pending};
use crate::history::Entry;
use std::borrow::Cow;

/// One event of the linked list: the call or the return of operation `op`.
#[derive(Clone, Copy)]
struct Node {
    op: usize,
    is_call: bool,
    /// For a call, the index of its return node.
    partner: usize,
    prev: usize,
    next: usize,
}

const NIL: usize = usize::MAX;

/// How a search ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Outcome {
    /// The part has a linearization.
    Linearizable,
    /// It has none. `stuck_at` is the operation the longest partial linearization found could
    /// not get past: the first to return among those it had not placed (an index into the
    /// search's operations).
    Refuted { stuck_at: usize },
}

/// The search for one part's linearization, resumable so that parts can take turns.
pub(super) struct PartSearch<'h, M: Model> {
    model: &'h M,
    ops: Vec<&'h Entry<M::Input, M::Output>>,
    nodes: Vec<Node>,
    linearized: Vec<u64>,
    /// The Zobrist code of `linearized`.
    code: u64,
    states: States<M::State>,
    explored: Explored,
    stack: Vec<(usize, u32)>,
    state: u32,
    entry: usize,
    /// The longest partial linearization that backtracked, and the operation it stopped at.
    deepest: Option<(usize, usize)>,
}

impl<'h, M: Model> PartSearch<'h, M> {
    /// A search over one part's operations.
    pub(super) fn new(model: &'h M, ops: Vec<&'h Entry<M::Input, M::Output>>) -> Self {
        // Events sorted by time; at equal times calls come first (the operations overlap), and
        // an unknown return comes after everything.
        let mut events: Vec<(u64, u8, usize)> = Vec::with_capacity(ops.len() * 2);
        for (i, op) in ops.iter().enumerate() {
            events.push((op.call, 0, i));
            events.push(match op.ret {
                Some(ret) => (ret, 1, i),
                None => (u64::MAX, 2, i),
            });
        }
        events.sort_unstable();

        // nodes[0] is the head sentinel; events follow in order.
        let mut nodes = Vec::with_capacity(events.len() + 1);
        nodes.push(Node {
            op: NIL,
            is_call: false,
            partner: NIL,
            prev: NIL,
            next: NIL,
        });
        let mut return_of = vec![NIL; ops.len()];
        for (k, &(_, kind, op)) in events.iter().enumerate() {
            let idx = k + 1;
            let is_call = kind == 0;
            nodes.push(Node {
                op,
                is_call,
                partner: NIL,
                prev: idx - 1,
                next: NIL,
            });
            nodes[idx - 1].next = idx;
            if !is_call {
                return_of[op] = idx;
            }
        }
        for node in nodes.iter_mut().skip(1) {
            if node.is_call {
                node.partner = return_of[node.op];
            }
        }
        let entry = nodes[0].next;
        let mut states = States::new();
        let state = states.intern(model.init());
        PartSearch {
            model,
            linearized: vec![0u64; ops.len().div_ceil(64)],
            code: 0,
            ops,
            nodes,
            states,
            explored: Explored::default(),
            stack: Vec::new(),
            state,
            entry,
            deepest: None,
        }
    }

    /// Operation `index` of this part.
    pub(super) fn op(&self, index: usize) -> &'h Entry<M::Input, M::Output> {
        self.ops[index]
    }

    /// Searches for at most `steps` steps, and says how many it took: `Some(outcome)` when
    /// done, `None` to be continued. A step linearizes an operation, takes one back, or passes
    /// over a candidate the model or the cache refuses: each visits one state of the search.
    pub(super) fn run(&mut self, steps: u64) -> (Option<Outcome>, u64) {
        for step in 0..steps {
            let taken = step + 1;
            if self.nodes[0].next == NIL {
                return (Some(Outcome::Linearizable), taken);
            }
            if self.entry == NIL {
                // Cannot happen in a well-formed list; refuse, never loop.
                let stuck_at = self.deepest.map_or(0, |(_, op)| op);
                return (Some(Outcome::Refuted { stuck_at }), taken);
            }
            let node = self.nodes[self.entry];
            if node.is_call {
                if let Some(next_state) = self.next_state(node.op) {
                    let code = self.code ^ zobrist(node.op);
                    if self
                        .explored
                        .insert(&self.linearized, node.op, code, next_state)
                    {
                        let previous = std::mem::replace(&mut self.state, next_state);
                        self.stack.push((self.entry, previous));
                        self.linearized[node.op / 64] |= 1 << (node.op % 64);
                        self.code = code;
                        lift(&mut self.nodes, self.entry);
                        self.entry = self.nodes[0].next;
                        if !self.viable() {
                            self.note_depth(None);
                            self.undo_last();
                        }
                        continue;
                    }
                }
                self.entry = node.next;
            } else if self.ops[node.op].ret.is_none() {
                // Every answered operation is placed; the rest may never have happened.
                return (Some(Outcome::Linearizable), taken);
            } else {
                // A return whose call is not linearized: undo the last choice, try the next.
                self.note_depth(Some(node.op));
                if self.stack.is_empty() {
                    let stuck_at = self.deepest.map_or(node.op, |(_, op)| op);
                    return (Some(Outcome::Refuted { stuck_at }), taken);
                }
                self.undo_last();
            }
        }
        let done = self.nodes[0].next == NIL;
        (done.then_some(Outcome::Linearizable), steps)
    }

    /// Notes the partial linearization on the stack, about to be taken back, if it is the
    /// longest yet, with the first operation to return that it has not placed: `blocked`, or
    /// the first found in the list. (Only on a new record, so the list is seldom walked.)
    fn note_depth(&mut self, blocked: Option<usize>) {
        if self
            .deepest
            .is_some_and(|(depth, _)| depth >= self.stack.len())
        {
            return;
        }
        let blocked = blocked.or_else(|| {
            let mut at = self.nodes[0].next;
            while let Some(node) = self.nodes.get(at) {
                if !node.is_call {
                    return Some(node.op);
                }
                at = node.next;
            }
            None
        });
        if let Some(op) = blocked {
            self.deepest = Some((self.stack.len(), op));
        }
    }

    /// The state after operation `index` from the current state, if the model accepts it.
    fn next_state(&mut self, index: usize) -> Option<u32> {
        let key = (self.state, index as u32);
        if let Some(&next) = self.states.transitions.get(&key) {
            return next;
        }
        let op = self.ops[index];
        let current = self.states.get(self.state);
        let next = match self.model.step(current, &op.input, op.answer()) {
            None => None,
            Some(Cow::Borrowed(_)) => Some(self.state),
            Some(Cow::Owned(next)) => Some(self.states.intern(next)),
        };
        self.states.transitions.insert(key, next);
        next
    }

    /// Takes back the last operation linearized; the search goes on with the next candidate.
    fn undo_last(&mut self) {
        let Some((call, previous)) = self.stack.pop() else {
            return;
        };
        self.state = previous;
        let op = self.nodes[call].op;
        self.linearized[op / 64] &= !(1 << (op % 64));
        self.code ^= zobrist(op);
        unlift(&mut self.nodes, call);
        self.entry = self.nodes[call].next;
    }

    /// The model's word on whether the pending events can still be linearized from here.
    fn viable(&self) -> bool {
        let pending = PendingEvents {
            nodes: &self.nodes,
            ops: &self.ops,
            at: self.nodes[0].next,
        };
        self.model.viable(self.states.get(self.state), pending)
    }
}

/// The events a search has still to linearize, in the order they happened: what
/// [`Model::viable`] looks at.
pub struct PendingEvents<'a, I, O> {
    nodes: &'a [Node],
    ops: &'a [&'a Entry<I, O>],
    at: usize,
}

impl<I, O> Clone for PendingEvents<'_, I, O> {
    fn clone(&self) -> Self {
        PendingEvents { ..*self }
    }
}

impl<'a, I, O> Iterator for PendingEvents<'a, I, O> {
    type Item = Pending<'a, I, O>;

    fn next(&mut self) -> Option<Self::Item> {
        let node = *self.nodes.get(self.at)?;
        self.at = node.next;
        let op = self.ops[node.op];
        Some(if node.is_call {
            Pending::Call(&op.input)
        } else {
            Pending::Return(&op.input, op.answer())
        })
    }
}

/// Removes a call and its return from the list (they stay linked to their old neighbours).
fn lift(nodes: &mut [Node], call: usize) {
    let ret = nodes[call].partner;
    for idx in [call, ret] {
        let Node { prev, next, .. } = nodes[idx];
        nodes[prev].next = next;
        if next != NIL {
            nodes[next].prev = prev;
        }
    }
}

/// Puts back a call and its return lifted by [`lift`], in the reverse order.
fn unlift(nodes: &mut [Node], call: usize) {
    let ret = nodes[call].partner;
    for idx in [ret, call] {
        let Node { prev, next, .. } = nodes[idx];
        nodes[prev].next = idx;
        if next != NIL {
            nodes[next].prev = idx;
        }
    }
}
