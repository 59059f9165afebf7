//! The register server's decisions as a plain struct: a request goes in, a [`Step`] comes out
//! (answer now, or make a write durable and then answer). No actors, no network, no persister:
//! [`super::server::RegisterServer`] feeds it and carries its steps out, and the tests below
//! drive it directly.
//!
//! The rules: a get reads the register (`None` if never written). A put from a client whose
//! latest applied put is older is applied, and must be made durable (the register's value and
//! the client's sequence number, in one atomic write) before it is answered. A put with the
//! client's latest applied sequence number is a retry: it is answered `Stored` again and not
//! applied twice. A put with an older one is a late duplicate: it is refused as `Stale`.

use std::collections::BTreeMap;
use troupe_messages::register::{RegisterOp, RegisterReply, RegisterRequest};
use troupe_messages::ClientId;

/// A put to make durable before answering: the register's new value and the client's sequence
/// number, which must survive a crash together (or not at all).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DurablePut {
    /// The register.
    pub key: String,
    /// Its new value.
    pub value: String,
    /// The client whose put it is.
    pub client: ClientId,
    /// The client's sequence number for it.
    pub seq: u64,
}

/// What the server must do with one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Answer at once: nothing durable changed.
    Answer(RegisterReply),
    /// Make `put` durable, then answer `reply`.
    PersistThenAnswer {
        /// What to write.
        put: DurablePut,
        /// The answer, once it is written.
        reply: RegisterReply,
    },
}

/// The registers, and per client the sequence number of its latest put applied.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegisterCore {
    values: BTreeMap<String, String>,
    latest_put: BTreeMap<ClientId, u64>,
}

impl RegisterCore {
    /// An empty server: no register written, no client seen.
    pub fn new() -> Self {
        Self::default()
    }

    /// The server as its durable puts left it: each register's last value, and each client's
    /// latest put.
    pub fn restore(values: BTreeMap<String, String>, latest_put: BTreeMap<ClientId, u64>) -> Self {
        RegisterCore { values, latest_put }
    }

    /// Decides what to do with `request`; a put is applied here, in memory, and its step says
    /// what to make durable before the answer may go out.
    pub fn handle(&mut self, request: RegisterRequest) -> Step {
        let RegisterRequest { client, seq, op } = request;
        match op {
            RegisterOp::Get { key } => Step::Answer(RegisterReply::Value(self.get(&key))),
            RegisterOp::Put { key, value } => match self.latest_put.get(&client) {
                Some(&latest) if seq == latest => Step::Answer(RegisterReply::Stored),
                Some(&latest) if seq < latest => Step::Answer(RegisterReply::Stale { latest }),
                _ => {
                    self.values.insert(key.clone(), value.clone());
                    self.latest_put.insert(client, seq);
                    let put = DurablePut {
                        key,
                        value,
                        client,
                        seq,
                    };
                    let reply = RegisterReply::Stored;
                    Step::PersistThenAnswer { put, reply }
                }
            },
        }
    }

    /// The value of register `key`, if it was ever written.
    pub fn get(&self, key: &str) -> Option<String> {
        self.values.get(key).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(client: u64, seq: u64, key: &str, value: &str) -> RegisterRequest {
        let (key, value) = (key.to_string(), value.to_string());
        RegisterRequest {
            client: client.into(),
            seq,
            op: RegisterOp::Put { key, value },
        }
    }

    fn get(client: u64, seq: u64, key: &str) -> RegisterRequest {
        let key = key.to_string();
        RegisterRequest {
            client: client.into(),
            seq,
            op: RegisterOp::Get { key },
        }
    }

    /// What a persister holds after the durable puts: each register's value, each client's
    /// latest put.
    #[derive(Default)]
    struct Disk {
        values: BTreeMap<String, String>,
        latest_put: BTreeMap<ClientId, u64>,
    }

    impl Disk {
        /// Carries out `step` as the server does: writes the put, then gives the answer.
        fn carry_out(&mut self, step: Step) -> RegisterReply {
            match step {
                Step::Answer(reply) => reply,
                Step::PersistThenAnswer { put, reply } => {
                    self.values.insert(put.key, put.value);
                    self.latest_put.insert(put.client, put.seq);
                    reply
                }
            }
        }
    }

    #[test]
    fn a_put_is_made_durable_before_its_answer_and_a_get_reads_it() {
        let mut core = RegisterCore::new();
        assert_eq!(
            core.handle(get(1, 1, "r")),
            Step::Answer(RegisterReply::Value(None)),
            "a register never written reads as empty"
        );
        let step = core.handle(put(1, 2, "r", "a"));
        let Step::PersistThenAnswer {
            put: durable,
            reply,
        } = step
        else {
            panic!("a put must be made durable before it is answered: {step:?}");
        };
        assert_eq!((durable.key.as_str(), durable.value.as_str()), ("r", "a"));
        assert_eq!((durable.client, durable.seq), (1.into(), 2));
        assert_eq!(reply, RegisterReply::Stored);
        let read = core.handle(get(2, 1, "r"));
        assert_eq!(read, Step::Answer(RegisterReply::Value(Some("a".into()))));
    }

    #[test]
    fn a_retried_put_is_answered_again_but_applied_once() {
        let mut core = RegisterCore::new();
        let mut disk = Disk::default();
        disk.carry_out(core.handle(put(1, 1, "r", "a")));
        // Another client overwrites it; then client 1's retry of its put arrives.
        disk.carry_out(core.handle(put(2, 1, "r", "b")));
        let retry = core.handle(put(1, 1, "r", "a"));
        assert_eq!(
            retry,
            Step::Answer(RegisterReply::Stored),
            "no second write"
        );
        assert_eq!(
            core.get("r").as_deref(),
            Some("b"),
            "the retry undid nothing"
        );
    }

    #[test]
    fn a_late_duplicate_of_an_older_put_is_refused_as_stale() {
        let mut core = RegisterCore::new();
        core.handle(put(1, 1, "r", "old"));
        core.handle(put(1, 3, "r", "new"));
        let late = core.handle(put(1, 1, "r", "old"));
        assert_eq!(late, Step::Answer(RegisterReply::Stale { latest: 3 }));
        assert_eq!(core.get("r").as_deref(), Some("new"));
    }

    #[test]
    fn a_restored_server_answers_as_before_and_still_knows_each_clients_latest_put() {
        let mut core = RegisterCore::new();
        let mut disk = Disk::default();
        for (client, seq, value) in [(1, 1, "a"), (2, 1, "b"), (1, 2, "c")] {
            disk.carry_out(core.handle(put(client, seq, "r", value)));
        }
        disk.carry_out(core.handle(put(2, 2, "s", "d")));
        let mut restored = RegisterCore::restore(disk.values, disk.latest_put);
        assert_eq!(restored, core);
        assert_eq!(restored.get("r").as_deref(), Some("c"));
        assert_eq!(
            restored.handle(put(1, 2, "r", "c")),
            Step::Answer(RegisterReply::Stored),
            "a retry that crosses a restart is still a retry"
        );
    }
}
