//! Unit tests of the register model: histories it must accept and refuse, unknown outcomes,
//! what a refutation says, and its history lines.

use super::register::{RegisterEntry, RegisterInput, RegisterOutput};
use super::{check_model, Budget, Model, Register, Verdict};
use crate::history::{self, Entry};
use crate::Error;

fn read(client: u64, seen: Option<&str>, call: u64, ret: Option<u64>) -> RegisterEntry {
    Entry {
        client,
        input: RegisterInput::Read { key: "r".into() },
        output: seen.map(|v| RegisterOutput::Value(v.into())),
        call,
        ret,
    }
}

fn write(client: u64, value: &str, call: u64, ret: Option<u64>) -> RegisterEntry {
    Entry {
        client,
        input: RegisterInput::Write {
            key: "r".into(),
            value: value.into(),
        },
        output: None,
        call,
        ret,
    }
}

fn cas(
    client: u64,
    expect: Option<&str>,
    value: &str,
    swapped: bool,
    call: u64,
    ret: Option<u64>,
) -> RegisterEntry {
    Entry {
        client,
        input: RegisterInput::Cas {
            key: "r".into(),
            expect: expect.map(str::to_string),
            value: value.into(),
        },
        output: ret.map(|_| RegisterOutput::Swapped(swapped)),
        call,
        ret,
    }
}

fn verdict(history: &[RegisterEntry]) -> Verdict {
    check_model(&Register, history, Budget::default())
}

#[test]
fn a_linearizable_history_is_accepted() {
    let history = [
        read(1, None, 0, Some(5)),
        cas(1, None, "a", true, 10, Some(20)),
        // Concurrent with the swap from a to b: either value may be read.
        cas(2, Some("a"), "b", true, 30, Some(60)),
        read(3, Some("a"), 35, Some(40)),
        read(3, Some("b"), 45, Some(50)),
        // The register holds b now, so a swap from a fails.
        cas(1, Some("a"), "c", false, 70, Some(80)),
        write(2, "d", 90, Some(100)),
        read(1, Some("d"), 110, Some(120)),
    ];
    assert_eq!(verdict(&history), Verdict::Linearizable);
}

#[test]
fn a_stale_read_and_a_lying_swap_are_refused() {
    let stale = [
        write(1, "a", 0, Some(10)),
        cas(1, Some("a"), "b", true, 20, Some(30)),
        read(2, Some("a"), 40, Some(50)),
    ];
    assert_eq!(
        verdict(&stale),
        Verdict::NotLinearizable {
            part: "r".into(),
            stuck_at: r#"read("r") -> "a""#.into(),
        }
    );
    // The register surely held a, yet the swap says it did not.
    let lying = [
        write(1, "a", 0, Some(10)),
        cas(2, Some("a"), "b", false, 20, Some(30)),
    ];
    assert_eq!(
        verdict(&lying),
        Verdict::NotLinearizable {
            part: "r".into(),
            stuck_at: r#"cas("r", "a" -> "b") -> false"#.into(),
        }
    );
    // Two swaps from empty cannot both succeed, even concurrently.
    let twice = [
        cas(1, None, "a", true, 0, Some(30)),
        cas(2, None, "b", true, 10, Some(20)),
    ];
    assert!(!verdict(&twice).is_linearizable());
}

#[test]
fn an_unanswered_operation_may_or_may_not_have_happened() {
    let happened = [write(1, "a", 0, None), read(2, Some("a"), 10, Some(20))];
    assert!(verdict(&happened).is_linearizable());
    let did_not = [
        cas(1, None, "a", false, 0, None),
        read(2, None, 10, Some(20)),
        read(2, None, 30, Some(40)),
    ];
    assert!(verdict(&did_not).is_linearizable());
    // Not before its call, though; and an unanswered read constrains nothing.
    let too_early = [
        read(2, Some("a"), 0, Some(10)),
        write(1, "a", 20, None),
        read(3, Some("zzz"), 30, None),
    ];
    assert!(!verdict(&too_early).is_linearizable());
}

#[test]
fn registers_are_independent_and_named_in_the_verdict() {
    let mut history = vec![write(1, "a", 0, Some(10)), read(2, Some("a"), 20, Some(30))];
    let mut other = vec![write(1, "x", 0, Some(10)), read(2, Some("y"), 20, Some(30))];
    for op in &mut other {
        match &mut op.input {
            RegisterInput::Read { key } | RegisterInput::Write { key, .. } => *key = "s".into(),
            RegisterInput::Cas { key, .. } => *key = "s".into(),
        }
    }
    history.append(&mut other);
    let parts: Vec<String> = Register
        .partition(&history)
        .into_iter()
        .map(|p| p.name.into_owned())
        .collect();
    assert_eq!(parts, ["r", "s"]);
    match verdict(&history) {
        Verdict::NotLinearizable { part, .. } => assert_eq!(part, "s"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn history_lines_read_and_write_back() {
    let text = r#"{"client":1,"op":"write","key":"r","value":"a","output":null,"call":1,"return":4}
{"client":2,"op":"cas","key":"r","expect":"a","value":"b","output":true,"call":2,"return":6}

{"client":3,"op":"read","key":"r","output":"b","call":7,"return":9}
{"client":4,"op":"cas","key":"r","expect":null,"value":"c","output":null,"call":8,"return":null}
"#;
    let validate = |e: &RegisterEntry| Register.validate(&e.input, e.answer());
    let ops = history::read_entries(text.as_bytes(), validate).unwrap();
    assert_eq!(ops.len(), 4);
    assert_eq!(ops[1], cas(2, Some("a"), "b", true, 2, Some(6)));
    assert_eq!(ops[3], cas(4, None, "c", false, 8, None));
    assert_eq!(verdict(&ops), Verdict::Linearizable);
    let mut out = Vec::new();
    history::write_entries(&ops, &mut out).unwrap();
    let lines: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
    assert_eq!(String::from_utf8(out).unwrap(), lines.join("\n") + "\n");

    for (bad, why) in [
        (
            r#"{"client":1,"op":"read","key":"r","output":true,"call":1,"return":2}"#,
            "boolean",
        ),
        (
            r#"{"client":1,"op":"cas","key":"r","value":"b","output":"a","call":1,"return":2}"#,
            "no boolean",
        ),
        (
            r#"{"client":1,"op":"write","key":"r","value":"a","output":"a","call":1,"return":2}"#,
            "answered",
        ),
        (
            r#"{"client":1,"op":"read","key":"r","output":null,"call":3,"return":2}"#,
            "before its call",
        ),
        (
            r#"{"client":1,"op":"swap","key":"r","output":null,"call":1,"return":2}"#,
            "swap",
        ),
    ] {
        match history::read_entries(bad.as_bytes(), validate) {
            Err(Error::BadHistory { line: 1, reason }) => assert!(reason.contains(why), "{reason}"),
            other => panic!("{bad}: {other:?}"),
        }
    }
}
