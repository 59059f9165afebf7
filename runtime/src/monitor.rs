//! Monitors: any actor can watch another, on its own node or any other, and gets a [`Down`]
//! message when the watched actor stops or its node goes away.
//!
//! A local monitor is an exit hook on the watched actor's cell. A remote one is registered with
//! the watched node's runtime (a `sys.watch` request, retried until acknowledged), which sends a
//! `sys.fired` request back when the actor stops. A crashed node tells nobody anything, so the
//! watching node also runs a failure detector: it pings every node it watches actors on each
//! `heartbeat`, and after `down_after` without an answer, or on an answer from a new incarnation,
//! it fires `NodeDown` for every monitor there. A partition therefore looks like a node-down too,
//! as in Erlang.

use crate::envelope::{decode, encode, Envelope, Flow, SYSTEM_NAME};
use crate::node::Node;
use crate::Error;
use actix::Recipient;
use std::collections::{BTreeMap, BTreeSet};
use tokio::time::Instant;
use troupe_messages::system::{
    Alive, Down, DownReason, MonitorRef, Rejection, WatchFired, WatchRequest,
};
use troupe_messages::{ActorPath, NodeId};

const PING: &str = "sys.ping";
const WATCH: &str = "sys.watch";
const FIRED: &str = "sys.fired";

/// How many times a node tries to tell a watcher that its actor stopped.
const FIRED_ATTEMPTS: u32 = 20;

#[derive(Default)]
pub(crate) struct Monitors {
    local: BTreeSet<MonitorRef>,
    remote: BTreeMap<MonitorRef, RemoteMonitor>,
    heartbeats: BTreeSet<NodeId>,
}

impl Monitors {
    pub(crate) fn clear(&mut self) {
        *self = Monitors::default();
    }
}

struct RemoteMonitor {
    target: ActorPath,
    watcher: Recipient<Down>,
    /// The watched node's incarnation, once it acknowledged the watch.
    incarnation: Option<u64>,
}

impl Node {
    /// Watches the actor at `target`; `watcher` gets one [`Down`] when it stops, when no actor
    /// has that name, or when its node goes down.
    pub fn watch(&self, target: &ActorPath, watcher: Recipient<Down>) -> MonitorRef {
        let monitor = MonitorRef(self.next_id());
        if target.node == self.id() {
            self.watch_local(monitor, target, watcher);
        } else {
            self.watch_remote(monitor, target, watcher);
        }
        monitor
    }

    /// Cancels a monitor; no `Down` will come for it.
    pub fn unwatch(&self, monitor: MonitorRef) {
        let mut monitors = self.inner.monitors.borrow_mut();
        monitors.local.remove(&monitor);
        monitors.remote.remove(&monitor);
    }

    fn watch_local(&self, monitor: MonitorRef, target: &ActorPath, watcher: Recipient<Down>) {
        let handle = self
            .inner
            .registry
            .borrow()
            .get(&target.name)
            .map(|e| e.handle.clone());
        let Some(handle) = handle else {
            watcher.do_send(Down {
                monitor,
                target: target.clone(),
                reason: DownReason::NoSuchActor,
            });
            return;
        };
        self.inner.monitors.borrow_mut().local.insert(monitor);
        let weak = self.downgrade();
        let target = target.clone();
        handle.on_exit(move |reason| {
            let Some(node) = Node::from_weak(&weak) else {
                return;
            };
            if node.inner.monitors.borrow_mut().local.remove(&monitor) {
                watcher.do_send(Down {
                    monitor,
                    target,
                    reason: DownReason::Terminated(reason.clone()),
                });
            }
        });
    }

    fn watch_remote(&self, monitor: MonitorRef, target: &ActorPath, watcher: Recipient<Down>) {
        self.inner.monitors.borrow_mut().remote.insert(
            monitor,
            RemoteMonitor {
                target: target.clone(),
                watcher,
                incarnation: None,
            },
        );
        let node = self.clone();
        self.spawn_task(async move { node.register_remote_watch(monitor).await });
        self.ensure_heartbeat(target.node);
    }

    async fn register_remote_watch(&self, monitor: MonitorRef) {
        loop {
            let target = match self.inner.monitors.borrow().remote.get(&monitor) {
                Some(m) => m.target.clone(),
                None => return,
            };
            let request = WatchRequest {
                monitor,
                name: target.name.clone(),
            };
            let Ok(body) = encode(&request) else { return };
            let sys = ActorPath::new(target.node, SYSTEM_NAME);
            match self
                .request(&sys, WATCH, body, self.config().heartbeat)
                .await
            {
                Ok(reply) => {
                    if let Ok(alive) = decode::<Alive>(&reply) {
                        if let Some(m) = self.inner.monitors.borrow_mut().remote.get_mut(&monitor) {
                            m.incarnation = Some(alive.incarnation);
                        }
                    }
                    return;
                }
                Err(Error::Rejected { .. }) => {
                    self.fire_remote(monitor, DownReason::NoSuchActor);
                    return;
                }
                // Lost or late: try again while the failure detector watches the node.
                Err(Error::Timeout { .. }) => continue,
                Err(_) => return,
            }
        }
    }

    fn fire_remote(&self, monitor: MonitorRef, reason: DownReason) {
        let removed = self.inner.monitors.borrow_mut().remote.remove(&monitor);
        if let Some(m) = removed {
            m.watcher.do_send(Down {
                monitor,
                target: m.target,
                reason,
            });
        }
    }

    fn monitors_on(&self, node: NodeId) -> Vec<(MonitorRef, Option<u64>)> {
        self.inner
            .monitors
            .borrow()
            .remote
            .iter()
            .filter(|(_, m)| m.target.node == node)
            .map(|(r, m)| (*r, m.incarnation))
            .collect()
    }

    fn ensure_heartbeat(&self, target: NodeId) {
        if !self.inner.monitors.borrow_mut().heartbeats.insert(target) {
            return;
        }
        let node = self.clone();
        self.spawn_task(async move {
            node.heartbeat(target).await;
            node.inner.monitors.borrow_mut().heartbeats.remove(&target);
        });
    }

    /// The failure detector for one watched node; returns when nothing there is watched any
    /// more or the node was declared down.
    async fn heartbeat(&self, target: NodeId) {
        let config = self.config();
        let sys = ActorPath::new(target, SYSTEM_NAME);
        let mut last_answer = Instant::now();
        loop {
            if self.monitors_on(target).is_empty() {
                return;
            }
            let round = Instant::now();
            if let Ok(reply) = self.request(&sys, PING, Vec::new(), config.heartbeat).await {
                if let Ok(alive) = decode::<Alive>(&reply) {
                    last_answer = Instant::now();
                    for (monitor, incarnation) in self.monitors_on(target) {
                        if incarnation.is_some_and(|i| i != alive.incarnation) {
                            self.fire_remote(monitor, DownReason::NodeDown);
                        }
                    }
                }
            }
            if Instant::now().duration_since(last_answer) >= config.down_after {
                tracing::info!(node = %self.id(), down = %target, "declaring node down: no heartbeat answer");
                for (monitor, _) in self.monitors_on(target) {
                    self.fire_remote(monitor, DownReason::NodeDown);
                }
                return;
            }
            tokio::time::sleep_until(round + config.heartbeat).await;
        }
    }
}

/// Handles a message addressed to this node's runtime rather than to an actor.
pub(crate) fn handle_system(node: &Node, envelope: Envelope) {
    let Flow::Request(id) = envelope.flow else {
        node.refuse(&envelope, Rejection::UnknownKind);
        return;
    };
    let alive = Alive {
        node: node.id(),
        incarnation: node.incarnation(),
    };
    match envelope.kind.as_str() {
        PING => node.answer(
            &envelope,
            id,
            encode(&alive).map_err(|_| Rejection::ActorStopped),
        ),
        WATCH => match decode::<WatchRequest>(&envelope.body) {
            Ok(request) => {
                let answer = serve_watch(node, envelope.from, request)
                    .and_then(|()| encode(&alive).map_err(|_| Rejection::ActorStopped));
                node.answer(&envelope, id, answer);
            }
            Err(e) => node.refuse(&envelope, Rejection::Undecodable(e.to_string())),
        },
        FIRED => match decode::<WatchFired>(&envelope.body) {
            Ok(fired) => {
                node.fire_remote(fired.monitor, fired.reason);
                node.answer(&envelope, id, Ok(Vec::new()));
            }
            Err(e) => node.refuse(&envelope, Rejection::Undecodable(e.to_string())),
        },
        _ => {
            node.bump(|s| s.rejected_unknown_kind += 1);
            tracing::warn!(node = %node.id(), kind = %envelope.kind, "refused an unknown runtime message");
            node.refuse(&envelope, Rejection::UnknownKind);
        }
    }
}

/// Registers a remote watcher's interest in a local actor.
fn serve_watch(node: &Node, watcher_node: NodeId, request: WatchRequest) -> Result<(), Rejection> {
    let handle = node
        .inner
        .registry
        .borrow()
        .get(&request.name)
        .map(|e| e.handle.clone())
        .ok_or(Rejection::NoSuchActor)?;
    let weak = node.downgrade();
    handle.on_exit(move |reason| {
        let Some(node) = Node::from_weak(&weak) else {
            return;
        };
        let fired = WatchFired {
            monitor: request.monitor,
            reason: DownReason::Terminated(reason.clone()),
        };
        let Ok(body) = encode(&fired) else { return };
        let teller = node.clone();
        node.spawn_task(async move {
            let sys = ActorPath::new(watcher_node, SYSTEM_NAME);
            for _ in 0..FIRED_ATTEMPTS {
                let sent = teller
                    .request(&sys, FIRED, body.clone(), teller.config().heartbeat)
                    .await;
                if !matches!(sent, Err(Error::Timeout { .. })) {
                    return;
                }
            }
        });
    });
    Ok(())
}
