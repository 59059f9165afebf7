//! What a run of the register service ends with: the final reads, which must show every
//! acknowledged put ([`lost_puts`]), and the run's history as register operations, for the
//! register model of the checker ([`register_history`]).
//!
//! The workload records a key-value history. With only gets and puts in it, that history is a
//! history of one register per key that reads as "" until written, so the key-value model
//! checks it as it is; [`register_history`] spells the same operations the register model's
//! way (read, write, `null` for a register never written).

use super::workload::{final_check, FinalCheck};
use std::time::Duration;
use troupe_actors::client::KvClient;
use troupe_runtime::history::{Entry, OpKind, Operation};
use troupe_runtime::linearizability::register::{RegisterEntry, RegisterInput, RegisterOutput};

/// The acknowledged puts to `key` in `history` that a final read of `final_value` shows were
/// lost: those called after the put that wrote `final_value` had returned, so that they must
/// have overwritten it. (A put whose answer never came may take effect at any time after its
/// call, so it is never outrun.) Every acknowledged put is lost if no put wrote `final_value`.
pub fn lost_puts<'h>(history: &'h [Operation], key: &str, final_value: &str) -> Vec<&'h str> {
    let puts = || {
        history
            .iter()
            .filter(move |o| o.key == key && o.op == OpKind::Put)
    };
    let written_by = puts()
        .filter(|o| o.value.as_deref() == Some(final_value))
        .map(|o| o.ret.unwrap_or(u64::MAX))
        .max();
    puts()
        .filter(|o| o.ret.is_some() && written_by.is_none_or(|ret| o.call > ret))
        .filter_map(|o| o.value.as_deref())
        .collect()
}

/// Reads each of the keys `k0..k{keys-1}` through `clerk` after a run whose record is
/// `history`, and lists what is wrong: a read that did not succeed within `deadline`, or a
/// value that lost acknowledged puts. The reads come back as operations of the client and
/// clock in `who`, to join the history.
pub async fn final_reads(
    clerk: &mut impl KvClient,
    history: &[Operation],
    keys: usize,
    deadline: Duration,
    who: (u64, &dyn Fn() -> u64),
) -> FinalCheck {
    let mut found = final_check(clerk, history, keys, deadline, who).await;
    for read in &found.reads {
        let value = read.output.as_deref().unwrap_or("");
        let lost = lost_puts(history, &read.key, value);
        if !lost.is_empty() {
            let key = &read.key;
            let problem =
                format!("acknowledged puts to {key} were lost (it holds {value:?}): {lost:?}");
            found.problems.push(problem);
        }
    }
    found
}

/// `history` as register operations: a put is a write, a get a read that saw `null` where the
/// key-value history says "" (no put writes ""). `None` if the history has an append, which no
/// register can do.
pub fn register_history(history: &[Operation]) -> Option<Vec<RegisterEntry>> {
    history
        .iter()
        .map(|o| {
            let key = o.key.clone();
            let (input, output) = match o.op {
                OpKind::Put => {
                    let value = o.value.clone().unwrap_or_default();
                    (RegisterInput::Write { key, value }, None)
                }
                OpKind::Get => {
                    let seen = o.output.clone().filter(|v| !v.is_empty());
                    (RegisterInput::Read { key }, seen.map(RegisterOutput::Value))
                }
                OpKind::Append => return None,
            };
            Some(Entry {
                client: o.client,
                input,
                output,
                call: o.call,
                ret: o.ret,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(op: OpKind, value: &str, call: u64, ret: Option<u64>) -> Operation {
        let get = op == OpKind::Get;
        Operation {
            client: 1,
            op,
            key: "k".into(),
            value: (!get).then(|| value.to_string()),
            output: get.then(|| value.to_string()),
            call,
            ret,
        }
    }

    #[test]
    fn a_final_value_older_than_an_acknowledged_put_has_lost_it() {
        let history = vec![
            op(OpKind::Put, "a;", 10, Some(20)),
            op(OpKind::Put, "b;", 30, Some(40)),
            op(OpKind::Put, "c;", 35, None),
        ];
        assert!(lost_puts(&history, "k", "b;").is_empty());
        assert_eq!(
            lost_puts(&history, "k", "a;"),
            vec!["b;"],
            "b; came after a;"
        );
        // c; never answered: it may have taken effect last, or never.
        assert!(lost_puts(&history, "k", "c;").is_empty());
        assert_eq!(lost_puts(&history, "k", ""), vec!["a;", "b;"]);
        // Overlapping puts may land in either order.
        let overlapping = vec![
            op(OpKind::Put, "a;", 10, Some(50)),
            op(OpKind::Put, "b;", 20, Some(40)),
        ];
        assert!(lost_puts(&overlapping, "k", "a;").is_empty());
        assert!(lost_puts(&overlapping, "k", "b;").is_empty());
    }

    #[test]
    fn a_history_of_puts_and_gets_reads_as_register_operations() {
        let history = vec![
            op(OpKind::Get, "", 1, Some(2)),
            op(OpKind::Put, "a;", 3, Some(4)),
            op(OpKind::Get, "a;", 5, Some(6)),
        ];
        let registers = register_history(&history).expect("no appends");
        let inputs: Vec<_> = registers.iter().map(|e| &e.input).collect();
        assert!(matches!(
            inputs[..],
            [
                RegisterInput::Read { .. },
                RegisterInput::Write { .. },
                RegisterInput::Read { .. }
            ]
        ));
        assert_eq!(
            registers[0].output, None,
            "\"\" is a register never written"
        );
        assert_eq!(
            registers[2].output,
            Some(RegisterOutput::Value("a;".into()))
        );
        let with_append = vec![op(OpKind::Append, "x", 1, Some(2))];
        assert!(register_history(&with_append).is_none());
    }
}
