//! Unit tests of the checker with the key-value model: small histories with known verdicts,
//! the budget, and what a refutation says.

use super::*;
use crate::history::OpKind;

fn op(
    client: u64,
    kind: OpKind,
    value: Option<&str>,
    output: Option<&str>,
    call: u64,
    ret: Option<u64>,
) -> Operation {
    Operation {
        client,
        op: kind,
        key: "k".into(),
        value: value.map(str::to_string),
        output: output.map(str::to_string),
        call,
        ret,
    }
}

#[test]
fn sequential_and_concurrent_histories() {
    use OpKind::*;
    let ok = [
        op(1, Put, Some("a"), None, 0, Some(10)),
        op(2, Get, None, Some("a"), 20, Some(30)),
        op(1, Append, Some("b"), None, 40, Some(50)),
        op(2, Get, None, Some("ab"), 60, Some(70)),
    ];
    assert!(check(&ok).is_linearizable());
    // A read concurrent with a write may see either value.
    let overlap = [
        op(1, Put, Some("a"), None, 0, Some(100)),
        op(2, Get, None, Some(""), 10, Some(20)),
        op(3, Get, None, Some("a"), 30, Some(40)),
    ];
    assert!(check(&overlap).is_linearizable());
}

/// Rounds of ten concurrent appends, each followed by a read that shows them in the reverse
/// of their call order (the order the search tries first); `flip` makes a later read show
/// one earlier round in another order, which no linearization allows.
fn append_bursts(flip: bool) -> Vec<Operation> {
    use OpKind::*;
    let mut history = Vec::new();
    let mut seen = String::new();
    let mut first_round = String::new();
    for round in 0..20u64 {
        let t = round * 100;
        for c in 0..10u64 {
            let value = format!("{round}.{c};");
            history.push(op(c, Append, Some(&value), None, t + c, Some(t + 50)));
        }
        for c in (0..10u64).rev() {
            seen.push_str(&format!("{round}.{c};"));
        }
        if round == 0 {
            first_round = seen.clone();
        }
        let mut shown = seen.clone();
        if flip && round == 19 {
            let swapped = first_round.replacen("0.9;0.8;", "0.8;0.9;", 1);
            shown = shown.replacen(&first_round, &swapped, 1);
        }
        history.push(op(99, Get, None, Some(&shown), t + 60, Some(t + 70)));
    }
    history
}

#[test]
fn bursts_of_concurrent_appends_are_ordered_by_the_reads_that_follow() {
    assert!(check(&append_bursts(false)).is_linearizable());
    assert!(!check(&append_bursts(true)).is_linearizable());
}

#[test]
fn a_stale_read_is_caught() {
    use OpKind::*;
    let stale = [
        op(1, Put, Some("a"), None, 0, Some(10)),
        op(1, Put, Some("b"), None, 20, Some(30)),
        op(2, Get, None, Some("a"), 40, Some(50)),
    ];
    assert_eq!(
        check(&stale),
        Verdict::NotLinearizable {
            part: "k".into(),
            stuck_at: r#"get("k") -> "a""#.into()
        }
    );
    // Once seen, a newer value cannot be unseen.
    let flicker = [
        op(1, Put, Some("a"), None, 0, Some(100)),
        op(2, Get, None, Some("a"), 10, Some(20)),
        op(3, Get, None, Some(""), 30, Some(40)),
    ];
    assert!(!check(&flicker).is_linearizable());
}

#[test]
fn an_unanswered_write_may_or_may_not_have_happened() {
    use OpKind::*;
    let took_effect = [
        op(1, Append, Some("x"), None, 0, None),
        op(2, Get, None, Some("x"), 50, Some(60)),
    ];
    assert!(check(&took_effect).is_linearizable());
    let did_not = [
        op(1, Append, Some("x"), None, 0, None),
        op(2, Get, None, Some(""), 50, Some(60)),
        op(2, Get, None, Some(""), 70, Some(80)),
    ];
    assert!(check(&did_not).is_linearizable());
    // But it cannot take effect before its call.
    let too_early = [
        op(2, Get, None, Some("x"), 0, Some(10)),
        op(1, Append, Some("x"), None, 20, None),
    ];
    assert!(!check(&too_early).is_linearizable());
}

/// `n` concurrent appends of the same "x" on key `key`, then a read of `seen` x's. Every subset
/// of the appends leads to a different state, and the read's value extends each of them, so a
/// read of more x's than were appended is refuted only after all 2^n subsets are tried.
fn same_appends(key: &str, n: u64, seen: usize) -> Vec<Operation> {
    let mut history: Vec<Operation> = (0..n)
        .map(|c| op(c, OpKind::Append, Some("x"), None, c, Some(100)))
        .collect();
    history.push(op(
        99,
        OpKind::Get,
        None,
        Some(&"x".repeat(seen)),
        200,
        Some(210),
    ));
    for op in &mut history {
        op.key = key.into();
    }
    history
}

#[test]
fn a_hard_history_is_inconclusive_on_a_small_budget_and_decided_on_a_big_one() {
    let too_many = same_appends("k", 16, 17);
    let small = check_with(&too_many, Budget::states(10_000));
    assert_eq!(
        small,
        Verdict::Inconclusive {
            limit: Limit::States,
            states: 10_000,
            undecided: vec!["k".into()],
        }
    );
    assert_eq!(small.as_option(), None);
    assert!(!small.is_linearizable());
    // The same budget, the same answer: a state budget is deterministic.
    assert_eq!(check_with(&too_many, Budget::states(10_000)), small);
    let big = check_with(&too_many, Budget::states(100_000_000));
    let stuck_at = format!("get(\"k\") -> {:?}", "x".repeat(17));
    assert_eq!(
        big,
        Verdict::NotLinearizable {
            part: "k".into(),
            stuck_at
        }
    );
    assert_eq!(big.as_option(), Some(false));
    assert_eq!(check(&too_many), big, "the default budget suffices");

    // Linearizable, but only with the put after exactly 8 of the 20 appends: the search tries
    // the other subsets first.
    let mut late_put = same_appends("k", 20, 0);
    late_put.pop();
    late_put.push(op(98, OpKind::Put, Some("y"), None, 20, Some(100)));
    let read = format!("y{}", "x".repeat(12));
    late_put.push(op(99, OpKind::Get, None, Some(&read), 200, Some(210)));
    assert_eq!(
        check_with(&late_put, Budget::states(10_000)).as_option(),
        None
    );
    assert_eq!(check(&late_put), Verdict::Linearizable);
    assert_eq!(check(&late_put).as_option(), Some(true));
}

#[test]
fn a_time_budget_runs_out_too() {
    let budget = Budget {
        max_states: None,
        max_time: Some(std::time::Duration::ZERO),
    };
    match check_with(&same_appends("k", 16, 17), budget) {
        Verdict::Inconclusive {
            limit: Limit::Time,
            states,
            undecided,
        } => {
            assert!(states > 0);
            assert_eq!(undecided, ["k"]);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_refutation_on_one_key_stands_while_another_is_undecided() {
    use OpKind::*;
    let mut history = same_appends("hard", 20, 21);
    let mut stale = vec![
        op(1, Put, Some("a"), None, 0, Some(10)),
        op(1, Put, Some("b"), None, 20, Some(30)),
        op(2, Get, None, Some("a"), 40, Some(50)),
    ];
    for op in &mut stale {
        op.key = "easy".into();
    }
    history.extend(stale);
    assert_eq!(
        check_with(&history, Budget::states(100_000)),
        Verdict::NotLinearizable {
            part: "easy".into(),
            stuck_at: r#"get("easy") -> "a""#.into()
        }
    );
    // Without the refutable key, the same budget decides nothing.
    history.retain(|op| op.key == "hard");
    assert_eq!(
        check_with(&history, Budget::states(100_000)).as_option(),
        None
    );
}
