//! Property tests of the key-value model: the search agrees with the brute force of `brute.rs`
//! on small random histories (up to seven operations over one or two keys, with overlapping intervals and
//! unanswered operations), and a budget only ever withholds an answer, never changes it.
//!
//! The generator makes a linearizable history by giving every operation an instant in its
//! interval and replaying them; most of the time it then makes one get lie, with a value some key
//! held at some point, which may or may not still be explainable by another order. A separate
//! deterministic test checks that both verdicts are common, so the property cannot hold
//! vacuously.

use super::{brute, check, check_with, Budget, Kv, KvEntry};
use crate::history::{OpKind, Operation};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use std::collections::{BTreeMap, BTreeSet};

/// One operation to generate.
#[derive(Debug, Clone)]
struct Spec {
    kind: OpKind,
    key: u8,
    value: &'static str,
    call: u64,
    /// How long until it returns; `None`: it never does.
    len: Option<u64>,
    /// Where in its interval it takes effect, in hundredths.
    point: u64,
    /// Whether an unanswered operation takes effect.
    happens: bool,
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        prop_oneof![Just(OpKind::Get), Just(OpKind::Put), Just(OpKind::Append)],
        0..2u8,
        prop_oneof![Just("a"), Just("b"), Just("c")],
        0..20u64,
        prop_oneof![3 => (0..10u64).prop_map(Some), 1 => Just(None)],
        0..=100u64,
        proptest::bool::weighted(0.7),
    )
        .prop_map(|(kind, key, value, call, len, point, happens)| Spec {
            kind,
            key,
            value,
            call,
            len,
            point,
            happens,
        })
}

/// Histories of one to seven operations over one or two keys.
fn histories() -> impl Strategy<Value = Vec<Operation>> {
    (
        1..=2u8,
        proptest::collection::vec(spec(), 1..=7),
        proptest::option::weighted(0.8, (any::<usize>(), any::<usize>())),
    )
        .prop_map(|(keys, specs, lie)| build(keys, &specs, lie))
}

/// The history of `specs`: each get answers what a replay at the operations' instants gives,
/// except that `lie` = (which get, which value) makes one answered get show another value some
/// key held.
fn build(keys: u8, specs: &[Spec], lie: Option<(usize, usize)>) -> Vec<Operation> {
    let mut ops: Vec<Operation> = specs
        .iter()
        .zip(0u64..)
        .map(|(s, client)| Operation {
            client,
            op: s.kind,
            key: format!("k{}", s.key % keys),
            value: (s.kind != OpKind::Get).then(|| s.value.to_string()),
            output: None,
            call: s.call,
            ret: s.len.map(|len| s.call + len),
        })
        .collect();
    // Instants in hundredths; an unanswered operation that happens does so within 10 of its
    // call, possibly after everything else. Ties go by index: both intervals hold the instant.
    let mut instants: Vec<(u64, usize)> = specs
        .iter()
        .enumerate()
        .filter_map(|(i, s)| {
            let span = match s.len {
                Some(len) => len,
                None if s.happens => 10,
                None => return None,
            };
            Some((s.call * 100 + s.point * span, i))
        })
        .collect();
    instants.sort_unstable();
    let mut kv: BTreeMap<String, String> = BTreeMap::new();
    let mut held = BTreeSet::from([String::new()]);
    for (_, i) in instants {
        let op = &mut ops[i];
        let value = kv.entry(op.key.clone()).or_default();
        match op.op {
            OpKind::Get if op.ret.is_some() => op.output = Some(value.clone()),
            OpKind::Get => {}
            OpKind::Put => *value = op.value.clone().unwrap_or_default(),
            OpKind::Append => value.push_str(op.value.as_deref().unwrap_or("")),
        }
        held.insert(value.clone());
    }
    if let Some((which, choice)) = lie {
        let gets: Vec<usize> = (0..ops.len())
            .filter(|&i| ops[i].op == OpKind::Get && ops[i].ret.is_some())
            .collect();
        if !gets.is_empty() {
            let liar = &mut ops[gets[which % gets.len()]];
            let other: Vec<String> = held
                .into_iter()
                .filter(|v| Some(v) != liar.output.as_ref())
                .collect();
            if !other.is_empty() {
                liar.output = Some(other[choice % other.len()].clone());
            }
        }
    }
    ops
}

/// The brute force's verdict on a key-value history.
fn brute_kv(history: &[Operation]) -> bool {
    let entries: Vec<KvEntry<'_>> = history.iter().map(KvEntry::from).collect();
    brute::linearizable(&Kv::new(), &entries)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 10_000, ..ProptestConfig::default() })]

    /// The search and the brute force agree; with a small state budget the search either
    /// agrees too or says it does not know.
    #[test]
    fn the_search_agrees_with_brute_force(history in histories(), states in 0..40u64) {
        let expected = brute_kv(&history);
        prop_assert_eq!(check(&history).as_option(), Some(expected));
        let budgeted = check_with(&history, Budget::states(states)).as_option();
        prop_assert!(budgeted.is_none() || budgeted == Some(expected), "{:?} with {} states", budgeted, states);
    }
}

#[test]
fn the_generator_makes_both_verdicts_and_unanswered_writes_that_matter() {
    let mut runner = TestRunner::deterministic();
    let (mut yes, mut no, mut saved_by_unanswered, mut two_keys) = (0, 0, 0, 0);
    for _ in 0..500 {
        let history = histories()
            .new_tree(&mut runner)
            .expect("the strategy always generates")
            .current();
        if brute_kv(&history) {
            yes += 1;
            // Linearizable only because some unanswered write took effect.
            let mut answered = history.clone();
            answered.retain(|op| op.ret.is_some());
            saved_by_unanswered += usize::from(!brute_kv(&answered));
        } else {
            no += 1;
        }
        let keys: BTreeSet<&str> = history.iter().map(|op| op.key.as_str()).collect();
        two_keys += usize::from(keys.len() == 2);
    }
    assert!(yes >= 150 && no >= 100, "{yes} linearizable, {no} not");
    assert!(
        saved_by_unanswered >= 15,
        "only {saved_by_unanswered} histories need an unanswered write"
    );
    assert!(two_keys >= 100, "only {two_keys} histories use two keys");
}
