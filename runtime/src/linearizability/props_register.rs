//! Property tests of the register model: the search agrees with the brute force of `brute.rs`
//! on small random histories of reads, writes and compare-and-sets (up to seven operations over
//! one or two registers, with overlapping intervals and unanswered operations), and a budget
//! only ever withholds an answer, never changes it.
//!
//! As for the key-value model (`props.rs`), the generator replays operations at instants within
//! their intervals to make a linearizable history, then most of the time makes one answer lie:
//! a read shows another value some register held, or a compare-and-set says the opposite.

use super::register::{RegisterEntry, RegisterInput, RegisterOutput};
use super::{brute, check_model, Budget, Register};
use crate::history::Entry;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use std::collections::{BTreeMap, BTreeSet};

/// What an operation does.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Read,
    Write,
    Cas(Option<&'static str>),
}

/// One operation to generate.
#[derive(Debug, Clone)]
struct Spec {
    kind: Kind,
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

fn value() -> impl Strategy<Value = &'static str> {
    prop_oneof![Just("a"), Just("b"), Just("c")]
}

fn spec() -> impl Strategy<Value = Spec> {
    let kind = prop_oneof![
        Just(Kind::Read),
        Just(Kind::Write),
        proptest::option::of(value()).prop_map(Kind::Cas),
    ];
    (
        kind,
        0..2u8,
        value(),
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

/// Histories of one to seven operations over one or two registers.
fn histories() -> impl Strategy<Value = Vec<RegisterEntry>> {
    (
        1..=2u8,
        proptest::collection::vec(spec(), 1..=7),
        proptest::option::weighted(0.8, (any::<usize>(), any::<usize>())),
    )
        .prop_map(|(keys, specs, lie)| build(keys, &specs, lie))
}

/// The history of `specs`, each answer what a replay at the operations' instants gives, except
/// that `lie` = (which answer, which value) makes one read or compare-and-set lie.
fn build(keys: u8, specs: &[Spec], lie: Option<(usize, usize)>) -> Vec<RegisterEntry> {
    let mut ops: Vec<RegisterEntry> = specs
        .iter()
        .zip(0u64..)
        .map(|(s, client)| {
            let key = format!("r{}", s.key % keys);
            let value = s.value.to_string();
            let input = match s.kind {
                Kind::Read => RegisterInput::Read { key },
                Kind::Write => RegisterInput::Write { key, value },
                Kind::Cas(expect) => RegisterInput::Cas {
                    key,
                    expect: expect.map(str::to_string),
                    value,
                },
            };
            Entry {
                client,
                input,
                output: None,
                call: s.call,
                ret: s.len.map(|len| s.call + len),
            }
        })
        .collect();
    // Instants in hundredths, as in `props.rs`.
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
    let mut registers: BTreeMap<String, Option<String>> = BTreeMap::new();
    let mut held = BTreeSet::from([None]);
    for (_, i) in instants {
        let op = &mut ops[i];
        let answered = op.ret.is_some();
        let (key, output) = match &op.input {
            RegisterInput::Read { key } => {
                let now = registers.get(key).cloned().flatten();
                (key, now.map(RegisterOutput::Value))
            }
            RegisterInput::Write { key, value } => {
                registers.insert(key.clone(), Some(value.clone()));
                (key, None)
            }
            RegisterInput::Cas { key, expect, value } => {
                let now = registers.entry(key.clone()).or_default();
                let swaps = now == expect;
                if swaps {
                    *now = Some(value.clone());
                }
                (key, Some(RegisterOutput::Swapped(swaps)))
            }
        };
        held.insert(registers.get(key).cloned().flatten());
        if answered {
            op.output = output;
        }
    }
    if let Some((which, choice)) = lie {
        let liars: Vec<usize> = (0..ops.len())
            .filter(|&i| {
                ops[i].ret.is_some() && !matches!(ops[i].input, RegisterInput::Write { .. })
            })
            .collect();
        if !liars.is_empty() {
            let liar = &mut ops[liars[which % liars.len()]];
            liar.output = match liar.output.take() {
                Some(RegisterOutput::Swapped(swapped)) => Some(RegisterOutput::Swapped(!swapped)),
                seen => {
                    let seen = seen.map(|o| match o {
                        RegisterOutput::Value(v) => v,
                        RegisterOutput::Swapped(_) => unreachable!("a read saw a value"),
                    });
                    let other: Vec<&Option<String>> = held.iter().filter(|v| **v != seen).collect();
                    if other.is_empty() {
                        seen.map(RegisterOutput::Value)
                    } else {
                        other[choice % other.len()]
                            .clone()
                            .map(RegisterOutput::Value)
                    }
                }
            };
        }
    }
    ops
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 5_000, ..ProptestConfig::default() })]

    /// The search and the brute force agree; with a small state budget the search either
    /// agrees too or says it does not know.
    #[test]
    fn the_search_agrees_with_brute_force(history in histories(), states in 0..40u64) {
        let expected = brute::linearizable(&Register, &history);
        prop_assert_eq!(check_model(&Register, &history, Budget::default()).as_option(), Some(expected));
        let budgeted = check_model(&Register, &history, Budget::states(states)).as_option();
        prop_assert!(budgeted.is_none() || budgeted == Some(expected), "{:?} with {} states", budgeted, states);
    }
}

#[test]
fn the_generator_makes_both_verdicts_swaps_and_unanswered_operations_that_matter() {
    let mut runner = TestRunner::deterministic();
    let (mut yes, mut no, mut saved_by_unanswered, mut swaps) = (0, 0, 0, 0);
    for _ in 0..500 {
        let history = histories()
            .new_tree(&mut runner)
            .expect("the strategy always generates")
            .current();
        if brute::linearizable(&Register, &history) {
            yes += 1;
            let mut answered = history.clone();
            answered.retain(|op| op.ret.is_some());
            saved_by_unanswered += usize::from(!brute::linearizable(&Register, &answered));
        } else {
            no += 1;
        }
        swaps += usize::from(
            history
                .iter()
                .any(|op| op.output == Some(RegisterOutput::Swapped(true))),
        );
    }
    assert!(yes >= 150 && no >= 100, "{yes} linearizable, {no} not");
    assert!(
        saved_by_unanswered >= 15,
        "only {saved_by_unanswered} histories need an unanswered operation"
    );
    assert!(
        swaps >= 100,
        "only {swaps} histories have a successful swap"
    );
}
