//! Chain: a three-node CRAQ chain under its failover supervisors. The middle node is killed
//! while clients write, the chain closes the gap, and a spare server joins as the new tail
//! while the clients keep going. A narrator tells each step.
//!
//! Run it with `cargo run --example chain`.
//!
//! The cast:
//! - n1..n3: the control plane. Each runs a replica of the configuration manager, a key-value
//!   service on Raft, where the chain's configuration (its epoch, its nodes, head first, and a
//!   node joining) lives under one key. Each also runs a chain failover supervisor. A
//!   supervisor watches the chain's nodes with heartbeats, and grants each a 400 ms lease with
//!   every configuration push, after the manager has confirmed that configuration. It changes
//!   the configuration only by compare-and-swap on the manager, so the three never disagree.
//! - n4..n6: the chain, head n4, tail n6; n7: a spare server.
//! - n8, n9: clients. They append to one key through the head and read it (CRAQ: from any
//!   node; a node whose copy of the key is clean answers alone, one with an uncommitted version
//!   asks the tail which version is committed).
//!
//! The story:
//! 1. A supervisor creates the chain n4 -> n5 -> n6 in epoch 1.
//! 2. n5 crashes. The supervisors' heartbeats go unanswered for 500 ms; one installs n4 -> n6
//!    in the manager, and pushes it once n5's last lease has run out. n4 re-sends the writes n6 may lack, so none acknowledged is lost.
//! 3. The chain is one node short, and n7 answers a probe: it joins behind the tail. n6 sends
//!    it its whole state, then every new write, while the chain keeps serving.
//! 4. Once n7 has everything n6 had, a supervisor makes it the tail. n7 serves only after n6,
//!    in the new epoch, names the point up to which it must have applied.
//! 5. A fresh client reads the key: every acknowledged append is there exactly once.
//!
//! Everything runs on the simulated network in virtual time; every time printed is virtual.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;
use troupe::systems::chain::{manager_key, node_name, Chain};
use troupe::systems::Assembly;
use troupe_actors::chain::config;
use troupe_actors::chain::sharded::ShardedClerk;
use troupe_actors::client::Outcome;
use troupe_actors::kv::clerk::Clerk;
use troupe_messages::chain::ChainProbe;
use troupe_messages::kv::KvOp;
use troupe_runtime::sim::{block_on, LinkFaults};
use troupe_runtime::testkit::Cluster;
use troupe_runtime::{ActorPath, Node};

/// Seven servers' worth of roles: the manager and the supervisors on n1-n3, four chain servers
/// n4-n7 (chains of three: n7 is a spare).
fn system() -> Chain {
    let craq = true;
    Chain::managed(4, 1, craq).length(3)
}

const CLIENTS: [u32; 2] = [8, 9];
const NARRATOR: u32 = 10;
/// The key the clients write.
const KEY: &str = "log";

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn clerk(cluster: &Cluster, on: u32, id: u64) -> ShardedClerk {
    system().client(cluster.up(on), id, 7)
}

/// Prints every new configuration the manager holds, and how far each server has applied.
struct Narrator {
    node: Node,
    manager: Clerk,
    last: String,
}

impl Narrator {
    fn say(&self, line: &str) {
        println!("[{:>5} ms] {line}", self.node.now_ns() / 1_000_000);
    }

    /// How far each server has applied. Every server is asked at once: asked one after
    /// another, a later server would be counted later, and a tail could look ahead of its
    /// predecessor, which the chain never allows.
    async fn applied(&self) -> String {
        let probes = system().servers.into_iter().map(|server| {
            let path = ActorPath::new(server, node_name(0));
            async move { (server, self.node.call(&path, ChainProbe, ms(20)).await) }
        });
        let parts: Vec<String> = futures_util::future::join_all(probes)
            .await
            .into_iter()
            .map(|(server, status)| match status {
                Ok(s) => format!("{server} {}", s.applied),
                Err(_) => format!("{server} -"),
            })
            .collect();
        format!("writes applied: {}", parts.join(", "))
    }

    async fn watch(&mut self, d: Duration) {
        let end = tokio::time::Instant::now() + d;
        while tokio::time::Instant::now() < end {
            let get = KvOp::Get {
                key: manager_key(0),
            };
            if let Outcome::Done(Some(text)) = self.manager.run(get, ms(500)).await {
                if text != self.last {
                    self.tell(&text).await;
                    self.last = text;
                }
            }
            tokio::time::sleep(ms(20)).await;
        }
    }

    async fn tell(&self, text: &str) {
        let Ok(config) = config::decode(text) else {
            return;
        };
        let before = config::decode(&self.last).unwrap_or_default();
        let chain: Vec<String> = config.nodes.iter().map(|n| n.to_string()).collect();
        let mut line = format!("epoch {}: chain {}", config.epoch, chain.join(" -> "));
        if let Some(joining) = config.joining {
            line.push_str(&format!(", {joining} joining behind the tail"));
        }
        self.say(&line);
        for gone in before.nodes.iter().filter(|n| !config.nodes.contains(n)) {
            self.say(&format!(
                "    {gone} is out: the supervisors' heartbeats went unanswered for 500 ms; the new \
                 chain is pushed only once {gone}'s 400 ms lease (and its margins) has run out, \
                 so that {gone} cannot serve a stale read"
            ));
            self.say("    the head re-sends the writes its new successor may lack; none is lost");
        }
        if let (Some(joining), None) = (config.joining, before.joining) {
            self.say(&format!(
                "    the chain is one node short and {joining} answers: the tail sends {joining} \
                 its whole state, then every new write, while the chain keeps serving"
            ));
        }
        if let (None, Some(joined)) = (config.joining, before.joining) {
            if config.tail() == Some(joined) {
                self.say(&format!(
                    "    {joined} has applied what the tail had: it is the tail now, and serves \
                     once its predecessor names the point up to which it must have applied"
                ));
            }
        }
        self.say(&format!("    {}", self.applied().await));
    }
}

fn main() {
    let acked = block_on(async {
        let cluster = Cluster::builder(7)
            .nodes(NARRATOR)
            .faults(LinkFaults::reliable().with_delay(ms(1), ms(5)))
            .topology(|node| {
                if let Err(e) = system().start(node) {
                    panic!("{e}");
                }
            })
            .build();
        let node = cluster.up(NARRATOR);
        let manager = system().manager_client(node.clone(), 1);
        let mut narrator = Narrator {
            node,
            manager,
            last: String::new(),
        };
        narrator.say("a supervisor creates the chain; two clients start appending to \"log\"");
        let acked = Rc::new(RefCell::new(Vec::new()));
        let stop = Rc::new(std::cell::Cell::new(false));
        let mut tasks = Vec::new();
        for (i, &on) in CLIENTS.iter().enumerate() {
            let mut clerk = clerk(&cluster, on, i as u64 + 1);
            let (acked, stop) = (acked.clone(), stop.clone());
            tasks.push(actix_rt::spawn(async move {
                let mut n = 0;
                while !stop.get() {
                    n += 1;
                    let value = format!("c{i}.{n};");
                    let append = KvOp::Append {
                        key: KEY.into(),
                        value: value.clone(),
                    };
                    if clerk.run(append, ms(3_000)).await == Outcome::Done(None) {
                        acked.borrow_mut().push(value);
                    }
                    // A read from a random node (CRAQ), between writes.
                    let _ = clerk.run(KvOp::Get { key: KEY.into() }, ms(3_000)).await;
                    tokio::time::sleep(ms(5)).await;
                }
            }));
        }
        narrator.watch(ms(1_000)).await;
        narrator.say("n5, the middle node, crashes");
        cluster.crash(5);
        narrator.watch(ms(3_000)).await;
        stop.set(true);
        for task in tasks {
            let _ = task.await;
        }
        let acked = acked.borrow().clone();
        let mut reader = clerk(&cluster, NARRATOR, 99);
        let read = reader.run(KvOp::Get { key: KEY.into() }, ms(5_000)).await;
        let Outcome::Done(Some(value)) = read else {
            panic!("the final read failed: {read:?}");
        };
        narrator.say(&format!(
            "the clients stop; {} appends were acknowledged",
            acked.len()
        ));
        let applied = narrator.applied().await;
        narrator.say(&format!("    {applied}"));
        let missing: Vec<&String> = acked
            .iter()
            .filter(|a| value.matches(a.as_str()).count() != 1)
            .collect();
        assert!(missing.is_empty(), "appends lost or doubled: {missing:?}");
        narrator
            .say("a fresh client reads \"log\": every acknowledged append is in it exactly once");
        acked.len()
    });
    assert!(acked > 100, "too few appends: {acked}");
}
