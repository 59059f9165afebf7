//! The register server actor: a thin shell around [`RegisterCore`]. It hands each request to
//! the core and carries out the step it returns, writing a put through the node's persister
//! before it answers; at every start it rebuilds the core from what the persister holds, so a
//! restart (of the node, or of the actor by its supervisor) loses no acknowledged put.
//!
//! The persister holds one value per register, `register/value/<key>`, and one record per
//! client, `register/client/<id>`: its id and its latest put's sequence number. A put writes
//! both in one atomic step.

use super::core::{DurablePut, RegisterCore, Step};
use actix::{Actor, ActorContext, Context, Handler};
use std::collections::BTreeMap;
use troupe_messages::register::{RegisterReply, RegisterRequest};
use troupe_messages::ClientId;
use troupe_runtime::{encode, ActorHandle, Node, Persister, PersisterExt};

/// The name the server registers under.
pub const NAME: &str = "register";

/// Where a register's value is kept.
const VALUES: &str = "register/value/";
/// Where a client's id and its latest put's sequence number are kept.
const CLIENTS: &str = "register/client/";

/// The register server.
pub struct RegisterServer {
    node: Node,
    core: RegisterCore,
}

impl RegisterServer {
    /// Starts the server on `node` under [`NAME`], with what the node's persister holds, and
    /// returns its handle (a supervisor's child factory).
    pub fn spawn(node: &Node) -> troupe_runtime::Result<ActorHandle> {
        let core = load(node.persister().as_ref())?;
        let server = RegisterServer {
            node: node.clone(),
            core,
        };
        Ok(node
            .spawn_named(NAME, server)?
            .accept::<RegisterRequest>()
            .into_handle())
    }
}

/// The core as `persister` left it.
fn load(persister: &dyn Persister) -> troupe_runtime::Result<RegisterCore> {
    let mut values = BTreeMap::new();
    for stored in persister.keys(VALUES)? {
        let key = stored.strip_prefix(VALUES).unwrap_or(&stored).to_string();
        if let Some(value) = persister.load_value::<String>(&stored)? {
            values.insert(key, value);
        }
    }
    let mut latest_put = BTreeMap::new();
    for stored in persister.keys(CLIENTS)? {
        if let Some((client, seq)) = persister.load_value::<(ClientId, u64)>(&stored)? {
            latest_put.insert(client, seq);
        }
    }
    Ok(RegisterCore::restore(values, latest_put))
}

/// Writes `put` (the register's value, and the client's id with its sequence number) in one
/// atomic, durable step.
fn persist(persister: &dyn Persister, put: &DurablePut) -> troupe_runtime::Result<()> {
    let value_key = format!("{VALUES}{}", put.key);
    let client_key = format!("{CLIENTS}{}", put.client);
    let value = encode(&put.value)?;
    let client = encode(&(put.client, put.seq))?;
    persister.save_all(&[(&value_key, &value), (&client_key, &client)])
}

impl Actor for RegisterServer {
    type Context = Context<Self>;
}

impl Handler<RegisterRequest> for RegisterServer {
    type Result = RegisterReply;

    fn handle(&mut self, request: RegisterRequest, ctx: &mut Context<Self>) -> RegisterReply {
        match self.core.handle(request) {
            Step::Answer(reply) => reply,
            Step::PersistThenAnswer { put, reply } => {
                match persist(self.node.persister().as_ref(), &put) {
                    Ok(()) => reply,
                    Err(e) => {
                        // The core applied a put that is not durable: stop, so that the
                        // supervisor starts a fresh server from what is.
                        tracing::error!(node = %self.node.id(), "register put not durable: {e}");
                        ctx.stop();
                        RegisterReply::NotDurable
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use troupe_messages::register::RegisterOp;
    use troupe_runtime::MemPersister;

    #[test]
    fn what_a_server_persisted_restores_the_same_core() {
        let persister = MemPersister::new();
        let mut core = RegisterCore::new();
        for (client, seq, key, value) in [(1, 1, "r", "a"), (2, 7, "r/s", "b"), (1, 2, "r", "c")] {
            let (key, value) = (key.to_string(), value.to_string());
            let (client, op) = (ClientId::from(client), RegisterOp::Put { key, value });
            let step = core.handle(RegisterRequest { client, seq, op });
            let Step::PersistThenAnswer { put, .. } = step else {
                panic!("a new put is made durable: {step:?}");
            };
            persist(&persister, &put).expect("the memory persister does not fail");
        }
        assert_eq!(persister.writes(), 3, "one atomic write per put");
        assert_eq!(load(&persister).expect("loads"), core);
        assert_eq!(
            load(&MemPersister::new()).expect("loads"),
            RegisterCore::new()
        );
    }

    #[test]
    fn a_damaged_client_record_stops_the_server_from_starting() {
        let persister = MemPersister::new();
        persister.save("register/client/x", &[0xc1]).expect("saved");
        assert!(matches!(
            load(&persister),
            Err(troupe_runtime::Error::Persist { .. })
        ));
    }
}
