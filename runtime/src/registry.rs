//! The per-node registry of named actors, and the typed routes that let a message arriving as
//! bytes reach its actor as the same Rust type it was sent as.
//!
//! An actor declares the wire messages it accepts with [`Spawned::accept`]. Each accepted type
//! adds two routes under the actor's name: a local one (the actix `Recipient`, used when the
//! sender is on the same node, no encoding) and a remote one (a decoder that turns the envelope's
//! body back into the type, hands it to the actor, and encodes the reply for a `call`).

use crate::cell::ActorHandle;
use crate::envelope::{decode, encode, Envelope, Flow};
use crate::node::Node;
use actix::dev::ToEnvelope;
use actix::{Actor, Addr, Handler, Recipient};
use rustc_hash::FxHashMap;
use std::any::{Any, TypeId};
use std::rc::Rc;
use troupe_messages::system::Rejection;
use troupe_messages::{ActorPath, Wire};

pub(crate) type RemoteRoute = Rc<dyn Fn(&Node, Envelope)>;

pub(crate) struct Entry {
    pub(crate) handle: ActorHandle,
    /// The actix recipients of the accepted types. An actor accepts a handful of types, so a
    /// linear scan beats hashing on the local hot path.
    local: Vec<(TypeId, Box<dyn Any>)>,
    pub(crate) remote: FxHashMap<&'static str, RemoteRoute>,
}

impl Entry {
    /// The local route for `M`, if the actor accepts it.
    pub(crate) fn recipient<M>(&self) -> Option<&Recipient<M>>
    where
        M: actix::Message + Send + 'static,
        M::Result: Send,
    {
        let wanted = TypeId::of::<M>();
        self.local
            .iter()
            .find(|(t, _)| *t == wanted)
            .and_then(|(_, r)| r.downcast_ref::<Recipient<M>>())
    }
}

/// Names to entries. Looked up on every message and never iterated, so a fast
/// non-cryptographic hash serves: peers can only look names up, never insert them, so colliding
/// names from a hostile peer cannot degrade the map.
#[derive(Default)]
pub(crate) struct Registry {
    entries: FxHashMap<String, Entry>,
}

impl Registry {
    pub(crate) fn contains(&self, name: &str) -> bool {
        self.entries.contains_key(name)
    }

    pub(crate) fn insert(&mut self, name: String, handle: ActorHandle) {
        self.entries.insert(
            name,
            Entry {
                handle,
                local: Vec::new(),
                remote: FxHashMap::default(),
            },
        );
    }

    pub(crate) fn get(&self, name: &str) -> Option<&Entry> {
        self.entries.get(name)
    }

    fn get_mut(&mut self, name: &str) -> Option<&mut Entry> {
        self.entries.get_mut(name)
    }

    /// Unregisters the actor's name, unless the name already belongs to a newer actor.
    pub(crate) fn remove_if(&mut self, handle: &ActorHandle) {
        if self
            .entries
            .get(handle.label())
            .is_some_and(|e| e.handle.id() == handle.id())
        {
            self.entries.remove(handle.label());
        }
    }
}

/// A freshly started actor: its actix address, its handle, and its path. Declare which wire
/// messages it accepts with [`Spawned::accept`].
pub struct Spawned<A: Actor> {
    node: Node,
    addr: Addr<A>,
    handle: ActorHandle,
}

impl<A: Actor> Spawned<A> {
    pub(crate) fn new(node: Node, addr: Addr<A>, handle: ActorHandle) -> Self {
        Spawned { node, addr, handle }
    }

    /// The actor's actix address, for plain local messages.
    pub fn addr(&self) -> &Addr<A> {
        &self.addr
    }

    /// The actor's handle: alive?, kill, on_exit.
    pub fn handle(&self) -> &ActorHandle {
        &self.handle
    }

    /// Where other actors, local or remote, can reach it.
    pub fn path(&self) -> ActorPath {
        ActorPath::new(self.node.id(), self.handle.label())
    }

    /// Lets the actor receive `M` through `send` and `call`, from its own node or any other.
    pub fn accept<M>(self) -> Self
    where
        M: Wire,
        M::Result: serde::Serialize + serde::de::DeserializeOwned + Send + 'static,
        A: Handler<M>,
        A::Context: ToEnvelope<A, M>,
    {
        let recipient: Recipient<M> = self.addr.clone().recipient();
        let route = remote_route(recipient.clone());
        let mut registry = self.node.inner.registry.borrow_mut();
        if let Some(entry) = registry.get_mut(self.handle.label()) {
            if entry.handle.id() == self.handle.id() {
                entry.local.retain(|(t, _)| *t != TypeId::of::<M>());
                entry.local.push((TypeId::of::<M>(), Box::new(recipient)));
                entry.remote.insert(M::TAG, route);
            }
        }
        drop(registry);
        self
    }

    /// Consumes the builder, keeping the handle (what a supervisor's child factory returns).
    pub fn into_handle(self) -> ActorHandle {
        self.handle
    }

    /// Consumes the builder, keeping the address.
    pub fn into_addr(self) -> Addr<A> {
        self.addr
    }
}

/// The remote route for `M`: decode, deliver, and for a request encode the reply.
fn remote_route<M>(recipient: Recipient<M>) -> RemoteRoute
where
    M: Wire,
    M::Result: serde::Serialize + serde::de::DeserializeOwned + Send + 'static,
{
    Rc::new(move |node: &Node, envelope: Envelope| {
        let message: M = match decode(&envelope.body) {
            Ok(m) => m,
            Err(e) => {
                node.bump(|s| s.rejected_undecodable += 1);
                tracing::warn!(
                    node = %node.id(),
                    from = %envelope.from,
                    kind = %envelope.kind,
                    "refused a message whose body does not decode as its kind: {e}"
                );
                node.refuse(&envelope, Rejection::Undecodable(e.to_string()));
                return;
            }
        };
        node.bump(|s| s.delivered += 1);
        match envelope.flow {
            Flow::Request(id) => {
                let recipient = recipient.clone();
                let replier = node.clone();
                node.spawn_task(async move {
                    let answer = match recipient.send(message).await {
                        Ok(result) => encode(&result).map_err(|e| {
                            tracing::error!("reply to {} does not encode: {e}", envelope.kind);
                            Rejection::ActorStopped
                        }),
                        Err(_) => Err(Rejection::ActorStopped),
                    };
                    replier.answer(&envelope, id, answer);
                });
            }
            _ => recipient.do_send(message),
        }
    })
}
