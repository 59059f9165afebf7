//! VM-FT: a deterministic virtual machine replicated as primary and backup. The primary's node
//! is killed while clients write; the backup goes live after winning a test-and-set, and a
//! spare host becomes the new backup through a state transfer while the new primary serves. A
//! narrator tells each step.
//!
//! Run it with `cargo run --example vmft`.
//!
//! The cast:
//! - n1..n3: the shared storage, troupe's Raft key-value service. It holds the VM's record
//!   (which generation of the pair is current, who is primary and who is backup) and the VM's
//!   virtual disk. Each also runs a VM-FT failover supervisor.
//! - n4..n6: VM hosts. The first runs the primary: a small bytecode VM whose guest program is a
//!   key-value service. Every non-deterministic event (a client packet, a timer interrupt, a
//!   clock read) is recorded with the instruction count at which the VM took it, and the log
//!   streams to the backup, which replays it and stays behind. The third host is a spare.
//! - n7, n8: clients, which append to one key and retry with request ids.
//!
//! The story:
//! 1. A supervisor boots the VM on n4 and asks for a backup: n4 sends n5 its VM's state and
//!    streams its log from there. Once n5 is in sync, n4 records it in the storage.
//! 2. Every output (a reply to a client) waits until n5 has acknowledged the log entry that
//!    produced it: the output rule.
//! 3. n4 crashes. n5 hears nothing on the logging channel for 300 ms, runs a compare-and-swap on
//!    the record (the test-and-set), wins, replays every entry it acknowledged, and goes live.
//! 4. The supervisor sees a primary alone and asks it for a backup on the spare n6: the state
//!    transfer runs while n5 keeps serving.
//! 5. A fresh client reads the key: every acknowledged append is there exactly once.
//!
//! Everything runs on the simulated network in virtual time; every time printed is virtual.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;
use troupe::systems::topology;
use troupe::systems::vmft::{Vmft, HOST};
use troupe_actors::client::{KvClient, Outcome};
use troupe_actors::kv::clerk::Clerk;
use troupe_actors::vmft::record::FtRecord;
use troupe_messages::kv::KvOp;
use troupe_messages::vmft::VmftInspect;
use troupe_runtime::sim::{block_on, LinkFaults};
use troupe_runtime::testkit::Cluster;
use troupe_runtime::{ActorPath, Node};

const CLIENTS: [u32; 2] = [7, 8];
const NARRATOR: u32 = 9;
/// The key the clients write.
const KEY: &str = "log";

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn system() -> Vmft {
    Vmft::managed(3)
}

/// Prints every new record the storage holds, and where each host stands.
struct Narrator {
    node: Node,
    storage: Clerk,
    last: Option<FtRecord>,
}

impl Narrator {
    fn say(&self, line: &str) {
        println!("[{:>5} ms] {line}", self.node.now_ns() / 1_000_000);
    }

    /// Each host's role, log position and instruction count.
    async fn hosts(&self) -> String {
        let mut parts = Vec::new();
        for &host in system().hosts() {
            let path = ActorPath::new(host, HOST);
            parts.push(match self.node.call(&path, VmftInspect, ms(20)).await {
                Ok(s) => format!(
                    "{host} {} (log {}, {} instructions)",
                    s.role.name(),
                    s.log_index,
                    s.count
                ),
                Err(_) => format!("{host} down"),
            });
        }
        parts.join(", ")
    }

    async fn watch(&mut self, d: Duration) {
        let end = tokio::time::Instant::now() + d;
        while tokio::time::Instant::now() < end {
            let record = system().record(&mut self.storage, ms(500)).await;
            if let Some(now) = record.filter(|r| Some(*r) != self.last) {
                self.tell(now).await;
                self.last = Some(now);
            }
            tokio::time::sleep(ms(10)).await;
        }
    }

    async fn tell(&self, record: FtRecord) {
        match (self.last, record.backup) {
            (None, _) => self.say(&format!(
                "generation {}: a supervisor boots the VM on {}",
                record.generation, record.primary
            )),
            (Some(_), Some(backup)) => {
                self.say(&format!(
                    "generation {}: {backup} is {}'s backup: it received the VM's state, then \
                     the log, and has acknowledged every entry so far",
                    record.generation, record.primary
                ));
                self.say("    from now on every reply waits for the backup's acknowledgement");
            }
            (Some(last), None) if last.primary != record.primary => {
                self.say(&format!(
                    "generation {}: {} won the test-and-set on the record, replayed every entry \
                     it had acknowledged, and went live",
                    record.generation, record.primary
                ));
                self.say(
                    "    the supervisor sees a primary alone and asks it for a backup on a spare",
                );
            }
            (Some(_), None) => self.say(&format!(
                "generation {}: {} goes on alone",
                record.generation, record.primary
            )),
        }
        self.say(&format!("    {}", self.hosts().await));
    }
}

fn main() {
    let acked = block_on(async {
        let cluster = Cluster::builder(7)
            .nodes(NARRATOR)
            .faults(LinkFaults::reliable().with_delay(ms(1), ms(5)))
            .topology(topology(system()))
            .build();
        let node = cluster.up(NARRATOR);
        let storage = system().storage_client(node.clone(), 1_000);
        let mut narrator = Narrator {
            node,
            storage,
            last: None,
        };
        narrator.say("two clients start appending to \"log\"");
        let acked = Rc::new(RefCell::new(Vec::new()));
        let stop = Rc::new(Cell::new(false));
        let mut tasks = Vec::new();
        for (i, &on) in CLIENTS.iter().enumerate() {
            let mut client = system().client(cluster.up(on), i as u64 + 1);
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
                    if client.run(append, ms(3_000)).await == Outcome::Done(None) {
                        acked.borrow_mut().push(value);
                    }
                    tokio::time::sleep(ms(10)).await;
                }
            }));
        }
        narrator.watch(ms(1_500)).await;
        narrator.say(&format!(
            "n4, the primary, crashes; {}",
            narrator.hosts().await
        ));
        cluster.crash(4);
        narrator.watch(ms(3_000)).await;
        stop.set(true);
        for task in tasks {
            let _ = task.await;
        }
        let acked = acked.borrow().clone();
        let mut reader = system().client(cluster.up(NARRATOR), 99);
        let read = reader.run(KvOp::Get { key: KEY.into() }, ms(5_000)).await;
        let Outcome::Done(Some(value)) = read else {
            panic!("the final read failed: {read:?}");
        };
        narrator.say(&format!(
            "the clients stop; {} appends were acknowledged",
            acked.len()
        ));
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
