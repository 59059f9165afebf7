//! The key-value state machine: the data and the table of each clerk's last operation, which
//! makes a retried operation take effect once. Plain Rust, snapshotted as a whole.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use troupe_messages::kv::KvOp;
use troupe_messages::ClientId;
use troupe_runtime::plant::{self, Bug};

/// One committed command: who asked, which of their operations, and what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Command {
    /// The clerk.
    pub client: ClientId,
    /// The clerk's sequence number.
    pub seq: u64,
    /// The operation.
    pub op: KvOp,
}

/// The data, and per clerk the last sequence number applied and its result.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvState {
    data: BTreeMap<String, String>,
    last: BTreeMap<ClientId, (u64, Option<String>)>,
}

impl KvState {
    /// Applies a committed command and returns its result (a get's value). A command whose
    /// sequence number the clerk has already had applied is not applied again: a retry of the
    /// latest gets the recorded result, an older one gets nothing.
    pub fn apply(&mut self, cmd: &Command) -> Option<String> {
        if let Some((seq, result)) = self.last.get(&cmd.client) {
            let planted =
                plant::armed(Bug::RetriedAppendTwice) && matches!(cmd.op, KvOp::Append { .. });
            if cmd.seq == *seq && !planted {
                return result.clone();
            }
            if cmd.seq < *seq {
                return None;
            }
        }
        let result = match &cmd.op {
            KvOp::Get { key } => Some(self.data.get(key).cloned().unwrap_or_default()),
            KvOp::Put { key, value } => {
                self.data.insert(key.clone(), value.clone());
                None
            }
            KvOp::Append { key, value } => {
                self.data.entry(key.clone()).or_default().push_str(value);
                None
            }
            KvOp::Cas { key, expect, value } => {
                let found = self.data.get(key).cloned().unwrap_or_default();
                if found == *expect {
                    self.data.insert(key.clone(), value.clone());
                }
                Some(found)
            }
        };
        self.last.insert(cmd.client, (cmd.seq, result.clone()));
        result
    }

    /// The recorded result of the clerk's operation `seq`, if that is the last one applied for
    /// the clerk (a get's value, or `None` for a put or append).
    pub fn result_of(&self, client: ClientId, seq: u64) -> Option<Option<String>> {
        match self.last.get(&client) {
            Some((last, result)) if *last == seq => Some(result.clone()),
            _ => None,
        }
    }

    /// The value of `key`, if set.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.data.get(key).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(client: u64, seq: u64, op: KvOp) -> Command {
        Command {
            client: client.into(),
            seq,
            op,
        }
    }

    #[test]
    fn a_retried_append_takes_effect_once() {
        let mut s = KvState::default();
        let append = |seq| {
            cmd(
                1,
                seq,
                KvOp::Append {
                    key: "k".into(),
                    value: "x".into(),
                },
            )
        };
        s.apply(&append(1));
        s.apply(&append(1));
        assert_eq!(s.get("k"), Some("x"));
        s.apply(&append(2));
        s.apply(&append(1)); // a stale duplicate arriving late
        assert_eq!(s.get("k"), Some("xx"));
        let get = cmd(2, 1, KvOp::Get { key: "k".into() });
        assert_eq!(s.apply(&get), Some("xx".into()));
        assert_eq!(
            s.apply(&cmd(2, 1, KvOp::Get { key: "nope".into() })),
            Some("xx".into()),
            "a retried get answers what it read the first time"
        );
        assert_eq!(
            s.apply(&cmd(2, 2, KvOp::Get { key: "nope".into() })),
            Some(String::new())
        );
    }

    /// The planted bug of a retried append applied twice fails the test above.
    #[cfg(feature = "planted-bugs")]
    #[test]
    fn a_retried_append_applied_twice_is_caught() {
        use troupe_runtime::plant::{fails_with, Bug};
        assert!(
            fails_with(Bug::RetriedAppendTwice, a_retried_append_takes_effect_once),
            "the planted bug went unnoticed"
        );
    }

    #[test]
    fn only_the_latest_operation_of_a_clerk_has_a_recorded_result() {
        let mut s = KvState::default();
        let get = |seq| cmd(4, seq, KvOp::Get { key: "k".into() });
        assert_eq!(s.apply(&get(1)), Some(String::new()));
        assert_eq!(s.result_of(4.into(), 1), Some(Some(String::new())));
        s.apply(&cmd(
            4,
            2,
            KvOp::Put {
                key: "k".into(),
                value: "v".into(),
            },
        ));
        assert_eq!(s.result_of(4.into(), 2), Some(None));
        assert_eq!(
            s.result_of(4.into(), 1),
            None,
            "an older operation's result is gone"
        );
        assert_eq!(
            s.result_of(5.into(), 1),
            None,
            "a clerk with nothing applied"
        );
    }

    #[test]
    fn compare_and_swap_replaces_only_the_expected_value() {
        let mut s = KvState::default();
        let cas = |seq, expect: &str, value: &str| {
            cmd(
                3,
                seq,
                KvOp::Cas {
                    key: "c".into(),
                    expect: expect.into(),
                    value: value.into(),
                },
            )
        };
        assert_eq!(
            s.apply(&cas(1, "", "1")),
            Some(String::new()),
            "won on a missing key"
        );
        assert_eq!(
            s.apply(&cas(2, "", "2")),
            Some("1".into()),
            "lost: the value was 1"
        );
        assert_eq!(s.get("c"), Some("1"));
        assert_eq!(s.apply(&cas(3, "1", "3")), Some("1".into()));
        assert_eq!(s.get("c"), Some("3"));
    }
}
