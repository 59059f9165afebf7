//! ZooKeeper recipes, from lectures 8 and 9: a simple lock, a lock without the herd effect,
//! and leader election, on a troupe ZooKeeper of three servers. A narrator tells each step.
//!
//! Run it with `cargo run --example zk_recipes`.
//!
//! The cast:
//! - n1..n3: ZooKeeper servers on troupe's Raft, started in this process as real nodes on
//!   loopback TCP (their data in a temporary directory), each with a ZooKeeper client port.
//! - clients a, b, c: each a session of troupe's Rust ZooKeeper client, speaking ZooKeeper's
//!   own protocol (kazoo or zkCli would do the same).
//!
//! The story:
//! 1. **Simple lock.** Whoever creates the ephemeral node `/lock` holds the lock; the others
//!    watch it and try again when it goes. Every release wakes every waiter, and all but one
//!    find the lock taken again: the herd effect.
//! 2. **Lock without the herd.** Each client creates a sequential ephemeral node under
//!    `/hlock`; the lowest number holds the lock; each other client watches only the node just
//!    below its own. A release wakes exactly one waiter.
//! 3. **Leader election.** The same numbering: the lowest candidate under `/election` leads.
//!    The leader's process dies without a word; its session expires after its timeout, its
//!    ephemeral node goes with it, and the next candidate, which watched it, takes over.

use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::sync::mpsc::UnboundedReceiver;
use troupe::config::ClusterConfig;
use troupe_actors::zk::client::{Notification, ZkClient};
use troupe_messages::zk::{CreateMode, ZkError};

/// A session's client and its notifications.
struct Client {
    name: &'static str,
    zk: ZkClient,
    events: UnboundedReceiver<Notification>,
}

impl Client {
    async fn connect(name: &'static str, hosts: &[SocketAddr]) -> Client {
        let (zk, events) = ZkClient::connect(
            hosts.to_vec(),
            Duration::from_secs(4),
            Duration::from_secs(30),
        )
        .await
        .expect("a session");
        Client { name, zk, events }
    }

    /// Waits for a notification about `path`.
    async fn notified(&mut self, path: &str) {
        while let Some(event) = self.events.recv().await {
            if event.path == path {
                return;
            }
        }
    }
}

fn say(start: Instant, what: String) {
    println!("[{:>6.3}s] {what}", start.elapsed().as_secs_f64());
}

/// The simple lock: create `/lock` or wait for it to go. Returns how often this client was
/// woken to find the lock taken again.
async fn simple_lock(c: &mut Client, start: Instant) -> u32 {
    let mut wasted: u32 = 0;
    loop {
        match c
            .zk
            .create("/lock", c.name.as_bytes(), CreateMode::EPHEMERAL)
            .await
        {
            Ok(_) => break,
            Err(ZkError::NodeExists) => {
                // Watch it; if it went in between, try again at once.
                if c.zk.exists("/lock", true).await.expect("exists").is_some() {
                    c.notified("/lock").await;
                    wasted += 1;
                }
            }
            Err(e) => panic!("create /lock: {e}"),
        }
    }
    say(start, format!("{} holds the simple lock", c.name));
    tokio::time::sleep(Duration::from_millis(100)).await; // the critical section
    c.zk.delete("/lock", -1).await.expect("release");
    say(start, format!("{} releases it", c.name));
    // Its last wake-up was the one that won: the others were wasted.
    wasted.saturating_sub(1)
}

/// The lock without the herd: a sequential ephemeral node, and a watch on the one below.
async fn herd_free_lock(c: &mut Client, start: Instant) -> u32 {
    let mine =
        c.zk.create("/hlock/lock-", b"", CreateMode::EPHEMERAL_SEQUENTIAL)
            .await
            .expect("a ticket");
    let name = mine.trim_start_matches("/hlock/").to_string();
    say(start, format!("{} takes ticket {name}", c.name));
    let mut woken = 0;
    loop {
        let children = c.zk.get_children("/hlock", false).await.expect("tickets");
        let below = children.iter().filter(|n| **n < name).max().cloned();
        let Some(below) = below else { break };
        let path = format!("/hlock/{below}");
        if c.zk.exists(&path, true).await.expect("exists").is_some() {
            say(start, format!("{} waits for {below} only", c.name));
            c.notified(&path).await;
            woken += 1;
        }
    }
    say(start, format!("{} holds the lock without the herd", c.name));
    tokio::time::sleep(Duration::from_millis(100)).await;
    c.zk.delete(&mine, -1).await.expect("release");
    woken
}

/// Runs for leader: the lowest candidate leads; each other watches the one below it.
async fn elect(c: &mut Client, start: Instant) {
    let mine =
        c.zk.create(
            "/election/c-",
            c.name.as_bytes(),
            CreateMode::EPHEMERAL_SEQUENTIAL,
        )
        .await
        .expect("a candidacy");
    let name = mine.trim_start_matches("/election/").to_string();
    loop {
        let children =
            c.zk.get_children("/election", false)
                .await
                .expect("candidates");
        let Some(below) = children.iter().filter(|n| **n < name).max().cloned() else {
            say(start, format!("{} ({name}) leads", c.name));
            return;
        };
        let path = format!("/election/{below}");
        if c.zk.exists(&path, true).await.expect("exists").is_some() {
            say(
                start,
                format!("{} ({name}) follows, watching {below}", c.name),
            );
            c.notified(&path).await;
        }
    }
}

async fn story(hosts: Vec<SocketAddr>) {
    let start = Instant::now();
    let mut a = Client::connect("a", &hosts).await;
    let mut b = Client::connect("b", &hosts).await;
    let mut c = Client::connect("c", &hosts).await;
    say(start, "three sessions: a, b and c".into());

    println!("\n1. The simple lock: every release wakes every waiter.");
    let (wa, wb, wc) = tokio::join!(
        simple_lock(&mut a, start),
        simple_lock(&mut b, start),
        simple_lock(&mut c, start)
    );
    say(
        start,
        format!("wake-ups that found the lock taken again: {}", wa + wb + wc),
    );

    println!("\n2. The lock without the herd: each release wakes one waiter.");
    a.zk.create("/hlock", b"", CreateMode::PERSISTENT)
        .await
        .expect("/hlock");
    let (wa, wb, wc) = tokio::join!(
        herd_free_lock(&mut a, start),
        herd_free_lock(&mut b, start),
        herd_free_lock(&mut c, start)
    );
    say(
        start,
        format!(
            "wake-ups in all: {} (one per release that had a waiter)",
            wa + wb + wc
        ),
    );
    assert!(wa + wb + wc <= 2, "a release woke more than one waiter");

    println!("\n3. Leader election, and the leader's death.");
    a.zk.create("/election", b"", CreateMode::PERSISTENT)
        .await
        .expect("/election");
    elect(&mut a, start).await;
    let b_follows = async {
        elect(&mut b, start).await;
        say(start, "b took over: a's node went with its session".into());
    };
    let a_dies = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        say(
            start,
            "a's process dies without closing its session (4 s timeout)".into(),
        );
        drop(a);
    };
    tokio::join!(b_follows, a_dies);
    b.zk.close().await.expect("b closes");
    c.zk.close().await.expect("c closes");
    say(start, "done".into());
}

fn main() {
    let dir = std::env::temp_dir().join(format!("troupe-zk-recipes-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let config = ClusterConfig::local("zk", 3).expect("a local zk cluster");
    let path = config.write_to(&dir).expect("cluster.toml written");
    let config = ClusterConfig::load(&path).expect("cluster.toml reads");
    let hosts: Vec<SocketAddr> = config
        .nodes
        .iter()
        .map(|n| n.zk_addr.expect("a zk_addr"))
        .collect();
    println!("Three ZooKeeper servers on troupe's Raft, on {hosts:?}.");
    actix_rt::System::new().block_on(async move {
        let mut nodes = Vec::new();
        for entry in &config.nodes {
            let id = entry.id.parse().expect("a node id");
            let peers = tokio::net::TcpListener::bind(entry.peer_addr)
                .await
                .expect("peer port");
            let clients = tokio::net::TcpListener::bind(entry.client_addr)
                .await
                .expect("client port");
            nodes.push(troupe::deploy::start(&config, id, peers, clients).expect("a node"));
        }
        story(hosts).await;
        drop(nodes);
    });
    let _ = std::fs::remove_dir_all(&dir);
}
