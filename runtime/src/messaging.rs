//! `send` and `call`: one API for local and remote actors, and the node's side of the wire
//! (encoding, routing what arrives, matching replies to requests).
//!
//! A local target gets the message straight through its actix mailbox, with no encoding. A
//! remote target gets an [`Envelope`] through the node's transport; the receiving node routes it
//! by name and kind, decodes it, and for a `call` sends the handler's result back.

use crate::deadline::WithDeadline;
use crate::envelope::{decode, encode, Envelope, Flow, SYSTEM_NAME};
use crate::events::Event;
use crate::node::Node;
use crate::{Error, Result};
use actix::{MailboxError, Recipient};
use std::time::Duration;
use tokio::sync::oneshot;
use troupe_messages::system::Rejection;
use troupe_messages::{ActorPath, Wire};

impl Node {
    /// Sends `msg` to `to` without waiting for an answer.
    ///
    /// Local targets are checked at once (no such actor, kind not accepted, actor stopped);
    /// remote ones are handed to the network, which may lose the message: use [`Node::call`] to
    /// know that it arrived.
    pub fn send<M>(&self, to: &ActorPath, msg: M) -> Result<()>
    where
        M: Wire,
        M::Result: serde::Serialize + serde::de::DeserializeOwned + Send + 'static,
    {
        self.check_can_send(to)?;
        if to.node == self.id() {
            let registry = self.inner.registry.borrow();
            let recipient = local_recipient::<M>(&registry, to)?;
            if !recipient.connected() {
                return Err(Error::Unreachable {
                    target: to.clone(),
                    reason: "the actor has stopped".into(),
                });
            }
            recipient.do_send(msg);
            return Ok(());
        }
        let body = encode(&msg)?;
        let trace = self.new_trace();
        self.transmit(Envelope {
            from: self.id(),
            to: to.node,
            to_name: to.name.clone(),
            kind: M::TAG.to_string(),
            trace,
            flow: Flow::OneWay,
            body,
        });
        Ok(())
    }

    /// Sends `msg` to `to` and waits up to `timeout` for the handler's result.
    ///
    /// [`Error::Timeout`] means no answer came in time: the handler may or may not have run.
    pub async fn call<M>(&self, to: &ActorPath, msg: M, timeout: Duration) -> Result<M::Result>
    where
        M: Wire,
        M::Result: serde::Serialize + serde::de::DeserializeOwned + Send + 'static,
    {
        self.check_can_send(to)?;
        if to.node == self.id() {
            // The request is queued now; only its answer is awaited, outside the borrow.
            let answer = {
                let registry = self.inner.registry.borrow();
                local_recipient::<M>(&registry, to)?.send(msg)
            };
            let answer = std::pin::pin!(answer);
            return match WithDeadline::new(answer, self.deadline(timeout)).await {
                Ok(Ok(result)) => Ok(result),
                Ok(Err(MailboxError::Closed)) => Err(Error::Unreachable {
                    target: to.clone(),
                    reason: "the actor stopped before answering".into(),
                }),
                Ok(Err(MailboxError::Timeout)) | Err(_) => Err(Error::Timeout {
                    target: to.clone(),
                    after: timeout,
                }),
            };
        }
        let body = encode(&msg)?;
        let reply = self.request(to, M::TAG, body, timeout).await?;
        decode(&reply)
    }

    /// A request with an already-encoded body; the reply's body comes back encoded.
    pub(crate) async fn request(
        &self,
        to: &ActorPath,
        kind: &str,
        body: Vec<u8>,
        timeout: Duration,
    ) -> Result<Vec<u8>> {
        self.check_can_send(to)?;
        let id = self.next_id();
        let (tx, rx) = oneshot::channel();
        self.inner.pending.borrow_mut().insert(id, tx);
        let _forget = ForgetPending { node: self, id };
        let trace = self.new_trace();
        self.transmit(Envelope {
            from: self.id(),
            to: to.node,
            to_name: to.name.clone(),
            kind: kind.to_string(),
            trace,
            flow: Flow::Request(id),
            body,
        });
        match WithDeadline::new(rx, self.deadline(timeout)).await {
            Err(_) => Err(Error::Timeout {
                target: to.clone(),
                after: timeout,
            }),
            Ok(Err(_)) => Err(Error::Unreachable {
                target: to.clone(),
                reason: "this node crashed while waiting for the reply".into(),
            }),
            Ok(Ok(Ok(reply))) => Ok(reply),
            Ok(Ok(Err(rejection))) => Err(Error::Rejected {
                target: to.clone(),
                kind: kind.to_string(),
                rejection,
            }),
        }
    }

    fn check_can_send(&self, to: &ActorPath) -> Result<()> {
        if !self.is_alive() {
            return Err(Error::Unreachable {
                target: to.clone(),
                reason: format!("the sending node {} has crashed", self.id()),
            });
        }
        if to.node != self.id() && !self.inner.transport.knows(to.node) {
            return Err(Error::Unreachable {
                target: to.clone(),
                reason: format!("node {} is not part of this topology", to.node),
            });
        }
        Ok(())
    }

    pub(crate) fn transmit(&self, envelope: Envelope) {
        if self.is_alive() {
            self.inner.transport.send(envelope);
        }
    }

    /// Replies to request `id` of `request` with a result or a refusal.
    pub(crate) fn answer(
        &self,
        request: &Envelope,
        id: u64,
        answer: std::result::Result<Vec<u8>, Rejection>,
    ) {
        let (flow, body) = match answer {
            Ok(body) => (Flow::Reply(id), body),
            Err(rejection) => (Flow::Reject(id, rejection), Vec::new()),
        };
        self.transmit(Envelope {
            from: self.id(),
            to: request.from,
            to_name: String::new(),
            kind: request.kind.clone(),
            trace: request.trace,
            flow,
            body,
        });
    }

    /// Refuses `envelope`: a request gets the refusal as its reply; a one-way message has no one
    /// to tell, so the refusal is only logged and counted.
    pub(crate) fn refuse(&self, envelope: &Envelope, rejection: Rejection) {
        let detail = rejection.to_string();
        self.inner.log.record(Event {
            ev: "reject",
            from: Some(envelope.from),
            to: Some(self.id()),
            actor: Some(&envelope.to_name),
            kind: Some(&envelope.kind),
            trace: Some(envelope.trace),
            detail: Some(&detail),
            ..Event::default()
        });
        if let Flow::Request(id) = envelope.flow {
            self.answer(envelope, id, Err(rejection));
        }
    }

    /// Takes one frame off the network. Anything malformed is counted, logged and dropped;
    /// nothing a peer sends can make this panic.
    pub fn receive_frame(&self, frame: &[u8]) {
        if !self.is_alive() {
            return;
        }
        match Envelope::from_frame(frame) {
            Ok(envelope) => self.receive(envelope),
            Err(e) => {
                self.bump(|s| s.bad_frames += 1);
                tracing::warn!(
                    node = %self.id(),
                    len = frame.len(),
                    "dropped a frame that is not a valid envelope: {e}"
                );
            }
        }
    }

    /// Routes one decoded envelope: replies to their callers, runtime messages to the runtime,
    /// everything else to the named actor's route for its kind.
    pub fn receive(&self, envelope: Envelope) {
        if !self.is_alive() {
            return;
        }
        if envelope.to != self.id() {
            self.bump(|s| s.misrouted += 1);
            tracing::warn!(node = %self.id(), to = %envelope.to, "dropped an envelope for another node");
            return;
        }
        match envelope.flow {
            Flow::Reply(id) => self.complete(id, Ok(envelope.body)),
            Flow::Reject(id, ref rejection) => self.complete(id, Err(rejection.clone())),
            Flow::OneWay | Flow::Request(_) if envelope.to_name == SYSTEM_NAME => {
                self.bump(|s| s.delivered += 1);
                crate::monitor::handle_system(self, envelope);
            }
            Flow::OneWay | Flow::Request(_) => self.route(envelope),
        }
    }

    fn complete(&self, id: u64, answer: std::result::Result<Vec<u8>, Rejection>) {
        if let Some(waiter) = self.inner.pending.borrow_mut().remove(&id) {
            // The caller may have given up already; then nobody is listening, which is fine.
            let _ = waiter.send(answer);
        }
    }

    fn route(&self, envelope: Envelope) {
        let route = {
            let registry = self.inner.registry.borrow();
            match registry.get(&envelope.to_name) {
                None => Err(Rejection::NoSuchActor),
                Some(entry) => entry
                    .remote
                    .get(envelope.kind.as_str())
                    .cloned()
                    .ok_or(Rejection::UnknownKind),
            }
        };
        match route {
            Ok(route) => route(self, envelope),
            Err(rejection) => {
                self.bump(|s| match rejection {
                    Rejection::NoSuchActor => s.rejected_no_actor += 1,
                    _ => s.rejected_unknown_kind += 1,
                });
                // A missing actor is routine while a node restarts; an unknown kind is not.
                if rejection == Rejection::NoSuchActor {
                    tracing::debug!(
                        node = %self.id(),
                        from = %envelope.from,
                        actor = %envelope.to_name,
                        kind = %envelope.kind,
                        "refused a message: {rejection}"
                    );
                } else {
                    tracing::warn!(
                        node = %self.id(),
                        from = %envelope.from,
                        actor = %envelope.to_name,
                        kind = %envelope.kind,
                        "refused a message: {rejection}"
                    );
                }
                self.refuse(&envelope, rejection);
            }
        }
    }
}

/// Removes a pending call's entry when the caller stops waiting, however it stops.
struct ForgetPending<'a> {
    node: &'a Node,
    id: u64,
}

impl Drop for ForgetPending<'_> {
    fn drop(&mut self) {
        self.node.inner.pending.borrow_mut().remove(&self.id);
    }
}

fn local_recipient<'r, M>(
    registry: &'r crate::registry::Registry,
    to: &ActorPath,
) -> Result<&'r Recipient<M>>
where
    M: Wire,
    M::Result: serde::Serialize + serde::de::DeserializeOwned + Send + 'static,
{
    let entry = registry.get(&to.name).ok_or_else(|| Error::Rejected {
        target: to.clone(),
        kind: M::TAG.to_string(),
        rejection: Rejection::NoSuchActor,
    })?;
    entry.recipient::<M>().ok_or_else(|| Error::Rejected {
        target: to.clone(),
        kind: M::TAG.to_string(),
        rejection: Rejection::UnknownKind,
    })
}
