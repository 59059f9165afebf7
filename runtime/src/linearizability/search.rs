//! The search for one key's linearization: Wing & Gong's algorithm with Lowe's memoisation, as
//! Porcupine runs it, resumable so that [`super::check_with`] can give keys turns and stop when
//! its budget runs out.
//!
//! The search keeps the key's history as a doubly linked list of call and return events. It
//! tries to linearize the earliest pending call that the model accepts, removing its two events
//! from the list; on reaching a return whose call is not linearized yet, it backtracks. A cache
//! of (set of linearized operations, state) pairs already explored prunes the search: this is
//! what makes histories of thousands of operations check in milliseconds.
//!
//! A key's values grow long under appends, so each distinct value is stored once and named by a
//! number, and each (value, operation) transition is computed once: a search step then costs a
//! table lookup and the hash of a bit set, never the copy or hash of a long string.

use crate::history::{OpKind, Operation};
use rustc_hash::{FxHashMap, FxHashSet};
use std::rc::Rc;

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

/// Applies `op` to `state`; `None` if the op's observed output is impossible in `state`.
fn step(state: &str, op: &Operation) -> Option<String> {
    match op.op {
        OpKind::Get => (op.output.as_deref() == Some(state)).then(|| state.to_string()),
        OpKind::Put => Some(op.value.clone().unwrap_or_default()),
        OpKind::Append => {
            let mut next =
                String::with_capacity(state.len() + op.value.as_ref().map_or(0, String::len));
            next.push_str(state);
            next.push_str(op.value.as_deref().unwrap_or(""));
            Some(next)
        }
    }
}

/// A key's distinct values, each stored once under a number, and the transitions between them.
#[derive(Default)]
struct States {
    values: Vec<Rc<str>>,
    ids: FxHashMap<Rc<str>, u32>,
    /// (value, operation) -> the value after it, or `None` if the operation's output is
    /// impossible from that value.
    transitions: FxHashMap<(u32, u32), Option<u32>>,
}

impl States {
    fn intern(&mut self, value: String) -> u32 {
        if let Some(&id) = self.ids.get(value.as_str()) {
            return id;
        }
        let id = self.values.len() as u32;
        let value: Rc<str> = value.into();
        self.values.push(value.clone());
        self.ids.insert(value, id);
        id
    }

    /// The value after operation number `index` (`op`) from value `state`.
    fn next(&mut self, state: u32, index: usize, op: &Operation) -> Option<u32> {
        if let Some(&next) = self.transitions.get(&(state, index as u32)) {
            return next;
        }
        let next = match op.op {
            OpKind::Get => {
                (op.output.as_deref() == Some(&*self.values[state as usize])).then_some(state)
            }
            _ => step(&self.values[state as usize], op).map(|value| self.intern(value)),
        };
        self.transitions.insert((state, index as u32), next);
        next
    }
}

/// A memo entry: a set of linearized operations and a value. It hashes by the set's Zobrist
/// code (kept up to date as operations are linearized and undone) and the value's number, and
/// compares in full.
#[derive(PartialEq, Eq)]
struct Explored {
    code: u64,
    state: u32,
    set: Vec<u64>,
}

impl std::hash::Hash for Explored {
    fn hash<H: std::hash::Hasher>(&self, hasher: &mut H) {
        hasher.write_u64(self.code ^ u64::from(self.state).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    }
}

/// Operation `op`'s random-looking code (splitmix64): a set's code is the XOR of its members'.
fn zobrist(op: usize) -> u64 {
    let mut z = (op as u64)
        .wrapping_add(1)
        .wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The search for one key's linearization, resumable so that keys can take turns.
pub(super) struct KeySearch<'h> {
    ops: Vec<&'h Operation>,
    nodes: Vec<Node>,
    linearized: Vec<u64>,
    /// The Zobrist code of `linearized`.
    code: u64,
    states: States,
    cache: FxHashSet<Explored>,
    stack: Vec<(usize, u32)>,
    state: u32,
    entry: usize,
}

impl<'h> KeySearch<'h> {
    /// A search over one key's operations (with no unanswered get among them).
    pub(super) fn new(ops: Vec<&'h Operation>) -> Self {
        // Events sorted by time; at equal times calls come first (the operations overlap), and
        // an unknown return comes after everything.
        let mut events: Vec<(u64, bool, usize)> = Vec::with_capacity(ops.len() * 2);
        for (i, op) in ops.iter().enumerate() {
            events.push((op.call, true, i));
            events.push((op.ret.unwrap_or(u64::MAX), false, i));
        }
        events.sort_by_key(|&(time, is_call, op)| (time, !is_call, op));

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
        for (k, &(_, is_call, op)) in events.iter().enumerate() {
            let idx = k + 1;
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
        let mut states = States::default();
        let state = states.intern(String::new());
        KeySearch {
            linearized: vec![0u64; ops.len().div_ceil(64)],
            code: 0,
            ops,
            nodes,
            states,
            cache: FxHashSet::default(),
            stack: Vec::new(),
            state,
            entry,
        }
    }

    /// Searches for at most `steps` steps, and says how many it took: `Some(verdict)` when
    /// done, `None` to be continued. A step linearizes an operation, takes one back, or passes
    /// over a candidate the model or the cache refuses: each visits one state of the search.
    pub(super) fn run(&mut self, steps: u64) -> (Option<bool>, u64) {
        for step in 0..steps {
            let taken = step + 1;
            if self.nodes[0].next == NIL {
                return (Some(true), taken);
            }
            if self.entry == NIL {
                // Cannot happen in a well-formed list; refuse, never loop.
                return (Some(false), taken);
            }
            let node = self.nodes[self.entry];
            if node.is_call {
                if let Some(next_state) = self.states.next(self.state, node.op, self.ops[node.op]) {
                    let mut next_set = self.linearized.clone();
                    next_set[node.op / 64] |= 1 << (node.op % 64);
                    let explored = Explored {
                        code: self.code ^ zobrist(node.op),
                        state: next_state,
                        set: next_set,
                    };
                    if !self.cache.contains(&explored) {
                        let previous = std::mem::replace(&mut self.state, next_state);
                        self.stack.push((self.entry, previous));
                        self.linearized.clone_from(&explored.set);
                        self.code = explored.code;
                        self.cache.insert(explored);
                        lift(&mut self.nodes, self.entry);
                        self.entry = self.nodes[0].next;
                        if !self.viable() {
                            self.undo_last();
                        }
                        continue;
                    }
                }
                self.entry = node.next;
            } else {
                // A return whose call is not linearized: undo the last choice, try the next.
                if self.stack.is_empty() {
                    return (Some(false), taken);
                }
                self.undo_last();
            }
        }
        ((self.nodes[0].next == NIL).then_some(true), steps)
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

    /// Whether the earliest-returning get still to be linearized can still see its value.
    /// Everything placed before it either appends or is a put called before it returns, so its
    /// value must extend the current value or one of those puts' values. (Without this, every
    /// order of a burst of concurrent appends is tried before a later read refutes it.)
    fn viable(&self) -> bool {
        let mut puts: Vec<&str> = Vec::new();
        let mut at = self.nodes[0].next;
        while at != NIL {
            let node = self.nodes[at];
            let op = self.ops[node.op];
            match (node.is_call, op.op) {
                (true, OpKind::Put) => puts.push(op.value.as_deref().unwrap_or("")),
                (false, OpKind::Get) => {
                    let Some(out) = op.output.as_deref() else {
                        return true;
                    };
                    let value = &*self.states.values[self.state as usize];
                    return out.starts_with(value) || puts.iter().any(|p| out.starts_with(p));
                }
                _ => {}
            }
            at = node.next;
        }
        true
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
